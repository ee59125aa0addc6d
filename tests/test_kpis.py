"""KPIs: hand-worked cases (arithmetic in the comments) and hypothesis invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.engines.indicators import (
    best_hours_to_shift,
    member_share_pct,
    self_consumption_pct,
    self_sufficiency_pct,
    sharing_pct,
    spare_production_kwh,
    typical_day_kwh,
)
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.kpis import kpis_from_totals


def test_ratios_by_hand():
    # hour 1: inj 30, wd 27 -> shared 27; hour 2: inj 20, wd 27 -> shared 20 (domain notes' examples)
    # Σshared = 47, Σinj = 50, Σwd = 54 -> sharing 94 %, self-sufficiency 47/54 = 87.037 %
    shared, inj, wd = [27, 20], [30, 20], [27, 27]
    assert sharing_pct(shared, inj) == pytest.approx(94.0)
    assert self_sufficiency_pct(shared, wd) == pytest.approx(100 * 47 / 54)
    # no production measurement: self-consumption equals sharing %
    assert self_consumption_pct(shared, inj) == pytest.approx(94.0)
    # produced 60 (10 used behind the meter), injected 50, shared 47 -> (60-50+47)/60 = 95 %
    assert self_consumption_pct(shared, inj, [35, 25]) == pytest.approx(95.0)


def test_member_share_by_hand():
    # member withdraws 4 + 4 kWh; shared 6 and 2 kWh in hours where the community withdrew 6 each:
    # member's part 6·4/6 + 2·4/6 = 4 + 1.333.. = 16/3 kWh -> 100 · (16/3) / 8 = 66.67 %
    assert member_share_pct([4.0, 4 / 3], [4.0, 4.0]) == pytest.approx(200 / 3)
    assert member_share_pct(3.0, 4.0) == 75.0
    assert math.isnan(member_share_pct([0.0], [0.0]))


def test_ratios_undefined_are_nan_not_zero():
    assert math.isnan(sharing_pct([0, 0], [0, 0]))
    assert math.isnan(self_sufficiency_pct([0], [0]))


def test_self_consumption_rejects_injection_above_production():
    with pytest.raises(ValueError, match="exceeds produced"):
        self_consumption_pct([1], [10], [5])


def test_spare_by_hand():
    # inj 30 wd 27 -> 3 spare; inj 20 wd 27 -> 0
    assert spare_production_kwh([30, 20], [27, 27]) == pytest.approx([3, 0])


def _measurements():
    # two quarter hours in hour 10:00 and two in 11:00 (Rome, 2024-06-03) for two consumers and one plant;
    # every other quarter hour of the day is 0 (the settlement wants the whole day)
    from condivisa.kernel.timegrid import quarter_hours

    t = pd.Timestamp("2024-06-03 10:00", tz=ROME)
    q = pd.Timedelta(minutes=15)
    busy = {t: 5.0, t + q: 5.0, t + 4 * q: 1.0, t + 5 * q: 1.0}
    rows = []
    for start in quarter_hours(t.date(), t.date() + pd.Timedelta(days=1)):
        on = start in busy
        rows.append(("C1", start, 2.0 if on else 0.0, 0.0))  # the member's POD, 2 kWh each busy quarter
        rows.append(("C2", start, 1.0 if on else 0.0, 0.0))
        rows.append(("P1", start, 0.0, busy.get(start, 0.0)))
    return pd.DataFrame(rows, columns=["pod", "start", "withdrawn_kwh", "injected_kwh"])


def _book():
    from condivisa.outputs.monthly import SettledMonths
    from settlement_helpers import community

    c = community(
        members=[
            {"id": "a", "founder": True, "pods": [{"pod": "C1"}]},
            {"id": "b", "founder": True, "pods": [{"pod": "C2"}]},
        ]
    )
    prices = pd.Series(100.0, index=pd.date_range("2024-06-03", periods=24, freq="h", tz=ROME))
    return SettledMonths(c, _measurements(), prices)


def test_settled_flows_and_kpis_by_hand():
    book = _book()
    f = book.flows("2024-06", "a").loc[lambda x: x["withdrawn_kwh"] > 0]
    # hour 10: wd = 2·(2+1) = 6, inj = 2·5 = 10 -> shared 6, spare 4, member wd 4, member shared 6·4/6 = 4
    # hour 11: wd = 6, inj = 2·1 = 2 -> shared 2, spare 0, member wd 4, member shared 2·4/6 = 1.333
    assert list(f.index.hour) == [10, 11]
    assert str(f.index.tz) == "Europe/Rome"
    assert f["withdrawn_kwh"].tolist() == pytest.approx([6, 6])
    assert f["injected_kwh"].tolist() == pytest.approx([10, 2])
    assert f["shared_kwh"].tolist() == pytest.approx([6, 2])
    assert f["spare_kwh"].tolist() == pytest.approx([4, 0])
    assert f["member_shared_kwh"].tolist() == pytest.approx([4, 4 / 3])
    doc = book.result("2024-06")
    k = kpis_from_totals(doc["totals"], next(m for m in doc["members"] if m["id"] == "a"))
    # Σshared 8 / Σinj 12 = 66.67 %; 8 / Σwd 12 = 66.67 %; member 5.333 / 8 = 66.67 % (engine rounds kWh to
    # the Wh)
    assert k.sharing_pct == pytest.approx(200 / 3)
    assert k.self_sufficiency_pct == pytest.approx(200 / 3)
    assert k.member_share_pct == pytest.approx(100 * 5.333 / 8)
    assert k.to_dict()["shared_kwh"] == pytest.approx(8)


def test_kpis_of_nothing_are_undefined_not_zero():
    k = kpis_from_totals(
        {"injected_kwh": 0.0, "withdrawn_kwh": 0.0, "shared_kwh": 0.0}, {"withdrawn_kwh": 0.0}
    )
    assert math.isnan(k.sharing_pct) and math.isnan(k.self_sufficiency_pct) and math.isnan(k.member_share_pct)


def test_settled_flows_dst_autumn_day_has_25_hours():
    from condivisa.outputs.monthly import SettledMonths
    from settlement_helpers import community

    idx = pd.date_range("2024-10-26 22:00", "2024-10-27 23:00", freq="15min", tz="UTC", inclusive="left")
    m = pd.DataFrame(
        {
            "pod": ["C1"] * len(idx) + ["P1"] * len(idx),
            "start": list(idx) * 2,
            "withdrawn_kwh": [0.25] * len(idx) + [0.0] * len(idx),
            "injected_kwh": 0.0,
        }
    )
    prices = pd.Series(
        100.0, index=pd.date_range("2024-10-26 22:00", periods=25, freq="h", tz="UTC").tz_convert(ROME)
    )
    f = SettledMonths(community(), m, prices).flows("2024-10")
    assert len(f) == 25 and f["withdrawn_kwh"].sum() == pytest.approx(25.0)


def test_typical_day_by_hand():
    # two days; spare at 12:00 is 4 then 2 -> mean 3; at 13:00 only day two, 6 -> mean 6; other hours 0
    idx = pd.DatetimeIndex(
        [
            pd.Timestamp("2024-06-03 12:00", tz=ROME),
            pd.Timestamp("2024-06-04 12:00", tz=ROME),
            pd.Timestamp("2024-06-04 13:00", tz=ROME),
        ]
    )
    prof = typical_day_kwh(pd.Series([4.0, 2.0, 6.0], index=idx), days=7)
    assert prof[12] == 3.0 and prof[13] == 6.0 and prof[0] == 0.0 and len(prof) == 24
    # days=1 keeps only the last day: 12:00 -> 2
    assert typical_day_kwh(pd.Series([4.0, 2.0, 6.0], index=idx), days=1)[12] == 2.0


def test_best_hours_by_hand():
    spare = np.zeros(24)
    spare[[10, 11, 12, 13, 14]] = [2, 5, 6, 3, 1]
    # 2-hour windows: 10-12: 7, 11-13: 11, 12-14: 9, 13-15: 4, 9-11: 2, 14-16: 1
    # greedy: 11-13 (11); 12-14 and 10-12 overlap it; next free best is 13-15 (4); then 9-11 (2)
    w = best_hours_to_shift(spare, duration_h=2, n=3)
    assert [(x.start_hour, x.spare_kwh) for x in w] == [(11, 11.0), (13, 4.0), (9, 2.0)]
    assert w[0].label == "11:00–13:00"
    # nothing spare -> no advice
    assert best_hours_to_shift(np.zeros(24)) == []
    with pytest.raises(ValueError, match="24 hourly"):
        best_hours_to_shift(np.zeros(23))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0, 50), st.floats(0, 1)), min_size=1, max_size=48))
def test_ratios_stay_within_0_and_100(rows):
    inj = np.array([r[0] for r in rows])
    wd = np.array([r[1] for r in rows])
    shared = np.minimum(inj, wd)
    for pct in (sharing_pct(shared, inj), self_sufficiency_pct(shared, wd)):
        assert math.isnan(pct) or 0.0 <= pct <= 100.0 + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 20), min_size=24, max_size=24), st.integers(1, 6), st.integers(1, 5))
def test_best_windows_do_not_overlap(spare, duration, n):
    w = best_hours_to_shift(spare, duration_h=duration, n=n)
    hours = [h for x in w for h in range(x.start_hour, x.start_hour + x.hours)]
    assert len(hours) == len(set(hours)) and len(w) <= n
    assert [x.spare_kwh for x in w] == sorted((x.spare_kwh for x in w), reverse=True)
    if w:  # the first window is the best of all windows
        best = max(sum(spare[i : i + duration]) for i in range(25 - duration))
        assert w[0].spare_kwh == pytest.approx(best)
