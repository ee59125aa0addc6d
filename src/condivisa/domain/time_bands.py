"""The F1/F2/F3 time bands of ARERA 181/06 for any instant, with the Italian national holidays.

Bands, on the local civil time (Europe/Rome) of each instant:

* F1 (peak): Monday to Friday 08:00-19:00;
* F2 (mid): Monday to Friday 07:00-08:00 and 19:00-23:00, Saturday 07:00-23:00;
* F3 (off-peak): Monday to Saturday 23:00-07:00, Sundays and national holidays all day.

National holidays (``holidays.Italy``, national only: no patron saints): 1 and 6 January, Easter Monday,
25 April, 1 May, 2 June, 15 August, 1 November, 8, 25 and 26 December. A holiday that falls on a Saturday or a
weekday is a ``"holiday"``.

The rule is encoded here, not read from the shipped table (the domain floor does not import formats);
``tests/test_time_bands.py`` compares the two.

References
----------
.. [1] ARERA, delibera 181/06 (Aggiornamento delle fasce orarie, dal 1 gennaio 2007), Tabella 1.
.. [2] Legge 27 maggio 1949 n. 260 and later amendments (the national holidays), as listed by the ``holidays``
   package, ``holidays.Italy``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import holidays
import numpy as np
import pandas as pd

from condivisa.kernel.timegrid import ROME

#: the band numbers
F1, F2, F3 = 1, 2, 3


@lru_cache(maxsize=256)
def _italian_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.Italy(years=year, subdiv=None).keys())


def is_national_holiday(day: dt.date) -> bool:
    """Whether the civil date ``day`` is an Italian national holiday (``holidays.Italy``, no patron saints)."""
    return day in _italian_holidays(day.year)


def _dates(dates: Any) -> list[dt.date]:
    if isinstance(dates, (dt.date, pd.Timestamp)):
        dates = [dates]
    out: list[dt.date] = []
    for d in dates:
        if isinstance(d, dt.datetime):
            ts = pd.Timestamp(d)
            if ts.tzinfo is None:
                raise ValueError(f"naive instant {d!r}: give an aware time (Europe/Rome or UTC)")
            out.append(ts.tz_convert(ROME).date())
        elif isinstance(d, dt.date):
            out.append(d)
        else:
            out.append(pd.Timestamp(d).date())
    return out


def day_type(dates: Iterable[Any] | dt.date) -> np.ndarray:
    """The ARERA day type of each civil date.

    Parameters
    ----------
    dates : date, aware datetime, or an iterable of them
        Civil dates, or aware instants (their local date in Europe/Rome is used).

    Returns
    -------
    numpy.ndarray
        ``str`` array: ``"holiday"`` for Sundays and national holidays, ``"saturday"`` for other Saturdays,
        ``"weekday"`` for the rest.

    Raises
    ------
    ValueError
        A naive instant (a time without a time zone).

    References
    ----------
    .. [1] ARERA, delibera 181/06; ``holidays.Italy`` for the national holidays.
    """
    out = []
    for d in _dates(dates):
        if d.weekday() == 6 or is_national_holiday(d):
            out.append("holiday")
        elif d.weekday() == 5:
            out.append("saturday")
        else:
            out.append("weekday")
    return np.array(out, dtype="<U8")


def band_of_local(minute_of_day: np.ndarray, day_types: np.ndarray) -> np.ndarray:
    """The ARERA 181/06 band of local clock times (minutes since local midnight) on days of given types.

    Parameters
    ----------
    minute_of_day : numpy.ndarray
        Local wall-clock minute, 0-1439.
    day_types : numpy.ndarray
        ``"weekday"``, ``"saturday"`` or ``"holiday"``, same shape.

    Returns
    -------
    numpy.ndarray
        ``int8`` bands 1, 2, 3.
    """
    minute = np.asarray(minute_of_day)
    kind = np.asarray(day_types)
    day = (minute >= 7 * 60) & (minute < 23 * 60)
    peak = (minute >= 8 * 60) & (minute < 19 * 60)
    band = np.full(minute.shape, F3, dtype=np.int8)
    working = kind == "weekday"
    band[(working | (kind == "saturday")) & day] = F2
    band[working & peak] = F1
    return band


def band_of(instants: Any) -> np.ndarray:
    """The ARERA 181/06 band (1 = F1, 2 = F2, 3 = F3) of each instant, on its local civil time in Europe/Rome.

    Parameters
    ----------
    instants : aware datetime, pandas.Timestamp, pandas.DatetimeIndex or an iterable of aware instants
        Any time zone; naive instants are refused. DST days work: the spring day's 92 quarter hours and the
        autumn day's 100 (both 02:xx hours are F3) each get the band of their local clock time.

    Returns
    -------
    numpy.ndarray
        ``int8`` bands, one per instant.

    Raises
    ------
    ValueError
        A naive instant.

    References
    ----------
    .. [1] ARERA, delibera 181/06, Tabella 1: F1 Mon-Fri 08-19; F2 Mon-Fri 07-08 and 19-23, Sat 07-23; F3
       Mon-Sat 23-07, Sundays and national holidays all day.
    """
    if isinstance(instants, (dt.datetime, pd.Timestamp)):
        instants = [instants]
    index = pd.DatetimeIndex(list(instants)) if not isinstance(instants, pd.DatetimeIndex) else instants
    if len(index) == 0:
        return np.zeros(0, dtype=np.int8)
    if index.tz is None:
        raise ValueError("naive instants: give aware times (Europe/Rome or UTC)")
    local = index.tz_convert(ROME)
    minute = np.asarray(local.hour * 60 + local.minute)
    days = np.asarray(local.date)
    unique_days, inverse = np.unique(days, return_inverse=True)
    kinds = day_type(list(unique_days))[inverse]
    return band_of_local(minute, kinds)
