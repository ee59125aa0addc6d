"""Tomorrow's spare production of a community, forecast from the store, and how good the forecast was.

Production is what the PV plants' PODs injected (as the store holds it: the distributor's values where
present, else the DU readings); consumption is what the members' consumption PODs withdrew. The method is
:mod:`condivisa.engines.forecast`: clear sky of the plants × the clearness index of the last 3 days, and the
same day type of the last 4 weeks.

Where the plants are: ``community.yaml`` gives neither coordinates nor the plants' orientation, and the
municipality list has no coordinates, so the clear sky is computed at a reference point of the
community's zone (:data:`ZONE_REFERENCE`) for panels at 30° facing south. The clearness index absorbs
most of the difference (it is measured on the same plants), the hour of the peak may move by a fraction
of an hour.

A forecast file (``production_file``: :mod:`condivisa.formats.forecast_file`) replaces clear sky × ``k``
for the production: a power forecast (kW) is taken as the community's production; a plane-of-array
irradiance forecast (W/m²) is turned into energy for all the PV plants' peak power with
:func:`condivisa.engines.forecast.poa_power_kw` (one irradiance for all plants: the file is for one place
and one orientation). Consumption, spare production and windows are computed as without a file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from condivisa.domain.community import Community
from condivisa.domain.tariffs import Zone
from condivisa.engines import forecast as fc
from condivisa.engines.indicators import ShiftWindow, best_hours_to_shift
from condivisa.formats.forecast_file import ForecastFile, read_forecast_file
from condivisa.kernel.timegrid import ROME, local_midnight
from condivisa.outputs.stored import stored_measurements

if TYPE_CHECKING:
    from condivisa.store.store import Store

#: reference point (latitude, longitude) of each zone: Bologna, Roma, Cosenza
ZONE_REFERENCE: dict[Zone, tuple[float, float]] = {
    Zone.NORTH: (44.49, 11.34),
    Zone.CENTRE: (41.90, 12.50),
    Zone.SOUTH: (39.30, 16.25),
}
#: the panels assumed: tilt and azimuth (PVGIS convention, 0 = south), degrees
DEFAULT_TILT_DEG, DEFAULT_AZIMUTH_DEG = 30.0, 0.0
#: the advised windows last this many hours
WINDOW_HOURS = 3


@dataclass(frozen=True)
class Forecast:
    """The forecast of one day.

    Attributes
    ----------
    day : datetime.date
        The day forecast (Europe/Rome).
    hourly : pandas.DataFrame
        ``hour_start`` (aware, Europe/Rome), ``production_kwh``, ``consumption_kwh``, ``spare_kwh``: 23, 24
        or 25 rows.
    clearness_index : float
        ``k`` of the last days; ``nan`` when the production came from a file.
    windows : tuple of ShiftWindow
        The best windows of :data:`WINDOW_HOURS` hours to move a load to, best first.
    latitude, longitude : float
        Where the clear sky was computed (the zone's reference point; unused with a file).
    production_source : str, default ``"clear sky × k"``
        Where the production came from: ``"clear sky × k"``, or the file (``"Open-Meteo file x.json"``).
    """

    day: dt.date
    hourly: pd.DataFrame
    clearness_index: float
    windows: tuple[ShiftWindow, ...]
    latitude: float
    longitude: float
    production_source: str = "clear sky × k"


def _hourly(measurements: pd.DataFrame, pods: list[str], column: str) -> pd.Series:
    rows = measurements[measurements["pod"].isin(pods)]
    if rows.empty:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz=ROME))
    start = pd.to_datetime(rows["start"]).dt.tz_convert(ROME).dt.floor("h")
    grouped = rows[column].astype(float).groupby(pd.DatetimeIndex(start)).sum()
    return grouped.set_axis(pd.DatetimeIndex(grouped.index).tz_convert(ROME))


def _clearsky(community: Community, day: dt.date) -> pd.Series:
    latitude, longitude = ZONE_REFERENCE[community.zone]
    total = pd.Series(0.0, index=fc.day_hours(day), name="clearsky_kwh")
    for plant in community.plants:
        if plant.is_pv:
            total = total + fc.clearsky_day_kwh(
                day, latitude, longitude, plant.power_kw, DEFAULT_TILT_DEG, DEFAULT_AZIMUTH_DEG
            )
    return total


def _history(store: Store, community: Community, first_day: dt.date, last_day: dt.date):
    m = stored_measurements(
        store, community, local_midnight(first_day), local_midnight(last_day + dt.timedelta(days=1))
    )
    plant_pods = [p.pod for p in community.plants if p.is_pv]
    consumption_pods = [pod for member in community.members for pod in member.consumption_pods]
    return _hourly(m, plant_pods, "injected_kwh"), _hourly(m, consumption_pods, "withdrawn_kwh")


def _forecast(community: Community, production: pd.Series, consumption: pd.Series, day: dt.date) -> Forecast:
    before = day - dt.timedelta(days=1)
    recent = [before - dt.timedelta(days=i) for i in range(fc.RECENT_DAYS)]
    clearsky_recent = pd.concat([_clearsky(community, d) for d in reversed(recent)])
    k = fc.clearness_index(
        production[production.index < local_midnight(day)], clearsky_recent, last_day=before
    )
    if np.isnan(k):
        raise ValueError(f"no production measured in the {fc.RECENT_DAYS} days before {day}: no forecast")
    prod = fc.production_forecast_kwh(_clearsky(community, day), k)
    return _assemble(community, prod, consumption, day, k)


def _assemble(
    community: Community,
    prod: pd.Series,
    consumption: pd.Series,
    day: dt.date,
    k: float,
    source: str = "clear sky × k",
) -> Forecast:
    """The :class:`Forecast` of ``day`` from its hourly production and the consumption history."""
    cons = fc.consumption_forecast_kwh(consumption, day).fillna(0.0)
    spare = fc.spare_forecast_kwh(prod, cons)
    hourly = pd.DataFrame(
        {
            "hour_start": prod.index,
            "production_kwh": prod.to_numpy(),
            "consumption_kwh": cons.to_numpy(),
            "spare_kwh": spare.to_numpy(),
        }
    )
    windows = best_hours_to_shift(fc.by_local_hour(spare), duration_h=WINDOW_HOURS, n=3, min_spare_kwh=0.05)
    latitude, longitude = ZONE_REFERENCE[community.zone]
    return Forecast(day, hourly, k, tuple(windows), latitude, longitude, source)


def _hour_ranges(missing: pd.DatetimeIndex, with_offset: bool) -> str:
    """``00:00–05:00, 20:00``: the missing hour starts, local time (with the UTC offset on a DST day), runs
    of consecutive hours joined."""
    fmt = "%H:%M%z" if with_offset else "%H:%M"
    runs: list[list[pd.Timestamp]] = []
    for t in missing.tz_convert(ROME):
        if runs and t - runs[-1][-1] == pd.Timedelta(hours=1):
            runs[-1].append(t)
        else:
            runs.append([t])
    return ", ".join(
        r[0].strftime(fmt) if len(r) == 1 else f"{r[0].strftime(fmt)}–{r[-1].strftime(fmt)}" for r in runs
    )


def file_production_kwh(community: Community, forecast_file: ForecastFile, day: dt.date) -> pd.Series:
    """The hourly production of ``day`` from a forecast file.

    Power (kW): ``P_h = Σ_{i ∈ h} p_i · Δt``; irradiance (W/m²): ``p_i = P_peak · G_i / 1000 · PR`` with
    ``P_peak`` the sum of the community's PV plants' ``power_kw`` and ``PR`` =
    :data:`condivisa.engines.forecast.PERFORMANCE_RATIO`, then the same sum
    (:mod:`condivisa.engines.forecast`).

    Parameters
    ----------
    community : Community
        The community (its PV plants, for an irradiance file).
    forecast_file : ForecastFile
        As :func:`condivisa.formats.forecast_file.read_forecast_file` returns it.
    day : datetime.date
        The day forecast (Europe/Rome).

    Returns
    -------
    pandas.Series
        ``production_kwh`` for each of the 23, 24 or 25 hours of ``day``, kWh.

    Raises
    ------
    ValueError
        When the file does not cover every hour of ``day`` (the message lists the missing hours), or an
        irradiance file is given for a community with no PV plant.
    """
    power = forecast_file.values
    if forecast_file.kind == "irradiance":
        peak_kw = sum(p.power_kw for p in community.plants if p.is_pv)
        if peak_kw <= 0:
            raise ValueError(
                f"{forecast_file.path}: an irradiance forecast, but the community has no PV plant"
            )
        power = fc.poa_power_kw(power, peak_kw)
    energy = fc.hourly_energy_kwh(power, forecast_file.step)
    missing = fc.missing_hours(energy, day)
    if len(missing):
        n = len(fc.day_hours(day))
        raise ValueError(
            f"{forecast_file.path}: the {forecast_file.source} forecast does not cover {day}: "
            f"{len(missing)} of its {n} hours missing ({_hour_ranges(missing, n != 24)})"
        )
    return energy.reindex(fc.day_hours(day)).rename("production_kwh")


def community_forecast(
    store: Store, community: Community, day: dt.date, production_file: str | Path | None = None
) -> Forecast:
    """The forecast of ``day`` from what the store holds of the days before it.

    Parameters
    ----------
    store : condivisa.store.store.Store
        An open store.
    community : Community
        The community.
    day : datetime.date
        The day forecast (usually tomorrow).
    production_file : str or pathlib.Path, optional
        A production forecast file (:func:`condivisa.formats.forecast_file.read_forecast_file`): its
        production for ``day`` (:func:`file_production_kwh`) replaces clear sky × ``k``; the
        ``clearness_index`` is then ``nan``.

    Returns
    -------
    Forecast

    Raises
    ------
    ValueError
        When no production was measured in the last days before ``day`` (without a file), or the file does
        not cover ``day``.
    condivisa.formats.csv_io.InputError
        When the file is malformed (a :class:`ValueError` too).
    """
    forecast_file = None if production_file is None else read_forecast_file(production_file)
    first = day - dt.timedelta(days=7 * fc.RECENT_WEEKS)
    production, consumption = _history(store, community, first, day - dt.timedelta(days=1))
    if forecast_file is None:
        return _forecast(community, production, consumption, day)
    prod = file_production_kwh(community, forecast_file, day)
    source = f"{forecast_file.source} file {Path(forecast_file.path).name}"
    return _assemble(community, prod, consumption, day, float("nan"), source)


def forecast_errors(
    store: Store, community: Community, first_day: dt.date, last_day: dt.date
) -> pd.DataFrame:
    """Day by day, the forecast made the day before against what was measured.

    Parameters
    ----------
    store : condivisa.store.store.Store
        An open store.
    community : Community
        The community.
    first_day, last_day : datetime.date
        The days compared (both included).

    Returns
    -------
    pandas.DataFrame
        One row per day that could be forecast and was measured: ``day``, ``clearness_index``, and for
        ``spare`` and ``production`` the :func:`condivisa.engines.forecast.forecast_error` columns
        (``spare_mae_kwh``, ``spare_bias_kwh``, ``spare_total_error_pct``, ``spare_forecast_kwh``,
        ``spare_actual_kwh``, and the same with ``production_``).
    """
    first = first_day - dt.timedelta(days=7 * fc.RECENT_WEEKS)
    production, consumption = _history(store, community, first, last_day)
    return _errors(community, production, consumption, first_day, last_day)


def outlook(
    store: Store, community: Community, today: dt.date, days: int = 7
) -> tuple[Forecast, pd.DataFrame]:
    """Tomorrow's :func:`community_forecast` and the :func:`forecast_errors` of the ``days`` days before
    ``today``, from one read of the store (what the referente's community page shows).

    Raises
    ------
    ValueError
        When no production was measured in the last days before tomorrow.
    """
    first_error = today - dt.timedelta(days=days)
    first = first_error - dt.timedelta(days=7 * fc.RECENT_WEEKS)
    production, consumption = _history(store, community, first, today)
    tomorrow = _forecast(community, production, consumption, today + dt.timedelta(days=1))
    return tomorrow, _errors(community, production, consumption, first_error, today - dt.timedelta(days=1))


def _errors(
    community: Community, production: pd.Series, consumption: pd.Series, first_day: dt.date, last_day: dt.date
) -> pd.DataFrame:
    """The rows of :func:`forecast_errors` from the hourly production and consumption already read."""
    actual = pd.concat({"p": production, "c": consumption}, axis=1).fillna(0.0)
    actual_spare = pd.Series(np.maximum(0.0, actual["p"] - actual["c"]), index=actual.index)
    rows = []
    day = first_day
    while day <= last_day:
        try:
            f = _forecast(community, production, consumption, day)
        except ValueError:
            day += dt.timedelta(days=1)
            continue
        hourly = f.hourly.set_index("hour_start")
        row: dict[str, object] = {"day": day, "clearness_index": f.clearness_index}
        for name, forecast, measured in (
            ("spare", hourly["spare_kwh"], actual_spare),
            ("production", hourly["production_kwh"], actual["p"]),
        ):
            err = fc.forecast_error(forecast, measured)
            if err.empty:
                break
            for column in ("forecast_kwh", "actual_kwh", "mae_kwh", "bias_kwh", "total_error_pct"):
                row[f"{name}_{column}"] = float(err[column].iloc[0])
        else:
            rows.append(row)
        day += dt.timedelta(days=1)
    return pd.DataFrame(rows)


def round_kw(kw: float) -> float:
    if kw >= 20:
        return float(5 * round(kw / 5))
    if kw >= 5:
        return float(round(kw))
    return round(kw, 1)


def advice_sentence(forecast: Forecast, today: dt.date, lang: str = "it") -> str:
    """The sentence for members: ``domani tra le 11 e le 14 la comunità avrà circa 40 kW in più`` (``lang``
    ``en``: ``tomorrow between 11 and 14 the community will have about 40 kW spare``).

    The power is the mean spare power over the best window (spare kWh / hours), rounded to 5 kW above
    20 kW, to 1 kW above 5 kW, else to 0.1 kW.
    """
    tomorrow = forecast.day == today + dt.timedelta(days=1)
    if lang == "en":
        when = "tomorrow" if tomorrow else f"on {forecast.day:%d/%m/%Y}"
        if not forecast.windows:
            return f"{when} the community will have no spare production to use"
    else:
        when = "domani" if tomorrow else f"il {forecast.day:%d/%m/%Y}"
        if not forecast.windows:
            return f"{when} la comunità non avrà produzione in più da usare"
    best = forecast.windows[0]
    kw = round_kw(best.spare_kwh / best.hours)
    end = (best.start_hour + best.hours) % 24
    if lang == "en":
        return f"{when} between {best.start_hour} and {end} the community will have about {kw:g} kW spare"
    amount = f"{kw:g}".replace(".", ",")
    return f"{when} tra le {best.start_hour} e le {end} la comunità avrà circa {amount} kW in più"
