"""The case study's load models (``loads: arera | synthetic | measured``): parsing, scaling, DST days, the
measured typical days from a real SQLite store, the command line, and no VAT on VAT-included kit prices."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from condivisa.casestudy.casefile import CaseError, case_from_dict, load_case
from condivisa.casestudy.load_models import (
    arera_loads,
    case_days,
    case_region,
    daily_energy_kwh,
    power_class_of,
    synthetic_loads,
    with_load_model,
)
from condivisa.casestudy.measured_loads import lay_out, quarter_hour_readings, typical_days
from condivisa.cli import app
from condivisa.kernel.timegrid import ROME, year_quarter_hours


@pytest.fixture
def case_path(shared_dir) -> Path:
    path = shared_dir / "cases" / "is-corrias.yaml"
    if not path.exists():
        pytest.skip("shared case file not present")
    return path


@pytest.fixture
def raw(case_path) -> dict:
    return yaml.safe_load(case_path.read_text())


@pytest.fixture(scope="module")
def table():
    from condivisa.formats.arera_profiles import load_arera_table

    return load_arera_table()


def _daily(loads_kwh: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    """kWh per flat (columns) and local civil day (rows)."""
    frame = pd.DataFrame(loads_kwh.T, index=index)
    return frame.groupby(index.tz_convert(ROME).date).sum()


# ------------------------------------------------------------------------------------------------ parsing


def test_arera_is_the_default_and_the_region_comes_from_the_municipality(case_path):
    case = load_case(case_path)
    assert case.loads == "arera" and case.municipality == "Selargius" and case.region is None
    region, where = case_region(case)
    assert region == "Sardegna" and "Selargius" in where


def test_location_region_is_spelled_as_arera_does(raw):
    raw["location"]["region"] = "sardegna"
    assert case_region(case_from_dict(raw)) == ("Sardegna", "location.region")
    raw["location"]["region"] = "Sardinia"
    with pytest.raises(
        CaseError, match=r"location.region: unknown region 'Sardinia'; did you mean 'Sardegna'"
    ):
        case_from_dict(raw)
    del raw["location"]["region"]
    raw["location"]["municipality"] = "Nowhereville"
    with pytest.raises(CaseError, match="location.municipality"):
        case_region(case_from_dict(raw))
    del raw["location"]["municipality"]
    with pytest.raises(CaseError, match="location.region: missing"):
        case_region(case_from_dict(raw))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.__setitem__("load", "arera"), r"^load: unknown key \(did you mean loads\?\)"),
        (
            lambda r: r.__setitem__("loads", "arrea"),
            r"loads: 'arrea' is not one of arera, synthetic, measured \(did you mean arera\?\)",
        ),
        (
            lambda r: r["flats"][2].__setitem__("contract_pwer_kw", 3),
            r"flats\[2\]\.contract_pwer_kw: unknown key \(did you mean contract_power_kw\?\)",
        ),
        (
            lambda r: r.__setitem__("measured", {"databse": "sqlite:///x.db"}),
            r"measured\.databse: unknown key \(did you mean database\?\)",
        ),
        (
            lambda r: r.__setitem__("measured", {"missing_months": "aera"}),
            r"measured\.missing_months: 'aera' is not one of error, arera \(did you mean arera\?\)",
        ),
        (
            lambda r: r["location"].__setitem__("municipalty", "Selargius"),
            r"location\.municipalty: unknown key \(did you mean municipality\?\)",
        ),
        (
            lambda r: r["economics"].__setitem__("vat_storage", 10),
            r"economics\.vat_storage: unknown key \(did you mean vat_storage_pct\?\)",
        ),
        (
            lambda r: [f.__setitem__("pod", "IT001E1") for f in r["flats"][:2]],
            r"flats: duplicate pod\(s\) \['IT001E1'\]",
        ),
    ],
)
def test_misspelled_keys_and_values_name_the_path(raw, edit, message):
    edit(raw)
    with pytest.raises(CaseError, match=message):
        case_from_dict(raw)


def test_pod_and_measured_section_are_read(raw):
    raw["loads"] = "measured"
    raw["flats"][0]["pod"] = " IT001E00000001 "
    raw["measured"] = {"database": "sqlite:///x.db", "missing_months": "arera"}
    case = case_from_dict(raw)
    assert case.loads == "measured" and case.flats[0].pod == "IT001E00000001" and case.flats[1].pod is None
    assert case.measured_database == "sqlite:///x.db" and case.missing_months == "arera"
    overridden = with_load_model(case, "synthetic", "sqlite:///y.db")
    assert overridden.loads == "synthetic" and overridden.measured_database == "sqlite:///y.db"
    assert with_load_model(case) is case


# ------------------------------------------------------------------------------------------------ ARERA


@pytest.mark.parametrize(
    ("kw", "label"),
    [(1.0, "0-1.5"), (1.5, "0-1.5"), (1.6, "1.5-3"), (3.0, "1.5-3"), (3.3, "3-4.5"), (4.5, "3-4.5"),
     (6.0, "4.5-6"), (10.0, ">6")],
)  # fmt: skip
def test_power_class_follows_the_table_bounds(kw, label):
    assert power_class_of(kw) == label  # the table's 1.5<P<=3 …: the upper bound belongs to the class


def test_arera_days_have_the_case_file_energy_exactly_dst_days_too(case_path, table):
    case = load_case(case_path)
    index = year_quarter_hours(case.year)
    loads = arera_loads(case, index, table).loads_kwh
    assert loads.shape == (8, 4 * 8784) and (loads >= 0).all()
    days = case_days(case)
    daily = _daily(loads, index)
    expected = daily_energy_kwh(case, days).T  # (days, flats): A + C_July · Ku_m
    np.testing.assert_allclose(daily.to_numpy(), expected, rtol=1e-12, atol=1e-12)
    # by hand, flat N-8 in March (Ku 0.5): 12.33 + 6.94 · 0.5 = 15.80 kWh every day, the spring DST day too
    local = index.tz_convert(ROME)
    for day, n_quarters in (
        (dt.date(2024, 3, 31), 92),
        (dt.date(2024, 10, 27), 100),
        (dt.date(2024, 3, 30), 96),
    ):
        sel = local.date == day
        assert sel.sum() == n_quarters
        ku = case.ac_usage_coefficient[day.month - 1]
        assert loads[7, sel].sum() == pytest.approx(12.33 + 6.94 * ku, abs=1e-9)
    assert loads[7, local.date == dt.date(2024, 3, 31)].sum() == pytest.approx(15.80, abs=1e-9)


def test_arera_day_keeps_the_arera_hourly_shape(case_path, table):
    """Within a day the hourly energies are the ARERA shape of the day's month and type, scaled to the day."""
    from condivisa.formats.arera_profiles import arera_shape

    case = load_case(case_path)
    index = year_quarter_hours(case.year)
    loads = arera_loads(case, index, table).loads_kwh
    local = index.tz_convert(ROME)
    for day, kind in (
        (dt.date(2024, 7, 10), "weekday"),
        (dt.date(2024, 8, 15), "holiday"),
        (dt.date(2024, 7, 13), "saturday"),
    ):
        sel = local.date == day
        hourly = loads[0, sel].reshape(24, 4).sum(axis=1)
        shape = arera_shape(table, "Sardegna", "1.5-3", day.month, kind)  # N-1: 3.0 kW
        target = 7.58 + 4.25 * case.ac_usage_coefficient[day.month - 1]
        np.testing.assert_allclose(hourly, shape / shape.sum() * target, rtol=1e-9)
    # N-8 (4.5 kW) takes the next class
    sel = local.date == dt.date(2024, 7, 10)
    shape = arera_shape(table, "Sardegna", "3-4.5", 7, "weekday")
    np.testing.assert_allclose(
        loads[7, sel].reshape(24, 4).sum(axis=1), shape / shape.sum() * (12.33 + 6.94), rtol=1e-9
    )


def test_arera_and_synthetic_have_the_same_energy_per_flat_per_month(case_path, table):
    case = load_case(case_path)
    index = year_quarter_hours(case.year)
    arera = arera_loads(case, index, table)
    synthetic = synthetic_loads(case, index)
    month = index.tz_convert(ROME).month
    by_month_a = pd.DataFrame(arera.loads_kwh.T, index=index).groupby(month).sum()
    by_month_s = pd.DataFrame(synthetic.loads_kwh.T, index=index).groupby(month).sum()
    np.testing.assert_allclose(by_month_a.to_numpy(), by_month_s.to_numpy(), rtol=1e-12)
    assert arera.loads_kwh.sum() == pytest.approx(35605.299, abs=1e-6)  # as docs/case-study.md says
    # … but not the same shape: ARERA's mean customer draws more in the middle of the day
    noon = (index.tz_convert(ROME).hour >= 10) & (index.tz_convert(ROME).hour < 16)
    assert arera.loads_kwh[:, noon].sum() > 1.2 * synthetic.loads_kwh[:, noon].sum()
    assert arera.info["region"] == "Sardegna"
    assert arera.info["classes"] == {**{f"N-{i}": "1.5-3" for i in range(1, 8)}, "N-8": "3-4.5"}
    assert arera.info["fallbacks"] == [] and arera.notes == []  # Sardegna has both classes, every month
    assert synthetic.info["name"] == "synthetic"


# ------------------------------------------------------------------------------------------------ measured


def test_typical_day_layout_on_dst_days():
    typical = np.broadcast_to(np.arange(96, dtype=float), (12, 3, 96)).copy()
    index = year_quarter_hours(2024)
    out = lay_out(typical, index)
    local = index.tz_convert(ROME)
    spring = out[local.date == dt.date(2024, 3, 31)]
    autumn = out[local.date == dt.date(2024, 10, 27)]
    assert len(spring) == 92 and list(spring[8:12]) == [12, 13, 14, 15]  # 02:00–02:59 does not exist
    assert len(autumn) == 100 and list(autumn[8:16]) == [8, 9, 10, 11, 8, 9, 10, 11]  # 02:xx twice


def test_typical_day_by_day_type_or_the_whole_month():
    days = pd.date_range(
        "2024-02-01", "2024-02-12", freq="D"
    )  # Thu 1 … Mon 12: Saturdays 3 and 10, Sun 4, 11
    rows = []
    for d in days:
        kind = {5: 0.2, 6: 0.3}.get(d.weekday(), 0.1)
        if d == pd.Timestamp("2024-02-11"):
            continue  # one Sunday only: Sundays take the month's mean
        for q in range(96):
            rows.append((pd.Timestamp(d, tz=ROME) + pd.Timedelta(minutes=15 * q), kind))
    for q in range(40):  # 13 February: 10 hours only, a day the devices partly sent, left out
        rows.append((pd.Timestamp("2024-02-13", tz=ROME) + pd.Timedelta(minutes=15 * q), 9.9))
    readings = pd.DataFrame(rows, columns=["local", "kwh"])
    typical, counts = typical_days(readings)
    assert counts[1].tolist() == [8, 2, 1]
    assert typical[1, 0] == pytest.approx(np.full(96, 0.1))
    assert typical[1, 1] == pytest.approx(np.full(96, 0.2))
    assert typical[1, 2] == pytest.approx(np.full(96, (8 * 0.1 + 2 * 0.2 + 0.3) / 11))  # all days of February
    assert np.isnan(typical[0]).all() and np.isnan(typical[2:]).all()


def test_hourly_readings_are_split_into_quarter_hours():
    start = pd.date_range("2024-05-01", periods=3, freq="h", tz=ROME)
    frame = pd.DataFrame({"pod": "P", "start": start, "withdrawn_kwh": [0.4, 0.8, 1.2], "injected_kwh": 0.0})
    out = quarter_hour_readings(frame)
    assert len(out) == 12 and out["kwh"].sum() == pytest.approx(2.4)
    assert list(pd.DatetimeIndex(out["local"]).minute[:4]) == [0, 15, 30, 45]
    assert out["kwh"].tolist()[:5] == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.2])


def _january_readings() -> pd.DataFrame:
    """January 2024 for two PODs: P1 0.1 kWh per quarter hour on weekdays, 0.2 on Saturdays, 0.3 on Sundays
    and holidays; P2 0.01 · (quarter hour of the day + 1) every day."""
    from condivisa.domain.time_bands import day_type

    index = pd.date_range("2024-01-01", "2024-02-01", freq="15min", tz=ROME, inclusive="left")
    kinds = day_type(list(index.date))
    level = np.select([kinds == "weekday", kinds == "saturday"], [0.1, 0.2], 0.3)
    slot = index.hour * 4 + index.minute // 15
    p1 = pd.DataFrame({"pod": "IT001E00000001", "start": index, "withdrawn_kwh": level, "injected_kwh": 0.0})
    p2 = pd.DataFrame(
        {"pod": "IT001E00000002", "start": index, "withdrawn_kwh": 0.01 * (slot + 1), "injected_kwh": 0.0}
    )
    return pd.concat([p1, p2], ignore_index=True)


@pytest.fixture
def measured_case(raw, store):
    """Is Corrias cut to two flats with the example community's PODs, January 2024 stored in a real SQLite
    store through the normal ingest path."""
    from condivisa.ingest.tables import ingest_frame

    result = ingest_frame(store, _january_readings(), source="test")
    assert result.accepted
    raw["flats"] = raw["flats"][:2]
    raw["flats"][0]["pod"], raw["flats"][1]["pod"] = "IT001E00000001", "IT001E00000002"
    raw["loads"] = "measured"
    raw["measured"] = {"database": store.url}
    return raw


def test_measured_months_missing_are_listed(measured_case):
    from condivisa.casestudy.measured_loads import measured_loads

    case = case_from_dict(measured_case)
    with pytest.raises(
        CaseError, match=r"N-1 \(IT001E00000001\): months 2, 3, 4, .*12; N-2 \(IT001E00000002\)"
    ):
        measured_loads(case, year_quarter_hours(2024))


def test_measured_typical_days_from_the_store(measured_case, table):
    from condivisa.casestudy.measured_loads import measured_loads

    measured_case["measured"]["missing_months"] = "arera"
    case = case_from_dict(measured_case)
    index = year_quarter_hours(2024)
    out = measured_loads(case, index)
    local = index.tz_convert(ROME)
    jan = local.month == 1
    from condivisa.domain.time_bands import day_type

    kinds = day_type(list(local[jan].date))
    expected = np.select([kinds == "weekday", kinds == "saturday"], [0.1, 0.2], 0.3)
    np.testing.assert_allclose(out.loads_kwh[0, jan], expected)  # 6 Jan (Epiphany, a Saturday): holiday
    np.testing.assert_allclose(
        out.loads_kwh[1, jan], 0.01 * (local[jan].hour * 4 + local[jan].minute // 15 + 1)
    )
    arera = arera_loads(case, index, table).loads_kwh
    np.testing.assert_allclose(out.loads_kwh[:, ~jan], arera[:, ~jan])  # the other months: ARERA, as asked
    assert out.info["name"] == "measured" and out.info["pods"] == {
        "N-1": "IT001E00000001",
        "N-2": "IT001E00000002",
    }
    assert out.info["days_by_month"] == {"N-1": {1: 31}, "N-2": {1: 31}}
    assert out.info["arera_months"]["N-1"] == list(range(2, 13))
    assert "ARERA" in out.notes[0] and "SQLite file" in out.info["database"]


def test_measured_needs_pods_and_a_database(raw, tmp_path):
    from condivisa.casestudy.measured_loads import measured_loads

    raw["loads"] = "measured"
    with pytest.raises(CaseError, match=r"flats\[0\], .*flats\[7\]: pod missing"):
        measured_loads(case_from_dict(raw), year_quarter_hours(2024))
    for i, f in enumerate(raw["flats"]):
        f["pod"] = f"IT001E0000000{i}"
    raw["measured"] = {"database": f"sqlite:///{tmp_path / 'none.db'}"}
    with pytest.raises(CaseError, match="measured.database: no database at"):
        measured_loads(case_from_dict(raw), year_quarter_hours(2024))
    assert not (tmp_path / "none.db").exists()  # not created by asking


# ------------------------------------------------------------------------------------------------ money, CLI


def test_kit_prices_get_no_vat_on_top(case_path):
    """The case file's kit prices include 10 % VAT and it has no vat_storage_pct: investment = plant +
    8 kits, no 1.10 factor (the controller's 425 € is not an investment item of the model)."""
    from condivisa.casestudy.economics import scenario_economics
    from condivisa.casestudy.results import CaseRun
    from condivisa.engines.sizing import YearlyPhysics

    case = load_case(case_path)
    assert case.vat_storage_pct == 0.0
    years = case.horizon_years
    runs = [
        CaseRun(
            name,
            c,
            ctrl,
            np.zeros((8, 1)),
            np.zeros((8, 1)),
            np.zeros(1),
            np.full(years, 1e4),
            np.zeros(years),
        )
        for name, c, ctrl in (
            ("base", 0.0, "none"),
            ("battery_3kwh", 3.0, "heuristic"),
            ("battery_5kwh", 5.0, "heuristic"),
        )
    ]
    physics = YearlyPhysics(
        np.array([0.0, 3.0, 5.0]), np.full((3, years), 28744.0), np.zeros((3, years)), np.zeros((3, years))
    )
    money = scenario_economics(case, runs, physics, [])
    investment = {e.case: e.investment_eur for e in money.economics if e.scenario == "medium"}
    assert investment == {
        "base": 18000.0,
        "battery_3kwh": 18000.0 + 8 * 2157.0,
        "battery_5kwh": 18000.0 + 8 * 3051.0,
    }
    assert investment["battery_5kwh"] == 42408.0  # not 18,000 + 1.10 · 24,408 = 44,848.80


def test_cli_refuses_an_unknown_load_model_and_a_measured_case_without_pods(case_path, tmp_path):
    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["case", "run", str(case_path), "--out", str(out), "--loads", "bills"])
    assert result.exit_code == 2 and "--loads must be one of arera, synthetic, measured" in result.output
    result = CliRunner().invoke(
        app, ["case", "run", str(case_path), "--out", str(out), "--loads", "measured", "--no-plots"]
    )
    assert result.exit_code == 2 and "pod missing" in result.output


@pytest.mark.slow
def test_case_run_uses_arera_by_default_and_says_so(case_path, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["case", "run", str(case_path), "--out", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    assert "ARERA profiles of Sardegna" in result.output
    doc = json.loads((out / "summary.json").read_text())
    model = doc["load_model"]
    assert model["name"] == "arera" and model["region"] == "Sardegna" and model["classes"]["N-8"] == "3-4.5"
    base = next(c for c in doc["cases"] if c["name"] == "base")
    assert base["consumption_kwh"] == pytest.approx(35605.3, abs=0.01)  # the synthetic model's energy
    assert 0 < base["shared_kwh"] <= base["production_kwh"]


def test_dashboard_line_names_the_load_model():
    from condivisa.web.data import case_load_model

    arera = {
        "load_model": {"name": "arera", "region": "Sardegna", "classes": {"N-1": "1.5-3", "N-8": "3-4.5"}}
    }
    assert case_load_model(arera, "it") == "Consumi: profili ARERA (Sardegna; classi 1.5-3, 3-4.5 kW)"
    assert case_load_model(arera, "en") == "Loads: ARERA profiles (Sardegna; classes 1.5-3, 3-4.5 kW)"
    assert case_load_model({"load_model": {"name": "synthetic"}}, "en") == "Loads: modelled shapes"
    measured = {"load_model": {"name": "measured", "arera_months": {"N-1": [2]}}}
    assert (
        case_load_model(measured, "it") == "Consumi: giorni tipici misurati (mesi mancanti con profili ARERA)"
    )
    assert case_load_model({"cases": []}) is None and case_load_model(None) is None  # an older summary.json
