"""Real prices of 2023 replayed onto any day (engines/price_replay): same weekday, same local hour, DST."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from condivisa.engines.price_replay import replay_prices, source_day
from condivisa.formats.gme_prices import load_gme_2023
from condivisa.kernel.timegrid import ROME, hours


@pytest.fixture(scope="module")
def coded_2023() -> pd.Series:
    """A 2023 'price' that tells where it came from: day of year × 100 + local hour of day."""
    idx = hours(dt.date(2023, 1, 1), dt.date(2024, 1, 1))
    local = idx.tz_convert(ROME)
    return pd.Series(local.day_of_year * 100.0 + local.hour, index=idx)


def test_source_day_by_hand() -> None:
    # Monday 3 June 2024 → 3 June 2023 is a Saturday → the nearest Monday is 5 June 2023
    assert source_day(dt.date(2024, 6, 3), 2023) == dt.date(2023, 6, 5)
    # Thursday 29 February 2024 → 28 February 2023 (Tuesday) + 2 days = Thursday 2 March 2023
    assert source_day(dt.date(2024, 2, 29), 2023) == dt.date(2023, 3, 2)
    # Friday 1 January 2027 → 1 January 2023 is a Sunday; two days back leaves 2023, so a week later
    assert source_day(dt.date(2027, 1, 1), 2023) == dt.date(2023, 1, 6)


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_source_day_same_weekday_within_the_year(day: dt.date) -> None:
    src = source_day(day, 2023)
    assert src.year == 2023
    assert src.weekday() == day.weekday()
    anchor = dt.date(2023, day.month, 28 if (day.month, day.day) == (2, 29) else day.day)
    assert abs((src - anchor).days) <= 7


@pytest.mark.parametrize(
    ("day", "n_hours"),
    [
        (dt.date(2026, 3, 29), 23),
        (dt.date(2026, 10, 25), 25),
        (dt.date(2026, 12, 1), 24),
        (dt.date(2028, 2, 29), 24),
    ],
)
def test_every_real_hour_of_a_target_day_is_priced(coded_2023: pd.Series, day: dt.date, n_hours: int) -> None:
    out = replay_prices(coded_2023, day, day + dt.timedelta(days=1))
    assert len(out) == n_hours and not out.isna().any()
    local = out.index.tz_convert(ROME)
    src = source_day(day, 2023)
    doy = pd.Timestamp(src).day_of_year
    # each hour carries the source day's price at the same local hour of day
    assert np.array_equal(out.to_numpy(), doy * 100.0 + np.asarray(local.hour))


def test_a_23_hour_source_day_gives_its_0100_price_for_0200(coded_2023: pd.Series) -> None:
    # Sunday 26 March 2023 (no 02:00) is the source of Sunday 24 March 2024 (a 24-hour day)
    target = dt.date(2024, 3, 24)
    assert source_day(target, 2023) == dt.date(2023, 3, 26)
    out = replay_prices(coded_2023, target, target + dt.timedelta(days=1))
    assert len(out) == 24
    by_hour = dict(zip(out.index.tz_convert(ROME).hour, out.to_numpy(), strict=True))
    assert by_hour[2] == by_hour[1] == 85 * 100 + 1  # 26 March is day 85


def test_real_gme_june_2024_is_2023_shifted_to_the_weekday() -> None:
    sud = load_gme_2023(zone="SUD")
    out = replay_prices(sud, dt.date(2024, 6, 1), dt.date(2024, 7, 1))
    assert len(out) == 30 * 24
    monday = out[out.index.tz_convert(ROME).date == dt.date(2024, 6, 3)].to_numpy()
    source = sud[sud.index.tz_convert(ROME).date == dt.date(2023, 6, 5)].to_numpy()
    assert np.array_equal(monday, source)
