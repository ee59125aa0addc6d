"""Benchmark of demand-response events in the settlement (issue #19): what measuring and valuing events
adds to a month's settlement.

    python bench/flex_events.py [--members 200] [--events 8] [--repeat 3]

One synthetic CER (``--members`` households with the simulator's appliance shape, two PV plants of 100 kW)
with 45 days of history and one month of quarter hours (June 2026); ``--events`` events of 3 hours on
working days of the month, every member invited. In the same run it times

* the **baseline**: the month settled without events (:func:`condivisa.engines.settlement.settle`);
* measuring the events: each member's 10-of-10 baseline and response
  (:func:`condivisa.engines.flexibility.measure_events`);
* the month settled with the measured events (extra shared energy, premium and bonus);

and prints the ratios ``(measure + settle with events) / settle`` and ``measure / settle`` (best of
``--repeat``). Nothing is asserted. Measured on the 2-core development machine (2026-12-01, 200 members,
8 events, 581,760 rows): settle 0.035 s, measuring the 1,600 member-events 2.3 s (1.4 ms each: ratio about
65; the first version pivoted each member's readings once per event with pandas and took 26.8 s), settle
with the events 0.08 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from condivisa.domain.config import community_from_dict
from condivisa.engines.flexibility import EventWindow, measure_events
from condivisa.engines.loads import appliance_shape
from condivisa.engines.settlement import settle
from condivisa.kernel.timegrid import ROME, quarter_hours

FIRST, MONTH_START, MONTH_END = dt.date(2026, 5, 1), dt.date(2026, 6, 1), dt.date(2026, 7, 1)


def build(members: int, n_events: int) -> tuple:
    rng = np.random.default_rng(7)
    raw = {
        "name": "Bench flex",
        "configuration": "CER",
        "zone": "south",
        "constituted": "2024-01-01",
        "members": [{"id": f"m{k}", "pods": [{"pod": f"C{k:05d}"}]} for k in range(members)],
        "plants": [
            {
                "id": f"pv{k}",
                "pod": f"P{k}",
                "owner": "community",
                "power_kw": 100,
                "commissioning": "2024-01-01",
            }
            for k in range(2)
        ],
        "rules": {"flexibility_bonus": {"share": 0.3}},
    }
    community = community_from_dict(raw)
    idx = quarter_hours(FIRST, MONTH_END)
    hours = (idx.hour + idx.minute / 60).to_numpy(float)
    shape = appliance_shape(hours)
    pv = np.clip(np.sin((hours - 6) / 14 * np.pi), 0, None) * 100 * 0.25 * 0.8
    frames = []
    for k in range(members):
        wd = shape / shape.mean() * rng.uniform(0.06, 0.12) * rng.lognormal(0, 0.1, len(idx))
        frames.append(
            pd.DataFrame({"pod": f"C{k:05d}", "start": idx, "withdrawn_kwh": wd, "injected_kwh": 0.0})
        )
    for k in range(2):
        frames.append(pd.DataFrame({"pod": f"P{k}", "start": idx, "withdrawn_kwh": 0.0, "injected_kwh": pv}))
    measurements = pd.concat(frames, ignore_index=True)
    days = [d for d in pd.date_range(MONTH_START, MONTH_END, inclusive="left") if d.weekday() < 5][:n_events]
    windows = []
    for d in days:
        start = pd.Timestamp(dt.datetime(d.year, d.month, d.day, 11, tzinfo=ROME))
        windows.append(
            EventWindow(
                f"ev-{d:%m%d}", start, start + pd.Timedelta(hours=3), tuple(m.id for m in community.members)
            )
        )
        sel = (measurements["start"] >= start) & (measurements["start"] < start + pd.Timedelta(hours=3))
        measurements.loc[sel & measurements["pod"].str.startswith("C"), "withdrawn_kwh"] *= 1.5
    month = measurements[measurements["start"] >= pd.Timestamp(MONTH_START, tz=ROME)].reset_index(drop=True)
    prices = pd.Series(
        100.0,
        index=pd.date_range(
            pd.Timestamp(MONTH_START, tz=ROME), pd.Timestamp(MONTH_END, tz=ROME), freq="h", inclusive="left"
        ),
    )
    return community, measurements, month, prices, windows


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=200)
    ap.add_argument("--events", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    community, history, month, prices, windows = build(a.members, a.events)
    t_plain, plain = best(lambda: settle(community, month, prices), a.repeat)
    t_measure, measured = best(lambda: measure_events(community, history, windows), a.repeat)
    events, problems = measured
    t_flex, flex = best(lambda: settle(community, month, prices, events=events), a.repeat)
    f = flex.flexibility
    print(f"{a.members} members, {len(events)} events, {len(month):,} quarter-hour rows in the month")
    print(f"settle without events (baseline): {t_plain:.3f} s")
    print(f"measure the events:               {t_measure:.3f} s  ({len(problems)} problems)")
    print(f"settle with the events:           {t_flex:.3f} s")
    print(f"ratio (measure + settle) / settle: {(t_measure + t_flex) / t_plain:.2f}")
    print(f"ratio measure / settle:            {t_measure / t_plain:.2f}")
    print(
        f"extra shared {f.extra_shared_kwh:,.1f} kWh, extra premium {f.extra_premium_cents / 100:,.2f} €, "
        f"bonus {f.bonus_cents / 100:,.2f} €; premium in total unchanged: "
        f"{sum(plain.allocation.premium.values()) == sum(flex.allocation.premium.values())}"
    )


if __name__ == "__main__":
    main()
