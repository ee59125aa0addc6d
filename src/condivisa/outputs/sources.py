"""What a settlement reads: the community, its measurements and the hourly zonal prices, in one place.

The CLI (``condivisa settle``, ``condivisa report``), the dashboard and the demo all settle the same three
inputs: the community (``community.yaml``), the measurements table (from a CSV or the data store) and the
hourly zonal prices (from a CSV or, only when asked, a flat assumed price, which every page then says).
:func:`inputs_from_files` and :func:`inputs_from_store` gather them into :class:`SettlementInputs`;
:func:`stored_months` gives the settled months the dashboard shows. The store is passed in, never opened
here. The distributor's validated values supersede the DU readings for the money, value by value
(:func:`condivisa.store.provenance.best_source`); the mix is kept in ``SettlementInputs.sources``.

Readings above what their POD's meter can read (:mod:`condivisa.domain.plausibility`) never reach the
money: a CSV file with such a line is refused (:func:`~condivisa.formats.csv_io.read_measurements`); a
stored one stays in the store but is left out of the settlement — its newest superseded value within the
bound counts instead, if there is one, else the quarter hour is missing — and is listed in
``SettlementInputs.excluded`` for the referente (:func:`condivisa.store.checks.above_bounds`). The referente
decides: a contract power that was wrong is corrected in ``community.yaml`` (the readings then count), a
wrong reading is re-sent or replaced by the distributor's data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from condivisa.domain.community import Community
from condivisa.domain.config import load_community
from condivisa.domain.plausibility import pod_bounds
from condivisa.engines.flexibility import MeasuredEvent
from condivisa.engines.price_replay import replay_prices
from condivisa.formats.csv_io import read_measurements, read_prices
from condivisa.formats.gme_prices import load_gme_2023
from condivisa.kernel.timegrid import ROME, hours, local_midnight
from condivisa.outputs.monthly import SettledMonths
from condivisa.outputs.stored import stored_readings
from condivisa.outputs.stored_events import measured_events
from condivisa.store.checks import ABOVE_COLUMNS
from condivisa.store.provenance import best_source

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
    excluded : pandas.DataFrame
        Stored readings above their POD's bound, left out of ``measurements``
        (:data:`~condivisa.store.checks.ABOVE_COLUMNS` and ``replaced``: an earlier plausible value counts
        instead).
    sources : pandas.DataFrame, optional
        From the store: each quarter hour's ``withdrawn_source`` and ``injected_source`` (distributor, du,
        estimate; :mod:`condivisa.store.provenance`).
    """

    community: Community
    measurements: pd.DataFrame
    prices: pd.Series
    prices_assumed: bool
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=[*ABOVE_COLUMNS, "replaced"]))
    sources: pd.DataFrame | None = None
    #: the community's demand-response events (from the store) with the members' measured responses
    events: tuple[MeasuredEvent, ...] = ()
    #: why a member's response to an event could not be measured (no baseline), one line each
    event_problems: tuple[str, ...] = ()

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
        return SettledMonths(
            self.community,
            self.measurements,
            self.prices,
            fill=fill,
            as_of=as_of,
            excluded=self.excluded,
            sources=self.sources,
            events=self.events,
            event_problems=self.event_problems,
        )


def flat_prices(measurements: pd.DataFrame, price_eur_per_mwh: float) -> pd.Series:
    """A flat hourly zonal price over the whole civil days (Europe/Rome) the measurements touch.

    A settlement covers whole local days (:func:`condivisa.engines.settlement.settle` lays the readings on
    the days' grid: 96 quarter hours, 92 or 100 on DST days), so the prices must cover the same hours even
    when the first reading is at 10:30 or the last at 02:00: the hours without readings are then *missing
    intervals* of the settlement (listed in its data quality), never a missing price.

    Parameters
    ----------
    measurements : pandas.DataFrame
        The measurements table (its ``start`` column sets the days).
    price_eur_per_mwh : float
        The assumed zonal price.

    Returns
    -------
    pandas.Series
        ``zonal_price_eur_per_mwh`` indexed by hour start, Europe/Rome, from local midnight of the first
        day to local midnight after the last (23, 24 or 25 hours a day; empty for no measurements).
    """
    if measurements.empty:
        index = pd.DatetimeIndex([], tz=ROME)
    else:
        local = pd.to_datetime(measurements["start"]).dt.tz_convert(ROME)
        first_day, last_day = local.min().date(), local.max().date()
        index = hours(first_day, last_day + dt.timedelta(days=1))
    return pd.Series(float(price_eur_per_mwh), index=index, name="zonal_price_eur_per_mwh")


def _with_prices(
    community: Community,
    measurements: pd.DataFrame,
    prices_csv: str | Path | None,
    assumed_price_eur_per_mwh: float | None,
    allow_unusual_prices: bool = False,
) -> SettlementInputs:
    if prices_csv is not None:
        prices = read_prices(prices_csv, allow_unusual=allow_unusual_prices)
        return SettlementInputs(community, measurements, prices, prices_assumed=False)
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
    allow_unusual_prices: bool = False,
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
    allow_unusual_prices : bool, default False
        Accept a prices CSV whose mean is below 1 or above 5,000 €/MWh
        (:func:`~condivisa.formats.csv_io.read_prices`).

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
    measurements = read_measurements(
        measurements_csv, known_pods=community.all_pods, bounds=pod_bounds(community)
    )
    return _with_prices(community, measurements, prices_csv, assumed_price_eur_per_mwh, allow_unusual_prices)


def inputs_from_store(
    store: Store,
    community: Community,
    *,
    prices_csv: str | Path | None = None,
    assumed_price_eur_per_mwh: float | None = None,
    first_day: dt.date | None = None,
    last_day: dt.date | None = None,
    allow_unusual_prices: bool = False,
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
    allow_unusual_prices : bool, default False
        Accept a prices CSV whose mean is below 1 or above 5,000 €/MWh.

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
    du, excluded, official = stored_readings(store, community, start, end)
    inputs = inputs_from_readings(
        community, du, excluded, official, prices_csv, assumed_price_eur_per_mwh, allow_unusual_prices
    )
    return with_events(store, inputs, first_day)


def inputs_from_readings(
    community: Community,
    du: pd.DataFrame,
    excluded: pd.DataFrame,
    official: pd.DataFrame,
    prices_csv: str | Path | None = None,
    assumed_price_eur_per_mwh: float | None = None,
    allow_unusual_prices: bool = False,
) -> SettlementInputs:
    """The inputs from :func:`stored_readings`: each value from its best source
    (:func:`condivisa.store.provenance.best_source`), the prices, the readings left out, the sources."""
    best = best_source(du, official)
    sources = best[["pod", "start", "withdrawn_source", "injected_source"]]
    measurements = best.drop(columns=["withdrawn_source", "injected_source"])
    inputs = _with_prices(
        community, measurements, prices_csv, assumed_price_eur_per_mwh, allow_unusual_prices
    )
    return replace(inputs, excluded=excluded, sources=sources)


def inputs_priced_from_store(
    store: Store, community: Community, prices: pd.Series, *, first_day: dt.date, last_day: dt.date
) -> SettlementInputs:
    """The inputs with the community's stored measurements of ``first_day`` .. ``last_day`` (Europe/Rome,
    included) and the given hourly prices (e.g. GME's 2023 prices replayed onto those days by
    :func:`condivisa.engines.price_replay.replay_prices`).

    Parameters
    ----------
    store : condivisa.store.store.Store
        An open store.
    community : Community
        The community.
    prices : pandas.Series
        Hourly zonal prices, €/MWh, indexed by hour start (aware), covering the days.
    first_day, last_day : datetime.date
        The days read.

    Returns
    -------
    SettlementInputs
        With ``prices_assumed`` False.
    """
    start, end = local_midnight(first_day), local_midnight(last_day + dt.timedelta(days=1))
    return with_events(
        store, _priced(community, *stored_readings(store, community, start, end), prices), first_day
    )


def with_events(store: Store, inputs: SettlementInputs, first_day: dt.date | None = None) -> SettlementInputs:
    """``inputs`` with the community's demand-response events measured on them
    (:func:`condivisa.outputs.stored_events.measured_events`)."""
    events, problems = measured_events(store, inputs.community, inputs.measurements, first_day)
    return replace(inputs, events=events, event_problems=problems) if events or problems else inputs


def _priced(
    community: Community, du: pd.DataFrame, excluded: pd.DataFrame, official: pd.DataFrame, prices: pd.Series
) -> SettlementInputs:
    """The inputs of :func:`stored_readings`' frames (each value from its best source) with ``prices``."""
    best = best_source(du, official)
    measurements = best.drop(columns=["withdrawn_source", "injected_source"])
    sources = best[["pod", "start", "withdrawn_source", "injected_source"]]
    return SettlementInputs(community, measurements, prices, False, excluded=excluded, sources=sources)


def zonal_prices(market_zone: str | None, first_day: dt.date, end_day: dt.date) -> pd.Series:
    """GME's real 2023 hourly prices of ``market_zone`` (``PUN`` when unset), €/MWh, replayed onto the days
    ``first_day`` .. ``end_day`` (exclusive) by :func:`condivisa.engines.price_replay.replay_prices`: the
    prices of a community that has no prices file (``settle-all``, a community kept in the store)."""
    return replay_prices(load_gme_2023(zone=market_zone or "PUN"), first_day, end_day)


def stored_months(
    store: Store,
    community: Community,
    prices_csv: str | Path | None = None,
    as_of: dt.date | None = None,
    *,
    zonal: bool = False,
) -> SettledMonths:
    """Everything stored, settled month by month as the dashboard shows it.

    Missing quarter hours are zero-filled explicitly (:data:`STORED_FILL`); without ``prices_csv`` the
    money uses :func:`zonal_prices` of the community's market zone when ``zonal``, else it assumes the flat
    :data:`ASSUMED_PRICE_EUR_PER_MWH`.

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
    if zonal and not prices_csv:
        du, excluded, official = stored_readings(store, community, None, None)
        starts = pd.concat([du["start"], official["start"]]) if len(official) else du["start"]
        if len(starts):
            days = pd.to_datetime(starts, utc=True).dt.tz_convert(ROME)
            first, last = days.min().date(), days.max().date()
            prices = zonal_prices(community.market_zone, first, last + dt.timedelta(days=1))
            inputs = _priced(community, du, excluded, official, prices)
            return inputs.settled_months(fill=STORED_FILL, as_of=as_of)
    inputs = inputs_from_store(
        store, community, prices_csv=prices_csv, assumed_price_eur_per_mwh=ASSUMED_PRICE_EUR_PER_MWH
    )
    return inputs.settled_months(fill=STORED_FILL, as_of=as_of)
