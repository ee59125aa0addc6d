"""Time conventions: every timestamp is time-zone aware; the civil zone is Europe/Rome.

Quarter hours start on :00, :15, :30, :45. A civil day in Europe/Rome has 96 quarter
hours, 92 on the spring DST day and 100 on the autumn one, so grids are always built
in UTC and labelled in local time, never by counting 96 per day.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

ROME = ZoneInfo("Europe/Rome")
QUARTER = pd.Timedelta(minutes=15)
HOUR = pd.Timedelta(hours=1)


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


def is_on_quarter_grid(ts: pd.Timestamp) -> bool:
    """True when ``ts`` falls exactly on a quarter-hour boundary (UTC minutes 0/15/30/45, no seconds)."""
    ts = pd.Timestamp(ts)
    return ts.second == 0 and ts.microsecond == 0 and ts.nanosecond == 0 and ts.minute % 15 == 0
