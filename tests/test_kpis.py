"""KPIs: hand-worked cases (arithmetic in the comments) and hypothesis invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.outputs.kpis import (
    best_hours_to_shift,
    hourly_flows,
    kpis,
    member_shared_kwh,
    self_consumption_pct,
    self_sufficiency_pct,
    sharing_pct,
    spare_production_kwh,
    typical_day_kwh,
)
from condivisa.timegrid import ROME


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


def test_ratios_undefined_are_nan_not_zero():
    assert math.isnan(sharing_pct([0, 0], [0, 0]))
    assert math.isnan(self_sufficiency_pct([0], [0]))


def test_self_consumption_rejects_injection_above_production():
    with pytest.raises(ValueError, match="exceeds produced"):
        self_consumption_pct([1], [10], [5])


def test_member_shared_by_hand():
    # hour: community withdraws 27 (member 9), shared 27 -> member 27·9/27 = 9
    # hour: community withdraws 27 (member 9), shared 20 -> member 20·9/27 = 6.667
    # hour: nobody withdraws -> 0
    got = member_shared_kwh([9, 9, 0], [27, 27, 0], [27, 20, 0])
    assert got == pytest.approx([9.0, 20 * 9 / 27, 0.0])
    with pytest.raises(ValueError, match="exceeds"):
        member_shared_kwh([10], [5], [5])


def test_spare_by_hand():
    # inj 30 wd 27 -> 3 spare; inj 20 wd 27 -> 0
    assert spare_production_kwh([30, 20], [27, 27]) == pytest.approx([3, 0])


def _measurements():
    # two quarter hours in hour 10:00 and two in 11:00 (Rome, 2024-06-03) for one consumer pair and one plant
    t = pd.Timestamp("2024-06-03 10:00", tz=ROME)
    q = pd.Timedelta(minutes=15)
    rows = []
    for k, start in enumerate([t, t + q, t + 4 * q, t + 5 * q]):
        rows.append(("C1", start, 2.0, 0.0))  # member's POD, 2 kWh each quarter
        rows.append(("C2", start, 1.0, 0.0))
        rows.append(("P1", start, 0.0, 5.0 if k < 2 else 1.0))
    return pd.DataFrame(rows, columns=["pod", "start", "withdrawn_kwh", "injected_kwh"])


def test_hourly_flows_by_hand():
    f = hourly_flows(_measurements(), ["C1", "C2"], ["P1"], member_pods=["C1"])
    # hour 10: wd = 2·(2+1) = 6, inj = 2·5 = 10 -> shared 6, spare 4, member wd 4, member shared 6·4/6 = 4
    # hour 11: wd = 6, inj = 2·1 = 2 -> shared 2, spare 0, member wd 4, member shared 2·4/6 = 1.333
    assert list(f.index.hour) == [10, 11]
    assert str(f.index.tz) == "Europe/Rome"
    assert f["withdrawn_kwh"].tolist() == pytest.approx([6, 6])
    assert f["injected_kwh"].tolist() == pytest.approx([10, 2])
    assert f["shared_kwh"].tolist() == pytest.approx([6, 2])
    assert f["spare_kwh"].tolist() == pytest.approx([4, 0])
    assert f["member_shared_kwh"].tolist() == pytest.approx([4, 4 / 3])
    k = kpis(f)
    # Σshared 8 / Σinj 12 = 66.67 %; 8 / Σwd 12 = 66.67 %; member 5.333 / 8 = 66.67 %
    assert k.sharing_pct == pytest.approx(200 / 3)
    assert k.self_sufficiency_pct == pytest.approx(200 / 3)
    assert k.member_share_pct == pytest.approx(100 * (16 / 3) / 8)
    assert k.to_dict()["shared_kwh"] == pytest.approx(8)


def test_hourly_flows_needs_aware_timestamps():
    m = _measurements()
    m["start"] = m["start"].dt.tz_localize(None)
    with pytest.raises(ValueError, match="time-zone aware"):
        hourly_flows(m, ["C1"], ["P1"])


def test_hourly_flows_dst_autumn_day_has_25_hours():
    idx = pd.date_range("2024-10-26 22:00", "2024-10-27 23:00", freq="15min", tz="UTC", inclusive="left")
    m = pd.DataFrame({"pod": "C1", "start": idx, "withdrawn_kwh": 0.25, "injected_kwh": 0.0})
    f = hourly_flows(m, ["C1"], [])
    assert len(f) == 25 and f["withdrawn_kwh"].sum() == pytest.approx(25.0)


def test_typical_day_by_hand():
    # two days; spare at 12:00 is 4 then 2 -> mean 3; at 13:00 only day two, 6 -> mean 6; other hours 0
    idx = pd.DatetimeIndex([pd.Timestamp("2024-06-03 12:00", tz=ROME), pd.Timestamp("2024-06-04 12:00", tz=ROME),
                            pd.Timestamp("2024-06-04 13:00", tz=ROME)])
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
def test_shared_bounds_and_member_share(rows):
    inj = np.array([r[0] for r in rows])
    wd = np.array([r[1] for r in rows])
    mine = wd * np.array([r[2] for r in rows])
    shared = np.minimum(inj, wd)
    ms = member_shared_kwh(mine, wd, shared)
    # a member never gets more than they withdrew nor more than the shared energy
    assert np.all(ms <= mine + 1e-9) and np.all(ms <= shared + 1e-9) and np.all(ms >= 0)
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
        best = max(sum(spare[i:i + duration]) for i in range(25 - duration))
        assert w[0].spare_kwh == pytest.approx(best)
