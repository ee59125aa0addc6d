"""Benchmark: quarter-hour profiles of 10,000 households for a year from monthly F1/F2/F3 bills (issue #15).

Target: under 10 s, and at most 3x a bare numpy repeat-and-scale of arrays of the same size
(hourly shape repeated 4x and scaled per household), measured in the same run. Output float32
(10,000 x 35,136 x 4 B = 1.4 GB). Prints both times and the ratio; no assertion.

Run: ``.venv/bin/python bench/profiles.py [households]``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import time

import numpy as np
import pandas as pd

from condivisa.engines.household import bills_to_profile, household_profile
from condivisa.kernel.timegrid import quarter_hours


def _bands(instants: pd.DatetimeIndex) -> np.ndarray:
    try:
        return np.asarray(importlib.import_module("condivisa.domain.time_bands").band_of(instants), dtype=int)
    except (ImportError, AttributeError):  # ARERA 181/06 without holidays
        local = instants.tz_convert("Europe/Rome")
        hour, weekday = np.asarray(local.hour), np.asarray(local.day_of_week)
        band = np.full(len(local), 3)
        work = weekday < 5
        band[work & (((hour >= 7) & (hour < 8)) | ((hour >= 19) & (hour < 23)))] = 2
        band[work & (hour >= 8) & (hour < 19)] = 1
        band[(weekday == 5) & (hour >= 7) & (hour < 23)] = 2
        return band


def main(n_households: int = 10_000) -> None:
    rng = np.random.default_rng(0)
    start, end = dt.date(2024, 1, 1), dt.date(2025, 1, 1)
    shapes = rng.uniform(0.05, 0.6, size=(12, 3, 24))
    shape = household_profile(shapes, start, end)  # one region x class shape, kWh per quarter hour
    instants = quarter_hours(start, end)
    months, bands = np.asarray(instants.month), _bands(instants)
    bills = rng.uniform(20, 200, size=(n_households, 12, 3))
    hourly = shape.reshape(-1, 4).sum(axis=1)
    scale = rng.uniform(0.5, 2.0, size=(n_households, 1)).astype(np.float32)

    t0 = time.perf_counter()
    bare = np.repeat(hourly.astype(np.float32) / 4, 4)[None, :] * scale  # bare repeat-and-scale
    t_bare = time.perf_counter() - t0
    del bare

    t0 = time.perf_counter()
    profiles = bills_to_profile(shape, bills, months=months, bands=bands, dtype=np.float32)
    t_bills = time.perf_counter() - t0

    g = 3 * (months - 1) + bands - 1
    check = np.bincount(g, weights=profiles[0].astype(float), minlength=36)
    err = float(np.max(np.abs(check - bills[0].ravel()) / bills[0].ravel()))
    print(
        f"households: {n_households:,} x {shape.size:,} quarter hours, float32 ({profiles.nbytes / 1e9:.2f} GB)"
    )
    print(f"bills -> profiles:        {t_bills:8.3f} s  (target < 10 s)")
    print(f"bare repeat-and-scale:    {t_bare:8.3f} s")
    print(f"ratio:                    {t_bills / t_bare:8.2f} x  (target <= 3 x)")
    print(f"max relative bill error (household 0, float32): {err:.2e}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
