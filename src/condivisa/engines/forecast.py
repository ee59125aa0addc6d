"""Day-ahead forecast of a community's spare production: clear sky × a clearness index, and persistence.

Method (every series is hourly, indexed by the hour start, aware; days are civil days in Europe/Rome, so a
day has 23, 24 or 25 hours):

- **clear sky** ``C_h``: the plants' clear-sky AC energy (pvlib Ineichen–Perez, :mod:`condivisa.engines.pv`),
  the mean of the power at the four quarter-hour midpoints of each hour;
- **clearness index** ``k = clip(Σ_h M_h / Σ_h C_h, 0, 1.2)`` over the daylight hours (``C_h > 0``) of the
  last ``days`` days (default 3), with ``M_h`` the measured production: how much of the clear sky the
  recent weather (and the plants' real losses) let through; carried over to tomorrow (persistence);
- **production** ``P_h = k · C_h`` for tomorrow's hours;
- **consumption** ``L_h`` = the mean withdrawal of the same local hour on the days of the same type
  (working day, Saturday, Sunday or national holiday; :func:`condivisa.domain.time_bands.day_type`) over
  the previous ``weeks`` weeks (default 4);
- **spare production** ``S_h = max(0, P_h − L_h)``;
- **error** of a day: ``MAE = mean |F_h − A_h|``, ``bias = mean (F_h − A_h)`` (kWh; positive: too high),
  and the error of the daily total ``100 · (Σ F − Σ A) / Σ A`` (%; ``nan`` when ``Σ A = 0``).

Alternative production from a forecast file (:mod:`condivisa.formats.forecast_file`):

- from a **power** forecast ``p_i`` (kW, mean over interval i of length ``Δt``):
  ``P_h = Σ_{i ∈ h} p_i · Δt`` (kWh; :func:`hourly_energy_kwh`);
- from a **plane-of-array irradiance** forecast ``G_i`` (W/m², mean over interval i):
  ``p_i = P_peak · max(G_i, 0) / G_STC · PR`` with ``G_STC = 1000 W/m²`` and the performance ratio ``PR``
  (:data:`PERFORMANCE_RATIO`; :func:`poa_power_kw`), then as above.

Limits of the clear-sky path: no weather service — a cloudy tomorrow after three sunny days is forecast
sunny; a plant's injection is taken as its production (behind-the-meter self-consumption lowers ``k``).

References
----------
.. [1] P. Ineichen, R. Perez, "A new airmass independent formulation for the Linke turbidity
   coefficient", Solar Energy 73 (2002) 151–157.
.. [2] R. Perez et al., "Making full use of the solar resource with clear-sky models and clearness
   indices", persistence of the clearness index as the reference day-ahead forecast.
.. [3] IEC 61724-1:2021, "Photovoltaic system performance — Part 1: Monitoring": performance ratio
   ``PR = Y_f / Y_r``, final yield over reference yield ``H_poa / G_STC``.
.. [4] N. Reich et al., "Performance ratio revisited: is PR > 90 % realistic?", Prog. Photovolt. Res.
   Appl. 20 (2012) 717–726: well-kept crystalline-silicon systems reach PR ≈ 0.75–0.90.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from condivisa.domain.time_bands import day_type
from condivisa.engines.pv import clearsky_ac_kw
from condivisa.kernel.timegrid import ROME, hours

#: the clearness index is clipped to this range (cloud-edge enhancement may exceed the clear sky a little)
CLEARNESS_MIN, CLEARNESS_MAX = 0.0, 1.2
#: default number of recent days of the clearness index, and of weeks of the consumption profile
RECENT_DAYS = 3
RECENT_WEEKS = 4
#: standard test condition irradiance, W/m²
G_STC_W_PER_M2 = 1000.0
#: the performance ratio assumed from plane-of-array irradiance to AC energy (temperature, inverter,
#: cables, soiling, mismatch): a typical value of well-kept crystalline-silicon systems ([3], [4])
PERFORMANCE_RATIO = 0.80


def day_hours(day: dt.date) -> pd.DatetimeIndex:
    """The hour starts of a civil day in Europe/Rome: 24, or 23 / 25 on the DST days."""
    return hours(day, day + dt.timedelta(days=1))


def clearsky_day_kwh(
    day: dt.date,
    latitude: float,
    longitude: float,
    peak_power_kw: float,
    tilt_deg: float = 30.0,
    azimuth_deg_pvgis: float = 0.0,
    system_losses_pct: float = 14.0,
) -> pd.Series:
    """Clear-sky hourly AC energy of one plant over one civil day.

    ``C_h`` = the mean of :func:`condivisa.engines.pv.clearsky_ac_kw` at the four quarter-hour midpoints of
    the hour, times 1 h.

    Parameters
    ----------
    day : datetime.date
        Civil day, Europe/Rome.
    latitude, longitude : float
        Degrees.
    peak_power_kw : float
        Peak power, kW.
    tilt_deg : float, default 30.0
        Slope, degrees.
    azimuth_deg_pvgis : float, default 0.0
        Azimuth, degrees, PVGIS convention (0 = south).
    system_losses_pct : float, default 14.0
        System losses, %.

    Returns
    -------
    pandas.Series
        ``clearsky_kwh`` per hour of the day, kWh.
    """
    index = day_hours(day)
    offsets = pd.to_timedelta([7.5, 22.5, 37.5, 52.5], unit="min")
    instants = index.tz_convert("UTC").repeat(4) + pd.TimedeltaIndex(np.tile(offsets, len(index)))
    kw = clearsky_ac_kw(
        instants, latitude, longitude, peak_power_kw, tilt_deg, azimuth_deg_pvgis, system_losses_pct
    )
    return pd.Series(kw.reshape(len(index), 4).mean(axis=1), index=index, name="clearsky_kwh")


def _days(index: pd.DatetimeIndex) -> np.ndarray:
    return np.array([t.date() for t in index.tz_convert(ROME)])


def clearness_index(
    measured_kwh: pd.Series, clearsky_kwh: pd.Series, days: int = RECENT_DAYS, last_day: dt.date | None = None
) -> float:
    """The clearness index of the recent days: measured production over clear-sky production.

    ``k = clip(Σ_h M_h / Σ_h C_h, 0, 1.2)`` over the hours h of the ``days`` civil days ending on
    ``last_day`` where both series have a value and the clear sky is positive (daylight).

    Parameters
    ----------
    measured_kwh : pandas.Series
        Measured hourly production, kWh, aware index.
    clearsky_kwh : pandas.Series
        Clear-sky hourly production of the same plants, kWh, aware index.
    days : int, default 3
        Number of civil days (Europe/Rome).
    last_day : datetime.date, optional
        The last day counted; default the last day of ``measured_kwh``.

    Returns
    -------
    float
        ``k`` within [0, 1.2]; ``nan`` when the window holds no daylight hour.
    """
    both = pd.concat({"m": measured_kwh, "c": clearsky_kwh}, axis=1, join="inner").dropna()
    if both.empty:
        return float("nan")
    local_days = _days(pd.DatetimeIndex(both.index))
    end = last_day or local_days.max()
    first = end - dt.timedelta(days=days - 1)
    window = both[(local_days >= first) & (local_days <= end) & (both["c"].to_numpy() > 0)]
    total_clearsky = float(window["c"].sum())
    if total_clearsky <= 0:
        return float("nan")
    return float(np.clip(window["m"].sum() / total_clearsky, CLEARNESS_MIN, CLEARNESS_MAX))


def production_forecast_kwh(clearsky_tomorrow_kwh: pd.Series, k: float) -> pd.Series:
    """Tomorrow's hourly production: ``P_h = k · C_h``.

    Parameters
    ----------
    clearsky_tomorrow_kwh : pandas.Series
        Clear-sky hourly production of tomorrow, kWh.
    k : float
        Clearness index (:func:`clearness_index`).

    Returns
    -------
    pandas.Series
        ``production_kwh`` per hour, kWh.
    """
    return (clearsky_tomorrow_kwh.astype(float) * float(k)).rename("production_kwh")


def consumption_forecast_kwh(
    hourly_withdrawn: pd.Series, day: dt.date, weeks: int = RECENT_WEEKS
) -> pd.Series:
    """Tomorrow's hourly consumption: the same day type over the previous weeks (persistence).

    ``L_h`` = the mean of the withdrawal at the same local hour on the days of the same type as ``day``
    (``weekday``, ``saturday``, ``holiday``) among the ``7 · weeks`` days before ``day``. On the 25-hour
    day both 02:00 hours take the mean of 02:00; on the 23-hour day there is no 02:00.

    Parameters
    ----------
    hourly_withdrawn : pandas.Series
        Hourly withdrawal, kWh, aware index.
    day : datetime.date
        The day forecast (Europe/Rome).
    weeks : int, default 4
        Weeks of history.

    Returns
    -------
    pandas.Series
        ``consumption_kwh`` per hour of ``day``, kWh; ``nan`` for an hour no day of the type has.
    """
    target = day_hours(day)
    series = hourly_withdrawn.dropna()
    local = pd.DatetimeIndex(series.index).tz_convert(ROME)
    days = np.array([t.date() for t in local])
    first = day - dt.timedelta(days=7 * weeks)
    kind = day_type(day)[0]
    in_window = (days >= first) & (days < day)
    same = np.zeros(len(days), dtype=bool)
    if in_window.any():
        same[in_window] = day_type(list(days[in_window])) == kind
    chosen = series[same]
    profile = chosen.groupby(pd.DatetimeIndex(chosen.index).tz_convert(ROME).hour).mean()
    values = profile.reindex(target.tz_convert(ROME).hour).to_numpy(dtype=float)
    return pd.Series(values, index=target, name="consumption_kwh")


def spare_forecast_kwh(production: pd.Series, consumption: pd.Series) -> pd.Series:
    """Spare production per hour: ``S_h = max(0, P_h − L_h)``.

    Parameters
    ----------
    production, consumption : pandas.Series
        Hourly production and consumption, kWh, on the same index.

    Returns
    -------
    pandas.Series
        ``spare_kwh`` per hour, kWh, ≥ 0.
    """
    spare = np.maximum(0.0, production.to_numpy(dtype=float) - consumption.to_numpy(dtype=float))
    return pd.Series(spare, index=production.index, name="spare_kwh")


def by_local_hour(series: pd.Series) -> np.ndarray:
    """24 values, local hours 0–23: the sum per local hour (the 25-hour day's two 02:00 add up)."""
    local = pd.DatetimeIndex(series.index).tz_convert(ROME)
    return series.groupby(local.hour).sum().reindex(range(24), fill_value=0.0).to_numpy(dtype=float)


def forecast_error(forecast_kwh: pd.Series, actual_kwh: pd.Series) -> pd.DataFrame:
    """The error of a forecast per civil day.

    ``MAE = mean_h |F_h − A_h|``, ``bias = mean_h (F_h − A_h)``, ``total % = 100 · (Σ F − Σ A) / Σ A``,
    over the hours both series have.

    Parameters
    ----------
    forecast_kwh, actual_kwh : pandas.Series
        Hourly forecast and measured values, kWh, aware index.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``day``: ``hours``, ``forecast_kwh``, ``actual_kwh`` (daily totals), ``mae_kwh``,
        ``bias_kwh``, ``total_error_pct`` (``nan`` when the actual total is 0).
    """
    both = pd.concat({"f": forecast_kwh, "a": actual_kwh}, axis=1, join="inner").dropna()
    both["day"] = _days(pd.DatetimeIndex(both.index))
    both["d"] = both["f"] - both["a"]
    both["abs"] = both["d"].abs()
    grouped = both.groupby("day")
    out = pd.DataFrame(
        {
            "hours": grouped.size(),
            "forecast_kwh": grouped["f"].sum(),
            "actual_kwh": grouped["a"].sum(),
            "mae_kwh": grouped["abs"].mean(),
            "bias_kwh": grouped["d"].mean(),
        }
    )
    actual = out["actual_kwh"].to_numpy(dtype=float)
    diff = out["forecast_kwh"].to_numpy(dtype=float) - actual
    out["total_error_pct"] = np.divide(100.0 * diff, actual, out=np.full(len(out), np.nan), where=actual != 0)
    out.index.name = "day"
    return out


def poa_power_kw(
    poa_w_per_m2: pd.Series, peak_power_kw: float, performance_ratio: float = PERFORMANCE_RATIO
) -> pd.Series:
    """AC power of PV plants from plane-of-array irradiance, with a performance ratio.

    ``p = P_peak · max(G_poa, 0) / G_STC · PR`` with ``G_STC = 1000 W/m²`` (IEC 61724-1: ``PR`` is the
    final yield over the reference yield ``H_poa / G_STC``, so ``E = P_peak · H_poa / G_STC · PR``).
    A negative irradiance (a forecast service's rounding at night) counts as zero.

    Parameters
    ----------
    poa_w_per_m2 : pandas.Series
        Mean plane-of-array irradiance per interval, W/m².
    peak_power_kw : float
        The plants' peak power ``P_peak``, kW (> 0).
    performance_ratio : float, default 0.80
        ``PR``, in (0, 1].

    Returns
    -------
    pandas.Series
        ``production_kw`` per interval, kW, same index.

    Raises
    ------
    ValueError
        For a peak power ≤ 0 or a performance ratio outside (0, 1].

    References
    ----------
    .. [1] IEC 61724-1:2021, "Photovoltaic system performance — Part 1: Monitoring".
    .. [2] N. Reich et al., "Performance ratio revisited: is PR > 90 % realistic?", Prog. Photovolt. Res.
       Appl. 20 (2012) 717–726.
    """
    if not peak_power_kw > 0:
        raise ValueError(f"peak_power_kw must be > 0, got {peak_power_kw}")
    if not 0 < performance_ratio <= 1:
        raise ValueError(f"performance_ratio must be within (0, 1], got {performance_ratio}")
    g = np.clip(poa_w_per_m2.to_numpy(dtype=float), 0.0, None)
    kw = peak_power_kw * g / G_STC_W_PER_M2 * performance_ratio
    return pd.Series(kw, index=poa_w_per_m2.index, name="production_kw")


def hourly_energy_kwh(power_kw: pd.Series, step: pd.Timedelta) -> pd.Series:
    """Hourly energy from the mean power of intervals of ``step`` (15 min or 1 h).

    ``E_h = Σ_{i ∈ h} p_i · Δt`` (kWh, ``Δt`` in hours); only the hours whose ``1 h / Δt`` intervals are all
    present are returned.

    Parameters
    ----------
    power_kw : pandas.Series
        Mean power per interval, kW, indexed by the interval start (aware).
    step : pandas.Timedelta
        The interval length; divides one hour.

    Returns
    -------
    pandas.Series
        ``production_kwh`` per complete hour, indexed by the hour start (Europe/Rome).
    """
    per_hour = int(pd.Timedelta(hours=1) / step)
    if per_hour < 1 or pd.Timedelta(hours=1) % step != pd.Timedelta(0):
        raise ValueError(f"step must divide one hour, got {step}")
    index = pd.DatetimeIndex(power_kw.index).tz_convert("UTC")
    start = index.floor("h")  # Europe/Rome offsets are whole hours: the UTC hour is the local hour
    values = power_kw.to_numpy(dtype=float) * (step / pd.Timedelta(hours=1))
    grouped = pd.Series(values, index=start).groupby(level=0)
    energy = grouped.sum()[grouped.size() == per_hour]
    out = pd.Series(energy.to_numpy(), index=pd.DatetimeIndex(energy.index).tz_convert(ROME))
    return out.rename("production_kwh")


def missing_hours(energy_kwh: pd.Series, day: dt.date) -> pd.DatetimeIndex:
    """The hour starts of ``day`` (Europe/Rome) that ``energy_kwh`` has no value for."""
    index = day_hours(day)
    have = pd.DatetimeIndex(energy_kwh.dropna().index)
    return index[~index.isin(have)]
