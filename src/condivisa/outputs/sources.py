"""What a settlement reads: the community, its measurements and the hourly zonal prices, in one place.

The CLI (``condivisa settle``, ``condivisa report``), the dashboard and the demo all settle the same three
inputs: the community (``community.yaml``), the measurements table (from a CSV or the data store) and the
hourly zonal prices (from a CSV or, only when asked, a flat assumed price, which every page then says).
:func:`inputs_from_files` and :func:`inputs_from_store` gather them into :class:`SettlementInputs`;
:func:`stored_months` gives the settled months the dashboard shows. The store is passed in, never opened
here, so this module does not depend on the database layer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from condivisa.domain.community import Community
from condivisa.domain.config import load_community
from condivisa.formats.csv_io import read_measurements, read_prices
from condivisa.kernel.timegrid import ROME, local_midnight
from condivisa.outputs.monthly import SettledMonths

if TYPE_CHECKING:
    from condivisa.store.store import Store

#: flat zonal price (€/MWh) the dashboard assumes when no price file is configured (every page says so)
ASSUMED_PRICE_EUR_PER_MWH = 100.0
#: the dashboard fills missing quarter hours with zero, explicitly, so that a month with a silent device still
#: settles; the gaps stay listed in the data-quality panel
STORED_FILL = "zero"


class NoPricesError(ValueError):
    """Neither an hourly prices CSV nor an assumed flat price was given."""


@dataclass(frozen=True)
class SettlementInputs:
    """The three inputs of a settlement.

    Attributes
    ----------
    community : Community
        The community (``community.yaml``).
    measurements : pandas.DataFrame
        The measurements table: ``pod``, ``start`` (aware), ``withdrawn_kwh``, ``injected_kwh``.
    prices : pandas.Series
        Hourly zonal prices, €/MWh, indexed by hour start (Europe/Rome).
    prices_assumed : bool
        ``prices`` is a flat assumed price, not a price file (the outputs must say so).
    """

    community: Community
    measurements: pd.DataFrame
    prices: pd.Series
    prices_assumed: bool

    def settled_months(self, *, fill: str | None = None, as_of: dt.date | None = None) -> SettledMonths:
        """The inputs settled month by month up to the day before ``as_of`` (default: today).

        Parameters
        ----------
        fill : {None, "zero", "interpolate"}
            Missing intervals: an error (``None``) or filled explicitly.
        as_of : datetime.date, optional
            The first day not settled.

        Returns
        -------
        SettledMonths
        """
        return SettledMonths(self.community, self.measurements, self.prices, fill=fill, as_of=as_of)


def flat_prices(measurements: pd.DataFrame, price_eur_per_mwh: float) -> pd.Series:
    """A flat hourly zonal price over the hours the measurements span.

    Parameters
    ----------
    measurements : pandas.DataFrame
        The measurements table (its ``start`` column sets the hours).
    price_eur_per_mwh : float
        The assumed zonal price.

    Returns
    -------
    pandas.Series
        ``zonal_price_eur_per_mwh`` indexed by hour start, Europe/Rome (empty for no measurements).
    """
    if measurements.empty:
        index = pd.DatetimeIndex([], tz=ROME)
    else:
        start = pd.to_datetime(measurements["start"]).dt.tz_convert("UTC")
        index = pd.date_range(start.min().floor("h"), start.max().floor("h"), freq="h").tz_convert(ROME)
    return pd.Series(float(price_eur_per_mwh), index=index, name="zonal_price_eur_per_mwh")


def _with_prices(
    community: Community,
    measurements: pd.DataFrame,
    prices_csv: str | Path | None,
    assumed_price_eur_per_mwh: float | None,
) -> SettlementInputs:
    if prices_csv is not None:
        return SettlementInputs(community, measurements, read_prices(prices_csv), prices_assumed=False)
    if assumed_price_eur_per_mwh is None:
        raise NoPricesError("no prices: give an hourly zonal prices CSV or a flat assumed price")
    prices = flat_prices(measurements, assumed_price_eur_per_mwh)
    return SettlementInputs(community, measurements, prices, prices_assumed=True)


def inputs_from_files(
    config: str | Path,
    measurements_csv: str | Path,
    prices_csv: str | Path | None = None,
    *,
    assumed_price_eur_per_mwh: float | None = None,
) -> SettlementInputs:
    """The inputs from files: ``community.yaml``, a measurements CSV, an hourly prices CSV.

    Parameters
    ----------
    config : str or Path
        ``community.yaml``.
    measurements_csv : str or Path
        ``pod,start,withdrawn_kwh,injected_kwh`` (quarter hours or hours); PODs must be the community's.
    prices_csv : str or Path, optional
        ``start,zonal_price_eur_per_mwh`` (hourly).
    assumed_price_eur_per_mwh : float, optional
        Without ``prices_csv``: this flat price over the measured hours.

    Returns
    -------
    SettlementInputs

    Raises
    ------
    ConfigError
        ``community.yaml`` is malformed.
    InputError
        A CSV is malformed (the message names file, line and field).
    NoPricesError
        Neither ``prices_csv`` nor ``assumed_price_eur_per_mwh``.
    """
    community = load_community(config)
    measurements = read_measurements(measurements_csv, known_pods=community.all_pods)
    return _with_prices(community, measurements, prices_csv, assumed_price_eur_per_mwh)


def inputs_from_store(
    store: Store,
    community: Community,
    *,
    prices_csv: str | Path | None = None,
    assumed_price_eur_per_mwh: float | None = None,
    first_day: dt.date | None = None,
    last_day: dt.date | None = None,
) -> SettlementInputs:
    """The inputs with the community's measurements read from the data store.

    Parameters
    ----------
    store : condivisa.store.store.Store
        An open store (the caller closes it).
    community : Community
        The community; its consumption and plant PODs are read.
    prices_csv : str or Path, optional
        ``start,zonal_price_eur_per_mwh`` (hourly).
    assumed_price_eur_per_mwh : float, optional
        Without ``prices_csv``: this flat price over the measured hours.
    first_day, last_day : datetime.date, optional
        Only the measurements of these days (Europe/Rome, ``last_day`` included); default: all.

    Returns
    -------
    SettlementInputs

    Raises
    ------
    InputError
        The prices CSV is malformed.
    NoPricesError
        Neither ``prices_csv`` nor ``assumed_price_eur_per_mwh``.
    """
    start = local_midnight(first_day) if first_day else None
    end = local_midnight(last_day + dt.timedelta(days=1)) if last_day else None
    measurements = store.measurements_frame(sorted(community.all_pods), start, end)
    return _with_prices(community, measurements, prices_csv, assumed_price_eur_per_mwh)


def stored_months(
    store: Store, community: Community, prices_csv: str | Path | None = None, as_of: dt.date | None = None
) -> SettledMonths:
    """Everything stored, settled month by month as the dashboard shows it.

    Missing quarter hours are zero-filled explicitly (:data:`STORED_FILL`); without ``prices_csv`` the
    money assumes the flat :data:`ASSUMED_PRICE_EUR_PER_MWH`.

    Parameters
    ----------
    store : condivisa.store.store.Store
        An open store.
    community : Community
        The community.
    prices_csv : str or Path, optional
        Hourly zonal prices.
    as_of : datetime.date, optional
        The first day not settled (default: today).

    Returns
    -------
    SettledMonths
    """
    inputs = inputs_from_store(
        store, community, prices_csv=prices_csv, assumed_price_eur_per_mwh=ASSUMED_PRICE_EUR_PER_MWH
    )
    return inputs.settled_months(fill=STORED_FILL, as_of=as_of)
