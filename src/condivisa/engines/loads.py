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
    """Relative appliance demand a(τ) at local time of day: base + morning, lunch and evening peaks.

    ``a(τ) = 0.25 + 1.6·g(τ; 7.25, 0.8) + 0.6·g(τ; 13.5, 0.9) + 2.2·g(τ; 20, 1.6)`` with
    ``g(τ; c, w) = exp(−½ ((τ − c)/w)²)``.

    Parameters
    ----------
    hours_of_day : array_like
        Local time of day τ, hours (0–24).

    Returns
    -------
    numpy.ndarray
        a(τ), dimensionless (only its shape over a day matters).
    """
    h = np.asarray(hours_of_day, dtype=float)
    return 0.25 + 1.6 * _bump(h, 7.25, 0.8) + 0.6 * _bump(h, 13.5, 0.9) + 2.2 * _bump(h, 20.0, 1.6)


def ac_shape(hours_of_day: ArrayLike, cooling: bool) -> np.ndarray:
    """Relative air-conditioning demand c(τ): a cooling plateau, or heating morning and evening.

    Cooling: ``0.05 + σ(2(τ − 12)) · σ(−2(τ − 23)) · (1 + 0.5·g(τ; 16, 2.5))`` (σ the logistic function);
    heating: ``0.05 + 1.3·g(τ; 7, 1) + 1.0·g(τ; 20.5, 1.8)``, with g as in :func:`appliance_shape`.

    Parameters
    ----------
    hours_of_day : array_like
        Local time of day τ, hours (0–24).
    cooling : bool
        Cooling month (May–September) or heating month.

    Returns
    -------
    numpy.ndarray
        c(τ), dimensionless.
    """
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
    """Quarter-hour consumption of one flat over a civil year in Europe/Rome.

    ``E_q = A · a(τ_q) / Σ_d a + C_July · Ku_m · c_m(τ_q) / Σ_d c_m`` (module docstring): each civil day
    gets exactly its daily energy, DST days included.

    Parameters
    ----------
    year : int
        Civil year.
    appliances_kwh_per_day : float
        A, appliances' daily energy, kWh/day.
    ac_july_kwh_per_day : float, default 0.0
        C_July, air conditioning's daily energy in July, kWh/day.
    ac_usage_coefficient : array_like, default twelve 1.0
        Ku_m, the monthly AC usage coefficients (12 values ≥ 0).
    variation : float, default 0.0
        Standard deviation of the lognormal day factor (0: every day of a month alike); the factors are
        normalised so that each month keeps its energy.
    seed : int, optional
        Seed of the day factors.
    index : pandas.DatetimeIndex, optional
        The quarter hours; default :func:`condivisa.kernel.timegrid.year_quarter_hours`.

    Returns
    -------
    pandas.Series
        ``load_kwh`` per quarter hour, kWh.

    Raises
    ------
    ValueError
        For negative energies or variation, or Ku not 12 values ≥ 0.
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
    """Quarter-hour loads of several flats (:func:`synthetic_household_kwh` for each).

    Parameters
    ----------
    year : int
        Civil year.
    flats : list of dict
        Each with ``id``, ``appliances_kwh_per_day`` and ``ac_july_kwh_per_day`` (kWh/day).
    ac_usage_coefficient : array_like
        Ku_m, 12 monthly AC usage coefficients.
    variation : float, default 0.0
        Standard deviation of the lognormal day factor.
    seed : int, optional
        Flat k uses seed ``seed + k``.

    Returns
    -------
    pandas.DataFrame
        kWh per quarter hour, one column per flat id.
    """
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
    """Quarter-hour withdrawal per POD from the measurements table.

    Hourly readings are split into quarter hours with the mean-preserving interpolation
    (:func:`condivisa.engines.interpolation.hourly_to_quarter_hour`); missing quarter hours stay NaN so
    the caller decides how to fill them.

    Parameters
    ----------
    measurements : pandas.DataFrame
        ``pod``, ``start`` (tz-aware), ``withdrawn_kwh`` (kWh).
    pods : list of str, optional
        The PODs to keep, in this order; default all.

    Returns
    -------
    pandas.DataFrame
        Withdrawal, kWh per quarter hour, one column per POD.

    Raises
    ------
    ValueError
        For missing columns or PODs, naive times, gaps in hourly data, or an interval other than
        15 minutes or 1 hour.
    """
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
    """Mean daily energy per month, Europe/Rome: for checking profiles against their inputs.

    Parameters
    ----------
    load_kwh : pandas.Series
        Energy per interval, kWh, tz-aware index.

    Returns
    -------
    pandas.Series
        kWh/day, indexed by month 1–12 (the months present).
    """
    local = load_kwh.index.tz_convert(ROME)
    daily = load_kwh.groupby(local.normalize()).sum()
    return daily.groupby(daily.index.month).mean()
