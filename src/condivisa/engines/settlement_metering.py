"""The metering stages of a settlement: from the long measurements table to filled settlement intervals.

:func:`condivisa.engines.settlement.settle` runs them in this order:

1. :func:`measurement_columns` — check the arguments and the measurements table;
2. :func:`settlement_grid` — the period's interval grid and every row's place on it;
3. :func:`pivot_points` — the long table scattered onto dense points × intervals blocks, with each point's
   expected window (membership dates, commissioning);
4. :func:`data_quality` — expected, missing and duplicate intervals per POD (gaps refused without ``fill``);
5. :func:`settlement_intervals` — gaps filled, quarter hours summed into settlement intervals.

The energy and money stages that follow are in :mod:`condivisa.engines.settlement_money`, the member-side
stages in :mod:`condivisa.engines.settlement_members`. Energies in kWh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from condivisa.domain.community import Community
from condivisa.engines import metergrid as mg
from condivisa.kernel.timegrid import ROME, local_midnight

MeasurementError = mg.MeasurementError
COLUMNS = ("pod", "start", "withdrawn_kwh", "injected_kwh")


class MissingDataError(mg.MeasurementError):
    """Expected intervals have no reading and no ``fill`` was asked for."""


@dataclass(frozen=True)
class Grid:
    """The period's data grid: ``n`` intervals of ``step_minutes`` from local midnight of ``first_day``."""

    first_day: dt.date
    last_day: dt.date
    end_day: dt.date  # the day after ``last_day``
    t0_ns: int  # UTC nanoseconds of local midnight of ``first_day``
    step_minutes: int  # the data's interval, 15 or 60
    step_ns: int
    n: int

    @property
    def n_days(self) -> int:
        """Days in the period."""
        return (self.end_day - self.first_day).days


@dataclass
class Points:
    """Dense blocks of the community's points: consumption PODs (member order), then plants."""

    consumption_pods: tuple[str, ...]
    plant_pods: tuple[str, ...]
    consumption_member: np.ndarray  # member index of each consumption POD
    withdrawn: mg.Dense
    injected: mg.Dense


@dataclass(frozen=True)
class Intervals:
    """Filled energies on the settlement intervals, kWh."""

    withdrawn_kwh: np.ndarray  # consumption PODs × intervals
    injected_kwh: np.ndarray  # plants × intervals
    consumption_member: np.ndarray  # member index of each withdrawal row
    starts_ns: np.ndarray  # UTC nanoseconds of each interval's start
    starts: pd.DatetimeIndex  # the same instants, Europe/Rome


def _window_idx(day: dt.date | None, grid: Grid, default: int) -> int:
    """Data-grid index of local midnight of ``day`` (``default`` when None), clipped to 0..n."""
    if day is None:
        return default
    ns = local_midnight(day).tz_convert("UTC").as_unit("ns").value
    return int(np.clip(-((grid.t0_ns - ns) // grid.step_ns), 0, grid.n))


def _period_from_data(start_ns: np.ndarray) -> tuple[dt.date, dt.date]:
    if start_ns.size == 0:
        raise MeasurementError("no measurements to settle")
    lo, hi = pd.Timestamp(int(start_ns.min()), tz="UTC"), pd.Timestamp(int(start_ns.max()), tz="UTC")
    return lo.tz_convert(ROME).date(), hi.tz_convert(ROME).date()


def measurement_columns(
    measurements: pd.DataFrame, interval: str, fill: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the settlement's arguments and read the measurements' columns.

    A reading is a metered energy, so it must be a number ≥ 0 (NaN is refused too); the first bad row is
    named in the error.

    Parameters
    ----------
    measurements : pandas.DataFrame
        The measurements table: ``pod``, ``start`` (tz-aware), ``withdrawn_kwh``, ``injected_kwh`` (kWh).
    interval : str
        ``"hour"`` or ``"quarter"``.
    fill : str or None
        ``None``, ``"zero"`` or ``"interpolate"``.

    Returns
    -------
    start_ns : numpy.ndarray
        Each row's start, nanoseconds since the epoch (UTC), int64.
    withdrawn_kwh, injected_kwh : numpy.ndarray
        Each row's withdrawal and injection, kWh.

    Raises
    ------
    ValueError
        For an unknown ``interval`` or ``fill``.
    MeasurementError
        For a missing column, naive timestamps or a reading that is not a number ≥ 0.
    """
    if interval not in ("hour", "quarter"):
        raise ValueError(f"interval must be hour or quarter, got {interval!r}")
    if fill not in (None, "zero", "interpolate"):
        raise ValueError(f"fill must be zero or interpolate, got {fill!r}")
    missing_cols = [c for c in COLUMNS if c not in measurements.columns]
    if missing_cols:
        raise MeasurementError(f"measurements: missing column(s) {', '.join(missing_cols)}")
    start_ns = mg.utc_ns(measurements["start"])
    wd_all = measurements["withdrawn_kwh"].to_numpy(dtype=float)
    inj_all = measurements["injected_kwh"].to_numpy(dtype=float)
    for name, col in (("withdrawn_kwh", wd_all), ("injected_kwh", inj_all)):
        if not np.all(col >= 0):  # also catches NaN
            i = np.flatnonzero(~(col >= 0))[0]
            raise MeasurementError(
                f"row {i}: pod {measurements['pod'].iloc[i]!r} {name} = {col[i]} (must be a number >= 0)"
            )
    return start_ns, wd_all, inj_all


def settlement_grid(
    measurements: pd.DataFrame,
    start_ns: np.ndarray,
    period: tuple[dt.date, dt.date] | None,
    interval: str,
) -> tuple[Grid, np.ndarray]:
    """The data grid of the period and the grid index of every row.

    Intervals are counted on the UTC axis from local midnight (Europe/Rome) of the first day, so the
    spring DST day has 23 hours and the autumn one 25. The data's interval is ``attrs["interval_minutes"]``
    or, failing that, 15 minutes when any row starts off the full hour. A quarter-hour settlement needs
    quarter-hour data; hourly data must sit on the full hour.

    Parameters
    ----------
    measurements : pandas.DataFrame
        The measurements table (only ``start`` and ``attrs`` are read here, to name bad rows).
    start_ns : numpy.ndarray
        Each row's start, UTC nanoseconds (:func:`measurement_columns`).
    period : tuple of datetime.date or None
        First and last day, both included; ``None``: the days the data spans.
    interval : str
        ``"hour"`` or ``"quarter"``.

    Returns
    -------
    grid : Grid
        The period's days, the first instant ``t0_ns``, the data interval and the number of intervals.
    tidx : numpy.ndarray
        Each row's interval index on that grid (int64; outside ``0..n-1`` for rows outside the period).

    Raises
    ------
    MeasurementError
        For a row off the quarter-hour (or, with hourly data, the hourly) grid, or hourly data settled by
        quarter hour.
    """
    first_day, last_day = period or _period_from_data(start_ns)
    if last_day < first_day:
        raise ValueError(f"period: {last_day} is before {first_day}")
    end_day = last_day + dt.timedelta(days=1)
    t0 = int(local_midnight(first_day).tz_convert("UTC").as_unit("ns").value)
    t1 = int(local_midnight(end_day).tz_convert("UTC").as_unit("ns").value)
    tidx, off = np.divmod(start_ns - t0, mg.QUARTER_NS)
    if np.any(off):
        i = np.flatnonzero(off)[0]
        raise MeasurementError(
            f"row {i}: start {measurements['start'].iloc[i]} is not on the quarter-hour grid"
        )
    del off
    step_min = int(measurements.attrs.get("interval_minutes") or (15 if np.any(tidx & 3) else 60))
    if step_min == 60:
        if np.any(tidx & 3):
            i = np.flatnonzero(tidx & 3)[0]
            raise MeasurementError(
                f"row {i}: start {measurements['start'].iloc[i]} is not on the hourly grid"
            )
        tidx >>= 2
    if interval == "quarter" and step_min != 15:
        raise MeasurementError("a quarter-hour settlement needs quarter-hour measurements; these are hourly")
    step_ns = step_min * 60 * 10**9
    grid = Grid(first_day, last_day, end_day, t0, step_min, step_ns, (t1 - t0) // step_ns)
    return grid, tidx


def pivot_points(
    community: Community,
    measurements: pd.DataFrame,
    tidx: np.ndarray,
    withdrawn_kwh: np.ndarray,
    injected_kwh: np.ndarray,
    grid: Grid,
) -> Points:
    """Scatter the long table onto dense blocks with each point's expected window.

    One code per POD of the community: consumption PODs first (member order), then plants, then the rest.
    A consumption POD is expected from its member's ``joined`` day (inclusive) to ``left`` (exclusive), a
    plant from its commissioning day; readings outside the window are ignored.

    Parameters
    ----------
    community : Community
        Members, their PODs and the plants.
    measurements : pandas.DataFrame
        The measurements table (its ``pod`` column is read here).
    tidx : numpy.ndarray
        Each row's interval index (:func:`settlement_grid`).
    withdrawn_kwh, injected_kwh : numpy.ndarray
        Each row's withdrawal and injection, kWh.
    grid : Grid
        The period's data grid.

    Returns
    -------
    Points
        Withdrawal (consumption PODs × intervals) and injection (plants × intervals) blocks, kWh, with
        their present masks and expected windows.

    Raises
    ------
    ValueError
        When two plants share one POD (their injection cannot be told apart).
    MeasurementError
        For a POD not in the community or two readings of one POD and interval.
    """
    cons_pods = community.consumption_pods
    plant_pods = community.plant_pods
    if len(set(plant_pods)) != len(plant_pods):
        raise ValueError("two plants share one POD: their injection cannot be told apart")
    pods = tuple(dict.fromkeys(cons_pods + plant_pods + tuple(sorted(community.all_pods))))
    codes = mg.point_codes(measurements["pod"], pods)
    code_of = {p: i for i, p in enumerate(pods)}
    n = grid.n
    wv, wp, iv, ip = mg.pivot(
        codes,
        tidx,
        withdrawn_kwh,
        injected_kwh,
        n=n,
        n_consumers=len(cons_pods),
        plant_codes=np.array([code_of[p] for p in plant_pods], dtype=np.int64),
        pods=pods,
        t0_ns=grid.t0_ns,
        step_ns=grid.step_ns,
    )
    del codes
    owner_of = community.pod_owner()
    member_pos = {m.id: i for i, m in enumerate(community.members)}
    cons_member = np.array([member_pos[owner_of[p]] for p in cons_pods], dtype=np.int64)
    members = community.members
    win_first = np.array([_window_idx(members[k].joined, grid, 0) for k in cons_member], dtype=np.int64)
    win_end = np.array([_window_idx(members[k].left, grid, n) for k in cons_member], dtype=np.int64)
    p_first = np.array([_window_idx(p.commissioning, grid, 0) for p in community.plants], dtype=np.int64)
    return Points(
        consumption_pods=cons_pods,
        plant_pods=plant_pods,
        consumption_member=cons_member,
        withdrawn=mg.Dense(wv, wp, win_first, win_end),
        injected=mg.Dense(iv, ip, p_first, np.full(len(plant_pods), n, dtype=np.int64)),
    )


def data_quality(
    points: Points, duplicates: Mapping[str, int], fill: str | None, step_minutes: int
) -> list[dict[str, str | int]]:
    """Expected, missing, duplicate and filled intervals per POD; refuse gaps unless ``fill`` is given.

    A missing interval is counted, never silently filled: without ``fill`` any gap inside a POD's expected
    window is an error naming the first PODs with gaps.

    Parameters
    ----------
    points : Points
        The dense blocks (:func:`pivot_points`).
    duplicates : Mapping[str, int]
        POD -> exact duplicate rows the reader dropped (only reported).
    fill : str or None
        ``None``, ``"zero"`` or ``"interpolate"``.
    step_minutes : int
        The data's interval, minutes (names the unit in the error).

    Returns
    -------
    list of dict
        One row per consumption POD then per plant: ``pod``, ``expected_intervals``,
        ``missing_intervals``, ``duplicate_rows_dropped``, ``filled_intervals``.

    Raises
    ------
    MissingDataError
        When an expected interval has no reading and ``fill`` is ``None``.
    """
    quality: list[dict[str, str | int]] = []
    for names, dense in ((points.consumption_pods, points.withdrawn), (points.plant_pods, points.injected)):
        for r, (exp, miss) in enumerate(zip(dense.expected_count, dense.missing_count)):
            quality.append(
                {
                    "pod": names[r],
                    "expected_intervals": int(exp),
                    "missing_intervals": int(miss),
                    "duplicate_rows_dropped": int(duplicates.get(names[r], 0)),
                    "filled_intervals": int(miss) if fill else 0,
                }
            )
    if fill is None and any(q["missing_intervals"] for q in quality):
        bad = [q for q in quality if q["missing_intervals"]]
        listed = ", ".join(f"{q['pod']} ({q['missing_intervals']})" for q in bad[:5])
        raise MissingDataError(
            f"missing {'quarter hours' if step_minutes == 15 else 'hours'} for {len(bad)} POD(s): {listed}"
            f"{' …' if len(bad) > 5 else ''}; fill them explicitly with --fill zero or --fill interpolate"
        )
    return quality


def settlement_intervals(points: Points, fill: str | None, interval: str, grid: Grid) -> Intervals:
    """Fill the gaps and sum the data into settlement intervals.

    Gaps are filled as asked (:func:`condivisa.engines.metergrid.fill_missing`; readings outside a
    point's window are zeroed); an hourly settlement sums the quarter hours of each hour.

    Parameters
    ----------
    points : Points
        The dense blocks (:func:`pivot_points`); their values are modified in place.
    fill : str or None
        ``None`` (the caller refused gaps), ``"zero"`` or ``"interpolate"``.
    interval : str
        ``"hour"`` or ``"quarter"``.
    grid : Grid
        The period's data grid.

    Returns
    -------
    Intervals
        Withdrawal (consumption PODs × intervals) and injection (plants × intervals), kWh, and the
        intervals' starts.
    """
    w = mg.fill_missing(points.withdrawn, fill, points.consumption_pods)
    inj = mg.fill_missing(points.injected, fill, points.plant_pods)
    step_ns = grid.step_ns
    if interval == "hour":
        w, inj = mg.to_hours(w, grid.step_minutes), mg.to_hours(inj, grid.step_minutes)
        step_ns = mg.HOUR_NS
    starts_ns = grid.t0_ns + np.arange(w.shape[1], dtype=np.int64) * step_ns
    local = pd.DatetimeIndex(starts_ns).tz_localize("UTC").tz_convert(ROME)
    return Intervals(w, inj, points.consumption_member, starts_ns, local)
