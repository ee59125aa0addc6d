"""Benchmark: what a dashboard page costs compared with the settlement it shows.

A community of ``--members`` consumption PODs and ``--plants`` PV plants, one month (June 2024) of quarter
hours. In the same run it times:

- the baseline: ``settle(...)`` of the month (the engine alone);
- the member page's data and charts (``member_context``: settlement + hourly flows + KPIs + 5 Plotly figures),
  first from cold (settles the month), then warm (settlement cached, what every later page view costs);
- the referente page's (``community_context``) and a member statement rendered to HTML.

It prints each time and its ratio to the baseline. Run: ``python bench/dashboard.py [--members 100]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from condivisa.domain.config import community_from_dict
from condivisa.engines.settlement import settle
from condivisa.kernel.timegrid import hours, quarter_hours
from condivisa.outputs import report
from condivisa.outputs.monthly import SettledMonths


def build(members: int, plants: int):
    raw = {
        "name": "bench",
        "configuration": "CER",
        "zone": "south",
        "constituted": "2024-01-01",
        "members": [{"id": f"m{i}", "pods": [{"pod": f"IT001E{i:08d}"}]} for i in range(members)],
        "plants": [
            {
                "id": f"pv{k}",
                "pod": f"IT001E9{k:07d}",
                "owner": "community",
                "power_kw": 50.0,
                "commissioning": "2024-01-01",
            }
            for k in range(plants)
        ],
    }
    community = community_from_dict(raw)
    idx = quarter_hours(dt.date(2024, 6, 1), dt.date(2024, 7, 1))
    h = np.asarray(idx.hour + idx.minute / 60.0)
    rng = np.random.default_rng(0)
    bell = np.clip(np.sin((h - 6) / 14 * np.pi), 0, None)
    frames = [
        pd.DataFrame(
            {"pod": pod, "start": idx, "withdrawn_kwh": rng.uniform(0.05, 0.4, len(idx)), "injected_kwh": 0.0}
        )
        for pod in community.consumption_pods
    ]
    frames += [
        pd.DataFrame(
            {"pod": p.pod, "start": idx, "withdrawn_kwh": 0.0, "injected_kwh": 50 * 0.25 * 0.7 * bell}
        )
        for p in community.plants
    ]
    hidx = hours(dt.date(2024, 6, 1), dt.date(2024, 7, 1))
    prices = pd.Series(100 + 30 * np.cos(np.asarray(hidx.hour) / 24 * 2 * np.pi), index=hidx)
    return community, pd.concat(frames, ignore_index=True), prices


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--plants", type=int, default=5)
    args = ap.parse_args()
    community, m, prices = build(args.members, args.plants)
    print(f"{args.members} members, {args.plants} plants, {len(m):,} quarter-hour rows (June 2024)")
    base = timed(lambda: settle(community, m, prices))
    cold = timed(lambda: report.member_context(SettledMonths(community, m, prices), "m0", "2024-06", "en"))
    book = SettledMonths(community, m, prices)
    book.result("2024-06")
    warm = timed(lambda: report.member_context(book, "m1", "2024-06", "en"))
    referente = timed(lambda: report.community_context(book, "2024-06", "en"))
    statement = timed(lambda: report.member_statement_html(book, "m2", "2024-06", "en"))
    print(f"{'baseline: settle() of the month':45s} {base * 1000:8.1f} ms   ratio 1.00")
    for label, t in (
        ("member page data + charts, cold", cold),
        ("member page data + charts, warm", warm),
        ("referente page data + charts, warm", referente),
        ("member statement HTML (plotly inlined)", statement),
    ):
        print(f"{label:45s} {t * 1000:8.1f} ms   ratio {t / base:5.2f}")


if __name__ == "__main__":
    main()
