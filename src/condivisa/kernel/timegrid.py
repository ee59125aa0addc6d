"""The time kernel: civil time in Europe/Rome, the quarter-hour grid, and what a naive time means.

Every timestamp in condivisa is time-zone aware. Quarter hours start on :00, :15, :30, :45. A civil day in
Europe/Rome has 96 quarter hours, 92 on the spring DST day and 100 on the autumn one, so grids are always
built in UTC and labelled in local time, never by counting 96 per day.

This module is the only place that defines :data:`UTC`, :data:`ROME`, :data:`QUARTER` and :data:`HOUR`, and
the only "to UTC" conversion (:func:`to_utc`), which says what a naive time means instead of guessing.

References
----------
.. [1] Directive 2000/84/EC on summer-time arrangements: the change happens at 01:00 UTC on the last Sunday
   of March and of October.
.. [2] ARERA, TIAD (Testo integrato autoconsumo diffuso), Allegato A alla delibera 727/2022/R/eel, art. 1:
   the shared energy is computed hour by hour; chain-2 readings come by quarter hour.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd

#: the UTC time zone (the store keeps every instant in UTC)
UTC = dt.timezone.utc
#: the civil time zone of Italian metering and settlement
ROME = ZoneInfo("Europe/Rome")
#: one quarter hour, the metering interval of chain-2 user devices and of the distributor's curves
QUARTER = dt.timedelta(minutes=15)
#: one hour, the interval of the shared energy (TIAD art. 1)
HOUR = dt.timedelta(hours=1)

NaiveMeans = Literal["rome", "utc"]


def to_utc(value: Any, *, naive_is: NaiveMeans, name: str = "time") -> dt.datetime | None:
    """An instant as an aware UTC ``datetime``.

    Parameters
    ----------
    value : datetime, pandas Timestamp, date, str or None
        The instant. ``None``, NaN and NaT give ``None``.
    naive_is : {"rome", "utc"}
        What a naive value means: ``"rome"`` for civil time typed by a person or written in a file (an
        ambiguous autumn 02:xx is taken as the first, summer-time one; a spring 02:xx that does not exist is
        moved forward to 03:00), ``"utc"`` for values read back from a store that drops the offset (SQLite).
    name : str
        The name used in the error message.

    Returns
    -------
    datetime or None
        Aware, in UTC.

    Raises
    ------
    ValueError
        ``value`` is not a date or a time (the message names ``name``).
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime) and not isinstance(value, pd.Timestamp):  # the common case, no pandas
        if value.tzinfo is not None:
            return value.astimezone(UTC)
        if naive_is == "utc":
            return value.replace(tzinfo=UTC)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"{name}: {value!r} is not a date or time") from None
    if ts is pd.NaT:
        return None
    if ts.tzinfo is None:
        ts = (
            ts.tz_localize(UTC)
            if naive_is == "utc"
            else ts.tz_localize(ROME, ambiguous=True, nonexistent="shift_forward")
        )
    return ts.tz_convert(UTC).to_pydatetime()


def local_midnight(day: dt.date) -> pd.Timestamp:
    """Midnight of the civil day ``day`` in Europe/Rome, as an aware timestamp."""
    return pd.Timestamp(dt.datetime(day.year, day.month, day.day), tz=ROME)


def quarter_hours(start: dt.date, end: dt.date) -> pd.DatetimeIndex:
    """Quarter-hour start instants of the civil days ``start`` .. ``end`` (end exclusive), Europe/Rome.

    Built in UTC so that DST days get 92 or 100 intervals.
    """
    first = local_midnight(start).tz_convert("UTC")
    last = local_midnight(end).tz_convert("UTC")
    return pd.date_range(first, last, freq="15min", inclusive="left").tz_convert(ROME)


def hours(start: dt.date, end: dt.date) -> pd.DatetimeIndex:
    """Hour start instants of the civil days ``start`` .. ``end`` (end exclusive), Europe/Rome."""
    first = local_midnight(start).tz_convert("UTC")
    last = local_midnight(end).tz_convert("UTC")
    return pd.date_range(first, last, freq="h", inclusive="left").tz_convert(ROME)


def year_quarter_hours(year: int) -> pd.DatetimeIndex:
    """All quarter hours of a civil year in Europe/Rome (35,040 or 35,136 in a leap year)."""
    return quarter_hours(dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
