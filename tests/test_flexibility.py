"""Demand-response events in the settlement (issue #19, item 3): the baseline, the measured response, the
extra shared energy and premium, and the flexibility bonus, hand-worked."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.domain.config import ConfigError
from condivisa.engines.allocation import MemberFigures, PlantFigures, allocate
from condivisa.engines.baseline import BaselineError, BaselineMethod, measure_response, similar_days
from condivisa.engines.flexibility import MeasuredEvent, event_figures
from condivisa.engines.settlement import settle
from condivisa.kernel.timegrid import ROME, quarter_hours
from settlement_helpers import community, hourly_frame

# Wednesday 9 December 2026; Tuesday 8 December is a national holiday (Immacolata)
EVENT_DAY = dt.date(2026, 12, 9)


def _at(day: dt.date, hour: int) -> pd.Timestamp:
    return pd.Timestamp(dt.datetime(day.year, day.month, day.day, hour, tzinfo=ROME))


def _flat(first: dt.date, last: dt.date, kwh: float = 0.25) -> pd.Series:
    idx = quarter_hours(first, last + dt.timedelta(days=1))
    return pd.Series(kwh, index=idx)


def _window(series: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.Series:
    return (series.index >= lo) & (series.index < hi)


# ------------------------------------------------------------------------------------------ baseline
def test_similar_days_are_the_ten_latest_of_the_same_type():
    days = [EVENT_DAY - dt.timedelta(days=k) for k in range(1, 40)]
    got = similar_days(EVENT_DAY, days, BaselineMethod())
    assert len(got) == 10
    assert dt.date(2026, 12, 8) not in got  # a holiday, not a working day
    assert all(d.weekday() < 5 for d in got)
    assert got[0] == dt.date(2026, 12, 7) and got == sorted(got, reverse=True)
    # a day of another event is never a similar day
    assert dt.date(2026, 12, 7) not in similar_days(EVENT_DAY, days, BaselineMethod(), [dt.date(2026, 12, 7)])


def test_a_member_who_doubles_consumption_in_the_window_shifted_three_kwh():
    series = _flat(dt.date(2026, 11, 1), EVENT_DAY)
    lo, hi = _at(EVENT_DAY, 11), _at(EVENT_DAY, 14)
    series[_window(series, lo, hi)] = 0.5  # 12 quarter hours, +0.25 kWh each
    r = measure_response(series, lo, hi)
    assert r.adjustment == 1.0
    assert len(r.similar_days) == 10
    np.testing.assert_allclose(r.baseline_kwh, 0.25)
    assert r.shifted_kwh == pytest.approx(3.0)


def test_the_same_day_adjustment_is_capped_at_twenty_percent():
    series = _flat(dt.date(2026, 11, 1), EVENT_DAY)
    # adjustment hours: 08:00-10:00 (two hours ending one hour before 11:00)
    series[_window(series, _at(EVENT_DAY, 8), _at(EVENT_DAY, 10))] = 1.0  # 4× the similar days
    lo, hi = _at(EVENT_DAY, 11), _at(EVENT_DAY, 14)
    r = measure_response(series, lo, hi)
    assert r.adjustment == pytest.approx(1.2)
    np.testing.assert_allclose(r.baseline_kwh, 0.3)
    assert r.shifted_kwh == 0.0  # consumed 0.25 against a baseline of 0.30: nothing shifted
    assert r.response_kwh.sum() == pytest.approx(-0.6)


def test_too_few_similar_days_is_an_error_with_the_reason():
    series = _flat(dt.date(2026, 12, 5), EVENT_DAY)  # Sat 5, Sun 6, Mon 7, Tue 8 (holiday)
    with pytest.raises(BaselineError, match="only 1 similar day"):
        measure_response(series, _at(EVENT_DAY, 11), _at(EVENT_DAY, 14))


def test_a_window_over_the_clock_change_is_refused_and_the_day_after_works():
    series = _flat(dt.date(2026, 2, 20), dt.date(2026, 3, 30))
    with pytest.raises(BaselineError, match="change of the clock"):
        measure_response(series, _at(dt.date(2026, 3, 29), 1), _at(dt.date(2026, 3, 29), 4))
    # Sunday 29 March has 23 hours; a noon window on it keeps its clock times (Sundays before it)
    r = measure_response(series, _at(dt.date(2026, 3, 29), 11), _at(dt.date(2026, 3, 29), 14))
    assert all(d.weekday() == 6 for d in r.similar_days)
    assert len(r.actual_kwh) == 12 and r.shifted_kwh == pytest.approx(0.0)


# ------------------------------------------------------------------------------- extra shared energy
def _event(member_kwh: dict[str, list[float]], starts: pd.DatetimeIndex) -> MeasuredEvent:
    from condivisa.engines.baseline import Response

    responses = {
        m: Response(starts, np.asarray(v) + 1.0, np.ones(len(v)), (), 1.0) for m, v in member_kwh.items()
    }
    return MeasuredEvent("ev", starts[0], starts[-1] + pd.Timedelta(hours=1), responses)


def test_extra_shared_energy_is_what_the_response_added_under_the_production():
    starts = pd.date_range("2026-06-10 11:00", periods=2, freq="h", tz=ROME)
    ns = starts.tz_convert("UTC").as_unit("ns").asi8
    # hour 1: injection 10, withdrawal 8 of which 2 came from the event → without it 6 shared: +2 kWh;
    # hour 2: injection 10, withdrawal 12 (2 from the event) → 10 shared either way: +0
    ev = _event({"a": [2.0, 2.0]}, starts)
    f = event_figures(
        ev, ns, 3_600 * 10**9, np.array([10.0, 10.0]), np.array([8.0, 12.0]), np.array([0.8, 1.0])
    )
    assert f.extra_consumption_kwh == pytest.approx(4.0)
    assert f.extra_shared_kwh == pytest.approx(2.0)
    assert f.extra_premium_eur == pytest.approx(0.2)  # 2 kWh × (0.8 € / 8 kWh)
    assert f.shifted_kwh == {"a": pytest.approx(4.0)}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0, 50), st.floats(-5, 20)), min_size=1, max_size=24))
def test_extra_shared_energy_is_between_zero_and_the_extra_consumption(rows):
    inj, wd, r = (np.array(c) for c in zip(*rows, strict=True))
    wd = wd + np.maximum(r, 0)  # the response is part of the withdrawal
    starts = pd.date_range("2026-06-10 00:00", periods=len(rows), freq="h", tz=ROME)
    ns = starts.tz_convert("UTC").as_unit("ns").asi8
    f = event_figures(_event({"a": list(r)}, starts), ns, 3_600 * 10**9, inj, wd, np.minimum(inj, wd) * 0.1)
    assert -1e-9 <= f.extra_shared_kwh <= f.extra_consumption_kwh + 1e-9
    assert f.extra_premium_eur == pytest.approx(0.1 * f.extra_shared_kwh)


# ----------------------------------------------------------------------------------------- the bonus
def test_the_bonus_comes_off_the_premium_before_its_three_parts():
    from condivisa.domain.community import Rules

    rules = Rules(flexibility_bonus_share=0.5)
    plants = [PlantFigures("p", "community", 1000, 0, 0)]
    members = [MemberFigures(m, consumption_in_shared_kwh=10.0, active_days=30) for m in ("a", "b", "c")]
    a = allocate(plants, members, rules, period_days=30, flexibility_bonus_cents=100, shifted_kwh=[3, 1, 0])
    assert a.flexibility_bonus == {"a": 75, "b": 25}
    # the other 900 cents: producers 10 % (90) to the plant's owner, community 15 % (135) → 225 to the
    # community; consumers 75 % (675) equally by consumption: 225 each
    assert a.premium == {"a": 75 + 225, "b": 25 + 225, "c": 225, "community": 225}
    assert sum(a.premium.values()) == 1000


def test_rules_flexibility_bonus_is_checked():
    c = community(rules={"flexibility_bonus": {"share": 0.3}})
    assert c.rules.flexibility_bonus_share == 0.3
    with pytest.raises(
        ConfigError, match=r"rules\.flexibility_bonus\.shar: unknown key \(did you mean share\?\)"
    ):
        community(rules={"flexibility_bonus": {"shar": 0.3}})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        community(rules={"flexibility_bonus": {"share": 1.5}})


def test_settlement_pays_the_bonus_to_the_cent():
    day = dt.date(2024, 6, 12)
    members = [
        {"id": "a", "founder": True, "pods": [{"pod": "C1"}]},
        {"id": "b", "founder": True, "pods": [{"pod": "C2"}]},
    ]
    rules = {
        "premium": {"producers": 0, "community": 0.2, "consumers": 0.8},
        "flexibility_bonus": {"share": 0.5},
    }
    c = community(members=members, rules=rules)
    # hour 12: the plant injects 10 kWh; a withdraws 4 (3 of them the event's), b 2 → 6 shared; without
    # the event 3 → +3 kWh shared
    frame = hourly_frame(
        day, {"P1": ({12: 10.0}, "injected"), "C1": ({12: 4.0}, "withdrawn"), "C2": ({12: 2.0}, "withdrawn")}
    )
    prices = pd.Series(100.0, index=pd.date_range(_at(day, 0), periods=24, freq="h"))
    base = settle(c, frame, prices)
    starts = pd.DatetimeIndex([_at(day, 12)])
    ev = _event({"a": [3.0]}, starts)
    res = settle(c, frame, prices, events=[ev])
    f = res.flexibility
    assert f.extra_shared_kwh == pytest.approx(3.0)
    premium_cents = int(base.monthly_cents["premium"].sum())
    hour_premium_eur = (
        float(res.allocation.premium["a"] + res.allocation.premium["b"] + res.allocation.premium["community"])
        / 100
    )
    assert hour_premium_eur == pytest.approx(premium_cents / 100)  # the total premium is unchanged
    assert f.extra_premium_cents == round(premium_cents * 3 / 6)  # half the shared energy came from the event
    assert f.bonus_cents == round(0.5 * f.extra_premium_cents)
    assert res.allocation.flexibility_bonus == {"a": f.bonus_cents}
    doc = res.to_dict()["flexibility"]
    assert doc["bonus_by_member_eur"] == {"a": f.bonus_cents / 100}
    assert doc["events"][0]["extra_shared_kwh"] == pytest.approx(3.0)
    # without events: no flexibility section, the same premium in total
    assert "flexibility" not in base.to_dict()
    assert sum(base.allocation.premium.values()) == sum(res.allocation.premium.values())


def test_a_final_run_pays_the_bonus_and_its_fingerprint_covers_the_events():
    """The billing run settles the events as the dashboard does (the same premium per payee, bonus
    included), and its inputs' fingerprint changes when an event is measured."""
    import dataclasses

    from condivisa.billing.runs import preview
    from condivisa.outputs.sources import SettlementInputs

    day = dt.date(2024, 6, 12)
    members = [
        {"id": "a", "founder": True, "pods": [{"pod": "C1"}]},
        {"id": "b", "founder": True, "pods": [{"pod": "C2"}]},
    ]
    c = community(members=members, rules={"flexibility_bonus": {"share": 0.5}})
    frame = hourly_frame(
        day, {"P1": ({12: 10.0}, "injected"), "C1": ({12: 4.0}, "withdrawn"), "C2": ({12: 2.0}, "withdrawn")}
    )
    prices = pd.Series(100.0, index=pd.date_range(_at(day, 0), periods=24, freq="h"))
    ev = _event({"a": [3.0]}, pd.DatetimeIndex([_at(day, 12)]))
    with_event = SettlementInputs(c, frame, prices, False, events=(ev,))
    run = preview(with_event, ("2024-06",), fill="zero")
    book = with_event.settled_months(fill="zero", as_of=dt.date(2024, 7, 1))
    allocation = book.month("2024-06").result.allocation
    assert allocation.flexibility_bonus["a"] > 0
    assert {line.payee_id: line.premium_cents for line in run.lines} == allocation.premium
    plain = preview(dataclasses.replace(with_event, events=()), ("2024-06",), fill="zero")
    assert "events_sha256" in run.inputs and "events_sha256" not in plain.inputs
    assert run.inputs_sha256 != plain.inputs_sha256


def test_an_event_outside_the_settled_period_counts_for_nothing():
    day = dt.date(2024, 6, 12)
    c = community(rules={"flexibility_bonus": {"share": 0.5}})
    frame = hourly_frame(day, {"P1": ({12: 10.0}, "injected"), "C1": ({12: 4.0}, "withdrawn")})
    prices = pd.Series(100.0, index=pd.date_range(_at(day, 0), periods=24, freq="h"))
    later = _event({"a": [3.0]}, pd.DatetimeIndex([_at(day + dt.timedelta(days=1), 12)]))
    res = settle(c, frame, prices, events=[later])
    assert res.flexibility.events == [] and res.allocation.flexibility_bonus == {}
