"""The case-study file loader, and ``condivisa case run`` end to end on Is Corrias."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from condivisa.casestudy.casefile import CaseError, case_from_dict, load_case
from condivisa.casestudy.economics import tip_for, valorisation_rate_eur_per_mwh
from condivisa.cli import app


@pytest.fixture
def case_path(shared_dir) -> Path:
    path = shared_dir / "cases" / "is-corrias.yaml"
    if not path.exists():
        pytest.skip("shared case file not present")
    return path


def test_load_is_corrias(case_path):
    case = load_case(case_path)
    assert case.name == "is-corrias" and case.configuration.same_building
    assert len(case.flats) == 8 and case.flats[7].contract_power_kw == 4.5
    assert sum(case.monthly_production_kwh) == 28744  # the sanity target for 18 kWp
    assert case.pv_investment_eur == 18000.0
    assert case.zonal_price_eur_per_mwh == 106.20  # SARD 2024
    assert [s.name for s in case.scenarios] == ["low", "medium", "high"]
    assert [o.capacity_kwh for o in case.storage_options] == [3.0, 5.0]
    assert case.vat_storage_pct == 0.0  # kit prices are VAT-included in the file


def test_vat_storage_pct_is_still_read_when_given(case_path):
    raw = yaml.safe_load(case_path.read_text())
    raw["economics"]["vat_storage_pct"] = 10  # a case file whose kit prices are net of VAT
    assert case_from_dict(raw).vat_storage_pct == 10.0
    raw["economics"]["vat_storage_pct"] = 150
    with pytest.raises(CaseError, match="economics.vat_storage_pct: 150.0 is outside"):
        case_from_dict(raw)


def test_scenario_tariffs_agree_with_the_tip_formula(case_path):
    case = load_case(case_path)
    # TIP = min(120, 80 + max(0, 180 − Pz)) + 0 (South, no grant): 108.52 → 120; 160 → 100; 180 → 80
    for scenario in case.scenarios:
        assert tip_for(case, scenario.zonal_price_eur_per_mwh) == pytest.approx(
            scenario.premium_tariff_eur_per_mwh
        )
    # AUC valorisation: TRAS_E 10.57 + BTAU 0.65 + 2.6 % · 106.20 = 11.22 + 2.7612 = 13.9812 €/MWh
    assert valorisation_rate_eur_per_mwh(case, 106.20) == pytest.approx(13.9812)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda r: r["flats"][3].__setitem__("contract_power_kw", "three"),
            r"flats\[3\]\.contract_power_kw: 'three' is not a number",
        ),
        (
            lambda r: r["pv_plant"].__setitem__("monthly_production_kwh", [1, 2]),
            "monthly_production_kwh: expected 12 values",
        ),
        (lambda r: r.pop("economics"), "economics: missing"),
        (lambda r: r["pv_plant"].__setitem__("tilt_deg", 120), "pv_plant.tilt_deg: 120.0 is outside"),
        (lambda r: r.__setitem__("configuration", "XYZ"), "configuration: 'XYZ'"),
        (lambda r: r["flats"].append(dict(r["flats"][0])), "duplicate id"),
    ],
)
def test_bad_case_files_name_the_key(case_path, edit, message):
    raw = yaml.safe_load(case_path.read_text())
    edit(raw)
    with pytest.raises(CaseError, match=message):
        case_from_dict(raw)


def test_simulated_year_settles_like_metered_data(case_path):
    """The case's base year, passed through the settlement engine at quarter hours, gives the same
    shared energy and premium as the case study's own figures (no second implementation)."""
    import pandas as pd

    from condivisa.casestudy.bridge import community_for, measurements_for
    from condivisa.casestudy.runner import production_kwh
    from condivisa.engines.loads import household_loads_kwh
    from condivisa.engines.settlement import settle
    from condivisa.engines.sharing import shared_energy_kwh

    case = load_case(case_path)
    pv = production_kwh(case)
    flats = [
        {
            "id": f.id,
            "appliances_kwh_per_day": f.appliances_kwh_per_day,
            "ac_july_kwh_per_day": f.ac_july_kwh_per_day,
        }
        for f in case.flats
    ]
    loads = household_loads_kwh(case.year, flats, case.ac_usage_coefficient).to_numpy().T
    prices = pd.Series(
        106.20, index=pd.date_range("2024-01-01", "2025-01-01", freq="h", tz="Europe/Rome", inclusive="left")
    )
    totals = settle(
        community_for(case), measurements_for(pv.index, pv.to_numpy(), loads), prices, interval="quarter"
    ).totals
    shared = shared_energy_kwh(pv.to_numpy(), loads).sum()
    assert totals["shared_kwh"] == pytest.approx(shared, abs=0.001)
    assert totals["premium_eur"] == pytest.approx(shared * 0.120, abs=0.05)  # TIP 120 €/MWh, rounded monthly
    assert totals["withdrawn_kwh"] == pytest.approx(loads.sum(), abs=0.001)


def test_weather_file_instead_of_or_with_monthly_energies(case_path, tmp_path):
    from condivisa.casestudy.runner import production_kwh

    raw = yaml.safe_load(case_path.read_text())
    data = Path(__file__).parent / "data"
    raw["pv_plant"]["pvgis_file"] = "weather.csv"  # relative to the case file
    (tmp_path / "weather.csv").write_bytes((data / "pvgis_tmy_45.000_8.000_head48.csv").read_bytes())
    monthly = raw["pv_plant"].pop("monthly_production_kwh")
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(raw))
    case = load_case(path)
    assert case.weather_file == tmp_path / "weather.csv" and case.monthly_production_kwh is None
    with pytest.raises(ValueError, match="no value"):  # 48 hours of weather cannot fill a year
        production_kwh(case)
    raw["pv_plant"]["pvgis_file"] = "missing.csv"
    with pytest.raises(CaseError, match="pv_plant.pvgis_file: 'missing.csv' not found"):
        case_from_dict(raw, base_dir=tmp_path)
    del raw["pv_plant"]["pvgis_file"]
    with pytest.raises(CaseError, match="monthly_production_kwh: missing"):
        case_from_dict(raw)
    assert len(monthly) == 12


def test_full_tmy_weather_scaled_to_the_case_months(case_path, shared_dir, tmp_path):
    from condivisa.casestudy.runner import production_kwh

    tmy = shared_dir / "reference" / "pvgis" / "pvgis_tmy_45.000_8.000.csv"
    if not tmy.exists():
        pytest.skip("shared PVGIS TMY not present")
    raw = yaml.safe_load(case_path.read_text())
    raw["pv_plant"]["pvgis_file"] = str(tmy)
    case = case_from_dict(raw)
    quarter = production_kwh(case)
    assert len(quarter) == 4 * 8784
    by_month = quarter.groupby(quarter.index.month).sum().to_numpy()
    np.testing.assert_allclose(by_month, case.monthly_production_kwh, rtol=1e-9)
    daily = quarter.groupby(quarter.index.normalize()).sum()
    assert daily.std() / daily.mean() > 0.2  # real weather: cloudy and sunny days, unlike a clear sky


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CaseError, match="no such file"):
        load_case(tmp_path / "nope.yaml")
    result = CliRunner().invoke(
        app, ["case", "run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["case", "run", str(tmp_path / "nope.yaml"), "--forecast", "oracle"])
    assert result.exit_code == 2


@pytest.mark.slow
def test_case_run_end_to_end(case_path, tmp_path):
    out = tmp_path / "out"
    # the synthetic shapes: the figures below are those of docs/case-study.md's synthetic columns
    result = CliRunner().invoke(
        app, ["case", "run", str(case_path), "--out", str(out), "--no-png", "--loads", "synthetic"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "summary.json").read_text())
    assert doc["load_model"]["name"] == "synthetic"
    names = [c["name"] for c in doc["cases"]]
    assert names == ["base", "battery_3kwh", "battery_5kwh", "optimal_5kwh"]
    cases = {c["name"]: c for c in doc["cases"]}
    for c in doc["cases"]:
        assert c["production_kwh"] == pytest.approx(28744.0, abs=0.05)
        assert len(c["months"]) == 12
        assert sum(m["shared_kwh"] for m in c["months"]) == pytest.approx(c["shared_kwh"], abs=0.1)
        assert [m["production_kwh"] for m in c["months"]] == pytest.approx(
            doc["inputs"]["monthly_production_input_kwh"]
        )
        assert c["premium_eur"] == pytest.approx(c["shared_kwh"] * 0.120, abs=0.01)  # TIP 120 €/MWh in 2024
        assert 0 < c["shared_kwh"] <= c["production_kwh"]
        # the settlement engine on the same year, hour by hour: min of hourly sums ≥ sum of quarter-hour mins
        settled = c["settled_hourly"]
        assert settled["injected_kwh"] == pytest.approx(28744.0, abs=0.01)
        assert c["shared_kwh"] - 0.01 <= settled["shared_kwh"] <= c["production_kwh"]
        assert settled["sale_eur"] == pytest.approx(28744 * 106.20 / 1000, abs=0.01)  # 3,052.61 €
        assert settled["premium_eur"] == pytest.approx(settled["shared_kwh"] * 0.120, abs=0.1)
    # base case: a third to a half of production shared (the thesis' range); 10,319 kWh = 35.9 %
    assert 33.0 <= cases["base"]["sharing_pct"] <= 50.0
    assert cases["base"]["shared_kwh"] == pytest.approx(10319.46, abs=0.5)
    assert (
        cases["base"]["sharing_pct"]
        < cases["battery_3kwh"]["sharing_pct"]
        < cases["battery_5kwh"]["sharing_pct"]
    )
    assert doc["dispatch"]["optimal_value_eur"] >= doc["dispatch"]["heuristic_value_eur"]
    economics = doc["economics"]
    assert len(economics) == 4 * 3
    assert {tuple(sorted(e)) for e in economics} == {
        ("case", "dpbt_years", "investment_eur", "irr", "npv_eur", "scenario", "sharing_income_share")
    }
    base_low = next(e for e in economics if e["case"] == "base" and e["scenario"] == "low")
    assert base_low["investment_eur"] == 18000.0
    # 3 kWh: the case file's kit prices already include 10 % VAT (no vat_storage_pct, so none added on top)
    case = load_case(case_path)
    kit_3 = next(o.kit_cost_eur for o in case.storage_options if o.capacity_kwh == 3.0)
    expected_3 = case.pv_investment_eur + len(case.flats) * kit_3 * (1 + case.vat_storage_pct / 100.0)
    battery_3 = next(e for e in economics if e["case"] == "battery_3kwh")["investment_eur"]
    assert battery_3 == pytest.approx(expected_3)
    assert battery_3 == pytest.approx(35256.0)  # by hand: 18,000 + 8 · 2,157 = 35,256 €
    assert [row["capacity_kwh_per_flat"] for row in doc["sizing"]] == [float(c) for c in range(11)]
    assert np.all(np.diff([row["sharing_pct"] for row in doc["sizing"]]) >= 0)
    for name in (
        "monthly.csv",
        "flats.csv",
        "economics.csv",
        "cash_flows.csv",
        "sizing.csv",
        "ideal_kit_cost.csv",
        "monthly_sharing.html",
        "cumulative_cash_flow.html",
        "typical_day_battery_5kwh.html",
    ):
        assert (out / name).exists(), name
    assert not list(out.glob("*.png"))
