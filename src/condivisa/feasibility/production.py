"""The candidate plants' quarter-hour production for the reference year.

Per plant, as the case study does (:mod:`condivisa.engines.pv`):

- ``pvgis_file``: hourly AC energy from the PVGIS weather through pvlib (PVWatts, Faiman cell temperature,
  Hay–Davies transposition of a TMY), laid onto the reference year (:func:`condivisa.engines.pv.tmy_to_year`);
- ``monthly_kwh`` only: pvlib's clear-sky year at the plan's coordinates for the plant's tilt and azimuth;
- both: the weather's shape scaled to the monthly energies; with ``monthly_kwh``
  ``E'_t = E_t · M_m / Σ_{t∈m} E_t`` (:func:`condivisa.engines.pv.scale_to_monthly_kwh`).

Hours become quarter hours keeping each hour's energy
(:func:`condivisa.engines.interpolation.hourly_to_quarter_hour`). Every kWh produced is injected: a plant has
its own production POD (no self-consumption behind a member's meter is modelled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from condivisa.engines.interpolation import hourly_to_quarter_hour
from condivisa.engines.pv import (
    clearsky_hourly_kwh,
    hourly_ac_kwh_from_pvgis,
    scale_to_monthly_kwh,
    tmy_to_year,
)
from condivisa.feasibility.plan_file import Plan, PlannedPlant
from condivisa.formats.pvgis import read_pvgis_weather


def _weather_hourly_kwh(plan: Plan, plant: PlannedPlant) -> pd.Series:
    path = plant.pvgis_file
    assert path is not None
    energy = hourly_ac_kwh_from_pvgis(
        read_pvgis_weather(path),
        plant.kwp,
        plant.tilt_deg,
        plant.azimuth_deg,
        plant.system_losses_pct,
        latitude=plan.latitude,
        longitude=plan.longitude,
        altitude_m=plan.elevation_m,
    )
    return tmy_to_year(energy, plan.year)


def plant_kwh(plan: Plan, plant: PlannedPlant, index: pd.DatetimeIndex) -> tuple[np.ndarray, str]:
    """One plant's AC production per quarter hour of ``index`` (the reference year), kWh, and its source.

    Parameters
    ----------
    plan : Plan
        Coordinates and reference year.
    plant : PlannedPlant
        kWp, tilt, azimuth (PVGIS convention: 0 = south), losses, PVGIS file and/or monthly energies.
    index : pandas.DatetimeIndex
        The year's quarter-hour starts.

    Returns
    -------
    production_kwh : numpy.ndarray
        kWh per quarter hour.
    source : str
        ``"PVGIS weather"``, ``"clear sky scaled to monthly_kwh"`` or ``"PVGIS weather scaled to monthly_kwh"``.
    """
    if plant.pvgis_file is not None:
        hourly = _weather_hourly_kwh(plan, plant)
        source = "PVGIS weather"
    else:
        hourly = clearsky_hourly_kwh(
            plan.year,
            plan.latitude,
            plan.longitude,
            plant.kwp,
            plant.tilt_deg,
            plant.azimuth_deg,
            plant.system_losses_pct,
            plan.elevation_m,
        )
        source = "clear sky"
    if plant.monthly_kwh is not None:
        hourly = scale_to_monthly_kwh(hourly, plant.monthly_kwh)
        source += " scaled to monthly_kwh"
    quarter = hourly_to_quarter_hour(hourly).reindex(index)
    if quarter.isna().any():
        raise ValueError(f"plant {plant.id}: production does not cover the year {plan.year}")
    return quarter.to_numpy(dtype=float), source


def plants_kwh(plan: Plan, index: pd.DatetimeIndex) -> tuple[np.ndarray, list[str]]:
    """Every plant's production (plants × quarter hours, kWh) and a note per plant on its source."""
    rows, notes = [], []
    for plant in plan.plants:
        kwh, source = plant_kwh(plan, plant, index)
        rows.append(kwh)
        notes.append(f"{plant.id}: {source}, {kwh.sum():,.0f} kWh/year")
    return np.vstack(rows), notes
