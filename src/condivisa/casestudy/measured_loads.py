"""``loads: measured``: each flat's typical day per month from its POD's readings stored in the condivisa database.

For flat f, month m, day type k (weekday / Saturday / Sunday-holiday, Italian calendar) and quarter hour of the
local clock day s = 4·hour + minute // 15 (0…95):

    T_f[m, k, s] = mean over the stored days d of month m (any year) of type k of  E_f(d, s)      [kWh]

when month m has at least :data:`MIN_DAYS_PER_TYPE` stored days of type k; otherwise the mean over all the
stored days of month m. A stored day is one with at least :data:`MIN_QUARTERS_PER_DAY` readings (a day the
devices only partly sent is left out). A quarter hour of the day no stored day of the month has (a gap) is
interpolated from its neighbours in the day. Hourly readings are split evenly into their four quarter
hours. The case year is then laid out day by day: each quarter hour takes ``T_f[month, day type, s]`` of its
local clock time, so the spring DST day has 92 quarter hours (02:00–02:59 does not exist) and the autumn
one 100 (02:00–02:59 twice). The energies are the measured ones, not the case file's.

A month with no stored reading for a flat is an error listing every flat and month missing, unless the case
file says ``measured: {missing_months: arera}``: those months then take the ARERA model
(:func:`condivisa.casestudy.load_models.arera_loads`, the case file's daily energies) and the results say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from condivisa.casestudy.casefile import Case, CaseError
from condivisa.casestudy.load_models import FlatLoads, arera_loads
from condivisa.engines.household import DAY_TYPES, resolve_day_types
from condivisa.kernel.timegrid import ROME
from condivisa.store.checks import interval_minutes
from condivisa.store.location import describe_database, resolve_database_url, sqlite_file
from condivisa.store.store import Store

SLOTS_PER_DAY = 96
#: a stored day counts only when it has at least this many quarter hours (22 of its 23–25 hours)
MIN_QUARTERS_PER_DAY = 88
#: a month's day type gets its own typical day when the month has at least this many stored days of it
MIN_DAYS_PER_TYPE = 2
MEASURED_SOURCE = (
    "typical day per month (and per day type where the month has at least 2 days of it) of each flat's "
    "stored readings"
)


def read_readings(case: Case) -> tuple[pd.DataFrame, str]:
    """Stage 1: the stored readings (``pod``, ``start``, ``withdrawn_kwh``) of the flats' PODs, and where the
    database is (:func:`~condivisa.store.location.describe_database`)."""
    missing_pod = [f"flats[{i}]" for i, f in enumerate(case.flats) if not f.pod]
    if missing_pod:
        raise CaseError(f"{', '.join(missing_pod)}: pod missing (loads: measured needs each flat's POD)")
    url = resolve_database_url(case.measured_database, create_folder=False)
    where = describe_database(url)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise CaseError(f"measured.database: no database at {path} (give measured.database or --database)")
    try:
        with Store(url) as store:
            frame = store.measurements_frame([str(f.pod) for f in case.flats])
    except sa.exc.SQLAlchemyError as exc:
        raise CaseError(
            f"measured.database: cannot read measurements from {where}: {exc.__class__.__name__}"
        ) from None
    return frame, where


def quarter_hour_readings(frame: pd.DataFrame) -> pd.DataFrame:
    """One POD's readings as quarter hours: ``local`` (Europe/Rome) and ``kwh``; an hourly table's rows are
    split evenly into their four quarter hours (energy kept)."""
    local = pd.DatetimeIndex(frame["start"]).tz_convert(ROME)
    kwh = frame["withdrawn_kwh"].to_numpy(dtype=float)
    if interval_minutes(frame) == 60:
        local = local.repeat(4) + pd.to_timedelta(np.tile([0, 15, 30, 45], len(local)), unit="min")
        kwh = np.repeat(kwh / 4.0, 4)
    return pd.DataFrame({"local": local, "kwh": kwh})


def typical_days(readings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Stage 2: ``T[m, k, s]`` (see the module docstring) of one POD, kWh, shape ``(12, 3, 96)``, NaN for the
    months without a stored day; and the number of stored days per month and day type, ``(12, 3)``."""
    local = pd.DatetimeIndex(readings["local"])
    by_day = (
        pd.DataFrame(
            {"date": local.date, "slot": local.hour * 4 + local.minute // 15, "kwh": readings["kwh"]}
        )
        .pivot_table(index="date", columns="slot", values="kwh", aggfunc="mean")
        .reindex(columns=range(SLOTS_PER_DAY))
    )
    by_day = by_day[by_day.notna().sum(axis=1) >= MIN_QUARTERS_PER_DAY]
    typical = np.full((12, len(DAY_TYPES), SLOTS_PER_DAY), np.nan)
    counts = np.zeros((12, len(DAY_TYPES)), dtype=int)
    if by_day.empty:
        return typical, counts
    dates = list(by_day.index)
    kinds = resolve_day_types(dates)
    months = np.array([d.month for d in dates])
    values = by_day.to_numpy(dtype=float)
    for m in range(1, 13):
        in_month = months == m
        if not in_month.any():
            continue
        month_mean = _fill_gaps(np.nanmean(values[in_month], axis=0))
        for k in range(len(DAY_TYPES)):
            rows = in_month & (kinds == k)
            counts[m - 1, k] = int(rows.sum())
            own = rows.sum() >= MIN_DAYS_PER_TYPE
            typical[m - 1, k] = _fill_gaps(np.nanmean(values[rows], axis=0)) if own else month_mean
    return typical, counts


def _fill_gaps(day_kwh: np.ndarray) -> np.ndarray:
    """A typical day's missing quarter hours, linearly interpolated from their neighbours (circular day)."""
    if not np.isnan(day_kwh).any():
        return day_kwh
    known = np.flatnonzero(~np.isnan(day_kwh))
    slots = np.arange(SLOTS_PER_DAY)
    return np.interp(slots, known, day_kwh[known], period=SLOTS_PER_DAY)


def lay_out(typical: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
    """Stage 3: the case year from typical days: each instant of ``index`` takes ``T[month, day type, slot]``
    of its local clock time (92 quarter hours on the spring DST day, 100 on the autumn one)."""
    local = index.tz_convert(ROME)
    codes, dates = pd.factorize(np.asarray(local.date))
    kinds = resolve_day_types(list(dates))[codes]
    slot = (local.hour * 4 + local.minute // 15).to_numpy()
    return np.asarray(typical[local.month.to_numpy() - 1, kinds, slot])


def measured_loads(case: Case, index: pd.DatetimeIndex) -> FlatLoads:
    """The flats' loads from their typical measured days (module docstring); months without data: error, or
    the ARERA model when ``measured.missing_months`` is ``arera``."""
    frame, where = read_readings(case)
    loads = np.zeros((len(case.flats), len(index)))
    missing: dict[str, list[int]] = {}
    days: dict[str, dict[int, int]] = {}
    for i, f in enumerate(case.flats):
        typical, counts = typical_days(quarter_hour_readings(frame[frame["pod"] == f.pod]))
        loads[i] = lay_out(typical, index)
        days[f.id] = {m + 1: int(counts[m].sum()) for m in range(12) if counts[m].sum()}
        gone = [m + 1 for m in range(12) if counts[m].sum() == 0]
        if gone:
            missing[f.id] = gone
    notes: list[str] = []
    if missing:
        listing = "; ".join(
            f"{flat} ({_pod(case, flat)}): months {', '.join(map(str, ms))}" for flat, ms in missing.items()
        )
        if case.missing_months != "arera":
            raise CaseError(
                f"loads: measured: no stored readings in {where} for {listing} "
                "(store them, or set measured.missing_months: arera to model those months with ARERA profiles)"
            )
        loads = _arera_for_missing(case, index, loads, missing)
        notes.append(
            f"loads: measured; months without stored readings modelled with ARERA profiles: {listing}"
        )
    info = {
        "name": "measured",
        "source": MEASURED_SOURCE,
        "database": where,
        "pods": {f.id: f.pod for f in case.flats},
        "days_by_month": days,
        "arera_months": missing,
    }
    return FlatLoads(loads, info, notes)


def _pod(case: Case, flat_id: str) -> str:
    return next(str(f.pod) for f in case.flats if f.id == flat_id)


def _arera_for_missing(
    case: Case, index: pd.DatetimeIndex, loads: np.ndarray, missing: dict[str, list[int]]
) -> np.ndarray:
    """``loads`` with the missing (flat, month)s replaced by the ARERA model's values."""
    arera = arera_loads(case, index).loads_kwh
    month = index.tz_convert(ROME).month.to_numpy()
    out = loads.copy()
    for i, f in enumerate(case.flats):
        sel = np.isin(month, missing.get(f.id, []))
        out[i, sel] = arera[i, sel]
    return out
