"""NPV, DPBT, IRR and the yearly cash flows, worked on paper; sizing helpers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.engines import finance
from condivisa.engines.sizing import kit_cost_eur

CF = [-100.0, 60.0, 60.0]


def test_npv_by_hand():
    # −100 + 60/1.1 + 60/1.21 = −100 + 54.545455 + 49.586777 = 4.132231
    assert finance.npv_eur(CF, 0.10) == pytest.approx(4.132231, abs=1e-6)
    assert finance.npv_eur(CF, 0.0) == pytest.approx(20.0)


def test_dpbt_by_hand():
    # D0 = −100, D1 = −45.454545, D2 = 4.132231 → payback in year 2: 1 + 45.454545/49.586777 = 1.916667
    assert finance.dpbt_years(CF, 0.10) == pytest.approx(1.916667, abs=1e-6)
    # undiscounted: D1 = −40, D2 = 20 → 1 + 40/60 = 1.666667
    assert finance.dpbt_years(CF, 0.0) == pytest.approx(5 / 3)
    assert finance.dpbt_years([-100.0, 10.0, 10.0], 0.05) is None
    assert finance.dpbt_years([0.0, 10.0], 0.05) == 0.0


def test_irr_by_hand():
    # −100 + 60x + 60x² = 0 with x = 1/(1+r): x = (−60 + √(3600 + 24000))/120 = (−60 + 166.13248)/120
    #   = 0.8844373 → r = 1/0.8844373 − 1 = 0.1306624 (above 10 %, as NPV(10 %) > 0 says)
    assert finance.irr(CF) == pytest.approx(0.1306624, abs=1e-6)
    assert finance.npv_eur(CF, finance.irr(CF)) == pytest.approx(0.0, abs=1e-9)
    # −100 + 10/(1+r) = 0 → r = −0.9: the money lost is an IRR of −90 %
    assert finance.irr([-100.0, 10.0]) == pytest.approx(-0.9)
    assert finance.irr([-100.0, -10.0]) is None  # never a sign change: no IRR


def test_yearly_cash_flows_by_hand():
    # year 1: 1,000 kWh produced, 400 shared; Pz 100 €/MWh, TIP 120, valorisation 10, maintenance 50
    # sale 1000·100/1000 = 100; premium 400·0.12 = 48; valorisation 400·0.01 = 4; net 100 + 48 + 4 − 50 − 2 =
    # 100
    flows = finance.yearly_cash_flows(
        500.0,
        [1000.0, 995.0],
        [400.0, 398.0],
        zonal_price_eur_per_mwh=100.0,
        premium_eur_per_mwh=120.0,
        valorisation_eur_per_mwh=10.0,
        maintenance_eur_per_year=50.0,
        extra_purchase_eur=[2.0, 2.0],
    )
    assert flows.income_eur[0] == pytest.approx(100.0)
    # year 2: 99.5 + 47.76 + 3.98 − 50 − 2 = 99.24
    assert flows.income_eur[1] == pytest.approx(99.24)
    np.testing.assert_allclose(flows.net_eur, [-500.0, 100.0, 99.24])
    # share from sharing: (48 + 4 + 47.76 + 3.98) / (that + 100 + 99.5) = 103.74 / 303.24
    assert flows.sharing_income_share == pytest.approx(103.74 / 303.24)
    with pytest.raises(ValueError, match="year 1: shared energy"):
        finance.yearly_cash_flows(
            0.0,
            [10.0],
            [20.0],
            zonal_price_eur_per_mwh=1,
            premium_eur_per_mwh=1,
            valorisation_eur_per_mwh=1,
            maintenance_eur_per_year=0,
        )


def test_degradation_factors():
    # year 1 at nameplate, then ×0.995 a year: 1, 0.995, 0.990025
    np.testing.assert_allclose(finance.degradation_factors(3, 0.005), [1.0, 0.995, 0.990025])


def test_investment_for_payback_by_hand():
    # incomes 60, 60 at 10 %: C1 = 54.545455, C2 = 104.132231; target 1.5 years → I = 54.545455 +
    # 0.5·49.586777
    assert finance.investment_for_payback_eur([60.0, 60.0], 0.10, 1.5) == pytest.approx(79.338843, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(1.0, 1000.0), min_size=1, max_size=25), st.floats(0.0, 0.15), st.floats(0.05, 0.95))
def test_property_investment_for_payback_inverts_dpbt(incomes, rate, fraction):
    target = fraction * len(incomes)
    investment = finance.investment_for_payback_eur(incomes, rate, target)
    if investment <= 0:
        return
    assert finance.dpbt_years([-investment, *incomes], rate) == pytest.approx(target, abs=1e-7)


@settings(max_examples=100, deadline=None)
@given(st.floats(10.0, 1e5), st.lists(st.floats(1.0, 1e4), min_size=2, max_size=25))
def test_property_irr_zeroes_npv_and_orders_with_rate(investment, incomes):
    cf = [-investment, *incomes]
    r = finance.irr(cf)
    if r is None:
        assert finance.npv_eur(cf, finance.IRR_BRACKET[1]) * finance.npv_eur(cf, finance.IRR_BRACKET[0]) > 0
        return
    assert finance.npv_eur(cf, r) == pytest.approx(0.0, abs=1e-6 * investment)
    assert (finance.npv_eur(cf, 0.05) > 0) == (r > 0.05)


def test_economics_row_and_kit_cost_line():
    flows = finance.yearly_cash_flows(
        100.0,
        [1000.0] * 2,
        [0.0] * 2,
        zonal_price_eur_per_mwh=60.0,
        premium_eur_per_mwh=0,
        valorisation_eur_per_mwh=0,
        maintenance_eur_per_year=0,
    )
    row = finance.evaluate("base", "low", flows, 0.10).to_dict()
    assert row["case"] == "base" and row["scenario"] == "low" and row["investment_eur"] == 100.0
    assert row["npv_eur"] == pytest.approx(4.13, abs=0.01) and row["irr"] == pytest.approx(0.13066, abs=1e-5)
    # options 3 kWh → 2,157 €, 5 kWh → 3,051 €: slope 447 €/kWh, intercept 816 €; 4 kWh → 2,604 €; 0 → 0
    np.testing.assert_allclose(
        kit_cost_eur([0.0, 3.0, 4.0, 5.0], [3, 5], [2157, 3051]), [0.0, 2157.0, 2604.0, 3051.0]
    )


def test_sizing_sweep_by_hand():
    from condivisa.engines.sizing import YearlyPhysics, sizing_sweep

    # two sizes over 2 years; production 1,000 kWh/yr; shared 400 (none) and 600 (1 kWh); the battery makes
    # the flats buy 10 € more a year. Pz 100, TIP 120, valorisation 10 €/MWh, maintenance 0, r = 0.
    physics = YearlyPhysics(
        np.array([0.0, 1.0]),
        np.full((2, 2), 1000.0),
        np.array([[400.0, 400.0], [600.0, 600.0]]),
        np.array([[50.0, 50.0], [60.0, 60.0]]),
    )
    rows = sizing_sweep(
        physics,
        n_flats=2,
        pv_investment_eur=300.0,
        kit_cost_per_flat_eur=[0.0, 100.0],
        vat_storage_pct=10,
        zonal_price_eur_per_mwh=100,
        premium_eur_per_mwh=120,
        valorisation_eur_per_mwh=10,
        maintenance_eur_per_year=0,
        discount_rate=0.0,
    )
    # none: income 100 + 48 + 4 = 152/yr → NPV = −300 + 304 = 4; DPBT = 1 + 148/152
    assert rows[0].investment_eur == 300.0 and rows[0].npv_eur == pytest.approx(4.0)
    assert rows[0].sharing_pct == pytest.approx(40.0) and rows[0].premium_eur_year1 == pytest.approx(48.0)
    assert rows[0].dpbt_years == pytest.approx(1 + 148 / 152)
    # 1 kWh: investment 300 + 2·100·1.1 = 520; income 100 + 72 + 6 − 10 = 168/yr → NPV = −520 + 336 = −184; no
    # payback
    assert rows[1].investment_eur == pytest.approx(520.0) and rows[1].npv_eur == pytest.approx(-184.0)
    assert rows[1].dpbt_years is None and rows[1].sharing_pct == pytest.approx(60.0)
    with pytest.raises(ValueError, match="0 kWh"):
        sizing_sweep(
            YearlyPhysics(
                np.array([1.0]), physics.production_kwh[:1], physics.shared_kwh[:1], physics.purchase_eur[:1]
            ),
            n_flats=2,
            pv_investment_eur=0,
            kit_cost_per_flat_eur=[0.0],
            vat_storage_pct=0,
            zonal_price_eur_per_mwh=0,
            premium_eur_per_mwh=0,
            valorisation_eur_per_mwh=0,
            maintenance_eur_per_year=0,
            discount_rate=0,
        )
