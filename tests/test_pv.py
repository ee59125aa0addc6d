"""PV production: PVGIS readers on real JRC files, the PVWatts chain by hand, clear-sky scaled to months."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from condivisa.engines import pv
from condivisa.formats.pvgis import read_pvgis_hourly, read_pvgis_tmy

DATA = Path(__file__).parent / "data"
HOURLY = DATA / "pvgis_hourly_45.000_8.000_30deg_0deg_2016_excerpt.csv"
TMY_HEAD = DATA / "pvgis_tmy_45.000_8.000_head48.csv"
CORRIAS_MONTHLY = [1668, 1990, 2780, 2933, 2435, 2744, 3039, 3027, 2586, 2270, 1624, 1648]


@pytest.mark.parametrize(("pvgis", "expected"), [(0, 180), (30, 210), (90, 270), (-90, 90), (180, 0)])
def test_pvgis_azimuth_to_pvlib(pvgis, expected):
    assert pv.pvgis_azimuth_to_pvlib(pvgis) == expected


def test_read_pvgis_hourly_real_layout():
    data, meta = read_pvgis_hourly(HOURLY)
    assert len(data) == 14
    assert meta["inputs"]["latitude"] == 45.0
    assert str(data.index.tz) == "UTC" and data.index[8] == pd.Timestamp("2016-01-01 08:00", tz="UTC")
    assert data["poa_direct"].iloc[8] == pytest.approx(26.71)


def test_hourly_ac_by_hand_from_pvgis_poa():
    data, _ = read_pvgis_hourly(HOURLY)
    kwh = pv.hourly_ac_kwh_from_pvgis(
        data, peak_power_kw=1.0, tilt_deg=30, azimuth_deg_pvgis=0, system_losses_pct=14
    )
    # row 08:10: POA = 26.71 + 8.28 + 0.21 = 35.20 W/m²; T_air 3.87 °C, wind 1.22 m/s
    # Faiman: T_cell = 3.87 + 35.2 / (25 + 6.84·1.22) = 3.87 + 35.2/33.3448 = 4.9256 °C
    # PVWatts: 1 kW · 0.0352 · (1 − 0.004·(4.9256 − 25)) = 0.0352 · 1.080298 = 0.038026 kW
    # losses 14 %: 0.038026 · 0.86 = 0.032702 kWh in that hour
    assert kwh.iloc[8] == pytest.approx(0.032702, abs=2e-6)
    assert (kwh.iloc[:8] == 0).all() and kwh.iloc[-1] == 0


def test_read_stripped_tmy_falls_back_to_pandas():
    weather = read_pvgis_tmy(TMY_HEAD)
    assert len(weather) == 48
    assert {"ghi", "dni", "dhi", "temp_air", "wind_speed"} <= set(weather.columns)
    assert weather.index[9] == pd.Timestamp("2018-01-01 09:00", tz="UTC")
    assert weather["ghi"].iloc[9] == 149.0


def test_stripped_tmy_bad_file_names_the_problem(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="time\\(UTC\\)"):
        read_pvgis_tmy(bad)


def test_tmy_head_production_is_daytime_only():
    weather = read_pvgis_tmy(TMY_HEAD)
    kwh = pv.hourly_ac_kwh_from_pvgis(weather, 18.0, 35, 30, 14, latitude=45.0, longitude=8.0, altitude_m=250)
    hours = kwh.index.hour
    assert (kwh[(hours < 6) | (hours > 17)] == 0).all()
    assert kwh.max() > 0 and kwh.max() <= 18.0


def test_ghi_weather_needs_coordinates():
    weather = read_pvgis_tmy(TMY_HEAD)
    with pytest.raises(ValueError, match="latitude"):
        pv.hourly_ac_kwh_from_pvgis(weather, 1.0, 35, 0)


def test_full_tmy_yield_is_plausible(shared_dir):
    path = shared_dir / "reference" / "pvgis" / "pvgis_tmy_45.000_8.000.csv"
    if not path.exists():
        pytest.skip("shared PVGIS TMY not present")
    weather = read_pvgis_tmy(path)
    kwh = pv.hourly_ac_kwh_from_pvgis(weather, 1.0, 35, 0, 14, latitude=45.0, longitude=8.0, altitude_m=250)
    assert len(kwh) == 8760
    # northern Italy, 35° south, 14 % losses: PVGIS gives about 1,200–1,450 kWh/kWp
    assert 1100 < kwh.sum() < 1600


def test_dc_ac_clips_at_inverter_and_rejects_bad_losses():
    kw = pv.dc_ac_kw([1200.0, -5.0], [25.0, 25.0], [1.0, 1.0], peak_power_kw=1.0, system_losses_pct=0.0)
    assert kw[0] == pytest.approx(1.0)  # 1.2 kW DC (less heat losses) clipped to 1 kW
    assert kw[1] == 0.0
    with pytest.raises(ValueError, match="system_losses_pct"):
        pv.dc_ac_kw([100.0], [25.0], [1.0], 1.0, 120.0)


def test_clearsky_year_scaled_to_the_case_months():
    hourly = pv.clearsky_hourly_kwh(2024, 39.257, 9.168, 18.0, 35, 30, 14, 11)
    assert len(hourly) == 8784  # 2024 is a leap year; 23 + 25 hour DST days cancel out
    local = hourly.index
    assert hourly[(local.hour < 5) | (local.hour > 21)].sum() == 0
    scaled = pv.scale_to_monthly_kwh(hourly, CORRIAS_MONTHLY)
    by_month = scaled.groupby(scaled.index.month).sum().to_numpy()
    np.testing.assert_allclose(by_month, CORRIAS_MONTHLY, rtol=1e-12)
    assert scaled.sum() == pytest.approx(28744.0)  # the case's 18 kWp yearly production
    # the plant faces 30° west of south: July afternoon (15–16 h) beats the morning (9–10 h)
    july = scaled["2024-07-15"]
    assert july.iloc[15] > july.iloc[9]


def test_scale_to_monthly_by_hand_and_errors():
    index = pd.date_range("2024-01-31 22:00", periods=4, freq="h", tz="Europe/Rome")  # 2 h Jan, 2 h Feb
    series = pd.Series([1.0, 3.0, 2.0, 2.0], index=index)
    target = [8.0, 2.0] + [0.0] * 10
    out = pv.scale_to_monthly_kwh(series, target)
    # Jan: 1,3 sum 4 → ×2 → 2,6; Feb: 2,2 sum 4 → ×0.5 → 1,1
    assert out.tolist() == [2.0, 6.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="12 values"):
        pv.scale_to_monthly_kwh(series, [1.0] * 11)
    with pytest.raises(ValueError, match="no production"):
        pv.scale_to_monthly_kwh(series * 0, target)


def test_tmy_to_year_lays_the_typical_year_on_a_leap_year():
    utc = pd.date_range("2018-01-01", periods=8760, freq="h", tz="UTC")  # a non-leap typical year
    tmy = pd.Series(np.arange(8760, dtype=float), index=utc)
    year = pv.tmy_to_year(tmy, 2024)
    assert len(year) == 8784
    assert year.index[0] == pd.Timestamp("2024-01-01 00:00", tz="Europe/Rome")
    # the first local hour is 2023-12-31 23:00 UTC → the TMY's 31 Dec 23:00 UTC value, row 8759
    assert year.iloc[0] == 8759.0
    # 29 February repeats 28 February: 28 Feb 00:00 UTC is TMY row (31 + 27)·24 = 1392
    feb29 = year[year.index.tz_convert("UTC").normalize() == pd.Timestamp("2024-02-29", tz="UTC")]
    assert feb29.iloc[0] == 1392.0 and len(feb29) == 24
    with pytest.raises(ValueError, match="no value"):
        pv.tmy_to_year(tmy.iloc[:100], 2024)
