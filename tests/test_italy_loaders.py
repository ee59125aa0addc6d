"""The loaders of the shipped Italian data (ARERA profiles, GME 2023 prices, ARERA time bands) on the real files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from condivisa.formats.arera_profiles import POWER_CLASSES, arera_shape, arera_shape_source, load_arera_table
from condivisa.formats.gme_prices import ZONES, load_gme_2023
from condivisa.formats.time_band_table import load_time_bands
from condivisa.kernel.timegrid import ROME


@pytest.fixture(scope="module")
def arera() -> pd.DataFrame:
    return load_arera_table()


def test_arera_rows_and_labels(arera: pd.DataFrame) -> None:
    assert len(arera) == 79_344
    assert list(arera.columns) == ["month", "region", "power_class", "day_type", "hour", "withdrawal_kwh"]
    assert set(arera["power_class"]) == set(POWER_CLASSES)
    assert set(arera["day_type"]) == {"weekday", "saturday", "holiday"}
    assert set(arera["month"]) == set(range(1, 13)) and set(arera["hour"]) == set(range(24))


def test_arera_known_value(arera: pd.DataFrame) -> None:
    # file row 2: 1,Abruzzo,0<P<=1.5,Giorno feriale,0,0.0529
    shape = arera_shape(arera, "Abruzzo", "0-1.5", 1, "weekday")
    assert shape.shape == (24,)
    assert shape[0] == pytest.approx(0.0529) and shape[1] == pytest.approx(0.0475)


def test_arera_region_case_and_accents(arera: pd.DataFrame) -> None:
    a = arera_shape(arera, "EMILIA ROMAGNA", "3-4.5", 7, "saturday")
    b = arera_shape(arera, "Emília-Romagna", "3-4.5", 7, "saturday")
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="did you mean 'Lombardia'"):
        arera_shape(arera, "Lombardi", "3-4.5", 7, "saturday")


def test_arera_fallback_nearest_class(arera: pd.DataFrame) -> None:
    # Umbria has no >6 kW rows for December: the nearest class of the same region and day type is used
    assert arera[(arera.region == "Umbria") & (arera.power_class == ">6") & (arera.month == 12)].empty
    shape, source = arera_shape_source(arera, "Umbria", ">6", 12, "weekday")
    assert source == "nearest power class 4.5-6"
    np.testing.assert_array_equal(shape, arera_shape(arera, "Umbria", "4.5-6", 12, "weekday"))
    # Trentino-Alto Adige has no 0-1.5 kW class at all: nearest is 1.5-3
    assert (
        arera_shape_source(arera, "Trentino-Alto Adige", "0-1.5", 3, "holiday")[1]
        == "nearest power class 1.5-3"
    )


def test_arera_fallback_national_mean(arera: pd.DataFrame) -> None:
    # Valle d'Aosta is not in the file: the national mean of the class, month and day type
    shape, source = arera_shape_source(arera, "valle d’aosta", "3-4.5", 1, "holiday")
    assert source == "national mean"
    rows = arera[(arera.power_class == "3-4.5") & (arera.month == 1) & (arera.day_type == "holiday")]
    np.testing.assert_allclose(shape, rows.groupby("hour")["withdrawal_kwh"].mean().to_numpy())


def test_gme_rows_known_value_and_zones() -> None:
    pun = load_gme_2023()
    assert len(pun) == 8_760 and str(pun.index.tz) == "Europe/Rome"
    assert pun[pd.Timestamp("2023-01-01 00:00", tz=ROME)] == pytest.approx(107.09)
    assert pun.index.is_monotonic_increasing and pun.index.is_unique
    for zone in ZONES:
        assert len(load_gme_2023(zone=zone.lower())) == 8_760
    with pytest.raises(ValueError, match="did you mean 'SARD'"):
        load_gme_2023(zone="SARDA")


def test_gme_dst_days() -> None:
    pun = load_gme_2023()
    per_day = pd.Series(1, index=pun.index).groupby(pun.index.date).sum()
    assert per_day[pd.Timestamp("2023-03-26").date()] == 23
    assert per_day[pd.Timestamp("2023-10-29").date()] == 25
    assert (per_day.drop([pd.Timestamp("2023-03-26").date(), pd.Timestamp("2023-10-29").date()]) == 24).all()
    # spring: the file's 26/03 02:00 row (79.15) is dropped; 01:00 and 03:00 keep theirs
    spring = pun[pun.index.date == pd.Timestamp("2023-03-26").date()]
    assert 2 not in set(spring.index.hour) and 79.15 not in set(spring.round(2))
    assert pun[pd.Timestamp("2023-03-26 03:00", tz=ROME)] == pytest.approx(82.29)
    # autumn: both 02:00s (00:00 and 01:00 UTC) carry the file's one 02:00 price, 113.00
    first = pd.Timestamp("2023-10-29 00:00", tz="UTC").tz_convert(ROME)
    second = pd.Timestamp("2023-10-29 01:00", tz="UTC").tz_convert(ROME)
    assert first.hour == second.hour == 2
    assert pun[first] == pytest.approx(113.0) and pun[second] == pytest.approx(113.0)


def test_time_band_table() -> None:
    table = load_time_bands()
    assert table.shape == (96, 3) and list(table.columns) == ["Lav", "Sab", "Dom"]
    assert (table["Dom"] == 3).all()
    assert table.loc["10:00", "Lav"] == 1 and table.loc["10:00", "Sab"] == 2
