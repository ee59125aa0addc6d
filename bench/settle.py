"""Benchmark of the settlement engine.

    python bench/settle.py [--consumers 1000] [--plants 20] [--year 2024] [--repeat 3]

Builds a synthetic CER of 1,000 consumption PODs and 20 plants with one year of quarter hours
(35,040 per POD; 35,136 in a leap year — use --year 2023 for exactly 35,040) as the long measurements
table, then times in the same run:

- ``engine``: :func:`condivisa.engines.settlement.settle` on that table (validation, pivot onto the
  dense grid, missing-data count, hourly sums, shared energy, TIP per plant-hour, valorisation, sale,
  months, allocation in cents);
- ``baseline``: bare numpy doing the same reduction from the same columns: hourly sums per POD
  (``np.bincount``), Σ withdrawn, Σ injected, their minimum, the attribution to the plants by seniority
  (the community's default, ``rules.shared_energy_attribution``: oldest plant first, a running
  remainder per hour) and the dot with TIP.

It prints both times, their ratio (goal ≤ 2.2, issue #14), and peak memory: the process's maximum resident set and
the engine's own peak allocation (tracemalloc, in a separate untimed run). Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd

from condivisa.domain.config import community_from_dict
from condivisa.engines.settlement import settle
from condivisa.engines.tariff import tip_eur_per_mwh
from condivisa.kernel.timegrid import hours, quarter_hours


def build(consumers: int, plants: int, year: int, seed: int = 1):
    """A community dict, the long measurements table, hourly prices and the raw columns for the baseline."""
    rng = np.random.default_rng(seed)
    cats = ["private"] * 8 + ["sme", "enterprise"]
    members = [
        {
            "id": f"m{i:04d}",
            "category": cats[i % 10],
            "founder": i % 7 != 0,
            "millesimi": 1 + i % 9,
            "pods": [{"pod": f"IT001E{i:08d}"}],
        }
        for i in range(consumers)
    ]
    plant_list = [
        {
            "id": f"pv{k:02d}",
            "pod": f"IT001E9{k:07d}",
            "owner": members[k * 13 % consumers]["id"] if k % 3 else "community",
            "power_kw": float([50, 180, 250, 600, 900][k % 5]),
            "source": "pv" if k % 4 else "wind",
            "commissioning": f"{2023 + (k % 2)}-0{1 + k % 9}-15",
            "grant_fraction": [0.0, 0.2, 0.4][k % 3],
        }
        for k in range(plants)
    ]
    raw = {
        "name": "bench CER",
        "configuration": "CER",
        "zone": "centre",
        "constituted": f"{year - 1}-06-01",
        "primary_substation": "AC1",
        "members": members,
        "plants": plant_list,
        "rules": {
            "premium": {
                "producers": 0.1,
                "community": 0.15,
                "consumers": 0.75,
                "consumers_by": "consumption",
            },
            "later_members": {
                "annual_fee_eur": 24,
                "exit_penalty_eur": 50,
                "min_shared_consumption_kwh_per_year": 50,
            },
        },
    }
    community = community_from_dict(raw)
    qh = quarter_hours(dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    n = len(qh)
    hour = np.asarray(qh.hour)
    day_shape = 0.6 + 0.8 * np.exp(-(((hour - 20) / 3.0) ** 2)) + 0.4 * np.exp(-(((hour - 8) / 2.0) ** 2))
    wd = (rng.lognormal(-1.8, 0.5, (consumers, n)) * day_shape).astype(float)
    sun = np.clip(np.sin((hour + np.asarray(qh.minute) / 60 - 6) / 14 * np.pi), 0, None)
    inj = (
        np.array([p["power_kw"] for p in plant_list])[:, None]
        * 0.25
        * sun
        * rng.uniform(0.3, 1.0, (plants, n))
    )
    points = consumers + plants
    frame = pd.DataFrame(
        {
            "pod": pd.Categorical.from_codes(
                np.repeat(np.arange(points), n),
                categories=[m["pods"][0]["pod"] for m in members] + [p["pod"] for p in plant_list],
            ),
            "start": np.tile(qh.tz_convert("UTC").as_unit("ns").asi8, points).view("M8[ns]"),
            "withdrawn_kwh": np.concatenate([wd.ravel(), np.zeros(plants * n)]),
            "injected_kwh": np.concatenate([np.zeros(consumers * n), inj.ravel()]),
        }
    )
    frame["start"] = frame["start"].dt.tz_localize("UTC").dt.tz_convert("Europe/Rome")
    del wd, inj
    h = hours(dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    prices = pd.Series(np.round(rng.uniform(40, 220, len(h)), 2), index=h)
    return community, frame, prices


def baseline(frame: pd.DataFrame, prices: pd.Series, community, consumers: int) -> float:
    """The same reduction in bare numpy from the same columns; returns the premium in €."""
    codes = frame["pod"].cat.codes.to_numpy()
    t_ns = pd.DatetimeIndex(frame["start"]).as_unit("ns").asi8
    t0 = t_ns.min()
    hidx = (t_ns - t0) // (3600 * 10**9)
    n_h = int(hidx.max()) + 1
    points = int(codes.max()) + 1
    flat = codes.astype(np.int64) * n_h + hidx
    wd_h = np.bincount(flat, weights=frame["withdrawn_kwh"].to_numpy(), minlength=points * n_h).reshape(
        points, n_h
    )
    inj_h = np.bincount(flat, weights=frame["injected_kwh"].to_numpy(), minlength=points * n_h).reshape(
        points, n_h
    )
    wd_tot = wd_h[:consumers].sum(axis=0)
    inj_p = inj_h[consumers:]
    inj_tot = inj_p.sum(axis=0)
    shared = np.minimum(inj_tot, wd_tot)
    shared_p = np.empty_like(inj_p)
    left = shared.copy()
    for k in community.plant_seniority():  # oldest first: min(what is left, the plant's injection)
        np.minimum(left, inj_p[k], out=shared_p[k])
        left -= shared_p[k]
    pz = prices.to_numpy()
    tip = np.array(
        [tip_eur_per_mwh(pz, p.power_kw, community.zone, p.is_pv, p.grant_fraction) for p in community.plants]
    )
    return float(np.sum(shared_p * tip) / 1000.0)


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description="settlement engine vs bare-numpy baseline")
    ap.add_argument("--consumers", type=int, default=1000)
    ap.add_argument("--plants", type=int, default=20)
    ap.add_argument("--year", type=int, default=2023)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    t = time.perf_counter()
    community, frame, prices = build(args.consumers, args.plants, args.year)
    n_q = frame["start"].nunique() if len(frame) < 2_000_000 else len(frame) // (args.consumers + args.plants)
    print(
        f"data: {args.consumers} consumption PODs + {args.plants} plants × {n_q} quarter hours = "
        f"{len(frame):,} rows, built in {time.perf_counter() - t:.1f} s"
    )

    t_base, premium_base = best_of(lambda: baseline(frame, prices, community, args.consumers), args.repeat)
    t_eng, result = best_of(lambda: settle(community, frame, prices), args.repeat)
    d = result.to_dict()
    # the engine's premium also applies eligibility (commissioning, constitution); recompute the baseline's
    # check value only for information
    print(
        f"baseline (bare numpy: hourly sums, min, seniority, dot with TIP): {t_base:8.3f} s   premium "
        f"{premium_base:,.2f} € (all plants)"
    )
    print(
        f"engine   (settle: validate, pivot, gaps, TIP, valorisation, sale, allocation): {t_eng:8.3f} s   "
        f"premium {d['totals']['premium_eur']:,.2f} € (eligible plants)"
    )
    print(f"ratio engine / baseline: {t_eng / t_base:.2f}   (goal ≤ 2.2)")
    del result, d
    gc.collect()
    tracemalloc.start()
    settle(community, frame, prices)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    input_mb = frame.memory_usage(deep=True).sum() / 2**20
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"memory: input table {input_mb:,.0f} MiB; engine peak allocation {peak / 2**20:,.0f} MiB "
        f"(tracemalloc); process max RSS {rss_mb:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
