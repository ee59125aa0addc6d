"""The feasibility study on a tiny plan checked by hand against the formulas; absorption; one newcomer."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.engines.allocation import split_cents
from condivisa.feasibility.absorb import consumers_needed, shared_with_added_kwh
from condivisa.feasibility.consumers import consumer_from_dict
from condivisa.feasibility.plan_file import plan_from_dict
from condivisa.feasibility.settle_year import to_hours
from condivisa.feasibility.study import run_study
from condivisa.formats.gme_prices import load_gme_2023
from condivisa.kernel.timegrid import ROME

TINY = {
    "name": "tiny",
    "location": {"municipality": "Cocconato", "latitude": 45.08, "longitude": 8.04},
    # a consumer so large that every hour's withdrawal exceeds the 1 kWp plant's injection
    "members": [{"id": "m1", "category": "private", "contract_power_kw": 3, "yearly_kwh": 10_000_000}],
    "plants": [{"id": "pv", "owner": "m1", "kwp": 1, "monthly_kwh": [100] * 12, "cost_eur": 1500}],
    "economics": {
        "horizon_years": 20,
        "discount_rate": 0.0,
        "maintenance_eur_per_kwp_year": 0,
        "degradation_per_year": 0,
    },
}


@pytest.fixture(scope="module")
def tiny_study():
    return run_study(plan_from_dict(copy.deepcopy(TINY)))


def test_tiny_plan_by_hand(tiny_study):
    s = tiny_study
    assert s.index.size == 35040 and s.withdrawal_kwh.sum() == pytest.approx(10_000_000)
    t = s.result.totals
    # every hour withdraws more than the plant injects: shared = min(inj, wd) = production = 12 × 100 kWh
    assert t["injected_kwh"] == pytest.approx(1200, abs=1e-3)
    assert t["shared_kwh"] == pytest.approx(1200, abs=1e-3)
    # premium, DM 414/2023: TIP_h = min(120, 80 + max(0, 180 − Pz_h)) + 10 (PV, North), no grant, rounded per month
    pz = load_gme_2023(zone="NORD").to_numpy()
    inj_h = to_hours(s.production_kwh[0])
    tip = np.minimum(120.0, 80.0 + np.maximum(0.0, 180.0 - pz)) + 10.0
    month = s.index[::4].tz_convert(ROME).month.to_numpy()
    monthly = np.bincount(month - 1, weights=inj_h * tip / 1000.0, minlength=12)
    assert t["premium_eur"] == pytest.approx(round(sum(round(x, 2) for x in monthly), 2), abs=1e-9)
    # valorisation, TIAD art. 8 (CER): TRAS_E 10.57 €/MWh on 100 kWh a month = 1.057 → 1.06 €, × 12
    assert t["valorisation_eur"] == pytest.approx(12.72)
    sale = np.bincount(month - 1, weights=inj_h * pz / 1000.0, minlength=12)
    assert t["sale_eur"] == pytest.approx(round(sum(round(x, 2) for x in sale), 2))
    # the default rules: 10 % producers, 15 % community, 75 % consumers; m1 is producer and consumer
    p = int(round(t["premium_eur"] * 100))
    parts = split_cents(p, [0.10, 0.15, 0.75])
    m1 = s.result.payee_money("m1")
    assert m1["premium_eur"] == pytest.approx((parts[0] + parts[2]) / 100)
    assert m1["sale_eur"] == t["sale_eur"] and m1["valorisation_eur"] == t["valorisation_eur"]
    assert s.result.payee_money("community")["premium_eur"] == pytest.approx(parts[1] / 100)


def test_tiny_economics(tiny_study):
    owner = tiny_study.owners[0]
    # producer's money: the sale and the producers' 10 % of the premium (valorisation goes to consumers)
    t = tiny_study.result.totals
    parts = split_cents(int(round(t["premium_eur"] * 100)), [0.10, 0.15, 0.75])
    assert owner.premium_eur == pytest.approx(parts[0] / 100) and owner.sale_eur == t["sale_eur"]
    assert owner.valorisation_eur == 0
    income = owner.premium_eur + owner.sale_eur
    # no discounting, no degradation, no maintenance: NPV = 20 · income − cost, payback = cost / income
    assert owner.npv_eur == pytest.approx(20 * income - 1500, abs=0.01)
    assert owner.payback_years == pytest.approx(1500 / income)


def test_the_summary_adds_up(tiny_study):
    from condivisa.feasibility.summary import summary

    doc = summary(tiny_study)
    y = doc["year"]
    assert y["total_eur"] == pytest.approx(
        y["premium_eur"] + y["valorisation_eur"] + y["sale_eur"] + y["gse_fees_eur"]
    )
    payees = sum(m["total_eur"] for m in doc["members"]) + doc["community_account"]["total_eur"]
    assert payees == pytest.approx(y["total_eur"], abs=1e-9)
    assert y["sharing_of_production"] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 10), min_size=4, max_size=24),
    st.lists(st.floats(0, 10), min_size=4, max_size=24),
    st.lists(st.floats(0, 3), min_size=4, max_size=24),
    st.floats(0.05, 1.0),
)
def test_absorption_is_monotone_and_the_smallest_n(inj, wd, cand, target):
    k = min(len(inj), len(wd), len(cand))
    i, w, c = (np.asarray(x[:k]) for x in (inj, wd, cand))
    s = [shared_with_added_kwh(i, w, c, n) for n in range(60)]
    assert all(b >= a - 1e-9 for a, b in zip(s, s[1:]))  # monotone in n
    assert all(x <= i.sum() + 1e-9 for x in s)  # never more than the production
    n = consumers_needed(i, w, c, target, 59)
    goal = target * i.sum() - 1e-9
    scan = next((m for m, x in enumerate(s) if x >= goal), None)
    assert n == scan


def test_absorption_on_the_tiny_plan_is_zero():
    plan = plan_from_dict({**copy.deepcopy(TINY), "candidates": [{"kind": "family", "yearly_kwh": 2700}]})
    study = run_study(plan)
    a = study.absorption[0]
    assert a.needed == 0 and a.extra_income_eur == 0.0


def test_absorption_with_a_small_consumer():
    raw = copy.deepcopy(TINY)
    raw["members"][0]["yearly_kwh"] = 300
    raw["candidates"] = [{"kind": "family", "yearly_kwh": 2700, "contract_power_kw": 3}]
    study = run_study(plan_from_dict(raw))
    a = study.absorption[0]
    assert a.needed is not None and a.needed > 0
    assert a.sharing_after >= 0.95 > a.sharing_before
    assert a.extra_income_eur > 0 and a.newcomer_eur is not None and a.newcomer_eur > 0
    # the curve is monotone
    values = [v for _, v in a.curve]
    assert all(b >= a_ - 1e-12 for a_, b in zip(values, values[1:]))


def test_add_member_arithmetic():
    raw = copy.deepcopy(TINY)
    raw["members"] = [
        {"id": "m1", "yearly_kwh": 800},
        {"id": "shop", "category": "sme", "yearly_kwh": 1500, "contract_power_kw": 6},
    ]
    raw["plants"][0]["kwp"] = 5
    raw["plants"][0]["monthly_kwh"] = [500] * 12
    raw["rules"] = {"later_members": {"annual_fee_eur": 10}}
    newcomer = consumer_from_dict({"id": "new", "yearly_kwh": 3000, "founder": False}, "member")
    study = run_study(plan_from_dict(raw), newcomer=newcomer)
    j = study.join
    doc = j.to_dict()
    after = j.after
    # everybody's money with the newcomer adds up to the settled total, to the cent
    t = after.totals
    gse = sum(after.allocation.gse_fees.values())
    cents = sum(after.allocation.total(p) for p in after.allocation.payees)
    assert cents == round(100 * (t["premium_eur"] + t["valorisation_eur"] + t["sale_eur"])) - gse
    assert doc["newcomer"]["total_eur"] == after.payee_money("new")["total_eur"]
    assert doc["newcomer"]["fees_eur"] == -10.0  # a later member pays the annual fee to the community
    for row in doc["payees"]:
        assert row["change_eur"] == pytest.approx(row["after_eur"] - row["before_eur"], abs=1e-9)
    assert doc["shared_kwh_after"] >= doc["shared_kwh_before"]
    before_total = sum(r["before_eur"] for r in doc["payees"])
    assert before_total == pytest.approx(doc["community_income_before_eur"], abs=1e-9)
    after_total = sum(r["after_eur"] for r in doc["payees"]) + doc["newcomer"]["total_eur"]
    assert after_total == pytest.approx(doc["community_income_after_eur"], abs=1e-9)
