"""Issue #19 item 1, the alternative input: tomorrow's production from a forecast file (power CSV, Open-Meteo
irradiance JSON, PVGIS hourly export), by hand; DST days; bad files; the store and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd
import pytest
import time_machine
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.engines import forecast as fc
from condivisa.formats.csv_io import InputError
from condivisa.formats.forecast_file import read_forecast_file
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.forecast import community_forecast, file_production_kwh
from conftest import EXAMPLE_COMMUNITY, ROOT

MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PVGIS_HOURLY = (
    ROOT.parent / "shared" / "reference" / "pvgis" / "pvgis_hourly_45.000_8.000_30deg_0deg_2016_excerpt.csv"
)
DAY = dt.date(2024, 6, 20)  # a Thursday; the example store holds June 2024


def _power_csv(path, rows: list[tuple[str, float]]):
    path.write_text("start,production_kw\n" + "".join(f"{t},{kw}\n" for t, kw in rows), encoding="utf-8")
    return path


def _summer_day_rows(day: dt.date, kw_at: dict[int, float]) -> list[tuple[str, float]]:
    """24 hourly rows at +02:00, ``kw_at[hour]`` kW (else 0)."""
    return [(f"{day.isoformat()}T{h:02d}:00:00+02:00", kw_at.get(h, 0.0)) for h in range(24)]


def test_an_hourly_power_csv_is_the_production_of_each_hour(tmp_path):
    path = _power_csv(tmp_path / "p.csv", _summer_day_rows(DAY, {11: 50.0, 12: 120.0, 13: 80.5}))
    f = read_forecast_file(path)
    assert f.kind == "power" and f.step == pd.Timedelta(hours=1) and len(f.values) == 24
    energy = fc.hourly_energy_kwh(f.values, f.step)
    assert len(energy) == 24 and energy.sum() == pytest.approx(50.0 + 120.0 + 80.5)  # kW × 1 h
    assert energy[pd.Timestamp("2024-06-20T12:00", tz=ROME)] == 120.0


def test_a_quarter_hourly_power_csv_sums_kw_times_a_quarter_hour(tmp_path):
    """12:00–13:00 at 10, 20, 30, 40 kW: (10 + 20 + 30 + 40) · 0.25 h = 25 kWh. 13:00 has only one quarter:
    the hour is incomplete and left out."""
    rows = [(f"2024-06-20T12:{m:02d}:00+02:00", kw) for m, kw in zip((0, 15, 30, 45), (10, 20, 30, 40))]
    rows.append(("2024-06-20T13:00:00+02:00", 8.0))
    f = read_forecast_file(_power_csv(tmp_path / "q.csv", rows))
    assert f.step == pd.Timedelta(minutes=15)
    energy = fc.hourly_energy_kwh(f.values, f.step)
    assert energy.to_dict() == {pd.Timestamp("2024-06-20T12:00", tz=ROME): 25.0}


def test_the_spring_dst_day_has_23_hours_in_the_file_too(tmp_path):
    """29 March 2026: 00:00 and 01:00 at +01:00, then 03:00 … 23:00 at +02:00 (no 02:00): 23 rows of 2 kW
    are 46 kWh, and the day is covered."""
    day = dt.date(2026, 3, 29)
    rows = [(f"2026-03-29T{h:02d}:00:00+01:00", 2.0) for h in (0, 1)]
    rows += [(f"2026-03-29T{h:02d}:00:00+02:00", 2.0) for h in range(3, 24)]
    f = read_forecast_file(_power_csv(tmp_path / "dst.csv", rows))
    energy = fc.hourly_energy_kwh(f.values, f.step)
    assert len(energy) == 23 and energy.sum() == pytest.approx(46.0)
    assert len(fc.missing_hours(energy, day)) == 0
    assert list(energy.index) == list(fc.day_hours(day))


def test_irradiance_is_turned_into_kwh_with_the_performance_ratio():
    """One 18 kW plant, G = 500 W/m² over an hour: 18 kW · 500/1000 · 0.80 · 1 h = 7.2 kWh; a quarter hour at
    1000 W/m²: 18 · 1 · 0.8 · 0.25 = 3.6 kWh; negative irradiance counts as 0."""
    index = pd.DatetimeIndex(
        [pd.Timestamp("2024-06-20T12:00", tz=ROME), pd.Timestamp("2024-06-20T13:00", tz=ROME)]
    )
    kw = fc.poa_power_kw(pd.Series([500.0, -3.0], index=index), 18.0)
    assert kw.tolist() == pytest.approx([7.2, 0.0])
    assert fc.hourly_energy_kwh(kw, pd.Timedelta(hours=1)).tolist() == pytest.approx([7.2, 0.0])
    quarter = pd.date_range("2024-06-20T12:00", periods=4, freq="15min", tz=ROME)
    kw = fc.poa_power_kw(pd.Series([1000.0, 0.0, 0.0, 0.0], index=quarter), 18.0)
    assert fc.hourly_energy_kwh(kw, pd.Timedelta(minutes=15)).tolist() == pytest.approx([3.6])
    with pytest.raises(ValueError, match="performance_ratio"):
        fc.poa_power_kw(pd.Series([1.0], index=index[:1]), 18.0, performance_ratio=1.5)


def _open_meteo(path, times, gti, offset=7200, block="hourly", **extra):
    doc = {
        "latitude": 44.5,
        "longitude": 11.34,
        "utc_offset_seconds": offset,
        "timezone": "Europe/Rome",
        "timezone_abbreviation": "CEST",
        "hourly_units": {"time": "iso8601", "global_tilted_irradiance": "W/m²"},
        block: {"time": times, "global_tilted_irradiance": gti},
        **extra,
    }
    if offset is None:
        del doc["utc_offset_seconds"]
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_an_open_meteo_value_is_the_mean_of_the_preceding_hour(tmp_path):
    """Open-Meteo labels the mean of [T − 1 h, T) with T, local time at utc_offset_seconds: the value at
    "2024-06-20T13:00" (+02:00) is the hour starting at 12:00 local; the same with UNIX seconds."""
    path = _open_meteo(tmp_path / "om.json", ["2024-06-20T12:00", "2024-06-20T13:00"], [400.0, 800.0])
    f = read_forecast_file(path)
    assert f.kind == "irradiance" and f.source == "Open-Meteo"
    assert f.values.to_dict() == {
        pd.Timestamp("2024-06-20T11:00", tz=ROME): 400.0,
        pd.Timestamp("2024-06-20T12:00", tz=ROME): 800.0,
    }
    unix = int(pd.Timestamp("2024-06-20T11:00Z").timestamp())  # 13:00 +02:00
    g = read_forecast_file(_open_meteo(tmp_path / "unix.json", [unix], [800.0], offset=0))
    assert g.values.index[0] == pd.Timestamp("2024-06-20T12:00", tz=ROME)


def test_open_meteo_keeps_one_offset_across_the_dst_change(tmp_path):
    """Asked on 28 March 2026 (+01:00), Open-Meteo writes 29 March at +01:00 throughout (no DST switch
    inside a response). The 23 hours of the civil day start at 23:00 UTC (28th) … 21:00 UTC; they end at
    00:00 … 22:00 UTC, labelled "2026-03-29T01:00" … "2026-03-29T23:00" at +01:00: 23 labels cover the day.
    Label "T04:00" is 03:00 UTC, the end of the hour starting at 02:00 UTC = 04:00 +02:00 local: 500 W/m²
    on 10 kW there are 10 · 0.5 · 0.8 = 4 kWh."""
    times = [f"2026-03-29T{h:02d}:00" for h in range(1, 24)]
    gti = [500.0 if h == 4 else 100.0 for h in range(1, 24)]
    f = read_forecast_file(_open_meteo(tmp_path / "dst.json", times, gti, offset=3600))
    energy = fc.hourly_energy_kwh(fc.poa_power_kw(f.values, 10.0), f.step)
    assert len(fc.missing_hours(energy, dt.date(2026, 3, 29))) == 0 and len(energy) == 23
    assert energy[pd.Timestamp("2026-03-29T04:00", tz=ROME)] == pytest.approx(4.0)
    assert energy[pd.Timestamp("2026-03-29T00:00", tz=ROME)] == pytest.approx(0.8)  # label T01:00


def test_a_pvgis_hourly_export_gives_the_plane_of_array_sum():
    """Real PVGIS CSV: row 20160101:0810 has Gb(i) 26.71 + Gd(i) 8.28 + Gr(i) 0.21 = 35.20 W/m², hour
    08:00 UTC = 09:00 +01:00."""
    f = read_forecast_file(PVGIS_HOURLY)
    assert f.kind == "irradiance" and f.source == "PVGIS" and f.step == pd.Timedelta(hours=1)
    assert f.values[pd.Timestamp("2016-01-01T09:00", tz=ROME)] == pytest.approx(35.20)


def test_bad_files_are_refused_with_the_line_and_a_hint(tmp_path):
    misspelt = tmp_path / "m.csv"
    misspelt.write_text("start,producton_kw\n2024-06-20T12:00:00+02:00,5\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1: no column 'production_kw' \('producton_kw': did you mean"):
        read_forecast_file(misspelt)
    naive = _power_csv(tmp_path / "n.csv", [("2024-06-20T12:00:00+02:00", 1.0), ("2024-06-20T13:00:00", 1.0)])
    with pytest.raises(InputError, match=r"line 3: start '2024-06-20T13:00:00' has no UTC offset"):
        read_forecast_file(naive)
    negative = _power_csv(tmp_path / "neg.csv", [("2024-06-20T12:00:00+02:00", -1.0)])
    with pytest.raises(InputError, match="line 2: production_kw -1 is below zero"):
        read_forecast_file(negative)
    off = _power_csv(tmp_path / "off.csv", [("2024-06-20T12:07:00+02:00", 1.0)])
    with pytest.raises(InputError, match="off the quarter-hour grid"):
        read_forecast_file(off)
    twice = _power_csv(
        tmp_path / "2.csv", [("2024-06-20T12:00:00+02:00", 1.0), ("2024-06-20T10:00:00Z", 2.0)]
    )
    with pytest.raises(InputError, match="line 3: .* is repeated"):
        read_forecast_file(twice)
    no_offset = _open_meteo(tmp_path / "no.json", ["2024-06-20T12:00"], [1.0], offset=None)
    with pytest.raises(InputError, match="utc_offset_seconds is missing"):
        read_forecast_file(no_offset)
    ghi = tmp_path / "ghi.json"
    ghi.write_text(json.dumps({"utc_offset_seconds": 0, "hourly": {"time": [], "shortwave_radiation": []}}))
    with pytest.raises(InputError, match="horizontal irradiance"):
        read_forecast_file(ghi)
    typo = tmp_path / "typo.json"
    typo.write_text(
        json.dumps({"utc_offset_seconds": 0, "hourly": {"time": [], "global_tilted_irradiation": []}})
    )
    with pytest.raises(InputError, match="did you mean 'global_tilted_irradiance'"):
        read_forecast_file(typo)
    null = _open_meteo(tmp_path / "null.json", ["2024-06-20T12:00", "2024-06-20T13:00"], [1.0, None])
    with pytest.raises(InputError, match=r"hourly.global_tilted_irradiance\[1\]: None is not a number"):
        read_forecast_file(null)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from condivisa.domain.config import load_community
    from condivisa.formats.csv_io import read_measurements
    from condivisa.ingest.tables import ingest_frame
    from condivisa.store.store import Store

    community = load_community(EXAMPLE_COMMUNITY)
    measurements = read_measurements(MEAS, known_pods=community.all_pods)
    url = f"sqlite:///{tmp_path_factory.mktemp('forecast_file') / 'db.sqlite'}"
    s = Store(url)
    s.upgrade()
    s.register_devices(community)
    ingest_frame(s, measurements, source="test")
    yield s, community, url
    s.close()


def test_the_forecast_from_a_file_takes_the_files_production_and_the_same_consumption(store, tmp_path):
    s, community, _ = store
    kw = {h: 10.0 * h for h in range(6, 20)}
    path = _power_csv(tmp_path / "p.csv", _summer_day_rows(DAY, kw))
    f = community_forecast(s, community, DAY, production_file=path)
    assert f.hourly["production_kwh"].tolist() == [kw.get(h, 0.0) for h in range(24)]
    assert math.isnan(f.clearness_index) and f.production_source == "power CSV file p.csv"
    plain = community_forecast(s, community, DAY)
    pd.testing.assert_series_equal(f.hourly["consumption_kwh"], plain.hourly["consumption_kwh"])
    expected_spare = (f.hourly["production_kwh"] - f.hourly["consumption_kwh"]).clip(lower=0.0)
    assert f.hourly["spare_kwh"].to_numpy() == pytest.approx(expected_spare.to_numpy())
    # irradiance: all 268 kW of PV (18 + 250) see the same G; 500 W/m² at noon: 268 · 0.5 · 0.8 = 107.2 kWh
    assert sum(p.power_kw for p in community.plants if p.is_pv) == 268.0
    om = _open_meteo(
        tmp_path / "om.json",
        [f"2024-06-20T{h:02d}:00" for h in range(1, 24)] + ["2024-06-21T00:00"],
        [500.0 if h == 13 else 0.0 for h in range(1, 25)],
    )
    g = community_forecast(s, community, DAY, production_file=om)
    assert g.hourly.set_index("hour_start")["production_kwh"][pd.Timestamp("2024-06-20T12:00", tz=ROME)] == (
        pytest.approx(107.2)
    )
    assert g.hourly["production_kwh"].sum() == pytest.approx(107.2)


def test_a_file_not_covering_the_day_names_the_missing_hours(store, tmp_path):
    s, community, _ = store
    rows = [
        r for r in _summer_day_rows(DAY, {12: 5.0}) if not ("T00" in r[0] or "T01" in r[0] or "T22" in r[0])
    ]
    path = _power_csv(tmp_path / "short.csv", rows)
    with pytest.raises(
        ValueError, match=r"does not cover 2024-06-20: 3 of its 24 hours missing \(00:00–01:00, 22:00\)"
    ):
        community_forecast(s, community, DAY, production_file=path)
    f = read_forecast_file(path)
    with pytest.raises(ValueError, match="2024-06-21"):
        file_production_kwh(community, f, dt.date(2024, 6, 21))


def test_the_cli_prints_the_sentence_from_the_files_production(store, tmp_path):
    """1000 kW from 12:00 to 15:00 only: the best 3-hour window is 12–15, its mean spare power is
    1000 kW minus the mean forecast consumption of those hours."""
    s, community, url = store
    path = _power_csv(tmp_path / "p.csv", _summer_day_rows(DAY, {12: 1000.0, 13: 1000.0, 14: 1000.0}))
    runner = CliRunner()
    with time_machine.travel(dt.datetime(2024, 6, 19, 18, 0, tzinfo=ROME), tick=False):
        result = runner.invoke(
            app, ["forecast", "-c", str(EXAMPLE_COMMUNITY), "--database", url, "--forecast-file", str(path)]
        )
    assert result.exit_code == 0, result.output
    assert "production from power CSV file p.csv" in " ".join(result.output.split())  # the title may wrap
    cons = community_forecast(s, community, DAY).hourly["consumption_kwh"].iloc[12:15]
    kw = 1000.0 - cons.mean()
    assert 950 < kw < 1000
    expected = f"domani tra le 12 e le 15 la comunità avrà circa {5 * round(kw / 5):g} kW in più"
    assert expected in result.output
    short = _power_csv(tmp_path / "s.csv", _summer_day_rows(DAY, {})[:20])
    bad = runner.invoke(
        app,
        [
            "forecast",
            "-c",
            str(EXAMPLE_COMMUNITY),
            "--database",
            url,
            "--day",
            "2024-06-20",
            "--forecast-file",
            str(short),
        ],
    )
    assert bad.exit_code == 2 and "20:00–23:00" in bad.output
    both = runner.invoke(
        app,
        [
            "forecast",
            "-c",
            str(EXAMPLE_COMMUNITY),
            "--database",
            url,
            "--errors-from",
            "2024-06-10",
            "--forecast-file",
            str(path),
        ],
    )
    assert both.exit_code == 2
