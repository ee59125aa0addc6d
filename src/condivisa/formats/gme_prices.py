"""GME day-ahead (MGP) hourly zonal prices of 2023, €/MWh, on real Europe/Rome instants.

The shipped file (``data/italy/gme_hourly_zonal_prices_2023.csv``) has 8,760 rows, ``Date`` as
``dd/mm/yyyy HH:MM``, naive, 24 rows every day, and one column per zone (``PUN`` and the seven market zones).
A civil year in Italy also has 8,760 hours, but 23 on 26 March 2023 and 25 on 29 October, so the rows are
mapped onto real instants by their local wall-clock time, see :func:`load_gme_2023`.

References
----------
.. [1] GME (Gestore dei Mercati Energetici), Mercato del Giorno Prima (MGP), esiti: prezzi zonali orari e PUN,
   2023, as redistributed by RSE's CACER simulator, github.com/RSE-CoLabs/CACER_Simulator, ``files/``
   (BSD 3-Clause, (c) 2025 Aleotti F., Rollo A. / RSE).
.. [2] Directive 2000/84/EC: summer time starts at 01:00 UTC on the last Sunday of March and ends at 01:00 UTC
   on the last Sunday of October.
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib.resources
from pathlib import Path

import pandas as pd

from condivisa.kernel.timegrid import hours

#: the price columns of the GME file: the national single price and the seven market zones
ZONES: tuple[str, ...] = ("PUN", "CALA", "CNOR", "CSUD", "NORD", "SARD", "SICI", "SUD")


def _default_path() -> Path:
    resource = importlib.resources.files("condivisa.formats").joinpath(
        "data/italy/gme_hourly_zonal_prices_2023.csv"
    )
    return Path(str(resource))


def load_gme_2023(path: str | Path | None = None, zone: str = "PUN") -> pd.Series:
    """The hourly MGP price of one zone in 2023, €/MWh, indexed by aware hour starts in Europe/Rome.

    Parameters
    ----------
    path : str or Path, optional
        The CSV file (``Date,PUN,CALA,CNOR,CSUD,NORD,SARD,SICI,SUD``, date ``dd/mm/yyyy HH:MM``, naive, 24 rows a
        day). Default: the copy shipped as package data.
    zone : str
        ``"PUN"`` or a market zone of :data:`ZONES` (case-insensitive).

    Returns
    -------
    pandas.Series
        ``price_eur_per_mwh``, float, €/MWh, one value per real hour of 2023 (8,760), indexed by the hour
        starts, aware, Europe/Rome.

    Notes
    -----
    Each real hour takes the price of the file row with the same local wall-clock date and time:

    * 26/03/2023 (clocks go 02:00 CET → 03:00 CEST): the file's ``26/03/2023 02:00`` row names a time that does
      not exist in Italy and is **dropped**; the day has 23 hours.
    * 29/10/2023 (clocks go 03:00 CEST → 02:00 CET): the file has one ``29/10/2023 02:00`` row for two real
      hours; its price is **used for both** 02:00 CEST (00:00 UTC) and 02:00 CET (01:00 UTC); the day has 25
      hours.

    Raises
    ------
    ValueError
        Unknown zone (with "did you mean"), a date that does not parse, a duplicated row, or a real hour of
        2023 that has no row.

    References
    ----------
    .. [1] GME, MGP hourly zonal prices and PUN, 2023, via RSE's CACER simulator (BSD 3-Clause).
    """
    wanted = zone.strip().upper()
    if wanted not in ZONES:
        close = difflib.get_close_matches(wanted, ZONES, n=3, cutoff=0.4)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown GME zone {zone!r}{hint} (the zones: {', '.join(ZONES)})")
    source = Path(path) if path is not None else _default_path()
    raw = pd.read_csv(source, dtype={"Date": str})
    if "Date" not in raw.columns or wanted not in raw.columns:
        raise ValueError(f"{source}: needs the columns 'Date' and {wanted!r}; it has {list(raw.columns)}")
    try:
        wall = pd.to_datetime(raw["Date"], format="%d/%m/%Y %H:%M")
    except ValueError as exc:
        raise ValueError(f"{source}: a Date is not dd/mm/yyyy HH:MM ({exc})") from exc
    if wall.duplicated().any():
        raise ValueError(f"{source}: duplicated Date(s) {sorted(set(raw['Date'][wall.duplicated()]))[:5]}")
    by_wall = pd.Series(raw[wanted].astype(float).to_numpy(), index=pd.DatetimeIndex(wall))
    real = hours(dt.date(2023, 1, 1), dt.date(2024, 1, 1))
    prices = by_wall.reindex(real.tz_localize(None))
    if prices.isna().any():
        gaps = list(real[prices.isna().to_numpy()][:5])
        raise ValueError(f"{source}: no {wanted} price for the hour(s) {gaps}")
    return pd.Series(prices.to_numpy(dtype=float), index=real, name="price_eur_per_mwh")
