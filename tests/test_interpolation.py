"""Hourly → quarter-hour: each hour's energy kept exactly, non-negative, monotone where neighbours rise/fall."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.engines.interpolation import (
    disaggregate_energy,
    hourly_to_quarter_hour,
    limited_slopes,
    repeat_hourly,
)

hourly_energies = st.lists(
    st.floats(min_value=0.0, max_value=100.0, allow_nan=False), min_size=1, max_size=60
)


def test_hand_worked_ramp_and_peak():
    # hours [0, 4, 8, 4, 0]
    # hour 1 (m = 4): minmod((8−0)/2 = 4, 2·(4−0) = 8, 2·(8−4) = 8) = 4
    #   levels 4 + 4·(−3/8, −1/8, 1/8, 3/8) = 2.5, 3.5, 4.5, 5.5 → energies /4 = 0.625 0.875 1.125 1.375 (sum
    # 4)
    # hour 2 (m = 8) is a peak: the one-sided differences change sign → s = 0, flat 2, 2, 2, 2
    # hour 0 (m = 0, edge uses itself as left neighbour): minmod(2, 0, 8) = 0 → flat zeros
    q = disaggregate_energy([0.0, 4.0, 8.0, 4.0, 0.0])
    np.testing.assert_allclose(q[4:8], [0.625, 0.875, 1.125, 1.375])
    np.testing.assert_allclose(q[8:12], [2.0, 2.0, 2.0, 2.0])
    np.testing.assert_allclose(q[0:4], 0.0)
    np.testing.assert_allclose(q[12:16], [1.375, 1.125, 0.875, 0.625])  # mirror image on the way down
    np.testing.assert_allclose(limited_slopes([0.0, 4.0, 8.0, 4.0, 0.0]), [0.0, 4.0, 0.0, -4.0, 0.0])


def test_sunrise_next_to_zero_stays_non_negative():
    # hours [0, 1, 10]: hour 1 slope = minmod(5, 2, 18) = 2 → levels 1 + 2·(−3/8 …) = 0.25, 0.75, 1.25, 1.75
    q = disaggregate_energy([0.0, 1.0, 10.0])
    np.testing.assert_allclose(q[4:8], [0.0625, 0.1875, 0.3125, 0.4375])


def test_repeat_is_a_staircase():
    np.testing.assert_allclose(repeat_hourly([4.0, 8.0]), [1, 1, 1, 1, 2, 2, 2, 2])


@settings(max_examples=200, deadline=None)
@given(hourly_energies)
def test_property_hourly_energy_kept_and_non_negative(values):
    m = np.array(values)
    q = disaggregate_energy(m)
    assert q.shape == (4 * len(m),)
    assert (q >= 0).all()
    np.testing.assert_allclose(q.reshape(-1, 4).sum(axis=1), m, rtol=1e-12, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(hourly_energies)
def test_property_monotone_within_hour_where_neighbours_rise_or_fall(values):
    m = np.array(values)
    q = disaggregate_energy(m).reshape(-1, 4)
    for i in range(1, len(m) - 1):
        steps = np.diff(q[i])
        if m[i - 1] <= m[i] <= m[i + 1]:
            assert (steps >= -1e-12).all()
        if m[i - 1] >= m[i] >= m[i + 1]:
            assert (steps <= 1e-12).all()
        # no new extremes: the quarters stay between the neighbouring hours' levels
        lo, hi = min(m[i - 1], m[i], m[i + 1]), max(m[i - 1], m[i], m[i + 1])
        assert (4 * q[i] >= lo - 1e-9).all() and (4 * q[i] <= hi + 1e-9).all()


def test_series_across_the_spring_dst_day():
    index = pd.date_range("2024-03-31", "2024-04-01", freq="h", tz="Europe/Rome", inclusive="left")
    assert len(index) == 23
    hourly = pd.Series(np.arange(23, dtype=float), index=index)
    quarter = hourly_to_quarter_hour(hourly)
    assert len(quarter) == 92
    assert quarter.index[0] == pd.Timestamp("2024-03-31 00:00", tz="Europe/Rome")
    assert quarter.index[8] == pd.Timestamp("2024-03-31 03:00", tz="Europe/Rome")  # 02:00 does not exist
    assert quarter.sum() == pytest.approx(hourly.sum())


def test_dataframe_columns_split_independently():
    index = pd.date_range("2024-06-01", periods=3, freq="h", tz="Europe/Rome")
    frame = pd.DataFrame({"a": [0.0, 4.0, 8.0], "b": [1.0, 1.0, 1.0]}, index=index)
    out = hourly_to_quarter_hour(frame)
    assert list(out.columns) == ["a", "b"] and len(out) == 12
    np.testing.assert_allclose(out["b"], 0.25)
    np.testing.assert_allclose(out["a"].to_numpy().reshape(3, 4).sum(axis=1), [0, 4, 8])


def test_bad_inputs_are_named():
    index = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 02:00"], tz="UTC")
    with pytest.raises(ValueError, match="gap after"):
        hourly_to_quarter_hour(pd.Series([1.0, 2.0], index=index))
    with pytest.raises(ValueError, match="time-zone aware"):
        hourly_to_quarter_hour(pd.Series([1.0], index=pd.DatetimeIndex(["2024-01-01"])))
    with pytest.raises(ValueError, match="NaN"):
        disaggregate_energy([1.0, np.nan])
    with pytest.raises(ValueError, match="method"):
        hourly_to_quarter_hour(
            pd.Series([1.0], index=pd.DatetimeIndex(["2024-01-01"], tz="UTC")), method="cubic"
        )
