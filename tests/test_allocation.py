"""Allocation rules and the largest-remainder rounding, on cases worked by hand."""

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.domain.community import ConsumersBy, MemberCategory, Rules
from condivisa.engines.allocation import COMMUNITY, MemberFigures, PlantFigures, allocate, split_cents
from condivisa.engines.settlement import settle
from settlement_helpers import DAY, community, flat_prices, hourly_frame


def test_split_cents_largest_remainder():
    # 100 / 3 = 33.33 each: floors 33+33+33 = 99, the leftover cent to the first listed (equal fractions)
    assert split_cents(100, [1, 1, 1]).tolist() == [34, 33, 33]
    # 10 by 0.5/0.25/0.25: ideal 5, 2.5, 2.5 → floors 5, 2, 2; leftover 1 → first of the tied .5 fractions
    assert split_cents(10, [0.5, 0.25, 0.25]).tolist() == [5, 3, 2]
    # 7 by 1/2/4: ideal 1, 2, 4 exactly
    assert split_cents(7, [1, 2, 4]).tolist() == [1, 2, 4]
    # 1 cent by 0.2/0.7/0.1: ideal 0.2, 0.7, 0.1 → the largest fraction (0.7) gets it
    assert split_cents(1, [0.2, 0.7, 0.1]).tolist() == [0, 1, 0]
    assert split_cents(0, [0, 0]).tolist() == [0, 0]
    with pytest.raises(ValueError):
        split_cents(5, [0, 0])
    with pytest.raises(ValueError):
        split_cents(5, [1, -1])


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10**9), st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=30))
def test_split_cents_sums_exactly_and_is_never_negative(total, weights):
    if sum(weights) <= 0:
        weights = [1.0] * len(weights)
    parts = split_cents(total, weights)
    assert parts.sum() == total and (parts >= 0).all()
    ideal = total * np.asarray(weights) / sum(weights)
    assert np.all(np.abs(parts - ideal) < 1.0 + 1e-6)  # each within one cent of its exact share


def _members(*specs):
    return [
        MemberFigures(
            id=i,
            category=MemberCategory(cat),
            founder=True,
            consumption_in_shared_kwh=kwh,
            active_days=30,
            millesimi=mill,
        )
        for i, cat, kwh, mill in specs
    ]


def test_premium_shares_producers_community_consumers():
    # premium 10.00 € = 1000 cents → producers 10 % = 100, community 15 % = 150, consumers 75 % = 750
    # consumers by consumption 30:10 → 562.5 / 187.5 → floors 562 + 187, leftover cent to the first (tie .5)
    plant = PlantFigures("p", owner="x", premium_cents=1000, sale_cents=500, valorisation_cents=40)
    rules = Rules(0.10, 0.15, 0.75, ConsumersBy.CONSUMPTION, enterprise_cap=False)
    a = allocate(
        [plant], _members(("x", "private", 30.0, 0), ("y", "private", 10.0, 0)), rules, period_days=30
    )
    assert a.premium == {"x": 100 + 563, "y": 187, COMMUNITY: 150}
    assert a.sale == {"x": 500, "y": 0, COMMUNITY: 0}  # sale to the producer
    assert a.valorisation == {"x": 30, "y": 10, COMMUNITY: 0}  # 40 cents by consumption 30:10


def test_uniform_and_millesimi_keys():
    plant = PlantFigures("p", owner=COMMUNITY, premium_cents=900, sale_cents=0, valorisation_cents=0)
    members = _members(("x", "private", 50.0, 100), ("y", "private", 1.0, 200), ("z", "private", 0.0, 600))
    uniform = allocate([plant], members, Rules(0, 0, 1, ConsumersBy.UNIFORM), period_days=30)
    assert [uniform.premium[k] for k in "xyz"] == [300, 300, 300]  # 900 / 3
    mill = allocate([plant], members, Rules(0, 0, 1, ConsumersBy.MILLESIMI), period_days=30)
    assert [mill.premium[k] for k in "xyz"] == [100, 200, 600]  # 900 × 100/900, 200/900, 600/900


def test_enterprise_cap_hand_case():
    # one plant: injected 100 kWh, incentivised shared 80 kWh, premium 8.00 € (800 cents)
    # cap 55 % of 100 = 55 kWh; premium on the 25 kWh above it: R = 800 × 25/80 = 250 cents
    # enterprises may receive at most 800 − 250 = 550 cents in total
    # consumers 100 % by consumption: enterprise 70 kWh, private 10 kWh → 700 / 100 before the cap
    # after: enterprise 550; the 150 moved go to the private member → 250
    plant = PlantFigures(
        "p",
        owner=COMMUNITY,
        premium_cents=800,
        sale_cents=0,
        valorisation_cents=0,
        incentivised_kwh=80.0,
        injected_eligible_kwh=100.0,
        cap_share=0.55,
    )
    members = _members(("e", "enterprise", 70.0, 0), ("q", "private", 10.0, 0))
    a = allocate([plant], members, Rules(0, 0, 1, ConsumersBy.CONSUMPTION), period_days=30)
    assert a.premium["e"] == 550 and a.premium["q"] == 250
    assert a.enterprise_cap == {
        "restricted_cents": 250,
        "allowed_cents": 550,
        "enterprise_before_cents": 700,
        "enterprise_after_cents": 550,
        "moved_cents": 150,
    }
    # without the rule the enterprise keeps 700
    off = allocate(
        [plant], members, Rules(0, 0, 1, ConsumersBy.CONSUMPTION, enterprise_cap=False), period_days=30
    )
    assert off.premium["e"] == 700


def test_enterprise_cap_does_not_bind_below_the_allowance():
    # same plant, enterprise 40 kWh / private 40 kWh → 400 / 400; 400 ≤ 550 allowed → unchanged
    plant = PlantFigures(
        "p",
        owner=COMMUNITY,
        premium_cents=800,
        sale_cents=0,
        valorisation_cents=0,
        incentivised_kwh=80.0,
        injected_eligible_kwh=100.0,
        cap_share=0.55,
    )
    a = allocate(
        [plant],
        _members(("e", "enterprise", 40.0, 0), ("q", "private", 40.0, 0)),
        Rules(0, 0, 1, ConsumersBy.CONSUMPTION),
        period_days=30,
    )
    assert a.premium["e"] == 400 and a.enterprise_cap["moved_cents"] == 0


def test_enterprise_cap_through_the_engine_with_a_granted_plant():
    # 700 kW plant (class > 600 kW: base 60, CAP 100) with a 40 % grant → F = 0.5, cap share 45 %
    # one hour, south, Pz 100: TIP = 0.5 × min(100, 60 + 80) = 50 €/MWh
    # injected 100, withdrawn: enterprise 70 + private 10 = 80 → shared 80 → premium 80 × 50/1000 = 4.00 €
    # R = 400 × (80 − 45)/80 = 175 cents → enterprises ≤ 225; by consumption 350 / 50 → enterprise 225,
    # private 175
    members = [
        {"id": "e", "category": "enterprise", "founder": True, "pods": [{"pod": "CE"}]},
        {"id": "q", "category": "private", "founder": True, "pods": [{"pod": "CQ"}]},
    ]
    plants = [{"id": "p", "pod": "P1", "owner": "community", "power_kw": 700, "grant_fraction": 0.4}]
    c = community(members=members, plants=plants)
    m = hourly_frame(
        DAY,
        {"CE": ({12: 70.0}, "withdrawn"), "CQ": ({12: 10.0}, "withdrawn"), "P1": ({12: 100.0}, "injected")},
    )
    d = settle(c, m, flat_prices(DAY, 100.0)).to_dict()
    assert d["totals"]["premium_eur"] == 4.00
    by_id = {x["id"]: x for x in d["members"]}
    assert by_id["e"]["premium_eur"] == 2.25 and by_id["q"]["premium_eur"] == 1.75
    assert d["enterprise_cap"]["moved_eur"] == 1.25


def test_later_members_fee_penalty_and_minimum():
    # annual fee 36.50 € × 30/365 days = 3.00 €; exit penalty 5.00 € when leaving inside the period
    # minimum 365 kWh/year × 30/365 = 30 kWh in shared hours: "late" has 20 → its consumers' part goes back
    plant = PlantFigures("p", owner=COMMUNITY, premium_cents=1000, sale_cents=0, valorisation_cents=100)
    rules = Rules(
        0,
        0,
        1,
        ConsumersBy.CONSUMPTION,
        annual_fee_eur=36.5,
        exit_penalty_eur=5.0,
        min_shared_consumption_kwh_per_year=365.0,
    )
    members = [
        MemberFigures("f", founder=True, consumption_in_shared_kwh=60.0, active_days=30),
        MemberFigures("late", founder=False, consumption_in_shared_kwh=20.0, active_days=30),
        MemberFigures(
            "gone", founder=False, consumption_in_shared_kwh=40.0, active_days=30, left_in_period=True
        ),
    ]
    a = allocate([plant], members, rules, period_days=30)
    assert a.below_minimum == ["late"]
    # premium 1000 by 60 : 0 : 40 → 600 / 0 / 400; valorisation 100 by 60:20:40 → 50 / 16.67 / 33.33 → 50, 17,
    # 33
    assert [a.premium[k] for k in ("f", "late", "gone")] == [600, 0, 400]
    assert [a.valorisation[k] for k in ("f", "late", "gone")] == [50, 17, 33]
    assert a.fees_due == {"late": 300, "gone": 800}
    # "late" receives only 17 cents and "gone" 400 + 33 = 433, so only those are collected (nobody ends
    # negative)
    assert a.fees["late"] == 17 and a.fees["gone"] == 433 and a.fees[COMMUNITY] == -450
    assert all(a.total(p) >= 0 for p in a.payees)
    assert sum(a.total(p) for p in a.payees) == 1000 + 100


def test_external_producer_receives_its_sale_and_producers_share():
    plant = PlantFigures("p", owner="ESCo", premium_cents=1000, sale_cents=700, valorisation_cents=0)
    a = allocate([plant], _members(("x", "private", 1.0, 0)), Rules(0.2, 0.3, 0.5), period_days=30)
    assert a.payees == ["x", COMMUNITY, "ESCo"]
    assert a.premium == {"x": 500, COMMUNITY: 300, "ESCo": 200} and a.sale["ESCo"] == 700


@settings(max_examples=40, deadline=None)
@given(
    premium=st.lists(st.integers(0, 10**7), min_size=1, max_size=4),
    consumption=st.lists(st.floats(0, 1e5, allow_nan=False), min_size=1, max_size=8),
    enterprise=st.lists(st.booleans(), min_size=8, max_size=8),
    founders=st.lists(st.booleans(), min_size=8, max_size=8),
    by=st.sampled_from(list(ConsumersBy)),
    share=st.floats(0.3, 1.0),
)
def test_allocations_sum_to_totals_and_are_never_negative(
    premium, consumption, enterprise, founders, by, share
):
    plants = [
        PlantFigures(
            f"p{k}",
            owner=("m0" if k % 2 else COMMUNITY),
            premium_cents=c,
            sale_cents=c // 3,
            valorisation_cents=c // 10,
            incentivised_kwh=100.0,
            injected_eligible_kwh=100.0 * share,
        )
        for k, c in enumerate(premium)
    ]
    members = [
        MemberFigures(
            f"m{i}",
            category=MemberCategory.ENTERPRISE if enterprise[i] else MemberCategory.PRIVATE,
            founder=founders[i],
            consumption_in_shared_kwh=kwh,
            active_days=30,
            millesimi=kwh,
        )
        for i, kwh in enumerate(consumption)
    ]
    rules = Rules(0.1, 0.15, 0.75, by, annual_fee_eur=12.0, min_shared_consumption_kwh_per_year=50.0)
    a = allocate(plants, members, rules, period_days=30)
    assert sum(a.premium.values()) == sum(premium)
    assert sum(a.sale.values()) == sum(p.sale_cents for p in plants)
    assert sum(a.valorisation.values()) == sum(p.valorisation_cents for p in plants)
    assert sum(a.fees.values()) == 0
    assert all(
        a.premium[p] >= 0 and a.sale[p] >= 0 and a.valorisation[p] >= 0 and a.total(p) >= 0 for p in a.payees
    )
    ent = [m.id for m in members if m.category is MemberCategory.ENTERPRISE]
    if a.enterprise_cap:
        assert sum(a.premium[e] for e in ent) <= a.enterprise_cap["allowed_cents"]


def test_member_who_left_before_the_period_gets_nothing():
    members = [
        {"id": "a", "founder": True, "pods": [{"pod": "C1"}]},
        {"id": "b", "founder": False, "left": "2024-05-01", "pods": [{"pod": "C2"}]},
    ]
    c = community(
        members=members,
        rules={
            "premium": {"producers": 0, "community": 0, "consumers": 1},
            "later_members": {"annual_fee_eur": 100, "exit_penalty_eur": 50},
        },
    )
    m = hourly_frame(
        DAY, {"C1": ({12: 5.0}, "withdrawn"), "C2": ({12: 5.0}, "withdrawn"), "P1": ({12: 20.0}, "injected")}
    )
    d = settle(c, m, flat_prices(DAY, 100.0), period=(DAY, DAY)).to_dict()
    b = [x for x in d["members"] if x["id"] == "b"][0]
    assert b["withdrawn_kwh"] == 0.0 and b["total_eur"] == 0.0 and b["fees_eur"] == 0.0
    assert d["totals"]["shared_kwh"] == 5.0
    assert dt.date.fromisoformat(d["period"]["from"]) == DAY
