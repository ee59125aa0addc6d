"""Real hourly prices of one year replayed onto other days: the examples and the demo settle on GME's
2023 zonal prices whatever year they run in.

For a target civil day ``D`` (Europe/Rome) the source day is the day of the source year with the same
month and day (29 February → 28 February), moved by at most three days to fall on the same weekday as
``D`` (prices follow the week: Sundays are cheaper), kept inside the source year. Within the day, every
local hour takes the source day's price at the same local hour of day; on DST days the missing 02:00 of
a 23-hour source day takes its 01:00 price, a 25-hour target day uses the 02:00 price for both its
02:00 hours, and a 25-hour source day gives its first 02:00.

References
----------
.. [1] GME, "Esiti del Mercato del Giorno Prima (MGP)": hourly zonal prices, €/MWh.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from condivisa.kernel.timegrid import ROME, hours


def source_day(target: dt.date, source_year: int) -> dt.date:
    """The day of ``source_year`` whose prices replay on ``target``: same month and day, same weekday.

    Parameters
    ----------
    target : datetime.date
        The civil day to price.
    source_year : int
        The year of the real prices.

    Returns
    -------
    datetime.date
        ``target``'s month and day in ``source_year`` (29 February → 28 February), shifted by
        ``((w_t − w_s + 3) mod 7) − 3`` days (``w`` the weekdays; |shift| ≤ 3), clipped to the source year.

    Examples
    --------
    >>> source_day(dt.date(2024, 6, 3), 2023)  # a Monday → Monday 5 June 2023
    datetime.date(2023, 6, 5)
    """
    day = 28 if (target.month, target.day) == (2, 29) else target.day
    same = dt.date(source_year, target.month, day)
    shift = (target.weekday() - same.weekday() + 3) % 7 - 3
    moved = same + dt.timedelta(days=shift)
    if moved.year != source_year:  # near 1 January / 31 December: a week the other way
        moved += dt.timedelta(days=7 if moved < same else -7)
    return moved


def _hour_of_day_prices(source: pd.Series, day: dt.date) -> np.ndarray:
    """24 prices by local hour of day of one source day; DST gaps filled from the previous hour."""
    local = source.tz_convert(ROME)
    rows = local[local.index.date == day]
    if rows.empty:
        raise ValueError(f"the source prices have no hours on {day}")
    by_hour = np.full(24, np.nan)
    for stamp, price in zip(rows.index[::-1], rows.to_numpy()[::-1], strict=True):
        by_hour[stamp.hour] = price  # walked backwards: a repeated 02:00 keeps its first value
    for h in range(24):
        if np.isnan(by_hour[h]):
            by_hour[h] = by_hour[h - 1] if h > 0 else float(np.nanmean(by_hour))
    return by_hour


def replay_prices(source_eur_per_mwh: pd.Series, start: dt.date, end: dt.date) -> pd.Series:
    """Hourly prices for the civil days ``start`` .. ``end`` (exclusive) taken from a year of real prices.

    Parameters
    ----------
    source_eur_per_mwh : pandas.Series
        Hourly prices of one calendar year, €/MWh, indexed by aware hour starts (e.g.
        :func:`condivisa.formats.gme_prices.load_gme_2023`).
    start, end : datetime.date
        The days to price (``end`` excluded), any year.

    Returns
    -------
    pandas.Series
        €/MWh on the real local hours of every target day (23, 24 or 25 a day), named
        ``zonal_price_eur_per_mwh``; each day's prices come from :func:`source_day`.
    """
    year = int(source_eur_per_mwh.index.tz_convert(ROME)[len(source_eur_per_mwh) // 2].year)
    index = hours(start, end)
    local = index.tz_convert(ROME)
    values = np.empty(len(index))
    days = np.asarray(local.date)
    for day in dict.fromkeys(days):
        mask = days == day
        values[mask] = _hour_of_day_prices(source_eur_per_mwh, source_day(day, year))[local.hour[mask]]
    return pd.Series(values, index=index, name="zonal_price_eur_per_mwh")
