"""Benchmark of ``settle-all``'s scaling: many communities settled serially and on a Dask cluster.

    python bench/settle_many.py [--communities 1000] [--members 50] [--month 2026-11] [--workers 2]

Each task builds one synthetic CER (``--members`` consumption PODs and two PV plants, as bench/settle.py
builds its community, on a smaller scale) with one month of quarter hours, **deterministically from the
community's index** (its own random seed), and computes the billing preview the way ``settle-all`` does
(:func:`condivisa.billing.runs.preview`: the month settled, every payee's line in cents). So the benchmark
measures the settlement engine's scaling; the read path from PostgreSQL is measured by bench/read_path.py.

In the same run it times the serial loop (this process), the same tasks in plain worker processes
(``ProcessPoolExecutor``: the machine's own ceiling, what two processes running at once get from these two
cores) and Dask on a ``distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``, checks
that serial and Dask give the same cents for every community, and prints the rates (communities/s), the
speed-up (goal ≥ 1.7 on 2 cores), how much of the ceiling Dask reaches and the peak memory (resident set)
per worker, MiB. Measured on the 2-core development machine (2026-12-01, 1,000 communities): serial 305.8 s,
plain processes 160.6 s (ceiling 1.90), Dask 163.9 s: speed-up **1.87**, 0.98 of the ceiling; peak RSS
about 340 MiB per worker. Earlier runs while other jobs shared the cores gave 1.37–1.52, and before Dask's
``MALLOC_TRIM_THRESHOLD_`` was unset (below) each Dask task took about 30 % longer. It times one community
first and prints an ETA; use ``--communities`` to shrink the run. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from condivisa.app.settle_all import peak_rss_mib
from condivisa.billing.runs import preview
from condivisa.domain.config import community_from_dict
from condivisa.kernel.timegrid import quarter_hours
from condivisa.outputs.monthly import month_bounds
from condivisa.outputs.sources import SettlementInputs, zonal_prices


def build_inputs(index: int, members: int, month: str) -> SettlementInputs:
    """Community ``index``: ``members`` consumers, two PV plants, one month of quarter hours (seeded)."""
    import pandas as pd

    rng = np.random.default_rng(index)
    cats = ["private"] * 8 + ["sme", "enterprise"]
    member_list = [
        {"id": f"m{i:03d}", "category": cats[i % 10], "founder": i % 7 != 0, "millesimi": 1 + i % 9,
         "pods": [{"pod": f"IT{index % 1000:03d}E{i:08d}"}]}
        for i in range(members)
    ]  # fmt: skip
    plants = [
        {
            "id": f"pv{k}",
            "pod": f"IT{index % 1000:03d}E9{k:07d}",
            "owner": "community" if k else "m000",
            "power_kw": float(15 * members * (0.3 + 0.4 * k)),
            "source": "pv",
            "commissioning": f"2025-0{3 + k}-15",
        }
        for k in range(2)
    ]
    community = community_from_dict(
        {
            "name": f"bench CER {index}",
            "configuration": "CER",
            "zone": "south",
            "market_zone": "SUD",
            "constituted": "2025-01-01",
            "primary_substation": "AC1",
            "members": member_list,
            "plants": plants,
            "rules": {"premium": {"producers": 0.1, "community": 0.15, "consumers": 0.75}},
        }
    )
    lo, hi = month_bounds(month)
    qh = quarter_hours(lo.date(), hi.date())
    hour = np.asarray(qh.hour) + np.asarray(qh.minute) / 60
    shape = 0.6 + 0.8 * np.exp(-(((hour - 20) / 3.0) ** 2)) + 0.4 * np.exp(-(((hour - 8) / 2.0) ** 2))
    withdrawn = rng.lognormal(-1.8, 0.5, (members, len(qh))) * shape
    sun = np.clip(np.sin((hour - 6) / 14 * np.pi), 0, None)
    injected = (
        np.array([p["power_kw"] for p in plants])[:, None] * 0.25 * sun * rng.uniform(0.3, 1, (2, len(qh)))
    )
    pods = [m["pods"][0]["pod"] for m in member_list] + [p["pod"] for p in plants]
    starts = pd.DatetimeIndex(np.tile(qh.tz_convert("UTC").as_unit("ns").asi8, len(pods)).view("M8[ns]"))
    frame = pd.DataFrame(
        {
            "pod": pd.Categorical.from_codes(np.repeat(np.arange(len(pods)), len(qh)), categories=pods),
            "start": starts.tz_localize("UTC").tz_convert("Europe/Rome"),
            "withdrawn_kwh": np.concatenate([withdrawn.ravel(), np.zeros(2 * len(qh))]).round(4),
            "injected_kwh": np.concatenate([np.zeros(members * len(qh)), injected.ravel()]).round(4),
        }
    )
    prices = zonal_prices("SUD", lo.date(), hi.date())
    return SettlementInputs(community, frame, prices, prices_assumed=False)


def settle_index(index: int, members: int, month: str) -> dict:
    """One task: build community ``index`` and compute its preview; its cents, seconds and worker memory."""
    t0 = time.perf_counter()
    draft = preview(build_inputs(index, members, month), (month,))
    return {
        "index": index,
        "total_cents": draft.total_cents,
        "lines": len(draft.lines),
        "seconds": time.perf_counter() - t0,
        "pid": os.getpid(),
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--communities", type=int, default=1000)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--month", default="2026-11")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n, members, month = args.communities, args.members, args.month

    settle_index(n, members, month)  # warm-up (imports, caches), untimed
    one = settle_index(n + 1, members, month)["seconds"]
    eta = n * one * (1 + 1 / (0.85 * args.workers)) + 5
    rows = len(build_inputs(0, members, month).measurements)
    print(f"{n:,} communities × {members} members × {month} ({rows:,} rows each)")
    print(f"one community: {one:.3f} s → ETA of the whole run ≈ {eta / 60:.1f} min")

    t0 = time.perf_counter()
    serial = [settle_index(i, members, month) for i in range(n)]
    serial_s = time.perf_counter() - t0
    serial_rss = peak_rss_mib()
    print(f"serial:  {serial_s:8.1f} s  {n / serial_s:7.2f} communities/s   peak RSS {serial_rss:.0f} MiB")

    # the machine's own ceiling: the same tasks in plain worker processes (no Dask), in the same run
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        list(pool.map(settle_index, [n] * args.workers, [members] * args.workers, [month] * args.workers))
        t0 = time.perf_counter()
        pooled = list(pool.map(settle_index, range(n), [members] * n, [month] * n))
        pool_s = time.perf_counter() - t0
    mean_pool = sum(r["seconds"] for r in pooled) / n
    print(
        f"pool ×{args.workers}: {pool_s:8.1f} s  {n / pool_s:7.2f} communities/s (plain processes, no Dask)"
    )

    import dask
    from distributed import Client, LocalCluster, as_completed

    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in every worker it spawns; with it glibc's malloc
    # stops adapting its mmap threshold and each task here ran about 45 % slower (0.40 s instead of 0.27 s a
    # community, measured on this machine). None unsets it (dask's documented override; docs/settle-all.md).
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(settle_index, n, members, month)  # warm-up on every worker, untimed
        t0 = time.perf_counter()
        futures = client.map(settle_index, range(n), members=members, month=month, pure=False)
        parallel = [f.result() for f in as_completed(futures)]
        dask_s = time.perf_counter() - t0
    peak_by_worker: dict[int, float] = {}
    for r in parallel:
        peak_by_worker[r["pid"]] = max(peak_by_worker.get(r["pid"], 0.0), r["peak_rss_mib"])
    print(f"dask ×{args.workers}: {dask_s:8.1f} s  {n / dask_s:7.2f} communities/s")
    mean_serial = sum(r["seconds"] for r in serial) / n
    mean_dask = sum(r["seconds"] for r in parallel) / n
    print(
        f"mean seconds per community: serial {mean_serial:.3f}, in a pool process {mean_pool:.3f}, "
        f"in a Dask worker {mean_dask:.3f}"
    )
    print(f"machine load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    same = {r["index"]: r["total_cents"] for r in serial} == {r["index"]: r["total_cents"] for r in parallel}
    print(f"same cents, community by community: {'yes' if same else 'NO'}")
    print(f"speed-up: {serial_s / dask_s:.2f} (goal ≥ 1.7 on 2 cores; {os.cpu_count()} cores here)")
    print(
        f"the machine's ceiling (plain processes): {serial_s / pool_s:.2f}; "
        f"Dask reaches {pool_s / dask_s:.2f} of it"
    )
    tasks = {pid: sum(1 for r in parallel if r["pid"] == pid) for pid in peak_by_worker}
    for pid, peak in sorted(peak_by_worker.items()):
        print(f"  worker pid {pid}: {tasks[pid]} communities, peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
