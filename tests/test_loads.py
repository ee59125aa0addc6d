"""Household profiles: daily energies exact (DST days too), peaks where people are at home, seeded variation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from condivisa.engines.loads import (
    household_loads_kwh,
    loads_from_measurements,
    month_daily_energy_kwh,
    synthetic_household_kwh,
)

KU = [1.0, 1.0, 0.5, 0.3, 0.3, 0.7, 1.0, 1.0, 0.7, 0.3, 0.5, 1.0]


def _daily(series: pd.Series) -> pd.Series:
    return series.groupby(series.index.tz_convert("Europe/Rome").normalize()).sum()


def test_daily_energy_exact_every_day_including_dst():
    load = synthetic_household_kwh(2024, 12.33, 6.94, KU)
    assert len(load) == 35136  # leap year: 366 · 96
    daily = _daily(load)
    months = daily.index.month.to_numpy()
    # July: 12.33 + 6.94 · 1.0 = 19.27 kWh; April: 12.33 + 6.94 · 0.3 = 14.412 kWh
    expected = 12.33 + 6.94 * np.asarray(KU)[months - 1]
    np.testing.assert_allclose(daily.to_numpy(), expected, rtol=1e-12)
    sizes = load.groupby(load.index.tz_convert("Europe/Rome").normalize()).size()
    assert sizes[pd.Timestamp("2024-03-31", tz="Europe/Rome")] == 92
    assert sizes[pd.Timestamp("2024-10-27", tz="Europe/Rome")] == 100
    assert daily[pd.Timestamp("2024-03-31", tz="Europe/Rome")] == pytest.approx(12.33 + 6.94 * 0.5)


def test_morning_and_evening_peaks_above_night_and_working_hours():
    load = synthetic_household_kwh(2024, 7.58, 0.0)
    day = load["2024-02-14"].to_numpy().reshape(24, 4).sum(axis=1)  # kWh per local hour
    night, morning, midmorning, evening = day[3], day[7], day[10], day[20]
    assert morning > 2 * night and evening > 2 * night
    assert morning > midmorning and evening > midmorning


def test_cooling_in_summer_afternoon():
    ac_only = synthetic_household_kwh(2024, 0.0, 4.25, KU)
    july = ac_only["2024-07-10"].to_numpy().reshape(24, 4).sum(axis=1)
    assert july[16] > 5 * july[4]  # the AC works in the afternoon, barely at night
    assert july.sum() == pytest.approx(4.25)


def test_seeded_variation_keeps_months_and_varies_days():
    a = synthetic_household_kwh(2024, 9.21, 4.25, KU, variation=0.2, seed=7)
    b = synthetic_household_kwh(2024, 9.21, 4.25, KU, variation=0.2, seed=7)
    c = synthetic_household_kwh(2024, 9.21, 4.25, KU, variation=0.2, seed=8)
    flat = synthetic_household_kwh(2024, 9.21, 4.25, KU)
    pd.testing.assert_series_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())
    np.testing.assert_allclose(
        month_daily_energy_kwh(a).to_numpy(), month_daily_energy_kwh(flat).to_numpy(), rtol=1e-9
    )
    assert _daily(a).std() > 0.5  # days differ


def test_several_flats_and_bad_inputs():
    flats = [
        {"id": "N-1", "appliances_kwh_per_day": 7.58, "ac_july_kwh_per_day": 4.25},
        {"id": "N-8", "appliances_kwh_per_day": 12.33, "ac_july_kwh_per_day": 6.94},
    ]
    frame = household_loads_kwh(2024, flats, KU)
    assert list(frame.columns) == ["N-1", "N-8"]
    assert frame["N-8"].sum() > frame["N-1"].sum()
    with pytest.raises(ValueError, match="12 values"):
        synthetic_household_kwh(2024, 1.0, 1.0, [1.0] * 11)
    with pytest.raises(ValueError, match="variation"):
        synthetic_household_kwh(2024, 1.0, variation=-1)


def test_loads_from_hourly_measurements_split_into_quarters():
    start = pd.date_range("2024-06-01", periods=3, freq="h", tz="Europe/Rome")
    rows = pd.DataFrame(
        {
            "pod": ["P1"] * 3 + ["P2"] * 3,
            "start": list(start) * 2,
            "withdrawn_kwh": [0.0, 4.0, 8.0, 1.0, 1.0, 1.0],
            "injected_kwh": 0.0,
        }
    )
    out = loads_from_measurements(rows)
    assert out.shape == (12, 2)
    np.testing.assert_allclose(
        out["P1"].to_numpy()[4:8], [0.625, 0.875, 1.125, 1.375]
    )  # as in test_interpolation
    np.testing.assert_allclose(out["P2"], 0.25)


def test_loads_from_quarter_measurements_and_errors():
    start = pd.date_range("2024-06-01", periods=4, freq="15min", tz="UTC")
    rows = pd.DataFrame(
        {"pod": "P1", "start": start, "withdrawn_kwh": [0.1, 0.2, 0.3, 0.4], "injected_kwh": 0.0}
    )
    out = loads_from_measurements(rows.drop(index=2))
    assert len(out) == 4 and np.isnan(out["P1"].iloc[2])  # the gap stays visible
    with pytest.raises(ValueError, match="missing column"):
        loads_from_measurements(rows.drop(columns=["withdrawn_kwh"]))
    with pytest.raises(ValueError, match="no rows for POD"):
        loads_from_measurements(rows, pods=["P9"])
