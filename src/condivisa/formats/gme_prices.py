"""GME day-ahead (MGP) hourly zonal prices, €/MWh, on real Europe/Rome instants.

The shipped file (``data/italy/gme_hourly_zonal_prices_2023.csv``) has 8,760 rows, ``Date`` as
``dd/mm/yyyy HH:MM``, naive, 24 rows every day, and one column per zone (``PUN`` and the seven market zones).
A civil year in Italy also has 8,760 hours, but 23 on 26 March 2023 and 25 on 29 October, so the rows are
mapped onto real instants by their local wall-clock time, see :func:`load_gme_2023`.

GME's own download (``Data;Ora;PUN;...``, date ``YYYYMMDD``, hour ``1``-``24`` numbered within the local day,
23 on the spring DST day and 25 on the autumn one, decimal comma) is read by :func:`read_gme_download`, which
also accepts the 2023 layout above.

References
----------
.. [1] GME (Gestore dei Mercati Energetici), Mercato del Giorno Prima (MGP), esiti: prezzi zonali orari e PUN,
   2023, as redistributed by RSE's CACER simulator, github.com/RSE-CoLabs/CACER_Simulator, ``files/``
   (BSD 3-Clause, (c) 2025 Aleotti F., Rollo A. / RSE).
.. [2] GME, "Esiti dei mercati: MGP, prezzi", www.mercatoelettrico.org (download ``.xml``/``.xlsx``, exported as
   ``;``-separated text with decimal comma).
.. [3] Directive 2000/84/EC: summer time starts at 01:00 UTC on the last Sunday of March and ends at 01:00 UTC
   on the last Sunday of October.
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib.resources
import re
from pathlib import Path

import pandas as pd

from condivisa.kernel.timegrid import ROME, hours

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


#: the first two columns of GME's download layout
_DOWNLOAD_KEYS = ("Data", "Ora")
_COMMA_NUMBER = re.compile(r"^[+-]?\d+(?:,\d+)?$")
_POINT_NUMBER = re.compile(r"^[+-]?\d*\.\d+$")
_DATE = re.compile(r"^\d{8}$")


def _where(source: Path, line: int, column: str) -> str:
    return f"{source}, line {line}, column {column!r}"


def _hours_of_day(day: dt.date) -> pd.DatetimeIndex:
    return hours(day, day + dt.timedelta(days=1))


def read_gme_download(path: str | Path, zone: str) -> pd.Series:
    """The hourly MGP price of one zone from a GME price file, €/MWh, indexed by aware hour starts in Europe/Rome.

    Parameters
    ----------
    path : str or Path
        Either GME's download layout (``Data;Ora;PUN;...;SARD;SUD``, ``;``-separated, zones in any order, date
        ``YYYYMMDD``, hour ``1``-``24`` of the local day (``1``-``23`` on the spring DST day, ``1``-``25`` on
        the autumn one, where ``2`` and ``3`` are the two 02:00s), decimal comma ``112,456``), or the 2023 layout
        of :func:`load_gme_2023` (``Date,PUN,...``, naive, 24 rows a day).
    zone : str
        A zone column of the file (``PUN``, ``SUD``, ...), case-insensitive.

    Returns
    -------
    pandas.Series
        ``price_eur_per_mwh``, float, €/MWh, one value per real hour of the days in the file, indexed by the
        hour starts, aware, Europe/Rome, sorted.

    Raises
    ------
    ValueError
        Naming the file, the line (the header is line 1), the column and the fix: an unknown header, a missing
        zone (with "did you mean"), a date that is not ``YYYYMMDD``, an hour out of range, a duplicated (date,
        hour), a value with a decimal point or that is not a number, a day with the wrong number of hours.

    References
    ----------
    .. [1] GME, MGP esiti, prezzi zonali orari e PUN, www.mercatoelettrico.org.
    .. [2] Directive 2000/84/EC (summer time in the EU).
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"{source}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source}: not a text file ({exc}); export GME's prices as CSV text") from None
    lines = text.splitlines()
    header_text = lines[0].strip() if lines else ""
    if header_text.split(",")[0].strip() == "Date":
        return load_gme_2023(source, zone)
    header = [c.strip() for c in header_text.split(";")]
    if tuple(header[:2]) != _DOWNLOAD_KEYS or len(header) < 3:
        raise ValueError(
            f"{source}, line 1: unknown header {header_text[:80]!r}; expected GME's download layout "
            f"'Data;Ora;PUN;...;SUD' (';'-separated) or the 2023 layout 'Date,PUN,...,SUD'"
        )
    zones = header[2:]
    wanted = zone.strip().upper()
    upper = [z.upper() for z in zones]
    if wanted not in upper:
        close = difflib.get_close_matches(wanted, upper, n=3, cutoff=0.4)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"{source}, line 1: no zone column {zone!r}{hint} (the file has: {', '.join(zones)}); "
            f"pass one of them as --zone"
        )
    col = 2 + upper.index(wanted)
    column = header[col]
    seen: dict[tuple[dt.date, int], int] = {}
    days: dict[dt.date, list[tuple[int, int, float]]] = {}
    for number, raw_line in enumerate(lines[1:], start=2):
        if not raw_line.strip():
            continue
        cells = [c.strip() for c in raw_line.split(";")]
        if len(cells) < len(header):
            raise ValueError(
                f"{source}, line {number}: {len(cells)} fields, the header has {len(header)}; "
                f"use GME's export unchanged"
            )
        date_text, hour_text, value_text = cells[0], cells[1], cells[col]
        try:
            if not _DATE.match(date_text):
                raise ValueError(date_text)
            day = dt.datetime.strptime(date_text, "%Y%m%d").date()
        except ValueError:
            raise ValueError(
                f"{_where(source, number, 'Data')}: {date_text!r} is not a date YYYYMMDD (e.g. 20240331)"
            ) from None
        if not hour_text.isdigit() or not 1 <= int(hour_text) <= 25:
            raise ValueError(
                f"{_where(source, number, 'Ora')}: hour {hour_text!r} is out of range; GME numbers the hours "
                f"of the local day 1-24 (1-23 on the spring DST day, 1-25 on the autumn one)"
            )
        hour = int(hour_text)
        if (day, hour) in seen:
            raise ValueError(
                f"{_where(source, number, 'Ora')}: {day.isoformat()} hour {hour} is duplicated (first on line "
                f"{seen[(day, hour)]}); keep one row per date and hour"
            )
        seen[(day, hour)] = number
        if _POINT_NUMBER.match(value_text):
            raise ValueError(
                f"{_where(source, number, column)}: {value_text!r} has a decimal point, GME writes a decimal "
                f"comma ({value_text.replace('.', ',')!r}); use GME's export unchanged"
            )
        if not _COMMA_NUMBER.match(value_text):
            raise ValueError(
                f"{_where(source, number, column)}: {value_text!r} is not a number (expected e.g. '112,456'); "
                f"use GME's export unchanged"
            )
        days.setdefault(day, []).append((hour, number, float(value_text.replace(",", "."))))
    if not days:
        raise ValueError(f"{source}: no price rows after the header")
    starts: list[pd.Timestamp] = []
    values: list[float] = []
    for day, rows in sorted(days.items()):
        real = _hours_of_day(day)
        first_line = min(n for _, n, _ in rows)
        if len(rows) != len(real):
            why = {23: " (clocks go forward)", 25: " (clocks go back)"}.get(len(real), "")
            raise ValueError(
                f"{_where(source, first_line, 'Ora')}: {day.isoformat()} has {len(rows)} rows but "
                f"{len(real)} hours in Italy{why}; the file must have hours 1-{len(real)} for that day"
            )
        for hour, number, value in rows:
            if hour > len(real):
                raise ValueError(
                    f"{_where(source, number, 'Ora')}: hour {hour} is out of range, {day.isoformat()} has "
                    f"{len(real)} hours in Italy (1-{len(real)})"
                )
            starts.append(real[hour - 1])
            values.append(value)
    index = pd.DatetimeIndex(starts).tz_convert(ROME)
    return pd.Series(values, index=index, name="price_eur_per_mwh").sort_index()
