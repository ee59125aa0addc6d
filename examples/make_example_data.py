"""Generate the example CSVs used by the README, the docs and the tests (deterministic, seed 2024).

    python examples/make_example_data.py [--month 2024-06] [--out examples]

writes ``measurements-YYYY-MM.csv`` (quarter hours of every POD of ``examples/community.yaml``) and
``prices-YYYY-MM.csv`` (hourly zonal prices: GME's real 2023 prices of the community's market zone,
replayed onto the month by :func:`condivisa.engines.price_replay.replay_prices`). Production comes from
pvlib's clear-sky irradiance at a site in southern Italy times a random daily cloudiness; consumption
from simple daily shapes per member category. Realistic in size and shape, not real data (the prices are real).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

from condivisa.domain.config import load_community
from condivisa.engines.price_replay import replay_prices
from condivisa.formats.csv_io import write_measurements, write_prices
from condivisa.formats.gme_prices import load_gme_2023
from condivisa.kernel.timegrid import quarter_hours

HERE = Path(__file__).resolve().parent
SITE = pvlib.location.Location(40.35, 18.17, tz="Europe/Rome", altitude=50)  # Lecce, zone south
#: share of daily energy by local hour, per category (rough typical shapes), and kWh per day
SHAPES = {
    "private": (
        [
            0.02,
            0.015,
            0.015,
            0.015,
            0.02,
            0.03,
            0.05,
            0.06,
            0.04,
            0.03,
            0.03,
            0.035,
            0.05,
            0.05,
            0.035,
            0.03,
            0.03,
            0.04,
            0.06,
            0.08,
            0.09,
            0.08,
            0.06,
            0.04,
        ],
        9.0,
    ),
    "sme": (
        [0.01] * 6
        + [0.03, 0.06, 0.08, 0.08, 0.08, 0.08, 0.07, 0.07, 0.08, 0.08, 0.07, 0.05, 0.03, 0.02]
        + [0.01] * 4,
        40.0,
    ),
    "public_body": (
        [0.02] * 7 + [0.05, 0.08, 0.09, 0.09, 0.09, 0.08, 0.07, 0.07, 0.06, 0.05, 0.03] + [0.02] * 6,
        60.0,
    ),
    "enterprise": (
        [0.01] * 6 + [0.04, 0.08, 0.09, 0.09, 0.09, 0.08, 0.06, 0.08, 0.09, 0.09, 0.07, 0.03] + [0.01] * 6,
        120.0,
    ),
}


def _month_days(month: str) -> tuple[dt.date, dt.date]:
    first = dt.date.fromisoformat(month + "-01")
    nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, nxt


def production_kwh(power_kw: float, qh: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Quarter-hour PV energy: clear-sky GHI (pvlib, Ineichen) × power × 0.8 × daily cloudiness."""
    ghi = SITE.get_clearsky(qh + pd.Timedelta(minutes=7.5))["ghi"].to_numpy()
    days = pd.DatetimeIndex(qh).normalize()
    cloud = (
        pd.Series(rng.uniform(0.55, 1.0, len(days.unique())), index=days.unique()).reindex(days).to_numpy()
    )
    return power_kw * ghi / 1000.0 * 0.8 * cloud * 0.25


def consumption_kwh(category: str, qh: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    shape, per_day = SHAPES.get(category, SHAPES["private"])
    weekend = np.asarray(qh.day_of_week >= 5)
    factor = np.where(weekend, 1.15 if category == "private" else 0.35, 1.0)
    base = np.asarray(shape)[np.asarray(qh.hour)] * per_day / 4.0 * factor
    return np.round(base * rng.lognormal(0.0, 0.25, len(qh)), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--month", default="2024-06")
    ap.add_argument("--config", default=str(HERE / "community.yaml"))
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args()
    community = load_community(args.config)
    first, nxt = _month_days(args.month)
    qh = quarter_hours(first, nxt)
    rng = np.random.default_rng(2024)
    frames = []
    for m in community.members:
        for pod in m.consumption_pods:
            frames.append(
                pd.DataFrame(
                    {
                        "pod": pod,
                        "start": qh,
                        "withdrawn_kwh": consumption_kwh(m.category.value, qh, rng),
                        "injected_kwh": 0.0,
                    }
                )
            )
    for p in community.plants:
        frames.append(
            pd.DataFrame(
                {
                    "pod": p.pod,
                    "start": qh,
                    "withdrawn_kwh": 0.0,
                    "injected_kwh": np.round(production_kwh(p.power_kw, qh, rng), 4),
                }
            )
        )
    out = Path(args.out)
    write_measurements(pd.concat(frames, ignore_index=True), out / f"measurements-{args.month}.csv")
    write_prices(
        replay_prices(load_gme_2023(zone=community.market_zone), first, nxt), out / f"prices-{args.month}.csv"
    )
    print(f"wrote {out}/measurements-{args.month}.csv and prices-{args.month}.csv")


if __name__ == "__main__":
    main()
