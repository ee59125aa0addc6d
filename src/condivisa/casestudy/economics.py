"""The money of a case study: 20-year cash flows of every run under every price scenario, the kit cost that
would pay back as fast as the base case, and the sizing sweep.

Rates come from the engines: the TIP from :func:`condivisa.engines.tariff.tip_eur_per_mwh` (DM MASE 414/2023),
the ARERA valorisation from :mod:`condivisa.engines.valorisation` (TIAD art. 8–9), cash flows and their NPV,
IRR and discounted payback from :mod:`condivisa.engines.finance`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from condivisa.casestudy.casefile import Case
from condivisa.casestudy.results import CaseRun
from condivisa.engines import finance, sizing
from condivisa.engines.tariff import tip_eur_per_mwh
from condivisa.engines.valorisation import valorisation_by_plant_eur, yearly_values


def valorisation_rate_eur_per_mwh(case: Case, zonal_price_eur_per_mwh: float) -> float:
    """€ of ARERA valorisation per MWh shared, from the valorisation engine (low-voltage plant)."""
    values = yearly_values(np.array([case.year]))
    one_mwh = valorisation_by_plant_eur(
        np.array([[1000.0]]),
        np.array([zonal_price_eur_per_mwh]),
        same_building=case.configuration.same_building,
        plant_is_mt=[False],
        **values,
    )
    return float(one_mwh[0, 0])


def tip_for(case: Case, zonal_price_eur_per_mwh: float) -> float:
    """The plant's TIP (€/MWh) at a constant zonal price (DM 414/2023 via the tariff engine)."""
    return float(
        tip_eur_per_mwh(
            np.array([zonal_price_eur_per_mwh]), case.peak_power_kw, "south", True, case.grant_fraction
        )[0]
    )


@dataclass
class ScenarioMoney:
    """Economics and cash flows of every (run, scenario), and the ideal kit costs."""

    economics: list[finance.Economics]
    cash_flows: dict[tuple[str, str], finance.CashFlows]
    ideal_kit_cost: list[dict]


def _vat_factor(case: Case) -> float:
    return 1 + case.vat_storage_pct / 100.0


def scenario_economics(
    case: Case, runs: list[CaseRun], physics: sizing.YearlyPhysics, notes: list[str]
) -> ScenarioMoney:
    """Cash flows (:func:`~condivisa.engines.finance.yearly_cash_flows`) and their evaluation for every run
    under every price scenario; for each battery run, the kit cost (VAT excluded) at which it would pay back as
    fast as the base case. A scenario whose stated TIP differs from the formula's gets a note."""
    money = ScenarioMoney([], {}, [])
    kit_of = {o.capacity_kwh: o.kit_cost_eur for o in case.storage_options}
    n_flats = len(case.flats)
    for scenario in case.scenarios:
        s_tip = tip_for(case, scenario.zonal_price_eur_per_mwh)
        stated = scenario.premium_tariff_eur_per_mwh
        if stated is not None and abs(s_tip - stated) > 0.01:
            notes.append(f"scenario {scenario.name}: TIP by formula {s_tip:.2f} €/MWh, file states {stated}")
        s_valor = valorisation_rate_eur_per_mwh(case, scenario.zonal_price_eur_per_mwh)
        base_dpbt = None
        for run in runs:
            kit = kit_of.get(run.capacity_kwh_per_flat, 0.0)
            flows = finance.yearly_cash_flows(
                case.pv_investment_eur + n_flats * kit * _vat_factor(case),
                physics.production_kwh[0],
                run.shared_by_year_kwh,
                zonal_price_eur_per_mwh=scenario.zonal_price_eur_per_mwh,
                premium_eur_per_mwh=s_tip,
                valorisation_eur_per_mwh=s_valor,
                maintenance_eur_per_year=case.maintenance_eur_per_year,
                extra_purchase_eur=run.extra_purchase_by_year_eur,
            )
            eco = finance.evaluate(run.name, scenario.name, flows, case.discount_rate)
            money.economics.append(eco)
            money.cash_flows[(run.name, scenario.name)] = flows
            if run.controller == "none":
                base_dpbt = eco.dpbt_years
            elif base_dpbt is not None:
                target = finance.investment_for_payback_eur(flows.income_eur, case.discount_rate, base_dpbt)
                ideal_kit = (target - case.pv_investment_eur) / (n_flats * _vat_factor(case))
                money.ideal_kit_cost.append(
                    {
                        "case": run.name,
                        "scenario": scenario.name,
                        "kit_cost_eur": kit,
                        "ideal_kit_cost_eur": round(ideal_kit, 2) if ideal_kit > 0 else None,
                        "base_dpbt_years": round(base_dpbt, 3),
                    }
                )
    return money


def sizing_sweep_for(case: Case, physics: sizing.YearlyPhysics, sizes: list[float]) -> list[sizing.SizingRow]:
    """The sizing sweep (:func:`~condivisa.engines.sizing.sizing_sweep`) under the first price scenario, kit
    costs interpolated between the case's storage options."""
    first = case.scenarios[0]
    kits = sizing.kit_cost_eur(
        sizes,
        [o.capacity_kwh for o in case.storage_options] or [1.0],
        [o.kit_cost_eur for o in case.storage_options] or [0.0],
    )
    return sizing.sizing_sweep(
        physics,
        n_flats=len(case.flats),
        pv_investment_eur=case.pv_investment_eur,
        kit_cost_per_flat_eur=kits,
        vat_storage_pct=case.vat_storage_pct,
        zonal_price_eur_per_mwh=first.zonal_price_eur_per_mwh,
        premium_eur_per_mwh=tip_for(case, first.zonal_price_eur_per_mwh),
        valorisation_eur_per_mwh=valorisation_rate_eur_per_mwh(case, first.zonal_price_eur_per_mwh),
        maintenance_eur_per_year=case.maintenance_eur_per_year,
        discount_rate=case.discount_rate,
    )
