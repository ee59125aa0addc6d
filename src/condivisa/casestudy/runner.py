"""Run a case study: PV and loads → base case, batteries (heuristic), optimal dispatch (LP) → 20-year
economics under each price scenario, ideal kit cost, sizing sweep.

Every tariff number comes from :func:`condivisa.engines.tariff.tip_eur_per_mwh`, every shared-energy
number from :func:`condivisa.engines.sharing.shared_energy_kwh`, the ARERA valorisation from
:mod:`condivisa.engines.valorisation`.

Each case's year is also settled hour by hour by :func:`condivisa.engines.settlement.settle` (the
GSE's interval; the simulation and the batteries work in quarter hours), reported beside the
quarter-hour figures.

The optimal case's later years: the LP is solved for year 1 (rolling 2-day windows, perfect forecast);
for years 2…N its shared energy and extra purchases are the heuristic's (same size, faded) times the
year-1 ratio LP/heuristic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from condivisa.casestudy.bridge import community_for, measurements_for
from condivisa.casestudy.casefile import Case
from condivisa.engines import dispatch, finance, sizing
from condivisa.engines.interpolation import hourly_to_quarter_hour
from condivisa.engines.loads import household_loads_kwh
from condivisa.engines.pv import (
    clearsky_hourly_kwh,
    hourly_ac_kwh_from_pvgis,
    scale_to_monthly_kwh,
    tmy_to_year,
)
from condivisa.engines.settlement import settle
from condivisa.engines.sharing import shared_energy_kwh
from condivisa.engines.storage import BatterySpec
from condivisa.engines.tariff import tip_eur_per_mwh
from condivisa.engines.valorisation import valorisation_by_plant_eur, yearly_values
from condivisa.formats.pvgis import read_pvgis_hourly, read_pvgis_tmy
from condivisa.kernel.timegrid import ROME

SWEEP_KWH = tuple(float(c) for c in range(0, 11))


@dataclass
class CaseRun:
    """Year-1 quarter-hour results of one case (flats × intervals, kWh)."""

    name: str
    capacity_kwh_per_flat: float
    controller: str  # "none", "heuristic", "optimal"
    withdrawal_kwh: np.ndarray
    soc_kwh: np.ndarray
    shared_kwh: np.ndarray
    shared_by_year_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra_purchase_by_year_eur: np.ndarray = field(default_factory=lambda: np.zeros(0))
    settled_hourly: dict = field(default_factory=dict)  # totals of settle(interval="hour") on this year


@dataclass
class CaseStudy:
    case: Case
    index: pd.DatetimeIndex
    pv_kwh: np.ndarray
    loads_kwh: np.ndarray
    price_eur_per_kwh: np.ndarray
    zonal_price_eur_per_mwh: float
    tip_eur_per_mwh: float
    valorisation_eur_per_mwh: float
    runs: list[CaseRun]
    economics: list[finance.Economics]
    cash_flows: dict[tuple[str, str], finance.CashFlows]
    ideal_kit_cost: list[dict]
    sizing: list[sizing.SizingRow]
    dispatch_gain: dict
    notes: list[str]


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


def _weather_hourly_kwh(case: Case) -> pd.Series:
    """Hourly AC energy from the case's PVGIS file (TMY or hourly series), laid onto the case year."""
    path = case.weather_file
    head = path.read_text(encoding="utf-8", errors="replace")[:4000]
    if "(i)" in head:  # plane-of-array columns Gb(i), Gd(i)…: a PVGIS "hourly radiation" export
        weather, _ = read_pvgis_hourly(path)
    else:
        weather = read_pvgis_tmy(path)
    energy = hourly_ac_kwh_from_pvgis(
        weather,
        case.peak_power_kw,
        case.tilt_deg,
        case.azimuth_deg_pvgis,
        case.system_losses_pct,
        latitude=case.latitude,
        longitude=case.longitude,
        altitude_m=case.elevation_m,
    )
    return tmy_to_year(energy, case.year)


def production_kwh(case: Case) -> pd.Series:
    """Quarter-hour AC production: hourly from the PVGIS file (pvlib) or clear-sky (pvlib), scaled to the
    monthly energies when given, split into quarter hours preserving each hour's energy."""
    if case.weather_file is not None:
        hourly = _weather_hourly_kwh(case)
    else:
        hourly = clearsky_hourly_kwh(
            case.year,
            case.latitude,
            case.longitude,
            case.peak_power_kw,
            case.tilt_deg,
            case.azimuth_deg_pvgis,
            case.system_losses_pct,
            case.elevation_m,
        )
    if case.monthly_production_kwh is not None:
        hourly = scale_to_monthly_kwh(hourly, case.monthly_production_kwh)
    return hourly_to_quarter_hour(hourly)


def run_case(
    case: Case,
    progress: Callable[[str], None] = lambda step: None,
    *,
    lp_window: int = 192,
    lp_step: int = 96,
    lp_forecast: str = "perfect",
) -> CaseStudy:
    """The whole case study; ``progress(step)`` is called after each step (for a progress bar).
    ``lp_forecast``: the optimal controller's forecast, ``"perfect"`` or ``"persistence"``."""
    notes: list[str] = []
    pv_series = production_kwh(case)
    index = pv_series.index
    flats = [
        {
            "id": f.id,
            "appliances_kwh_per_day": f.appliances_kwh_per_day,
            "ac_july_kwh_per_day": f.ac_july_kwh_per_day,
        }
        for f in case.flats
    ]
    loads = household_loads_kwh(case.year, flats, case.ac_usage_coefficient).reindex(index).to_numpy().T
    pv = pv_series.to_numpy()
    month = index.tz_convert(ROME).month.to_numpy()
    price = np.asarray(case.energy_price_eur_per_kwh)[month - 1]
    contract = np.array([f.contract_power_kw for f in case.flats])
    zonal = case.zonal_price_eur_per_mwh or case.scenarios[0].zonal_price_eur_per_mwh
    tip = tip_for(case, zonal)
    if case.premium_tariff_eur_per_mwh is not None and abs(tip - case.premium_tariff_eur_per_mwh) > 0.01:
        notes.append(
            f"TIP from the formula at {zonal} €/MWh is {tip:.2f} €/MWh; the file states "
            f"{case.premium_tariff_eur_per_mwh}"
        )
    valor = valorisation_rate_eur_per_mwh(case, zonal)
    spec = BatterySpec(
        0.0,
        case.soc_min_pct,
        case.soc_max_pct,
        case.charge_efficiency,
        case.discharge_efficiency,
        case.inverter_kw,
    )
    progress("production and loads")

    options = sorted({o.capacity_kwh for o in case.storage_options})
    sizes = [0.0] + options
    shared, withdrawal, soc = sizing.simulate_sizes(pv, loads, contract, sizes, spec, price)
    runs = [
        CaseRun(
            "base" if c == 0 else f"battery_{c:g}kwh",
            c,
            "none" if c == 0 else "heuristic",
            withdrawal[k],
            soc[k],
            shared[k],
        )
        for k, c in enumerate(sizes)
    ]
    progress("heuristic batteries")

    dispatch_gain: dict = {}
    if options:
        big = options[-1]
        incentive = np.full(len(pv), (tip + valor) / 1000.0)
        lp = dispatch.rolling_dispatch(
            pv,
            loads,
            big,
            contract,
            price,
            incentive,
            spec=spec,
            window=lp_window,
            step=lp_step,
            forecast=lp_forecast,
        )
        heur = runs[-1]
        heur_value = dispatch.dispatch_value_eur(pv, heur.withdrawal_kwh, price, incentive)
        lp_shared = shared_energy_kwh(pv, lp.storage.withdrawal_kwh)
        runs.append(
            CaseRun(
                f"optimal_{big:g}kwh",
                big,
                "optimal",
                lp.storage.withdrawal_kwh,
                lp.storage.soc_kwh,
                lp_shared,
            )
        )
        dispatch_gain = {
            "capacity_kwh_per_flat": big,
            "window_quarter_hours": lp_window,
            "step_quarter_hours": lp_step,
            "forecast": lp_forecast,
            "heuristic_value_eur": round(heur_value, 2),
            "optimal_value_eur": round(lp.objective_eur, 2),
            "gain_eur_per_year": round(lp.objective_eur - heur_value, 2),
            "solves": lp.n_solves,
            "solver_seconds": round(lp.solve_seconds, 2),
            "window_columns": lp.n_columns,
            "window_rows": lp.n_rows,
        }
    community = community_for(case)
    hourly_prices = pd.Series(zonal, index=pd.date_range(index[0], index[-1], freq="h"))
    for run in runs:  # what the settlement engine pays for this year, settled hour by hour as the GSE does
        run.settled_hourly = settle(
            community, measurements_for(index, pv, run.withdrawal_kwh), hourly_prices, interval="hour"
        ).totals
    progress("optimal dispatch (HiGHS)")

    sweep_sizes = sorted(set(SWEEP_KWH) | set(sizes))
    physics = sizing.yearly_physics(
        pv,
        loads,
        contract,
        sweep_sizes,
        spec,
        price,
        horizon_years=case.horizon_years,
        pv_degradation_per_year=case.pv_degradation_per_year,
        battery_fade_per_year=case.battery_degradation_per_year,
    )
    row_of = {c: i for i, c in enumerate(sweep_sizes)}
    base_purchase = physics.purchase_eur[row_of[0.0]]
    for run in runs:
        i = row_of[run.capacity_kwh_per_flat]
        run.shared_by_year_kwh = physics.shared_kwh[i].copy()
        run.extra_purchase_by_year_eur = physics.purchase_eur[i] - base_purchase
        if run.controller == "optimal":
            heur = next(
                r
                for r in runs
                if r.controller == "heuristic" and r.capacity_kwh_per_flat == run.capacity_kwh_per_flat
            )
            ratio = run.shared_kwh.sum() / heur.shared_kwh.sum()
            run.shared_by_year_kwh = np.minimum(physics.shared_kwh[i] * ratio, physics.production_kwh[i])
            extra_lp = float(((run.withdrawal_kwh.sum(axis=0) - loads.sum(axis=0)) * price).sum())
            extra_heur = float(((heur.withdrawal_kwh.sum(axis=0) - loads.sum(axis=0)) * price).sum())
            scale = extra_lp / extra_heur if extra_heur else 1.0
            run.extra_purchase_by_year_eur = run.extra_purchase_by_year_eur * scale
    progress("20-year physics")

    economics, flows_by, ideal = [], {}, []
    kit_of = {o.capacity_kwh: o.kit_cost_eur for o in case.storage_options}
    n_flats = len(case.flats)
    production_by_year = physics.production_kwh[0]
    for scenario in case.scenarios:
        s_tip = tip_for(case, scenario.zonal_price_eur_per_mwh)
        if (
            scenario.premium_tariff_eur_per_mwh is not None
            and abs(s_tip - scenario.premium_tariff_eur_per_mwh) > 0.01
        ):
            notes.append(
                f"scenario {scenario.name}: TIP by formula {s_tip:.2f} €/MWh, file states "
                f"{scenario.premium_tariff_eur_per_mwh}"
            )
        s_valor = valorisation_rate_eur_per_mwh(case, scenario.zonal_price_eur_per_mwh)
        base_dpbt = None
        for run in runs:
            kit = kit_of.get(run.capacity_kwh_per_flat, 0.0)
            investment = case.pv_investment_eur + n_flats * kit * (1 + case.vat_storage_pct / 100.0)
            flows = finance.yearly_cash_flows(
                investment,
                production_by_year,
                run.shared_by_year_kwh,
                zonal_price_eur_per_mwh=scenario.zonal_price_eur_per_mwh,
                premium_eur_per_mwh=s_tip,
                valorisation_eur_per_mwh=s_valor,
                maintenance_eur_per_year=case.maintenance_eur_per_year,
                extra_purchase_eur=run.extra_purchase_by_year_eur,
            )
            eco = finance.evaluate(run.name, scenario.name, flows, case.discount_rate)
            economics.append(eco)
            flows_by[(run.name, scenario.name)] = flows
            if run.controller == "none":
                base_dpbt = eco.dpbt_years
            elif base_dpbt is not None:
                target_investment = finance.investment_for_payback_eur(
                    flows.income_eur, case.discount_rate, base_dpbt
                )
                ideal_kit = (target_investment - case.pv_investment_eur) / (
                    n_flats * (1 + case.vat_storage_pct / 100.0)
                )
                ideal.append(
                    {
                        "case": run.name,
                        "scenario": scenario.name,
                        "kit_cost_eur": kit,
                        "ideal_kit_cost_eur": round(ideal_kit, 2) if ideal_kit > 0 else None,
                        "base_dpbt_years": round(base_dpbt, 3),
                    }
                )
    progress("economics")

    first = case.scenarios[0]
    kits = sizing.kit_cost_eur(
        sweep_sizes,
        [o.capacity_kwh for o in case.storage_options] or [1.0],
        [o.kit_cost_eur for o in case.storage_options] or [0.0],
    )
    sweep = sizing.sizing_sweep(
        physics,
        n_flats=n_flats,
        pv_investment_eur=case.pv_investment_eur,
        kit_cost_per_flat_eur=kits,
        vat_storage_pct=case.vat_storage_pct,
        zonal_price_eur_per_mwh=first.zonal_price_eur_per_mwh,
        premium_eur_per_mwh=tip_for(case, first.zonal_price_eur_per_mwh),
        valorisation_eur_per_mwh=valorisation_rate_eur_per_mwh(case, first.zonal_price_eur_per_mwh),
        maintenance_eur_per_year=case.maintenance_eur_per_year,
        discount_rate=case.discount_rate,
    )
    progress("sizing sweep")
    return CaseStudy(
        case,
        index,
        pv,
        loads,
        price,
        zonal,
        tip,
        valor,
        runs,
        economics,
        flows_by,
        ideal,
        sweep,
        dispatch_gain,
        notes,
    )
