"""The premium above the threshold ("tariffa premio eccedentaria", GSE Regole operative CACER 2024): computed
on two sets of plants (premium only 55 %, premium + PNRR grant 45 %), barred to every enterprise (``sme``
included), to the other consumers or to a ``social_fund`` payee. The arithmetic is in the comments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.domain.community import ConsumersBy, MemberCategory, Rules, ThresholdSurplusTo
from condivisa.domain.config import ConfigError
from condivisa.engines.allocation import (
    COMMUNITY,
    SOCIAL_FUND,
    MemberFigures,
    PlantFigures,
    allocate,
    restricted_premium_cents,
)
from condivisa.engines.gse_threshold import surplus_cents, threshold_sets
from condivisa.engines.settlement import settle
from condivisa.outputs.result_text import result_tables, to_csv
from settlement_helpers import DAY, community, flat_prices, hourly_frame

CONSUMERS_ONLY = Rules(0, 0, 1, ConsumersBy.CONSUMPTION)


def _plant(pid, premium, inc, inj, share=0.55, owner=COMMUNITY):
    return PlantFigures(
        pid, owner, premium, 0, 0, incentivised_kwh=inc, injected_eligible_kwh=inj, cap_share=share
    )


def _member(mid, category, kwh):
    return MemberFigures(
        mid, category=MemberCategory(category), consumption_in_shared_kwh=kwh, active_days=30
    )


def test_the_surplus_is_computed_on_the_set_not_per_plant():
    # two premium-only plants (threshold 55 %), 500 cents each:
    #   a1: shared 90 of 100 kWh injected (90 %), a2: shared 10 of 100 (10 %)
    # per plant (the old rule): 500 × (0.90 − 0.55) / 0.90 = 194.44 cents from a1, 0 from a2 → R = 195
    # per set (the GSE): shared 100 of 200 kWh = 50 % ≤ 55 % → no surplus, R = 0
    plants = [_plant("a1", 500, 90.0, 100.0), _plant("a2", 500, 10.0, 100.0)]
    sets = {s.name: s for s in threshold_sets(plants)}
    assert sets["premium_only"].ratio == 0.5 and sets["premium_only"].surplus_cents_exact == 0.0
    assert sets["with_grant"].premium_cents == 0
    assert restricted_premium_cents(plants) == 0


def test_two_sets_each_against_its_threshold():
    # premium only: 1000 cents, shared 80 of 100 kWh → 80 % > 55 %: 1000 × (0.80 − 0.55) / 0.80 = 312.5
    # with a grant (45 %): 600 cents, shared 50 of 200 kWh → 25 % ≤ 45 %: 0
    # a second granted plant: 400 cents, shared 90 of 100 kWh; the granted set is then 140 of 300 kWh =
    # 46.67 % > 45 %: 1000 × (0.4667 − 0.45) / 0.4667 = 1000 × (140 − 135) / 140 = 35.71 cents
    # R = 312.5 + 35.71 = 348.21 → rounded up 349 cents
    only = _plant("a", 1000, 80.0, 100.0)
    grant = _plant("g", 600, 50.0, 200.0, share=0.45)
    assert restricted_premium_cents([only, grant]) == 313  # 312.5 rounded up
    grant2 = _plant("h", 400, 90.0, 100.0, share=0.45)
    sets = threshold_sets([only, grant, grant2])
    assert [s.name for s in sets] == ["premium_only", "with_grant"]
    assert sets[1].surplus_cents_exact == pytest.approx(1000 * 5 / 140)
    assert surplus_cents(sets) == 349


def test_an_sme_is_an_enterprise_and_no_longer_receives_the_moved_premium():
    # plant: premium 800 cents, shared 80 of 100 kWh → R = 800 × (0.80 − 0.55) / 0.80 = 250 cents
    # enterprises may receive 800 − 250 = 550; consumers 100 % by consumption: sme 70 kWh, private 10 kWh
    # → 700 / 100 before the cap; after: sme 550, the 150 moved go to the private member → 250
    # (before the fix the sme kept 700: only `enterprise` was capped)
    plant = _plant("p", 800, 80.0, 100.0)
    a = allocate(
        [plant], [_member("s", "sme", 70.0), _member("q", "private", 10.0)], CONSUMERS_ONLY, period_days=30
    )
    assert a.premium == {"s": 550, "q": 250, COMMUNITY: 0}
    assert a.enterprise_cap["moved_cents"] == 150


def test_sme_and_enterprise_share_the_allowance_pro_rata():
    # same plant (R = 250, allowance 550); sme 40 kWh, enterprise 40 kWh, private 20 kWh → 320 / 320 / 160
    # enterprises hold 640 > 550: scaled to 550 split 320:320 → 275 / 275; the 90 moved go to the private → 250
    plant = _plant("p", 800, 80.0, 100.0)
    members = [_member("s", "sme", 40.0), _member("e", "enterprise", 40.0), _member("q", "private", 20.0)]
    a = allocate([plant], members, CONSUMERS_ONLY, period_days=30)
    assert (a.premium["s"], a.premium["e"], a.premium["q"]) == (275, 275, 250)


def test_the_surplus_can_go_to_a_social_fund():
    # as above (R = 250, sme 700 → 550), but rules.threshold_surplus_to: social_fund: the 150 moved go to
    # the social fund, the private member keeps its own 100
    rules = Rules(0, 0, 1, ConsumersBy.CONSUMPTION, threshold_surplus_to=ThresholdSurplusTo.SOCIAL_FUND)
    plant = _plant("p", 800, 80.0, 100.0)
    a = allocate([plant], [_member("s", "sme", 70.0), _member("q", "private", 10.0)], rules, period_days=30)
    assert a.payees == ["s", "q", COMMUNITY, SOCIAL_FUND]
    assert a.premium == {"s": 550, "q": 100, COMMUNITY: 0, SOCIAL_FUND: 150}
    assert sum(a.total(p) for p in a.payees) == 800


def _sme_case(**rules):
    # one hour, south PV ≤ 200 kW, Pz 100 → TIP 120 €/MWh; injected 10 kWh, withdrawn sme 7 + private 1 = 8
    # → shared 8 kWh, ratio 80 %; premium 8 × 120 / 1000 = 0.96 € = 96 cents
    # R = 96 × (0.80 − 0.55) / 0.80 = 30 cents → sme ≤ 66; by consumption 84 / 12 → sme 66, 18 moved
    members = [
        {"id": "s", "category": "sme", "founder": True, "pods": [{"pod": "C1"}]},
        {"id": "q", "founder": True, "pods": [{"pod": "C2"}]},
    ]
    c = community(
        members=members, rules={"premium": {"producers": 0, "community": 0, "consumers": 1}, **rules}
    )
    m = hourly_frame(
        DAY, {"C1": ({12: 7.0}, "withdrawn"), "C2": ({12: 1.0}, "withdrawn"), "P1": ({12: 10.0}, "injected")}
    )
    return settle(c, m, flat_prices(DAY, 100.0))


def test_through_the_engine_a_month_is_provisional_and_the_fund_is_a_line():
    r = _sme_case(threshold_surplus_to="social_fund")
    d = r.to_dict()
    assert d["totals"]["premium_eur"] == 0.96
    assert d["enterprise_cap"]["moved_eur"] == 0.18
    assert d["members"][0]["premium_eur"] == 0.66 and d["members"][1]["premium_eur"] == 0.12
    assert d["social_fund"]["premium_eur"] == 0.18 and d["social_fund"]["total_eur"] == 0.18
    assert d["threshold"]["provisional"] is True and d["threshold"]["surplus_to"] == "social_fund"
    only = d["threshold"]["sets"][0]
    assert only["set"] == "premium_only" and only["ratio"] == 0.8 and only["surplus_eur"] == 0.3
    assert "social_fund" not in [e["id"] for e in d["external_producers"]]
    assert "social_fund,social fund" in to_csv(d)
    from rich.console import Console

    console = Console(width=160, record=True)
    console.print(result_tables(d))
    text = console.export_text()
    assert "social fund" in text and "PROVISIONAL" in text


def test_through_the_engine_by_default_the_private_member_receives_it():
    d = _sme_case().to_dict()
    assert d["members"][0]["premium_eur"] == 0.66 and d["members"][1]["premium_eur"] == 0.30  # 12 + 18
    assert "social_fund" not in d


def test_the_rule_is_a_checked_key():
    with pytest.raises(ConfigError, match="threshold_surplus_to.*social_fund"):
        community(rules={"threshold_surplus_to": "social"})
    with pytest.raises(ConfigError, match="did you mean threshold_surplus_to"):
        community(rules={"threshold_surplus_too": "consumers"})


@settings(max_examples=60, deadline=None)
@given(
    premium=st.lists(st.integers(0, 50_000), min_size=3, max_size=3),
    shared=st.lists(st.floats(0, 1000), min_size=3, max_size=3),
    extra=st.lists(st.floats(0, 1000), min_size=3, max_size=3),
    grant=st.lists(st.booleans(), min_size=3, max_size=3),
    cats=st.lists(st.sampled_from(["private", "sme", "enterprise", "public_body"]), min_size=5, max_size=5),
    kwh=st.lists(st.floats(0, 500), min_size=5, max_size=5),
    fund=st.booleans(),
)
def test_money_is_conserved_and_enterprises_never_exceed_the_allowance(
    premium, shared, extra, grant, cats, kwh, fund
):
    plants = [
        _plant(
            f"p{k}", premium[k], shared[k], shared[k] + extra[k], 0.45 if grant[k] else 0.55, owner=f"m{k}"
        )
        for k in range(3)
    ]
    members = [_member(f"m{i}", cats[i], kwh[i]) for i in range(5)]
    to = ThresholdSurplusTo.SOCIAL_FUND if fund else ThresholdSurplusTo.CONSUMERS
    rules = Rules(0.1, 0.15, 0.75, ConsumersBy.CONSUMPTION, threshold_surplus_to=to)
    a = allocate(plants, members, rules, period_days=30)
    free = allocate(
        plants, members, Rules(0.1, 0.15, 0.75, ConsumersBy.CONSUMPTION, enterprise_cap=False), period_days=30
    )
    total = sum(premium)
    assert sum(a.premium.values()) == total  # to the cent
    assert all(v >= 0 for v in a.premium.values())
    ent = [m.id for m in members if m.category.is_enterprise]
    r = min(restricted_premium_cents(plants), total)
    assert sum(a.premium[e] for e in ent) <= max(total - r, 0)
    for m in members:  # a non-enterprise never loses to the rule
        if not m.category.is_enterprise:
            assert a.premium[m.id] >= free.premium[m.id]
