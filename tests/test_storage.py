"""The case study's battery heuristic: a hand-worked run, energy balance and limits as properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from condivisa.engines.storage import (
    BatterySpec,
    building_heuristic,
    charge_allowance_kwh,
    clamped_cumsum,
    faded_capacity_kwh,
    heuristic_dispatch,
)

SPEC = BatterySpec(capacity_kwh=2.0)  # 10–100 %, η 0.95/0.95, inverter 3 kW = 0.75 kWh per quarter hour


def test_four_steps_by_hand():
    # capacity 2 kWh → E_min 0.2, E_max 2.0; contract 3 kW → 0.75 kWh per quarter; start at E_min = 0.2
    # t0: allowance 0.5, load 0.1 → c = min(0.5, 0.75−0.1 = 0.65, 0.75) = 0.5; E = 0.2 + 0.95·0.5 = 0.675; w =
    # 0.6
    # t1: allowance 0.8, load 0.3 → c = min(0.8, 0.45, 0.75) = 0.45 (contract); E = 0.675 + 0.4275 = 1.1025; w
    # = 0.75
    # t2: no surplus, load 0.5 → d = 0.5; E = 1.1025 − 0.5/0.95 = 0.576184; w = 0
    # t3: no surplus, load 0.6 → wants 0.6/0.95 = 0.631579 of SoC but only 0.376184 above E_min:
    #     E = 0.2, d = 0.376184·0.95 = 0.357375; w = 0.6 − 0.357375 = 0.242625
    load = np.array([[0.1, 0.3, 0.5, 0.6]])
    allowance = np.array([0.5, 0.8, 0.0, 0.0])
    r = heuristic_dispatch(load, allowance, 2.0, 3.0, spec=SPEC)
    np.testing.assert_allclose(r.soc_kwh[0], [0.675, 1.1025, 0.576184, 0.2], atol=1e-6)
    np.testing.assert_allclose(r.charge_kwh[0], [0.5, 0.45, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(r.discharge_kwh[0], [0.0, 0.0, 0.5, 0.357375], atol=1e-6)
    np.testing.assert_allclose(r.withdrawal_kwh[0], [0.6, 0.75, 0.0, 0.242625], atol=1e-6)


def test_full_battery_stops_charging_and_inverter_limits():
    # capacity 1 kWh (E_max 1.0), start 0.9: surplus 1.0 → c = min(1.0, 0.75 contract, 0.75 inverter) but only
    # (1.0 − 0.9)/0.95 = 0.105263 fits; E = 1.0
    r = heuristic_dispatch(np.array([[0.0]]), np.array([1.0]), 1.0, 3.0, spec=SPEC, start_soc_kwh=0.9)
    assert r.soc_kwh[0, 0] == pytest.approx(1.0)
    assert r.charge_kwh[0, 0] == pytest.approx(0.1 / 0.95)
    # a 2 kW inverter: 0.5 kWh per quarter at most, even with a big load and a full battery
    r = heuristic_dispatch(
        np.array([[1.0]]),
        np.array([0.0]),
        10.0,
        6.0,
        spec=BatterySpec(10.0, inverter_kw=2.0),
        start_soc_kwh=10.0,
    )
    assert r.discharge_kwh[0, 0] == pytest.approx(0.5)


def test_charge_allowance_is_surplus_over_flats():
    # PV 3, loads 0.5 + 1.0 → surplus 1.5 / 2 flats = 0.75; PV 1 < 1.5 → 0
    np.testing.assert_allclose(charge_allowance_kwh([3.0, 1.0], [[0.5, 0.5], [1.0, 1.0]]), [0.75, 0.0])


def test_faded_capacity_and_clamped_cumsum():
    assert faded_capacity_kwh(5.0, 2) == pytest.approx(5 * 0.97**2)  # 4.7045 kWh
    assert faded_capacity_kwh(5.0, 0) == 5.0
    with pytest.raises(ValueError):
        faded_capacity_kwh(5.0, 1, fade_per_year=1.5)
    # E: 0 → +0.7 → 1.0 (clamped from 1.4) → 0.2 (clamped from −0.5) → 0.5
    soc = clamped_cumsum(np.array([[0.7], [0.7], [-1.5], [0.3]]), 0.0, 0.2, 1.0)
    np.testing.assert_allclose(soc[:, 0], [0.7, 1.0, 0.2, 0.5])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"load_kwh\[0, 1\]"):
        heuristic_dispatch(np.array([[0.1, -0.2]]), 0.0, 1.0, 3.0, spec=SPEC)
    with pytest.raises(ValueError, match="batteries × intervals"):
        heuristic_dispatch(np.array([0.1, 0.2]), 0.0, 1.0, 3.0, spec=SPEC)
    with pytest.raises(ValueError, match="charge_efficiency"):
        BatterySpec(1.0, charge_efficiency=1.5)


cases = st.integers(min_value=1, max_value=4).flatmap(
    lambda n_b: st.integers(min_value=1, max_value=40).flatmap(
        lambda n_t: st.tuples(
            arrays(float, (n_b, n_t), elements=st.floats(0.0, 1.2)),  # loads up to 4.8 kW
            arrays(float, (n_t,), elements=st.floats(0.0, 6.0)),  # PV up to 24 kW
            arrays(float, (n_b,), elements=st.floats(0.0, 8.0)),  # capacities
            arrays(float, (n_b,), elements=st.sampled_from([3.0, 4.5, 6.0])),
        )
    )
)


@settings(max_examples=150, deadline=None)
@given(cases)
def test_property_energy_balance_bounds_and_contract(case):
    loads, pv, caps, contract = case
    spec = BatterySpec(1.0)
    r = building_heuristic(pv, loads, caps, contract, spec)
    c, d, e = r.charge_kwh, r.discharge_kwh, r.soc_kwh
    delta = np.diff(e, axis=1, prepend=(caps * 0.1)[:, None])
    np.testing.assert_allclose(0.95 * c - d / 0.95, delta, atol=1e-9)  # charge·η − discharge/η = ΔSoC
    assert (e >= caps[:, None] * 0.1 - 1e-9).all() and (e <= caps[:, None] + 1e-9).all()
    assert (c >= 0).all() and (d >= 0).all()
    assert (c <= 0.75 + 1e-9).all() and (d <= 0.75 + 1e-9).all()  # 3 kW inverter
    assert (d <= loads + 1e-9).all()  # never exports
    assert (r.withdrawal_kwh <= np.maximum(contract[:, None] * 0.25, loads) + 1e-9).all()  # contract power
    np.testing.assert_allclose(r.withdrawal_kwh, loads + c - d, atol=1e-9)
    allowance = charge_allowance_kwh(pv, loads)
    assert (c <= allowance[None, :] + 1e-9).all()  # at most (PV − load)/n
    assert (d[:, allowance > 0] == 0).all()  # no discharge while PV is in surplus


def test_time_major_input_and_out_buffers_give_the_same_result():
    rng = np.random.default_rng(1)
    loads = rng.random((5, 300)) * 0.4
    allowance = np.maximum(rng.random(300) - 0.5, 0.0)
    a = heuristic_dispatch(loads, allowance, 4.0, 3.0, spec=SPEC)
    out = (np.empty((300, 5)), np.empty((300, 5)))
    b = heuristic_dispatch(np.ascontiguousarray(loads.T).T, allowance, 4.0, 3.0, spec=SPEC, out=out)
    np.testing.assert_array_equal(a.soc_kwh, b.soc_kwh)
    np.testing.assert_array_equal(a.withdrawal_kwh, b.withdrawal_kwh)
    assert np.shares_memory(b.soc_kwh, out[0])


def test_all_sizes_in_one_call_equal_separate_runs():
    from condivisa.engines.sharing import shared_energy_kwh
    from condivisa.engines.sizing import simulate_sizes

    rng = np.random.default_rng(5)
    loads = rng.random((3, 200)) * 0.4
    pv = np.clip(np.sin(np.arange(200) / 96 * 2 * np.pi), 0, None) * 2.0
    contract = np.array([3.0, 3.0, 4.5])
    shared, withdrawal, soc = simulate_sizes(pv, loads, contract, [0.0, 2.0, 5.0], SPEC, np.full(200, 0.2))
    for k, cap in enumerate([0.0, 2.0, 5.0]):
        alone = building_heuristic(pv, loads, cap, contract, SPEC)
        np.testing.assert_allclose(withdrawal[k], alone.withdrawal_kwh, atol=1e-12)
        np.testing.assert_allclose(shared[k], shared_energy_kwh(pv, alone.withdrawal_kwh), atol=1e-12)
    np.testing.assert_allclose(withdrawal[0], loads)  # 0 kWh: the flats withdraw their load
