"""The feasibility plan parser: strict keys (path + "did you mean"), bills by band or month vs yearly kWh."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from condivisa.domain.community import MemberCategory
from condivisa.feasibility.plan_file import PlanError, load_newcomer, load_plan, plan_from_dict

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "feasibility.yaml"

BASE = {
    "name": "tiny",
    "location": {"municipality": "Cocconato", "latitude": 45.08, "longitude": 8.04},
    "members": [{"id": "m1", "category": "private", "contract_power_kw": 3, "yearly_kwh": 2700}],
    "plants": [{"id": "pv", "owner": "m1", "kwp": 3, "monthly_kwh": [300] * 12, "cost_eur": 4500}],
}


def plan_with(**changes):
    raw = copy.deepcopy(BASE)
    raw.update(changes)
    return raw


def test_the_example_plan_loads():
    plan = load_plan(EXAMPLE)
    assert plan.region == "Piemonte" and plan.market_zone == "NORD" and plan.year == 2023
    assert len(plan.members) == 9 and sum(m.count for m in plan.members) == 14
    by_id = {m.id: m for m in plan.members}
    assert by_id["fam-rossi"].bills_by == "month_band" and len(by_id["fam-rossi"].bills_kwh) == 36
    assert by_id["fam-bianchi"].bills_by == "month" and len(by_id["fam-bianchi"].bills_kwh) == 12
    assert by_id["fam-verdi"].bills_by == "band" and by_id["fam-verdi"].yearly_kwh == 3550
    assert by_id["fam"].bills_by == "year" and by_id["fam"].member_ids[-1] == "fam-6"
    assert by_id["bottega"].shape == "shop" and by_id["comune"].shape == "office"
    assert [c.id for c in plan.candidates] == ["family", "shop", "office"]
    assert plan.plants[0].azimuth_deg == 0 and plan.plants[1].azimuth_deg == -20


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nmae": "x"}, r"^nmae: unknown key \(did you mean name\?\)"),
        (
            {"members": [{"id": "m1", "yearly_kwhh": 10}]},
            r"members\[0\]\.yearly_kwhh: unknown key \(did you mean yearly_kwh\?\)",
        ),
        (
            {
                "plants": [
                    {"id": "pv", "owner": "m1", "kwp": 3, "monthly_kwh": [1] * 12, "cost_eur": 1, "tilt": 30}
                ]
            },
            r"plants\[0\]\.tilt: unknown key \(did you mean tilt_deg\?\)",
        ),
        (
            {"members": [{"id": "m1", "bills": [{"f1_kwh": 1, "f2_kwh": 1, "f3kwh": 1}]}]},
            r"members\[0\]\.bills\[0\]\.f3kwh: unknown key \(did you mean f3_kwh\?\)",
        ),
        (
            {"rules": {"premium": {"producer": 0.5}}},
            r"rules\.premium\.producer: unknown key \(did you mean producers\?\)",
        ),
        (
            {"location": {"municipalty": "Cocconato"}},
            r"location\.municipalty: unknown key \(did you mean municipality\?\)",
        ),
        (
            {"economics": {"discount": 0.04}},
            r"economics\.discount: unknown key \(did you mean discount_rate\?\)",
        ),
        (
            {"candidates": [{"kind": "f", "yearly_kwh": 1, "categroy": "sme"}]},
            r"candidates\[0\]\.categroy: unknown key \(did you mean category\?\)",
        ),
    ],
)
def test_a_typo_names_its_path_and_the_closest_key(changes, message):
    with pytest.raises(PlanError, match=message):
        plan_from_dict(plan_with(**changes))


def test_bills_or_yearly_kwh_not_both_nor_neither():
    both = {"id": "m1", "yearly_kwh": 10, "bills": [{"f1_kwh": 1, "f2_kwh": 1, "f3_kwh": 1}]}
    with pytest.raises(PlanError, match=r"members\[0\]: give either bills or yearly_kwh"):
        plan_from_dict(plan_with(members=[both]))
    with pytest.raises(PlanError, match=r"members\[0\]: give either bills or yearly_kwh"):
        plan_from_dict(plan_with(members=[{"id": "m1"}]))


def test_monthly_bills_need_every_month_and_one_kind():
    eleven = [{"month": m, "kwh": 100} for m in range(1, 12)]
    with pytest.raises(PlanError, match=r"members\[0\]\.bills: give one bill for each month 1–12"):
        plan_from_dict(plan_with(members=[{"id": "m1", "bills": eleven}]))
    mixed = [{"month": m, "kwh": 100} for m in range(1, 12)] + [
        {"month": 12, "f1_kwh": 1, "f2_kwh": 1, "f3_kwh": 1}
    ]
    with pytest.raises(PlanError, match="not mixed"):
        plan_from_dict(plan_with(members=[{"id": "m1", "bills": mixed}]))
    with pytest.raises(PlanError, match=r"bills\[0\]\.f3_kwh: missing"):
        plan_from_dict(plan_with(members=[{"id": "m1", "bills": [{"f1_kwh": 1, "f2_kwh": 1}]}]))
    ok = [{"month": 13 - m, "kwh": m} for m in range(1, 13)]  # any order: sorted by month
    member = plan_from_dict(plan_with(members=[{"id": "m1", "bills": ok}])).members[0]
    assert member.bills_by == "month" and member.bills_kwh == tuple(float(13 - m) for m in range(1, 13))


def test_values_out_of_range_and_unknown_names():
    with pytest.raises(PlanError, match=r"members\[0\]\.category: 'corp' is not one of private, sme"):
        plan_from_dict(plan_with(members=[{"id": "m1", "category": "corp", "yearly_kwh": 1}]))
    plant = dict(BASE["plants"][0], grant_fraction=0.5)
    with pytest.raises(PlanError, match=r"plants\[0\]\.grant_fraction: 0.5 is outside 0–0.4"):
        plan_from_dict(plan_with(plants=[plant]))
    with pytest.raises(PlanError, match=r"plants\[0\]\.owner: 'm2' is not a member.*did you mean m1"):
        plan_from_dict(plan_with(plants=[dict(BASE["plants"][0], owner="m2")]))
    with pytest.raises(PlanError, match=r"location\.municipality: .*Cocconatto"):
        plan_from_dict(plan_with(location={"municipality": "Cocconatto", "latitude": 45, "longitude": 8}))
    with pytest.raises(PlanError, match=r"location\.latitude: missing"):
        plan_from_dict(plan_with(location={"municipality": "Cocconato", "longitude": 8}))
    with pytest.raises(PlanError, match=r"year: 2024 has no shipped GME prices"):
        plan_from_dict(plan_with(year=2024))
    with pytest.raises(PlanError, match=r"plants\[0\]\.monthly_kwh: missing \(or give pvgis_file\)"):
        plan_from_dict(plan_with(plants=[{"id": "pv", "owner": "m1", "kwp": 3, "cost_eur": 1}]))


def test_count_gives_identical_members_and_ids_are_unique():
    plan = plan_from_dict(
        plan_with(members=[{"id": "f", "yearly_kwh": 100, "count": 3}, {"id": "m1", "yearly_kwh": 1}])
    )
    assert plan.members[0].member_ids == ("f-1", "f-2", "f-3")
    with pytest.raises(PlanError, match="duplicate id"):
        plan_from_dict(plan_with(members=[{"id": "m1", "yearly_kwh": 1}, {"id": "m1", "yearly_kwh": 2}]))


def test_defaults_shape_by_category():
    plan = plan_from_dict(
        plan_with(
            members=[
                {"id": "m1", "yearly_kwh": 1},
                {"id": "s", "category": "sme", "yearly_kwh": 1},
                {"id": "c", "category": "public_body", "yearly_kwh": 1, "shape": "domestic"},
            ]
        )
    )
    assert [m.shape for m in plan.members] == ["domestic", "shop", "domestic"]
    assert plan.members[1].category is MemberCategory.SME and plan.members[0].founder


def test_newcomer_file(tmp_path):
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump({"id": "n1", "yearly_kwh": 3000}))
    newcomer = load_newcomer(path)
    assert newcomer.id == "n1" and not newcomer.founder and newcomer.yearly_kwh == 3000
    path.write_text(yaml.safe_dump({"id": "n1", "yearly_kwh": 3000, "cuont": 2}))
    with pytest.raises(PlanError, match=r"new.yaml: member\.cuont: unknown key \(did you mean count\?\)"):
        load_newcomer(path)
    assert load_newcomer(ROOT / "examples" / "feasibility-newcomer.yaml").bills_by == "band"


def test_pvgis_file_is_relative_to_the_plan(tmp_path):
    raw = plan_with(plants=[{"id": "pv", "owner": "m1", "kwp": 3, "pvgis_file": "w.csv", "cost_eur": 1}])
    with pytest.raises(PlanError, match=r"plants\[0\]\.pvgis_file: 'w.csv' not found"):
        plan_from_dict(raw, base_dir=tmp_path)
    (tmp_path / "w.csv").write_text("x")
    assert plan_from_dict(raw, base_dir=tmp_path).plants[0].pvgis_file == tmp_path / "w.csv"
