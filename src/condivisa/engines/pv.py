"""Photovoltaic production with pvlib: PVGIS weather → hourly AC energy, or a clear-sky year scaled to
given monthly energies.

Model chain (PVWatts, as PVGIS itself uses for crystalline silicon):

    POA_h   = transposition of (GHI, DNI, DHI) onto the plane (pvlib ``get_total_irradiance``, Hay–Davies),
              or Gb(i) + Gd(i) + Gr(i) when PVGIS already gives plane-of-array irradiance;
    T_cell  = Faiman model (pvlib ``temperature.faiman``) from POA, air temperature and wind;
    P_dc    = P_peak · POA/1000 · (1 + γ · (T_cell − 25)),  γ = −0.4 %/°C  (pvlib ``pvwatts_dc``);
    P_ac    = min(P_dc · (1 − losses), P_inverter)       (system losses as PVGIS: cables, inverter, soiling…);
    E_h     = P_ac · 1 h                                  [kWh for each hour].

Azimuth: PVGIS counts 0 = south, +90 = west, −90 = east; pvlib counts 0 = north, 180 = south, 270 = west,
so ``azimuth_pvlib = azimuth_pvgis + 180`` (:func:`pvgis_azimuth_to_pvlib`).

Weather files are read by :mod:`condivisa.formats.pvgis` (engines do no I/O).
Timestamps: PVGIS rows are hourly values labelled in UTC (TMY at HH:00, hourly series at HH:10). Each row
is taken as the hour starting at the full hour, with the sun's position evaluated at the middle of it.

Clear-sky: pvlib's Ineichen–Perez model with the Linke turbidity climatology shipped with pvlib
(``pvlib.clearsky.lookup_linke_turbidity``), evaluated at every quarter-hour midpoint and averaged per hour;
:func:`scale_to_monthly_kwh` then scales each month to the given energy (e.g. the PVGIS monthly table).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pvlib
from numpy.typing import ArrayLike

from condivisa.kernel.timegrid import ROME, hours

#: PVWatts temperature coefficient of crystalline silicon, 1/°C.
GAMMA_PDC_PER_C = -0.004
#: Air temperature and wind assumed by the clear-sky model when no weather is given.
CLEARSKY_TEMP_AIR_C = 20.0
CLEARSKY_WIND_M_PER_S = 1.0


def pvgis_azimuth_to_pvlib(azimuth_deg_pvgis: float) -> float:
    """PVGIS azimuth to pvlib azimuth: ``(azimuth_pvgis + 180) mod 360``.

    Parameters
    ----------
    azimuth_deg_pvgis : float
        Azimuth as PVGIS counts it, degrees: 0 = south, +90 = west, −90 = east.

    Returns
    -------
    float
        Azimuth as pvlib counts it, degrees in [0, 360): 180 = south, 270 = west.
    """
    return float((azimuth_deg_pvgis + 180.0) % 360.0)


def dc_ac_kw(
    poa_global_w_per_m2: ArrayLike,
    temp_air_c: ArrayLike,
    wind_speed_m_per_s: ArrayLike,
    peak_power_kw: float,
    system_losses_pct: float = 14.0,
    inverter_kw: float | None = None,
) -> np.ndarray:
    """AC power from plane-of-array irradiance (PVWatts).

    Faiman cell temperature, ``P_dc = P_peak · POA/1000 · (1 + γ (T_cell − 25))`` with γ = −0.4 %/°C,
    then ``P_ac = min(P_dc · (1 − losses), P_inverter)``. Negative or missing irradiance counts as zero.

    Parameters
    ----------
    poa_global_w_per_m2 : array_like
        Plane-of-array irradiance, W/m².
    temp_air_c : array_like
        Air temperature, °C.
    wind_speed_m_per_s : array_like
        Wind speed, m/s.
    peak_power_kw : float
        P_peak, kW (> 0).
    system_losses_pct : float, default 14.0
        System losses (cables, inverter, soiling…), %.
    inverter_kw : float, optional
        Inverter limit, kW; default the peak power.

    Returns
    -------
    numpy.ndarray
        AC power, kW, ≥ 0.

    Raises
    ------
    ValueError
        For a peak power ≤ 0 or losses outside 0–100 %.

    References
    ----------
    .. [1] A. P. Dobos, "PVWatts Version 5 Manual", NREL/TP-6A20-62641, 2014.
    .. [2] D. Faiman, "Assessing the outdoor operating temperature of photovoltaic modules",
       Prog. Photovolt. Res. Appl. 16 (2008) 307–315.
    """
    if peak_power_kw <= 0:
        raise ValueError(f"peak_power_kw must be > 0, got {peak_power_kw}")
    if not 0.0 <= system_losses_pct < 100.0:
        raise ValueError(f"system_losses_pct must be within 0-100, got {system_losses_pct}")
    poa = np.clip(np.nan_to_num(np.asarray(poa_global_w_per_m2, dtype=float)), 0.0, None)
    temp_cell = pvlib.temperature.faiman(
        poa, np.asarray(temp_air_c, dtype=float), np.asarray(wind_speed_m_per_s, dtype=float)
    )
    p_dc_kw = pvlib.pvsystem.pvwatts_dc(poa, temp_cell, pdc0=peak_power_kw, gamma_pdc=GAMMA_PDC_PER_C)
    p_ac_kw = np.asarray(p_dc_kw, dtype=float) * (1.0 - system_losses_pct / 100.0)
    return np.clip(p_ac_kw, 0.0, peak_power_kw if inverter_kw is None else inverter_kw)


def _poa_from_ghi(
    weather: pd.DataFrame,
    latitude: float,
    longitude: float,
    altitude_m: float,
    tilt_deg: float,
    azimuth_deg_pvgis: float,
) -> np.ndarray:
    """Hay–Davies transposition of GHI/DNI/DHI, sun at the middle of each hour."""
    middle = weather.index + pd.Timedelta(minutes=30)
    sun = pvlib.solarposition.get_solarposition(middle, latitude, longitude, altitude=altitude_m)
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=tilt_deg,
        surface_azimuth=pvgis_azimuth_to_pvlib(azimuth_deg_pvgis),
        solar_zenith=sun["apparent_zenith"].to_numpy(),
        solar_azimuth=sun["azimuth"].to_numpy(),
        dni=np.clip(weather["dni"].to_numpy(dtype=float), 0, None),
        ghi=np.clip(weather["ghi"].to_numpy(dtype=float), 0, None),
        dhi=np.clip(weather["dhi"].to_numpy(dtype=float), 0, None),
        dni_extra=pvlib.irradiance.get_extra_radiation(middle).to_numpy(),
        model="haydavies",
    )
    return np.nan_to_num(np.asarray(poa["poa_global"], dtype=float))


def hourly_ac_kwh_from_pvgis(
    weather: pd.DataFrame,
    peak_power_kw: float,
    tilt_deg: float,
    azimuth_deg_pvgis: float,
    system_losses_pct: float = 14.0,
    *,
    latitude: float | None = None,
    longitude: float | None = None,
    altitude_m: float = 0.0,
) -> pd.Series:
    """Hourly AC energy of a plant from PVGIS weather: ``E_h = P_ac,h · 1 h``.

    With plane-of-array columns (PVGIS hourly series, computed by PVGIS for *its* slope/azimuth) the
    POA is their sum and ``tilt_deg``/``azimuth_deg_pvgis`` are not used; with GHI/DNI/DHI (TMY) the
    irradiance is transposed onto the plane (Hay–Davies, sun at the middle of each hour), which needs
    ``latitude`` and ``longitude``. Then :func:`dc_ac_kw`.

    Parameters
    ----------
    weather : pandas.DataFrame
        Hourly weather read by :func:`condivisa.formats.pvgis.read_pvgis_tmy` or
        :func:`condivisa.formats.pvgis.read_pvgis_hourly`: irradiance W/m², ``temp_air`` °C,
        ``wind_speed`` m/s.
    peak_power_kw : float
        Peak power, kW.
    tilt_deg : float
        Slope of the modules, degrees from horizontal.
    azimuth_deg_pvgis : float
        Azimuth, degrees, PVGIS convention (0 = south).
    system_losses_pct : float, default 14.0
        System losses, %.
    latitude, longitude : float, optional
        Degrees; needed to transpose GHI/DNI/DHI.
    altitude_m : float, default 0.0
        Altitude, m.

    Returns
    -------
    pandas.Series
        ``production_kwh`` per hour, kWh, on the weather's index.

    Raises
    ------
    ValueError
        When the weather has neither POA nor GHI/DNI/DHI columns, or coordinates are missing.

    References
    ----------
    .. [1] A. P. Dobos, "PVWatts Version 5 Manual", NREL/TP-6A20-62641, 2014.
    .. [2] D. Faiman, "Assessing the outdoor operating temperature of photovoltaic modules",
       Prog. Photovolt. Res. Appl. 16 (2008) 307–315.
    .. [3] J. E. Hay, J. A. Davies, "Calculations of the solar radiation incident on an inclined
       surface", Proc. First Canadian Solar Radiation Data Workshop, 1980, 59–72.
    """
    if {"poa_direct", "poa_sky_diffuse", "poa_ground_diffuse"} <= set(weather.columns):
        poa = (weather["poa_direct"] + weather["poa_sky_diffuse"] + weather["poa_ground_diffuse"]).to_numpy(
            dtype=float
        )
    elif {"ghi", "dni", "dhi"} <= set(weather.columns):
        if latitude is None or longitude is None:
            raise ValueError("latitude and longitude are needed to transpose GHI/DNI/DHI onto the plane")
        poa = _poa_from_ghi(weather, latitude, longitude, altitude_m, tilt_deg, azimuth_deg_pvgis)
    else:
        raise ValueError(
            f"weather has neither POA (poa_direct…) nor GHI/DNI/DHI columns: {list(weather.columns)}"
        )
    temp = (
        weather["temp_air"].to_numpy(dtype=float)
        if "temp_air" in weather
        else np.full(len(poa), CLEARSKY_TEMP_AIR_C)
    )
    wind = (
        weather["wind_speed"].to_numpy(dtype=float)
        if "wind_speed" in weather
        else np.full(len(poa), CLEARSKY_WIND_M_PER_S)
    )
    kw = dc_ac_kw(poa, temp, wind, peak_power_kw, system_losses_pct)
    return pd.Series(kw * 1.0, index=weather.index, name="production_kwh")


def clearsky_ac_kw(
    times: pd.DatetimeIndex,
    latitude: float,
    longitude: float,
    peak_power_kw: float,
    tilt_deg: float,
    azimuth_deg_pvgis: float,
    system_losses_pct: float = 14.0,
    altitude_m: float = 0.0,
) -> np.ndarray:
    """Clear-sky AC power at given instants.

    Ineichen–Perez clear sky with pvlib's Linke turbidity climatology, isotropic transposition, then
    :func:`dc_ac_kw` at 20 °C air and 1 m/s wind.

    Parameters
    ----------
    times : pandas.DatetimeIndex
        Tz-aware instants.
    latitude, longitude : float
        Degrees.
    peak_power_kw : float
        Peak power, kW.
    tilt_deg : float
        Slope, degrees.
    azimuth_deg_pvgis : float
        Azimuth, degrees, PVGIS convention (0 = south).
    system_losses_pct : float, default 14.0
        System losses, %.
    altitude_m : float, default 0.0
        Altitude, m.

    Returns
    -------
    numpy.ndarray
        AC power at each instant, kW.

    References
    ----------
    .. [1] P. Ineichen, R. Perez, "A new airmass independent formulation for the Linke turbidity
       coefficient", Solar Energy 73 (2002) 151–157.
    """
    location = pvlib.location.Location(latitude, longitude, altitude=altitude_m)
    sun = location.get_solarposition(times)
    sky = location.get_clearsky(times, model="ineichen", solar_position=sun)
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=tilt_deg,
        surface_azimuth=pvgis_azimuth_to_pvlib(azimuth_deg_pvgis),
        solar_zenith=sun["apparent_zenith"].to_numpy(),
        solar_azimuth=sun["azimuth"].to_numpy(),
        dni=sky["dni"].to_numpy(),
        ghi=sky["ghi"].to_numpy(),
        dhi=sky["dhi"].to_numpy(),
        model="isotropic",
    )
    n = len(times)
    return dc_ac_kw(
        np.nan_to_num(np.asarray(poa["poa_global"], dtype=float)),
        np.full(n, CLEARSKY_TEMP_AIR_C),
        np.full(n, CLEARSKY_WIND_M_PER_S),
        peak_power_kw,
        system_losses_pct,
    )


def clearsky_hourly_kwh(
    year: int,
    latitude: float,
    longitude: float,
    peak_power_kw: float,
    tilt_deg: float,
    azimuth_deg_pvgis: float,
    system_losses_pct: float = 14.0,
    altitude_m: float = 0.0,
) -> pd.Series:
    """Clear-sky hourly AC energy for every hour of a civil year in Europe/Rome (DST-correct).

    ``E_h`` = the mean of :func:`clearsky_ac_kw` at the four quarter-hour midpoints of the hour, times 1 h.

    Parameters
    ----------
    year : int
        Civil year.
    latitude, longitude : float
        Degrees.
    peak_power_kw : float
        Peak power, kW.
    tilt_deg : float
        Slope, degrees.
    azimuth_deg_pvgis : float
        Azimuth, degrees, PVGIS convention (0 = south).
    system_losses_pct : float, default 14.0
        System losses, %.
    altitude_m : float, default 0.0
        Altitude, m.

    Returns
    -------
    pandas.Series
        ``production_kwh`` per hour, kWh.
    """
    index = hours(dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    offsets = pd.to_timedelta([7.5, 22.5, 37.5, 52.5], unit="min")
    instants = index.tz_convert("UTC").repeat(4) + pd.TimedeltaIndex(np.tile(offsets, len(index)))
    kw = clearsky_ac_kw(
        instants,
        latitude,
        longitude,
        peak_power_kw,
        tilt_deg,
        azimuth_deg_pvgis,
        system_losses_pct,
        altitude_m,
    )
    return pd.Series(kw.reshape(len(index), 4).mean(axis=1), index=index, name="production_kwh")


def scale_to_monthly_kwh(energy_kwh: pd.Series, monthly_kwh: ArrayLike) -> pd.Series:
    """Scale a production series so that each calendar month (Europe/Rome) sums to its target.

    ``E'_t = E_t · M_m / Σ_{t∈m} E_t``.

    Parameters
    ----------
    energy_kwh : pandas.Series
        Production per interval, kWh (tz-aware index: months in Europe/Rome).
    monthly_kwh : array_like
        M_1 … M_12, the monthly targets, kWh (e.g. the PVGIS monthly table).

    Returns
    -------
    pandas.Series
        The scaled production, kWh.

    Raises
    ------
    ValueError
        For targets not 12 values ≥ 0, or a month with a positive target and no production to scale.
    """
    targets = np.asarray(monthly_kwh, dtype=float)
    if targets.shape != (12,) or (targets < 0).any():
        raise ValueError(f"monthly_kwh must be 12 values >= 0, got {targets.tolist()}")
    months = (
        energy_kwh.index.tz_convert(ROME).month.to_numpy()
        if energy_kwh.index.tz
        else energy_kwh.index.month.to_numpy()
    )
    values = energy_kwh.to_numpy(dtype=float)
    sums = np.bincount(months - 1, weights=values, minlength=12)
    present = np.bincount(months - 1, minlength=12) > 0
    missing = present & (sums <= 0) & (targets > 0)
    if missing.any():
        raise ValueError(
            f"month(s) {[int(m) for m in np.flatnonzero(missing) + 1]} have no production to scale"
        )
    factor = np.divide(targets, sums, out=np.zeros(12), where=sums > 0)
    return pd.Series(values * factor[months - 1], index=energy_kwh.index, name=energy_kwh.name)


def tmy_to_year(energy_kwh: pd.Series, year: int) -> pd.Series:
    """Lay a typical-year series onto a civil year in Europe/Rome.

    Each hour of the year takes the TMY value of the same UTC month, day and hour (PVGIS TMYs mix hours
    from several years); 29 February (leap years) repeats 28 February.

    Parameters
    ----------
    energy_kwh : pandas.Series
        The typical year, kWh per hour, tz-aware index.
    year : int
        Civil year.

    Returns
    -------
    pandas.Series
        kWh per hour of ``year``.

    Raises
    ------
    ValueError
        When the typical year lacks an hour.
    """
    utc = pd.DatetimeIndex(energy_kwh.index).tz_convert("UTC")
    key_tmy = (utc.month * 100 + utc.day) * 100 + utc.hour
    lookup = pd.Series(energy_kwh.to_numpy(dtype=float), index=key_tmy)
    lookup = lookup[~lookup.index.duplicated()]
    target = hours(dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    t_utc = target.tz_convert("UTC")
    day = np.where((t_utc.month == 2) & (t_utc.day == 29), 28, t_utc.day)
    keys = (t_utc.month * 100 + day) * 100 + t_utc.hour
    values = lookup.reindex(keys)
    if values.isna().any():
        missing = int(keys[np.flatnonzero(values.isna().to_numpy())[0]])
        raise ValueError(
            f"typical year has no value for UTC month-day {missing // 10000:02d}-{missing // 100 % 100:02d} "
            f"hour {missing % 100:02d}"
        )
    return pd.Series(values.to_numpy(), index=target, name=energy_kwh.name)
