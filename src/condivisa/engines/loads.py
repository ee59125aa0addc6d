"""Household load profiles at 15 minutes: synthetic (given daily energies) or from measurements.

Synthetic profile of one flat, for quarter hour q of civil day d (Europe/Rome) in month m:

    E_q = A · a(τ_q) / Σ_{q'∈d} a(τ_q')  +  C_July · Ku_m · c_m(τ_q) / Σ_{q'∈d} c_m(τ_q')      [kWh]

A the appliances' daily energy (same every month), C_July the air-conditioning daily energy of July and
Ku_m the monthly AC usage coefficient (so AC(m) = C_July · Ku_m, as in the case study); τ_q the local time
of day. Normalising over each civil day's own quarter hours keeps the daily energy exact on DST days
(92 or 100 quarter hours). Shapes (working households, away during the day):

* appliances a(τ): night base + morning peak (≈ 07:15) + small lunch bump (≈ 13:30) + evening peak (≈ 20:00);
* AC c_m(τ): cooling months (May–Sep) afternoon/evening plateau (12–23 h, thermostat at 22 °C);
  heating months (Oct–Apr) the heat pump at waking-up and in the evening.

Optional day-to-day variation: each day's energy is multiplied by a seeded lognormal factor, normalised
to mean 1 within each month so that **monthly** energies stay exactly as given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from condivisa.engines.interpolation import hourly_to_quarter_hour
from condivisa.kernel.timegrid import ROME, year_quarter_hours

COOLING_MONTHS = frozenset({5, 6, 7, 8, 9})


def _bump(hours_of_day: np.ndarray, centre_h: float, width_h: float) -> np.ndarray:
    return np.exp(-0.5 * ((hours_of_day - centre_h) / width_h) ** 2)


def appliance_shape(hours_of_day: ArrayLike) -> np.ndarray:
    """Relative appliance demand at local time of day (hours, 0–24): base + morning/lunch/evening peaks."""
    h = np.asarray(hours_of_day, dtype=float)
    return 0.25 + 1.6 * _bump(h, 7.25, 0.8) + 0.6 * _bump(h, 13.5, 0.9) + 2.2 * _bump(h, 20.0, 1.6)


def ac_shape(hours_of_day: ArrayLike, cooling: bool) -> np.ndarray:
    """Relative air-conditioning demand: cooling afternoon/evening plateau, or heating morning + evening."""
    h = np.asarray(hours_of_day, dtype=float)
    if cooling:
        plateau = 1.0 / (1.0 + np.exp(-(h - 12.0) * 2.0)) / (1.0 + np.exp((h - 23.0) * 2.0))
        return 0.05 + plateau * (1.0 + 0.5 * _bump(h, 16.0, 2.5))
    return 0.05 + 1.3 * _bump(h, 7.0, 1.0) + 1.0 * _bump(h, 20.5, 1.8)


def _day_normalised(weights: np.ndarray, day_codes: np.ndarray) -> np.ndarray:
    """weights / (sum of weights over the same civil day)."""
    sums = np.bincount(day_codes, weights=weights)
    return weights / sums[day_codes]


def synthetic_household_kwh(
    year: int,
    appliances_kwh_per_day: float,
    ac_july_kwh_per_day: float = 0.0,
    ac_usage_coefficient: ArrayLike = (1.0,) * 12,
    *,
    variation: float = 0.0,
    seed: int | None = None,
    index: pd.DatetimeIndex | None = None,
) -> pd.Series:
    """Quarter-hour consumption (kWh) of one flat over a civil year in Europe/Rome (see module docstring).

    ``variation`` is the standard deviation of the lognormal day factor (0 = every day of a month alike);
    ``seed`` makes it reproducible. ``index`` defaults to
    :func:`condivisa.kernel.timegrid.year_quarter_hours`.
    """
    ku = np.asarray(ac_usage_coefficient, dtype=float)
    if ku.shape != (12,) or (ku < 0).any():
        raise ValueError(f"ac_usage_coefficient must be 12 values >= 0, got {ku.tolist()}")
    if appliances_kwh_per_day < 0 or ac_july_kwh_per_day < 0:
        raise ValueError(f"daily energies must be >= 0, got {appliances_kwh_per_day}, {ac_july_kwh_per_day}")
    if variation < 0:
        raise ValueError(f"variation must be >= 0, got {variation}")
    index = year_quarter_hours(year) if index is None else index
    local = index.tz_convert(ROME)
    hod = local.hour.to_numpy() + local.minute.to_numpy() / 60.0 + 7.5 / 60.0  # middle of the quarter
    month = local.month.to_numpy()
    day_codes, days = pd.factorize(local.normalize())
    cooling = np.isin(month, list(COOLING_MONTHS))
    ac_weights = np.where(cooling, ac_shape(hod, True), ac_shape(hod, False))
    energy = appliances_kwh_per_day * _day_normalised(appliance_shape(hod), day_codes)
    energy = energy + ac_july_kwh_per_day * ku[month - 1] * _day_normalised(ac_weights, day_codes)
    if variation > 0:
        rng = np.random.default_rng(seed)
        factor = rng.lognormal(0.0, variation, size=len(days))
        day_month = days.month.to_numpy()
        # rescale the factors so that each month keeps its energy exactly
        day_energy = np.bincount(day_codes, weights=energy)
        month_energy = np.bincount(day_month - 1, weights=day_energy, minlength=12)
        month_scaled = np.bincount(day_month - 1, weights=day_energy * factor, minlength=12)
        factor = (
            factor
            * np.divide(month_energy, month_scaled, out=np.ones(12), where=month_scaled > 0)[day_month - 1]
        )
        energy = energy * factor[day_codes]
    return pd.Series(energy, index=index, name="load_kwh")


def household_loads_kwh(
    year: int,
    flats: list[dict],
    ac_usage_coefficient: ArrayLike,
    *,
    variation: float = 0.0,
    seed: int | None = None,
) -> pd.DataFrame:
    """Quarter-hour loads of several flats (columns = flat ids). Each flat is a mapping with ``id``,
    ``appliances_kwh_per_day`` and ``ac_july_kwh_per_day``; flat k uses seed ``seed + k``."""
    index = year_quarter_hours(year)
    columns = {}
    for k, flat in enumerate(flats):
        columns[str(flat["id"])] = synthetic_household_kwh(
            year,
            float(flat["appliances_kwh_per_day"]),
            float(flat.get("ac_july_kwh_per_day", 0.0)),
            ac_usage_coefficient,
            variation=variation,
            seed=None if seed is None else seed + k,
            index=index,
        ).to_numpy()
    return pd.DataFrame(columns, index=index)


def loads_from_measurements(measurements: pd.DataFrame, pods: list[str] | None = None) -> pd.DataFrame:
    """Quarter-hour withdrawal per POD (columns) from the measurements table (``pod``, ``start``,
    ``withdrawn_kwh``, ``injected_kwh``). Hourly readings are split into quarter hours with the
    mean-preserving interpolation; missing intervals stay NaN so the caller decides how to fill them."""
    missing = {"pod", "start", "withdrawn_kwh"} - set(measurements.columns)
    if missing:
        raise ValueError(f"measurements: missing column(s) {sorted(missing)}")
    table = measurements.pivot_table(index="start", columns="pod", values="withdrawn_kwh", aggfunc="sum")
    if pods is not None:
        unknown = set(pods) - set(table.columns)
        if unknown:
            raise ValueError(f"measurements: no rows for POD(s) {sorted(unknown)}")
        table = table[list(pods)]
    index = pd.DatetimeIndex(table.index)
    if index.tz is None:
        raise ValueError("measurements: start must be time-zone aware")
    step = pd.Series(index.tz_convert("UTC")).diff().min()
    if step == pd.Timedelta(hours=1):
        full = pd.date_range(index.min(), index.max(), freq="h")
        hourly = table.reindex(full)
        if hourly.isna().any().any():
            raise ValueError(
                "measurements: hourly readings have gaps; fill them before splitting into quarter hours"
            )
        return hourly_to_quarter_hour(hourly)
    if step != pd.Timedelta(minutes=15):
        raise ValueError(f"measurements: interval must be 15 minutes or 1 hour, got {step}")
    full = pd.date_range(index.min(), index.max(), freq="15min")
    table = table.reindex(full)
    table.index = table.index.tz_convert(ROME)
    return table


def month_daily_energy_kwh(load_kwh: pd.Series) -> pd.Series:
    """Mean daily energy per month (kWh/day), Europe/Rome — for checking profiles against inputs."""
    local = load_kwh.index.tz_convert(ROME)
    daily = load_kwh.groupby(local.normalize()).sum()
    return daily.groupby(daily.index.month).mean()
