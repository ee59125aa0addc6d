"""Optimal dispatch (HiGHS): a two-step case by hand, LP ≥ heuristic, rolling horizon and forecasts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from condivisa.engines.dispatch import (
    dispatch_value_eur,
    optimal_dispatch,
    persistence_forecast,
    rolling_dispatch,
)
from condivisa.engines.storage import BatterySpec, building_heuristic

NO_FLOOR = BatterySpec(capacity_kwh=2.0, soc_min_pct=0.0)


def test_two_steps_by_hand():
    # one flat, capacity 2 kWh from 0 %, contract 3 kW, price 0.20 €/kWh, incentive 0.13 €/kWh.
    # t0: PV 1.0, load 0; t1: PV 0, load 0.5.
    # Each kWh charged at t0 costs 0.20, earns 0.13 as shared energy, and saves 0.20·0.95·0.95 = 0.1805 at t1:
    # worth +0.1105, so charge exactly what covers t1: 0.5/0.95/0.95 = 0.554017 kWh (< 0.75 kWh limits).
    # objective = 0.13·0.554017 − 0.20·0.554017 − 0.20·0 = −0.0387812 € (no battery: −0.20·0.5 = −0.10 €)
    r = optimal_dispatch([1.0, 0.0], [[0.0, 0.5]], 2.0, 3.0, 0.20, 0.13, spec=NO_FLOOR)
    assert r.objective_eur == pytest.approx(-0.0387812, abs=1e-6)
    np.testing.assert_allclose(r.storage.charge_kwh[0], [0.554017, 0.0], atol=1e-6)
    np.testing.assert_allclose(r.storage.withdrawal_kwh[0], [0.554017, 0.0], atol=1e-6)
    assert r.objective_eur == pytest.approx(
        dispatch_value_eur([1.0, 0.0], r.storage.withdrawal_kwh, 0.20, 0.13)
    )
    assert (r.n_columns, r.n_rows) == (3 * 2 + 2, 2 + 2)  # c, d, E per interval + s; SoC rows + shared rows


def test_no_charging_when_incentive_cannot_pay_for_losses():
    # incentive 0.01: −0.20 + 0.01 + 0.1805 < 0 → the battery stays idle, objective = −0.10 €
    r = optimal_dispatch([1.0, 0.0], [[0.0, 0.5]], 2.0, 3.0, 0.20, 0.01, spec=NO_FLOOR)
    assert r.objective_eur == pytest.approx(-0.10, abs=1e-9)
    assert r.storage.charge_kwh.max() == pytest.approx(0.0, abs=1e-9)


cases = st.integers(min_value=1, max_value=3).flatmap(
    lambda n_b: st.integers(min_value=2, max_value=24).flatmap(
        lambda n_t: st.tuples(
            arrays(float, (n_b, n_t), elements=st.floats(0.0, 1.0)),
            arrays(float, (n_t,), elements=st.floats(0.0, 4.0)),
            st.floats(0.5, 8.0),
            arrays(float, (n_t,), elements=st.floats(0.05, 0.4)),
            st.floats(0.0, 0.3),
        )
    )
)


@settings(max_examples=60, deadline=None)
@given(cases)
def test_property_lp_at_least_heuristic(case):
    loads, pv, cap, price, incentive = case
    spec = BatterySpec(cap)
    heuristic = building_heuristic(pv, loads, cap, 3.0, spec)
    lp = optimal_dispatch(pv, loads, cap, 3.0, price, incentive, spec=spec)
    h_value = dispatch_value_eur(pv, heuristic.withdrawal_kwh, price, incentive)
    assert lp.objective_eur >= h_value - 1e-6
    # the LP's own plan respects the limits
    e = lp.storage.soc_kwh
    assert (e >= 0.1 * cap - 1e-7).all() and (e <= cap + 1e-7).all()
    assert (lp.storage.withdrawal_kwh <= np.maximum(0.75, loads) + 1e-7).all()
    assert lp.objective_eur == pytest.approx(
        dispatch_value_eur(pv, lp.storage.withdrawal_kwh, price, incentive), abs=1e-6
    )


def _week(seed: int = 3):
    rng = np.random.default_rng(seed)
    t = np.arange(96 * 4)
    pv = np.clip(np.sin((t % 96 - 28) / 48 * np.pi), 0, None) * 3.0 * rng.uniform(0.6, 1.0, size=t.size)
    loads = rng.uniform(0.05, 0.5, size=(3, t.size))
    return pv, loads


def test_rolling_with_a_window_as_long_as_the_horizon_equals_the_full_lp():
    pv, loads = _week()
    full = optimal_dispatch(pv, loads, 3.0, 3.0, 0.25, 0.13, spec=BatterySpec(3.0))
    rolled = rolling_dispatch(
        pv, loads, 3.0, 3.0, 0.25, 0.13, spec=BatterySpec(3.0), window=len(pv), step=len(pv)
    )
    assert rolled.objective_eur == pytest.approx(full.objective_eur, abs=1e-6)
    assert rolled.n_solves == 1


def test_rolling_perfect_and_persistence_are_feasible_and_ordered():
    pv, loads = _week()
    spec = BatterySpec(3.0)
    full = optimal_dispatch(pv, loads, 3.0, 3.0, 0.25, 0.13, spec=spec)
    perfect = rolling_dispatch(pv, loads, 3.0, 3.0, 0.25, 0.13, spec=spec, window=192, step=96)
    persistence = rolling_dispatch(
        pv, loads, 3.0, 3.0, 0.25, 0.13, spec=spec, window=192, step=96, forecast="persistence"
    )
    heuristic = building_heuristic(pv, loads, 3.0, 3.0, spec)
    h_value = dispatch_value_eur(pv, heuristic.withdrawal_kwh, 0.25, 0.13)
    assert perfect.n_solves == 4
    assert full.objective_eur >= perfect.objective_eur - 1e-6
    assert full.objective_eur >= persistence.objective_eur - 1e-6
    assert perfect.objective_eur > h_value
    for r in (perfect, persistence):
        e = r.storage.soc_kwh
        assert (e >= 0.3 - 1e-9).all() and (e <= 3.0 + 1e-9).all()
        assert (r.storage.discharge_kwh <= loads + 1e-9).all()
        delta = np.diff(e, axis=1, prepend=np.full((3, 1), 0.3))
        np.testing.assert_allclose(
            0.95 * r.storage.charge_kwh - r.storage.discharge_kwh / 0.95, delta, atol=1e-9
        )
    with pytest.raises(ValueError, match="forecast"):
        rolling_dispatch(pv, loads, 3.0, 3.0, 0.25, 0.13, spec=spec, forecast="oracle")


def test_persistence_forecast_repeats_yesterday():
    actual = np.arange(10.0)
    # day = 3 intervals; forecast of [6, 11) repeats [3, 6): 3 4 5 3 4
    np.testing.assert_array_equal(persistence_forecast(actual, 6, 5, 3), [3, 4, 5, 3, 4])
    np.testing.assert_array_equal(persistence_forecast(actual, 1, 3, 3), [1, 2, 3])  # first day: actual
