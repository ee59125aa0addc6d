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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from condivisa.casestudy.bridge import community_for, measurements_for
from condivisa.casestudy.casefile import Case
from condivisa.casestudy.economics import (
    scenario_economics,
    sizing_sweep_for,
    tip_for,
    valorisation_rate_eur_per_mwh,
)
from condivisa.casestudy.load_models import FlatLoads, arera_loads, synthetic_loads
from condivisa.casestudy.measured_loads import measured_loads
from condivisa.casestudy.results import CaseRun, CaseStudy
from condivisa.engines import dispatch, sizing
from condivisa.engines.interpolation import hourly_to_quarter_hour
from condivisa.engines.pv import (
    clearsky_hourly_kwh,
    hourly_ac_kwh_from_pvgis,
    scale_to_monthly_kwh,
    tmy_to_year,
)
from condivisa.engines.settlement import settle
from condivisa.engines.sharing import shared_energy_kwh
from condivisa.engines.storage import BatterySpec
from condivisa.formats.pvgis import read_pvgis_weather
from condivisa.kernel.timegrid import ROME

SWEEP_KWH = tuple(float(c) for c in range(0, 11))


def _weather_hourly_kwh(case: Case) -> pd.Series:
    """Hourly AC energy from the case's PVGIS file (TMY or hourly series), laid onto the case year."""
    path = case.weather_file
    if path is None:
        raise ValueError(f"{case.name}: no pv_plant.pvgis_file to read the weather from")
    energy = hourly_ac_kwh_from_pvgis(
        read_pvgis_weather(path),
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


def flat_loads(case: Case, index: pd.DatetimeIndex) -> FlatLoads:
    """The flats' loads on ``index`` by ``case.loads``: ARERA profiles (:func:`~condivisa.casestudy.
    load_models.arera_loads`), synthetic shapes or measured typical days (:mod:`~condivisa.casestudy.
    measured_loads`)."""
    if case.loads == "synthetic":
        return synthetic_loads(case, index)
    if case.loads == "measured":
        return measured_loads(case, index)
    return arera_loads(case, index)


@dataclass
class CaseInputs:
    """What every stage of a case study shares: quarter-hour production and loads, prices, the battery's
    technical data and the regulated rates at the case's zonal price."""

    index: pd.DatetimeIndex
    pv_kwh: np.ndarray  # (intervals,) AC production, kWh per quarter hour
    loads_kwh: np.ndarray  # (flats, intervals) withdrawals without battery, kWh
    price_eur_per_kwh: np.ndarray  # (intervals,) the flats' purchase price
    contract_kw: np.ndarray  # (flats,) contractual power
    zonal_price_eur_per_mwh: float
    tip_eur_per_mwh: float
    valorisation_eur_per_mwh: float
    spec: BatterySpec
    notes: list[str]
    load_model: dict  # how the loads were modelled (summary.json's "load_model")


def case_inputs(case: Case) -> CaseInputs:
    """Stage 1: production (:func:`production_kwh`), the flats' loads by the case's load model
    (:func:`flat_loads`: ARERA profiles, synthetic shapes or measured typical
    days), purchase prices by month, the TIP and the valorisation at the zonal price; a note when the file's
    TIP differs from the formula's by more than 0.01 €/MWh."""
    pv_series = production_kwh(case)
    index = pv_series.index
    flat = flat_loads(case, index)
    loads = flat.loads_kwh
    month = index.tz_convert(ROME).month.to_numpy()
    zonal = case.zonal_price_eur_per_mwh or case.scenarios[0].zonal_price_eur_per_mwh
    tip = tip_for(case, zonal)
    notes = list(flat.notes)
    if case.premium_tariff_eur_per_mwh is not None and abs(tip - case.premium_tariff_eur_per_mwh) > 0.01:
        notes.append(
            f"TIP from the formula at {zonal} €/MWh is {tip:.2f} €/MWh; the file states "
            f"{case.premium_tariff_eur_per_mwh}"
        )
    spec = BatterySpec(
        0.0,
        case.soc_min_pct,
        case.soc_max_pct,
        case.charge_efficiency,
        case.discharge_efficiency,
        case.inverter_kw,
    )
    return CaseInputs(
        index,
        pv_series.to_numpy(),
        loads,
        np.asarray(case.energy_price_eur_per_kwh)[month - 1],
        np.array([f.contract_power_kw for f in case.flats]),
        zonal,
        tip,
        valorisation_rate_eur_per_mwh(case, zonal),
        spec,
        notes,
        flat.info,
    )


def heuristic_runs(case: Case, inputs: CaseInputs) -> list[CaseRun]:
    """Stage 2: the base case (no battery) and one heuristic-battery case per storage option, year 1."""
    sizes = [0.0] + sorted({o.capacity_kwh for o in case.storage_options})
    shared, withdrawal, soc = sizing.simulate_sizes(
        inputs.pv_kwh, inputs.loads_kwh, inputs.contract_kw, sizes, inputs.spec, inputs.price_eur_per_kwh
    )
    return [
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


def optimal_run(
    inputs: CaseInputs, heuristic: CaseRun, *, window: int, step: int, forecast: str
) -> tuple[CaseRun, dict]:
    """Stage 3: the largest battery dispatched by the LP (:func:`~condivisa.engines.dispatch.rolling_dispatch`,
    HiGHS) against the incentive TIP + valorisation, and what it gains over the heuristic of the same size."""
    pv, price = inputs.pv_kwh, inputs.price_eur_per_kwh
    big = heuristic.capacity_kwh_per_flat
    incentive = np.full(len(pv), (inputs.tip_eur_per_mwh + inputs.valorisation_eur_per_mwh) / 1000.0)
    lp = dispatch.rolling_dispatch(
        pv,
        inputs.loads_kwh,
        big,
        inputs.contract_kw,
        price,
        incentive,
        spec=inputs.spec,
        window=window,
        step=step,
        forecast=forecast,
    )
    heur_value = dispatch.dispatch_value_eur(pv, heuristic.withdrawal_kwh, price, incentive)
    run = CaseRun(
        f"optimal_{big:g}kwh",
        big,
        "optimal",
        lp.storage.withdrawal_kwh,
        lp.storage.soc_kwh,
        shared_energy_kwh(pv, lp.storage.withdrawal_kwh),
    )
    gain = {
        "capacity_kwh_per_flat": big,
        "window_quarter_hours": window,
        "step_quarter_hours": step,
        "forecast": forecast,
        "heuristic_value_eur": round(heur_value, 2),
        "optimal_value_eur": round(lp.objective_eur, 2),
        "gain_eur_per_year": round(lp.objective_eur - heur_value, 2),
        "solves": lp.n_solves,
        "solver_seconds": round(lp.solve_seconds, 2),
        "window_columns": lp.n_columns,
        "window_rows": lp.n_rows,
    }
    return run, gain


def settle_runs(case: Case, inputs: CaseInputs, runs: list[CaseRun]) -> None:
    """Stage 4: what the settlement engine pays for each run's year, settled hour by hour as the GSE does
    (``run.settled_hourly``)."""
    community = community_for(case)
    index = inputs.index
    hourly_prices = pd.Series(
        inputs.zonal_price_eur_per_mwh, index=pd.date_range(index[0], index[-1], freq="h")
    )
    for run in runs:
        frame = measurements_for(index, inputs.pv_kwh, run.withdrawal_kwh)
        run.settled_hourly = settle(community, frame, hourly_prices, interval="hour").totals


def project_years(
    case: Case, inputs: CaseInputs, runs: list[CaseRun], sizes: list[float]
) -> sizing.YearlyPhysics:
    """Stage 5: shared energy and extra purchases over the horizon (PV and battery fading) for every size; the
    optimal run's later years are the heuristic's of the same size times the year-1 ratio optimal/heuristic."""
    loads, price = inputs.loads_kwh, inputs.price_eur_per_kwh
    physics = sizing.yearly_physics(
        inputs.pv_kwh,
        loads,
        inputs.contract_kw,
        sizes,
        inputs.spec,
        price,
        horizon_years=case.horizon_years,
        pv_degradation_per_year=case.pv_degradation_per_year,
        battery_fade_per_year=case.battery_degradation_per_year,
    )
    row_of = {c: i for i, c in enumerate(sizes)}
    base_purchase = physics.purchase_eur[row_of[0.0]]
    for run in runs:
        i = row_of[run.capacity_kwh_per_flat]
        run.shared_by_year_kwh = physics.shared_kwh[i].copy()
        run.extra_purchase_by_year_eur = physics.purchase_eur[i] - base_purchase
        if run.controller != "optimal":
            continue
        heur = next(
            r
            for r in runs
            if r.controller == "heuristic" and r.capacity_kwh_per_flat == run.capacity_kwh_per_flat
        )
        ratio = run.shared_kwh.sum() / heur.shared_kwh.sum()
        run.shared_by_year_kwh = np.minimum(physics.shared_kwh[i] * ratio, physics.production_kwh[i])
        extra_lp = float(((run.withdrawal_kwh.sum(axis=0) - loads.sum(axis=0)) * price).sum())
        extra_heur = float(((heur.withdrawal_kwh.sum(axis=0) - loads.sum(axis=0)) * price).sum())
        run.extra_purchase_by_year_eur = run.extra_purchase_by_year_eur * (
            extra_lp / extra_heur if extra_heur else 1.0
        )
    return physics


def run_case(
    case: Case,
    progress: Callable[[str], None] = lambda step: None,
    *,
    lp_window: int = 192,
    lp_step: int = 96,
    lp_forecast: str = "perfect",
) -> CaseStudy:
    """The whole case study, stage by stage; ``progress(step)`` is called after each (for a progress bar).

    Parameters
    ----------
    case : Case
        The case file, read by :func:`condivisa.casestudy.casefile.load_case`.
    progress : callable
        Told the name of each finished stage.
    lp_window, lp_step : int
        The optimal controller's rolling window and step, in quarter hours (2 days, 1 day).
    lp_forecast : {"perfect", "persistence"}
        The optimal controller's forecast.

    Returns
    -------
    CaseStudy
        Every run's year 1, the economics of every run under every price scenario, the ideal kit costs, the
        sizing sweep and the notes.
    """
    inputs = case_inputs(case)
    progress("production and loads")
    runs = heuristic_runs(case, inputs)
    progress("heuristic batteries")
    dispatch_gain: dict = {}
    if case.storage_options:
        optimal, dispatch_gain = optimal_run(
            inputs, runs[-1], window=lp_window, step=lp_step, forecast=lp_forecast
        )
        runs.append(optimal)
    settle_runs(case, inputs, runs)
    progress("optimal dispatch (HiGHS)")
    sweep_sizes = sorted(set(SWEEP_KWH) | {r.capacity_kwh_per_flat for r in runs})
    physics = project_years(case, inputs, runs, sweep_sizes)
    progress("20-year physics")
    money = scenario_economics(case, runs, physics, inputs.notes)
    progress("economics")
    sweep = sizing_sweep_for(case, physics, sweep_sizes)
    progress("sizing sweep")
    return CaseStudy(
        case,
        inputs.index,
        inputs.pv_kwh,
        inputs.loads_kwh,
        inputs.price_eur_per_kwh,
        inputs.zonal_price_eur_per_mwh,
        inputs.tip_eur_per_mwh,
        inputs.valorisation_eur_per_mwh,
        runs,
        money.economics,
        money.cash_flows,
        money.ideal_kit_cost,
        sweep,
        dispatch_gain,
        inputs.notes,
        inputs.load_model,
    )
