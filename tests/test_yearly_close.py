"""The yearly close (conguaglio): the threshold rule and the later members' minimum shared consumption decided
on the year, the monthly figures provisional; the exit penalty only for an early exit (``min_years``).
The arithmetic is in the comments."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.domain.community import ConsumersBy, MemberCategory, Rules
from condivisa.engines.allocation import COMMUNITY, MemberFigures, PlantFigures, allocate
from condivisa.engines.settlement import settle
from condivisa.engines.yearly_close import close_year
from settlement_helpers import community, flat_prices, hourly_frame

RULES = Rules(0, 0, 1, ConsumersBy.CONSUMPTION, min_shared_consumption_kwh_per_year=100.0)


def _month(first, last, premium, inc, inj, kwh):
    """A month settled on its own (the figures close_year reads), from allocation-level figures."""
    plants = [PlantFigures("p", COMMUNITY, premium, 0, 0, incentivised_kwh=inc, injected_eligible_kwh=inj)]
    days = (last - first).days + 1
    cats = {"e": MemberCategory.SME, "q": MemberCategory.PRIVATE, "late": MemberCategory.PRIVATE}
    members = [
        MemberFigures(
            mid, category=cats[mid], founder=mid != "late", consumption_in_shared_kwh=k, active_days=days
        )
        for mid, k in kwh.items()
    ]
    a = allocate(plants, members, RULES, period_days=days)
    c = SimpleNamespace(rules=RULES, plants=[object()], members=[object()] * len(members))
    return SimpleNamespace(
        community=c,
        first_day=first,
        last_day=last,
        months=[f"{first:%Y-%m}"],
        allocation=a,
        plant_figures=plants,
        member_figures=members,
    )


JAN = (dt.date(2024, 1, 1), dt.date(2024, 1, 31))
FEB = (dt.date(2024, 2, 1), dt.date(2024, 2, 29))


def _two_months():
    # January (31 days): premium 800 cents, shared 80 of 100 kWh injected → 80 % > 55 %:
    #   R = 800 × (0.80 − 0.55) / 0.80 = 250 → the sme may receive 550
    #   consumption: sme e 70, private q 10, later member "late" 5 kWh < 100 × 31/365 = 8.49 → below, no share
    #   by consumption 700 / 100 → e capped at 550, 150 moved to q → e 550, q 250, late 0
    # February (29 days): premium 200, shared 20 of 300 kWh (6.7 %) → no surplus
    #   e 10, q 10, late 10 kWh ≥ 100 × 29/365 = 7.95 → 200 / 3 = 66.67 each: floors 66 + 66 + 66,
    #   the 2 leftover cents to the first listed (equal fractions) → e 67, q 67, late 66
    # provisional (sum of the months): e 617, q 317, late 66
    # the year: premium 1000, shared 100 of 400 kWh = 25 % ≤ 55 % → no surplus at all;
    #   late: 15 kWh in 60 days < 100 × 60/365 = 16.44 → below the yearly minimum: no share
    #   e 80, q 20 kWh → 800 / 200
    # closed: e 800, q 200, late 0 → balance e +183, q −117, late −66 (adds up to 0)
    jan = _month(*JAN, 800, 80.0, 100.0, {"e": 70.0, "q": 10.0, "late": 5.0})
    feb = _month(*FEB, 200, 20.0, 300.0, {"e": 10.0, "q": 10.0, "late": 10.0})
    return jan, feb


def test_the_hand_worked_close():
    jan, feb = _two_months()
    assert jan.allocation.premium == {"e": 550, "q": 250, "late": 0, COMMUNITY: 0}
    assert feb.allocation.premium == {"e": 67, "q": 67, "late": 66, COMMUNITY: 0}
    y = close_year([feb, jan])  # any order
    by = {p.id: p for p in y.payees}
    assert {k: by[k].provisional["premium"] for k in ("e", "q", "late")} == {"e": 617, "q": 317, "late": 66}
    assert {k: by[k].closed["premium"] for k in ("e", "q", "late")} == {"e": 800, "q": 200, "late": 0}
    assert {k: by[k].balance["total"] for k in ("e", "q", "late")} == {"e": 183, "q": -117, "late": -66}
    assert sum(p.balance["total"] for p in y.payees) == 0
    assert y.moved_provisional_cents == 150 and y.closed.enterprise_cap["moved_cents"] == 0
    assert y.below_minimum_provisional == {"2024-01": ["late"]} and y.closed.below_minimum == ["late"]
    assert y.partial and y.months == ["2024-01", "2024-02"]
    d = y.to_dict()
    assert d["partial_year"] is True and d["threshold"]["provisional_moved_eur"] == 1.5
    assert d["payees"][0]["balance"]["total_eur"] == 1.83


def test_months_of_two_years_are_refused():
    jan, _ = _two_months()
    dec = _month(
        dt.date(2023, 12, 1), dt.date(2023, 12, 31), 100, 1.0, 10.0, {"e": 1.0, "q": 1.0, "late": 1.0}
    )
    with pytest.raises(ValueError, match="span the years"):
        close_year([dec, jan])
    with pytest.raises(ValueError, match="no months"):
        close_year([])


def _engine_months():
    # a sme, a private member and a 10 kW plant over June and July 2024, flat hours
    members = [
        {"id": "s", "category": "sme", "founder": True, "pods": [{"pod": "C1"}]},
        {"id": "q", "founder": True, "pods": [{"pod": "C2"}]},
    ]
    c = community(members=members)
    june, july = dt.date(2024, 6, 1), dt.date(2024, 7, 1)
    # June: high sharing (8 of 10 kWh at noon), July: low sharing (1 of 10 kWh)
    mj = hourly_frame(
        june,
        {"C1": ({12: 7.0}, "withdrawn"), "C2": ({12: 1.0}, "withdrawn"), "P1": ({12: 10.0}, "injected")},
        30,
    )
    ml = hourly_frame(
        july,
        {"C1": ({12: 0.5}, "withdrawn"), "C2": ({12: 0.5}, "withdrawn"), "P1": ({12: 10.0}, "injected")},
        31,
    )
    months = [
        settle(c, mj, flat_prices(june, 100.0, 30)),
        settle(c, ml, flat_prices(july, 100.0, 31)),
    ]
    return c, months, mj, ml


def test_through_the_engine_the_close_is_the_allocation_of_the_whole_period():
    import pandas as pd

    c, months, mj, ml = _engine_months()
    # June alone: ratio 80 % > 55 % → provisional surplus; June + July: 8 of 10 kWh at noon over 30 days
    # and 1 of 10 over 31 days → (240 + 31) / (300 + 310) = 44.4 % ≤ 55 % → no surplus at the close
    assert months[0].allocation.enterprise_cap["moved_cents"] > 0
    y = close_year(months)
    assert y.closed.enterprise_cap["moved_cents"] == 0
    start = dt.date(2024, 6, 1)
    whole = settle(c, pd.concat([mj, ml], ignore_index=True), flat_prices(start, 100.0, 61))
    for p in y.payees:
        assert p.closed["total"] == whole.allocation.total(p.id), p.id
    s = next(p for p in y.payees if p.id == "s")
    assert s.balance["premium"] > 0  # the sme gets back what June's provisional rule took


def test_the_exit_penalty_only_for_an_early_exit():
    # annual fee 0, exit penalty 50 €; min_years 2: joined 2024-01-01, left 2024-06-15 → early: 50 €
    # left 2026-06-15 (2.45 years) → not early: no penalty
    base = {"id": "late", "founder": False, "joined": "2024-01-01", "pods": [{"pod": "C2"}]}
    rules = {
        "premium": {"producers": 0, "community": 0, "consumers": 1},
        "later_members": {"exit_penalty_eur": 50, "min_years": 2},
    }
    for left, owed in (("2024-06-15", 5000), ("2026-06-15", None)):
        members = [{"id": "a", "founder": True, "pods": [{"pod": "C1"}]}, {**base, "left": left}]
        c = community(members=members, rules=rules)
        first = dt.date.fromisoformat(left).replace(day=1)
        m = hourly_frame(
            first,
            {
                "C1": ({12: 8.0}, "withdrawn"),
                "C2": ({12: 100.0}, "withdrawn"),
                "P1": ({12: 200.0}, "injected"),
            },
            30,
        )
        r = settle(c, m, flat_prices(first, 100.0, 30))
        assert r.allocation.fees_due.get("late") == owed, left
    # without min_years every exit is early (as before)
    members = [{"id": "a", "founder": True, "pods": [{"pod": "C1"}]}, {**base, "left": "2026-06-15"}]
    c = community(members=members, rules={**rules, "later_members": {"exit_penalty_eur": 50}})
    first = dt.date(2026, 6, 1)
    m = hourly_frame(
        first,
        {"C1": ({12: 8.0}, "withdrawn"), "C2": ({12: 100.0}, "withdrawn"), "P1": ({12: 200.0}, "injected")},
        30,
    )
    assert settle(c, m, flat_prices(first, 100.0, 30)).allocation.fees_due["late"] == 5000


def test_settle_year_prints_provisional_and_closed_figures(tmp_path):
    out = tmp_path / "r.json"
    args = [
        "settle",
        "--config",
        "examples/community.yaml",
        "--measurements",
        "examples/measurements-2024-06.csv",
    ]
    args += ["--prices", "examples/prices-2024-06.csv", "--year", "2024"]
    r = CliRunner().invoke(app, [*args, "--format", "table", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "Yearly close 2024 (partial year: 2024-06-01 to 2024-06-30" in r.output
    yc = json.loads(out.read_text())["yearly_close"]
    assert yc["partial_year"] and yc["months"] == ["2024-06"]
    # one month: the close equals the month (nothing else exists yet)
    assert all(p["balance"]["total_eur"] == 0.0 for p in yc["payees"])
    assert yc["gse_fees"]["closed_eur"] == 21.31
    bad = CliRunner().invoke(app, [*args[:-2], "--year", "2023"])
    assert bad.exit_code == 2 and "no measurements in 2023" in bad.output


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 5000), min_size=3, max_size=3),
    st.lists(st.floats(0, 100), min_size=9, max_size=9),
    st.lists(st.floats(0, 200), min_size=3, max_size=3),
)
def test_the_balances_add_up_and_the_close_conserves_money(premium, kwh, extra):
    months = []
    for k, (first, last) in enumerate([JAN, FEB, (dt.date(2024, 3, 1), dt.date(2024, 3, 31))]):
        inc = sum(kwh[3 * k : 3 * k + 3])
        months.append(
            _month(
                first,
                last,
                premium[k],
                inc,
                inc + extra[k],
                dict(zip(("e", "q", "late"), kwh[3 * k : 3 * k + 3], strict=True)),
            )
        )
    y = close_year(months)
    assert sum(p.closed["premium"] for p in y.payees) == sum(premium)  # to the cent
    for key in ("premium", "total"):
        assert sum(p.balance[key] for p in y.payees) == 0
