"""Household profiles from the ARERA shapes and bills to quarter-hour profiles (issue #15, items 3–4)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.domain.time_bands import band_of
from condivisa.engines.household import (
    DAY_TYPES,
    bills_to_profile,
    household_profile,
)
from condivisa.kernel.timegrid import quarter_hours

ARERA_CSV = Path("/work/shared/reference/italy/arera_hourly_withdrawal_by_region_class_month_daytype.csv")
_DAY_TYPE_IT = {"Giorno feriale": "weekday", "Sabato": "saturday", "Domenica": "holiday"}


def bands_of(instants: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(band_of(instants), dtype=int)


@pytest.fixture(scope="module")
def arera_shapes() -> np.ndarray:
    """(12, 3, 24) kWh shapes for Lombardia, 1.5–3 kW (the real ARERA CSV, read directly)."""
    table = pd.read_csv(ARERA_CSV)
    table.columns = ["month", "region", "power_class", "day_type", "hour", "withdrawal_kwh"]
    rows = table[(table.region == "Lombardia") & (table.power_class == "1.5<P<=3")]
    rows = rows.assign(day_type=rows.day_type.map(_DAY_TYPE_IT))
    shapes = np.zeros((12, 3, 24))
    for r in rows.itertuples():
        shapes[int(r.month) - 1, DAY_TYPES.index(str(r.day_type)), int(r.hour)] = float(r.withdrawal_kwh)
    assert (shapes > 0).all()
    return shapes


def test_flat_day_scaled_to_10_kwh() -> None:
    flat = np.ones((12, 3, 24))
    day = dt.date(2024, 5, 15)
    profile = household_profile(flat, day, day + dt.timedelta(days=1), energy_kwh=10.0, per="day")
    assert profile.shape == (96,)
    np.testing.assert_allclose(profile, 10.0 / 96, rtol=1e-12)
    assert profile[0] == pytest.approx(0.1041666666666, rel=1e-10)


def test_each_hour_energy_kept(arera_shapes: np.ndarray) -> None:
    day = dt.date(2024, 1, 10)  # Wednesday
    profile = household_profile(arera_shapes, day, day + dt.timedelta(days=1), day_types=["weekday"])
    np.testing.assert_allclose(profile.reshape(24, 4).sum(axis=1), arera_shapes[0, 0], rtol=1e-12)
    repeat = household_profile(
        arera_shapes, day, day + dt.timedelta(days=1), day_types=["weekday"], method="repeat"
    )
    np.testing.assert_allclose(repeat, np.repeat(arera_shapes[0, 0] / 4, 4), rtol=1e-12)


def test_dst_days(arera_shapes: np.ndarray) -> None:
    spring, autumn = dt.date(2024, 3, 31), dt.date(2024, 10, 27)
    p_spring = household_profile(arera_shapes, spring, spring + dt.timedelta(days=1), day_types=["holiday"])
    p_autumn = household_profile(arera_shapes, autumn, autumn + dt.timedelta(days=1), day_types=["holiday"])
    assert p_spring.shape == (92,) and p_autumn.shape == (100,)
    shape_mar, shape_oct = arera_shapes[2, 2], arera_shapes[9, 2]
    assert p_spring.sum() == pytest.approx(shape_mar.sum() - shape_mar[2], rel=1e-12)
    assert p_autumn.sum() == pytest.approx(shape_oct.sum() + shape_oct[2], rel=1e-12)
    scaled = household_profile(arera_shapes, spring, spring + dt.timedelta(days=1), energy_kwh=7.0, per="day")
    assert scaled.sum() == pytest.approx(7.0, rel=1e-12)


def test_month_and_period_scaling(arera_shapes: np.ndarray) -> None:
    p = household_profile(
        arera_shapes, dt.date(2024, 1, 1), dt.date(2024, 3, 1), energy_kwh=[200, 150], per="month"
    )
    assert p[: 31 * 96].sum() == pytest.approx(200, rel=1e-12)
    assert p[31 * 96 :].sum() == pytest.approx(150, rel=1e-12)
    y = household_profile(arera_shapes, dt.date(2024, 1, 1), dt.date(2025, 1, 1), energy_kwh=2700.0)
    assert y.shape == (35136,) and y.sum() == pytest.approx(2700.0, rel=1e-12)


@pytest.fixture(scope="module")
def year_2024(arera_shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    instants = quarter_hours(dt.date(2024, 1, 1), dt.date(2025, 1, 1))
    shape = household_profile(arera_shapes, dt.date(2024, 1, 1), dt.date(2025, 1, 1))
    return shape, np.asarray(instants.month), bands_of(instants)


def test_one_month_bill_by_band(year_2024: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    shape, months, bands = year_2024
    bills = np.zeros((12, 3))
    bills[2] = [100.0, 80.0, 120.0]  # March: F1, F2, F3
    p = bills_to_profile(shape, bills, months=months, bands=bands)
    for b, kwh in zip((1, 2, 3), (100.0, 80.0, 120.0), strict=True):
        assert p[(months == 3) & (bands == b)].sum() == pytest.approx(kwh, rel=1e-12)
    assert p[months != 3].sum() == 0.0
    assert p.sum() == pytest.approx(300.0, rel=1e-12)


def test_yearly_total_only(year_2024: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    shape, months, _ = year_2024
    p = bills_to_profile(shape, 2700.0, months=months, by="year")
    assert p.sum() == pytest.approx(2700.0, rel=1e-12)
    np.testing.assert_allclose(p / shape, 2700.0 / shape.sum(), rtol=1e-12)


def test_vectorised_float32(year_2024: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    shape, months, bands = year_2024
    bills = np.random.default_rng(1).uniform(10, 200, size=(5, 12, 3))
    p = bills_to_profile(shape, bills, months=months, bands=bands, dtype=np.float32)
    assert p.shape == (5, shape.size) and p.dtype == np.float32
    g = 3 * (months - 1) + bands - 1
    got = np.stack([np.bincount(g, weights=row.astype(float), minlength=36) for row in p])
    np.testing.assert_allclose(got, bills.reshape(5, 36), rtol=1e-5)


# bills are 0 or at least a Wh (subnormal kWh figures are not bills and break relative ratios)
bill_values = st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=5_000.0, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(
    bills=st.lists(bill_values, min_size=36, max_size=36),
    by=st.sampled_from(["month_band", "month", "band", "year"]),
)
def test_bill_properties(
    year_2024: tuple[np.ndarray, np.ndarray, np.ndarray], bills: list[float], by: str
) -> None:
    shape, months, bands = year_2024
    full = np.asarray(bills).reshape(12, 3)
    given_bills = {"month_band": full, "month": full[:, 0], "band": full[0], "year": full[0, 0]}[by]
    groups = {
        "month_band": 3 * (months - 1) + bands - 1,
        "month": months - 1,
        "band": bands - 1,
        "year": np.zeros_like(months),
    }[by]
    p = bills_to_profile(shape, given_bills, months=months, bands=bands, by=by)  # type: ignore[arg-type]
    assert (p >= 0).all()
    target = np.ravel(given_bills)
    energy = np.bincount(groups, weights=p, minlength=target.size)
    np.testing.assert_allclose(energy, target, rtol=1e-9, atol=1e-9 * max(1.0, float(target.max())))
    for g in range(target.size):  # the shape within each group is preserved: a constant ratio
        sel = groups == g
        if target[g] > 0:
            ratio = p[sel] / shape[sel]
            np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
        else:
            assert (p[sel] == 0).all()
