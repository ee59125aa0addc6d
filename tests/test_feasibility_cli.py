"""``condivisa feasibility`` end to end on examples/feasibility.yaml: the files, and the report's money
figures equal summary.json's to the cent."""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.feasibility.report import eur

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "feasibility.yaml"
NEWCOMER = ROOT / "examples" / "feasibility-newcomer.yaml"
CELL = re.compile(r'data-eur="(-?\d+\.\d\d)" data-key="([^"]+)">([^<]*)<')


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("feasibility")
    result = CliRunner().invoke(
        app,
        ["feasibility", str(EXAMPLE), "--out", str(out), "--add-member", str(NEWCOMER)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "shared / production" in result.output and "fam-esposito joining" in result.output
    return out


def test_the_files(out):
    for name in (
        "report.html",
        "report.en.html",
        "plotly.min.js",
        "summary.json",
        "members.csv",
        "plants.csv",
        "economics.csv",
        "months.csv",
        "absorption.csv",
        "join.csv",
    ):
        assert (out / name).stat().st_size > 0, name
    doc = json.loads((out / "summary.json").read_text())
    assert len(doc["members"]) == 14 and len(doc["plants"]) == 2 and len(doc["months"]) == 12
    y = doc["year"]
    assert 0 < y["shared_kwh"] <= min(y["production_kwh"], y["consumption_kwh"])
    assert y["sharing_of_production"] == round(y["shared_kwh"] / y["production_kwh"], 4)
    assert all(a["needed"] is not None and a["sharing_after"] >= 0.95 for a in doc["absorption"])
    assert doc["join"]["newcomer"]["id"] == "fam-esposito"
    page = (out / "report.html").read_text()
    assert (
        page.startswith('<!DOCTYPE html><html lang="it">')
        and "plot-absorption" in page
        and "plot-monthly" in page
    )
    assert '<html lang="en">' in (out / "report.en.html").read_text()


def _lookup(doc: dict, key: str) -> float:
    head, _, rest = key.partition(".")
    if head in ("year", "community_account", "community_economics", "social_fund"):
        return doc[head][rest]
    if head == "join":
        sub, _, rest = rest.partition(".")
        if sub == "newcomer":
            return doc["join"]["newcomer"][rest]
        who, field = rest.rsplit(".", 1)
        return next(p for p in doc["join"]["payees"] if p["payee"] == who)[field]
    who, field = rest.rsplit(".", 1)
    id_key = {
        "members": "id",
        "plants": "id",
        "external_producers": "id",
        "owners": "owner",
        "absorption": "kind",
    }[head]
    return next(x for x in doc[head] if x[id_key] == who)[field]


@pytest.mark.parametrize("page", ["report.html", "report.en.html"])
def test_report_money_equals_the_summary_to_the_cent(out, page):
    doc = json.loads((out / "summary.json").read_text())
    text = (out / page).read_text()
    cells = CELL.findall(text)
    assert len(cells) > 150
    keys = {k for _, k, _ in cells}
    for must in (
        "year.total_eur",
        "members.fam-rossi.total_eur",
        "owners.comune.npv_eur",
        "community_economics.npv_eur",
        "absorption.family.extra_income_eur",
        "join.newcomer.total_eur",
    ):
        assert must in keys
    lang = "it" if page == "report.html" else "en"
    for value, key, shown in cells:
        expected = _lookup(doc, key)
        assert round(float(value) * 100) == round(expected * 100), key
        assert html.unescape(shown) == eur(expected, lang), key


def test_every_member_total_adds_up(out):
    doc = json.loads((out / "summary.json").read_text())
    payees = sum(m["total_eur"] for m in doc["members"]) + doc["community_account"]["total_eur"]
    payees += sum(p["total_eur"] for p in doc["external_producers"])
    assert round(payees * 100) == round(doc["year"]["total_eur"] * 100)


def test_a_typo_exits_2_with_the_path(tmp_path):
    text = EXAMPLE.read_text().replace("discount_rate:", "discount_rat:")
    plan = tmp_path / "plan.yaml"
    plan.write_text(text)
    result = CliRunner().invoke(app, ["feasibility", str(plan), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "economics.discount_rat: unknown key (did you mean discount_rate?)" in result.output.replace(
        "\n", ""
    )


def test_a_real_pvgis_weather_file(shared_dir, tmp_path):
    weather = shared_dir / "reference" / "pvgis" / "pvgis_tmy_45.000_8.000.csv"
    if not weather.exists():
        pytest.skip("shared PVGIS file not present")
    import yaml

    from condivisa.feasibility.plan_file import plan_from_dict
    from condivisa.feasibility.production import plant_kwh
    from condivisa.kernel.timegrid import year_quarter_hours

    raw = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    raw["location"].update(latitude=45.0, longitude=8.0)
    plant = raw["plants"][0]
    del plant["monthly_kwh"]
    plant["pvgis_file"] = str(weather)
    plan = plan_from_dict(raw)
    kwh, source = plant_kwh(plan, plan.plants[0], year_quarter_hours(2023))
    assert source == "PVGIS weather" and kwh.size == 35040
    # the example's monthly energies were computed from this file for 40 kWp, 15°, south
    assert kwh.sum() == pytest.approx(52547, rel=0.01)
