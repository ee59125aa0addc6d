"""Benchmark of the optimal dispatch LP: 8 flats × one year of quarter hours, goal < 30 s.

    python bench/lp.py [--case ../shared/cases/is-corrias.yaml] [--capacity 5] [--window 192] [--step 96] [--full]

Uses the case study's production and loads (8 flats, one year: 35,136 quarter hours in 2024) and times,
in the same run:

- the heuristic (the baseline controller) and its objective value;
- the rolling-horizon LP (HiGHS, windows of ``window`` quarter hours moved by ``step``; perfect and
  persistence forecasts): wall time, time inside HiGHS, number of solves, the size of one window's model,
  and the gain over the heuristic in € per year;
- with ``--full``: the whole year as one LP (perfect foresight): its size (columns, rows, non-zeros) and
  solve time. Without ``--full`` only its size is printed (building it is cheap; solving takes minutes).

Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from condivisa.casestudy.casefile import load_case
from condivisa.casestudy.economics import tip_for, valorisation_rate_eur_per_mwh
from condivisa.casestudy.runner import production_kwh
from condivisa.engines.dispatch import dispatch_value_eur, optimal_dispatch, rolling_dispatch
from condivisa.engines.dispatch_lp import WindowModel
from condivisa.engines.loads import household_loads_kwh
from condivisa.engines.storage import BatterySpec, building_heuristic
from condivisa.kernel.timegrid import ROME

DEFAULT_CASE = Path(__file__).resolve().parents[2] / "shared" / "cases" / "is-corrias.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE)
    parser.add_argument("--capacity", type=float, default=5.0, help="kWh per flat")
    parser.add_argument("--window", type=int, default=192, help="quarter hours per LP window (192 = 2 days)")
    parser.add_argument(
        "--step", type=int, default=96, help="quarter hours kept from each window (96 = 1 day)"
    )
    parser.add_argument("--full", action="store_true", help="also solve the whole year as one LP (minutes)")
    args = parser.parse_args()

    case = load_case(args.case)
    pv_series = production_kwh(case)
    flats = [
        {
            "id": f.id,
            "appliances_kwh_per_day": f.appliances_kwh_per_day,
            "ac_july_kwh_per_day": f.ac_july_kwh_per_day,
        }
        for f in case.flats
    ]
    loads = (
        household_loads_kwh(case.year, flats, case.ac_usage_coefficient).reindex(pv_series.index).to_numpy().T
    )
    pv = pv_series.to_numpy()
    price = np.asarray(case.energy_price_eur_per_kwh)[pv_series.index.tz_convert(ROME).month.to_numpy() - 1]
    zonal = case.zonal_price_eur_per_mwh or case.scenarios[0].zonal_price_eur_per_mwh
    incentive = np.full(len(pv), (tip_for(case, zonal) + valorisation_rate_eur_per_mwh(case, zonal)) / 1000)
    contract = np.array([f.contract_power_kw for f in case.flats])
    spec = BatterySpec(
        args.capacity,
        case.soc_min_pct,
        case.soc_max_pct,
        case.charge_efficiency,
        case.discharge_efficiency,
        case.inverter_kw,
    )
    n_b, n_t = loads.shape
    print(f"{n_b} flats × {n_t} quarter hours, {args.capacity:g} kWh per flat")

    started = time.perf_counter()
    heuristic = building_heuristic(pv, loads, args.capacity, contract, spec)
    t_heur = time.perf_counter() - started
    h_value = dispatch_value_eur(pv, heuristic.withdrawal_kwh, price, incentive)
    print(f"  heuristic                         {t_heur:7.2f} s   value {h_value:10.2f} €")

    for forecast in ("perfect", "persistence"):
        started = time.perf_counter()
        r = rolling_dispatch(
            pv,
            loads,
            args.capacity,
            contract,
            price,
            incentive,
            spec=spec,
            window=args.window,
            step=args.step,
            forecast=forecast,
        )
        wall = time.perf_counter() - started
        print(
            f"  rolling LP, {forecast:11s}           {wall:7.2f} s   value {r.objective_eur:10.2f} €   "
            f"gain {r.objective_eur - h_value:8.2f} €/yr   HiGHS {r.solve_seconds:.2f} s in {r.n_solves} solves; "
            f"window model {r.n_columns} columns × {r.n_rows} rows, {r.n_nonzeros} non-zeros"
        )
        print(
            f"    ratio to the heuristic's time: {wall / t_heur:.0f}×; goal < 30 s: {'met' if wall < 30 else 'NOT met'}"
        )

    started = time.perf_counter()
    model = WindowModel(n_b, n_t, spec, warm_start=False)
    print(
        f"  full-year LP: {model.n_col} columns × {model.n_row} rows, {model.nnz} non-zeros "
        f"(built in {time.perf_counter() - started:.2f} s)"
    )
    del model
    if args.full:
        started = time.perf_counter()
        r = optimal_dispatch(pv, loads, args.capacity, contract, price, incentive, spec=spec)
        wall = time.perf_counter() - started
        print(
            f"  full-year LP solved              {wall:7.2f} s   value {r.objective_eur:10.2f} €   "
            f"gain {r.objective_eur - h_value:8.2f} €/yr   HiGHS {r.solve_seconds:.2f} s; goal < 30 s: "
            f"{'met' if wall < 30 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
