"""Cross-checks that flag (never drop) suspicious readings at ingestion, and the plausibility bound that
keeps a reading out of the money.

Rules (chain-2 semantics: a totalizer is the meter's register at the *end* of the quarter hour):

- **energy vs totalizers**: for consecutive quarter hours q-1, q of one POD and meter,
  ``energy(q) ≈ total(q) − total(q−1)``; flagged when they differ by more than
  :data:`TOTALIZER_TOLERANCE_KWH` (2 Wh: both values are rounded to 1 Wh by the meter);
- **totalizer backwards**: a register lower than the one of an earlier quarter hour (or higher than a
  later one) of the same POD and meter;
- **POD not registered to the DU**: the DU is registered, but to another POD;
- **DU mismatch**: the transport authenticated device X, the line says it was read by DU Y;
- **above the POD's bound** (:func:`above_bounds`, when settling): a quarter hour whose energy is more
  than the POD's meter can read (:func:`condivisa.domain.plausibility.pod_bounds`: contract power ×
  overload factor × duration) stays stored but is left out of the money; the newest *superseded* value of
  that quarter hour within the bound, if any, counts instead (:func:`plausible_revisions`: an inflated
  revision never replaces a plausible reading), otherwise the quarter hour is missing.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from condivisa.domain.plausibility import PodBound
from condivisa.kernel.timegrid import QUARTER

#: Allowed |energy − Δtotalizer| in kWh: two roundings to the meter's 1 Wh resolution.
TOTALIZER_TOLERANCE_KWH = 0.002


@dataclass(frozen=True)
class Flag:
    """A cross-check warning on one reading; the reading is stored anyway."""

    pod: str
    start: dt.datetime
    code: str
    detail: str

    def to_dict(self) -> dict:
        return {"pod": self.pod, "start": self.start.isoformat(), "code": self.code, "detail": self.detail}


@dataclass(frozen=True)
class Point:
    """Totalizers of one quarter hour (``None`` when the reading carried none)."""

    start: dt.datetime
    withdrawn_kwh: float
    injected_kwh: float
    withdrawn_total_kwh: float | None
    injected_total_kwh: float | None


def energy_vs_totalizer(
    prev: Point, cur: Point, tol_kwh: float = TOTALIZER_TOLERANCE_KWH
) -> list[tuple[str, str]]:
    """``(code, detail)`` for each direction where ``cur``'s energy disagrees with the totalizers' difference.

    Only for consecutive quarter hours (``cur.start − prev.start == 15 min``) with both totalizers present.
    """
    out: list[tuple[str, str]] = []
    if cur.start - prev.start != QUARTER:
        return out
    for name in ("withdrawn", "injected"):
        t0, t1 = getattr(prev, f"{name}_total_kwh"), getattr(cur, f"{name}_total_kwh")
        if t0 is None or t1 is None:
            continue
        energy, delta = getattr(cur, f"{name}_kwh"), t1 - t0
        if abs(energy - delta) > tol_kwh:
            out.append(
                (
                    f"{name}_energy_vs_totalizer",
                    f"{name} energy {energy:.3f} kWh but totalizer moved {delta:.3f} kWh ({t0:.3f} -> {t1:.3f})",
                )
            )
    return out


def totalizer_backwards(earlier: Point, later: Point) -> list[tuple[str, str]]:
    """``(code, detail)`` for each register that is lower at ``later`` than at ``earlier``."""
    out: list[tuple[str, str]] = []
    for name in ("withdrawn", "injected"):
        t0, t1 = getattr(earlier, f"{name}_total_kwh"), getattr(later, f"{name}_total_kwh")
        if t0 is not None and t1 is not None and t1 < t0:
            out.append(
                (
                    f"{name}_totalizer_backwards",
                    f"{name} totalizer {t1:.3f} kWh at {later.start.isoformat()} is below {t0:.3f} "
                    f"kWh at {earlier.start.isoformat()}",
                )
            )
    return out


def _neighbours(series: Sequence[Point], start: dt.datetime, attr: str) -> tuple[Point | None, Point | None]:
    """Nearest points before and after ``start`` that carry the totalizer ``attr``."""
    starts = [p.start for p in series]
    i = bisect.bisect_left(starts, start)
    before = next((p for p in reversed(series[:i]) if getattr(p, attr) is not None), None)
    j = i + 1 if i < len(series) and series[i].start == start else i
    after = next((p for p in series[j:] if getattr(p, attr) is not None), None)
    return before, after


def series_flags(pod: str, series: Sequence[Point], incoming: Iterable[Point]) -> list[Flag]:
    """Flags of the ``incoming`` points of one POD/meter against ``series`` (all known points of that POD
    and meter around them, incoming ones included, sorted by start)."""
    flags: list[Flag] = []
    by_start = {p.start: p for p in series}
    for cur in incoming:
        found: list[tuple[str, str]] = []
        prev = by_start.get(cur.start - QUARTER)
        if prev is not None:
            found += energy_vs_totalizer(prev, cur)
        seen: set[str] = set()
        for attr in ("withdrawn_total_kwh", "injected_total_kwh"):
            before, after = _neighbours(series, cur.start, attr)
            for code, detail in (totalizer_backwards(before, cur) if before else []) + (
                totalizer_backwards(cur, after) if after else []
            ):
                if code.split("_")[0] == attr.split("_")[0] and code not in seen:
                    seen.add(code)
                    found.append((code, detail))
        flags += [Flag(pod, cur.start, code, detail) for code, detail in found]
    return flags


#: ``(start, withdrawn_kwh, injected_kwh, withdrawn_total_kwh, injected_total_kwh)``: a point, unpacked
PointTuple = tuple[dt.datetime, float, float, float | None, float | None]


def clean_series(points: list[PointTuple]) -> bool:
    """True when no subset of ``points`` — ``(start, withdrawn_kwh, injected_kwh, withdrawn_total_kwh,
    injected_total_kwh)`` of one POD and meter, distinct starts — can raise a cross-check flag: totalizers
    never
    decrease along time, and every pair of consecutive quarter hours agrees with its energy
    (:func:`energy_vs_totalizer`)."""
    points.sort(key=_first)
    top_w = top_i = None
    prev = None
    tol = TOTALIZER_TOLERANCE_KWH
    for p in points:
        start, e_w, e_i, w, i = p
        if w is not None:
            if top_w is not None and w < top_w:
                return False
            top_w = w
        if i is not None:
            if top_i is not None and i < top_i:
                return False
            top_i = i
        if prev is not None and start - prev[0] == QUARTER:
            if w is not None and prev[3] is not None and abs(e_w - (w - prev[3])) > tol:
                return False
            if i is not None and prev[4] is not None and abs(e_i - (i - prev[4])) > tol:
                return False
        prev = p
    return True


def _first(p: PointTuple) -> dt.datetime:
    return p[0]


#: columns of :func:`above_bounds`' table of readings above their POD's bound
ABOVE_COLUMNS = [
    "pod",
    "start",
    "withdrawn_kwh",
    "injected_kwh",
    "direction",
    "bound_kwh",
    "basis",
]


def interval_minutes(frame: pd.DataFrame) -> int:
    """The measurements table's interval, as the settlement reads it: ``frame.attrs["interval_minutes"]``
    when set (a CSV file), else 60 when every start is on the hour (an hourly table), else 15."""
    if frame.attrs.get("interval_minutes"):
        return int(frame.attrs["interval_minutes"])
    if frame.empty:
        return 15
    minutes = pd.DatetimeIndex(frame["start"]).minute
    return 15 if np.any(minutes != 0) else 60


def above_bounds(frame: pd.DataFrame, bounds: Mapping[str, PodBound]) -> tuple[np.ndarray, pd.DataFrame]:
    """The rows of a measurements table whose withdrawal or injection exceeds the POD's bound.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``pod``, ``start``, ``withdrawn_kwh``, ``injected_kwh`` (kWh per interval).
    bounds : mapping
        POD -> :class:`~condivisa.domain.plausibility.PodBound`; a POD without one is not bounded here.

    Returns
    -------
    mask : numpy.ndarray
        One boolean per row of ``frame``: above its bound (or not a finite number).
    rows : pandas.DataFrame
        Those rows (:data:`ABOVE_COLUMNS`): the direction that broke the bound first (``withdrawn`` or
        ``injected``), the bound, kWh, and what it is based on.

    References
    ----------
    .. [1] ARERA, TIT: the available power is the contract power + 10 %; meters tolerate up to a third more
       for a limited time (:data:`condivisa.domain.plausibility.METER_OVERLOAD_FACTOR`).
    """
    if frame.empty:
        return np.zeros(0, dtype=bool), pd.DataFrame(columns=ABOVE_COLUMNS)
    minutes = interval_minutes(frame)
    pods = frame["pod"].astype(str)
    masks, limits = {}, {}
    for direction in ("withdrawn", "injected"):
        limit = pods.map({p: b.max_kwh(direction, minutes) for p, b in bounds.items()}).to_numpy(dtype=float)
        values = frame[f"{direction}_kwh"].to_numpy(dtype=float)
        masks[direction] = ~np.isfinite(values) | (values > limit + 1e-9)  # no bound (NaN) compares False
        limits[direction] = limit
    mask = masks["withdrawn"] | masks["injected"]
    rows = frame.loc[mask, ["pod", "start", "withdrawn_kwh", "injected_kwh"]].copy()
    first = np.where(masks["withdrawn"][mask], "withdrawn", "injected")
    rows["direction"] = first
    rows["bound_kwh"] = np.where(first == "withdrawn", limits["withdrawn"][mask], limits["injected"][mask])
    rows["basis"] = [
        bounds[p].withdrawn_basis if d == "withdrawn" else bounds[p].injected_basis
        for p, d in zip(rows["pod"].astype(str), first)
    ]
    return mask, rows.reset_index(drop=True)[ABOVE_COLUMNS]


def plausible_revisions(
    revisions: pd.DataFrame, rows: pd.DataFrame, bounds: Mapping[str, PodBound], minutes: int = 15
) -> pd.DataFrame:
    """For the quarter hours of ``rows`` (above their bound), the newest superseded value within the bound.

    Parameters
    ----------
    revisions : pandas.DataFrame
        Superseded values (:meth:`condivisa.store.store.Store.revisions`): ``id``, ``pod``, ``start_utc``,
        ``meter``, ``withdrawn_kwh``, ``injected_kwh``.
    rows : pandas.DataFrame
        Readings above their bound (:func:`above_bounds`).
    bounds : mapping
        POD -> :class:`~condivisa.domain.plausibility.PodBound`.
    minutes : int
        The interval of the readings.

    Returns
    -------
    pandas.DataFrame
        ``pod``, ``start`` (Europe/Rome), ``withdrawn_kwh``, ``injected_kwh``: one row per quarter hour of
        ``rows`` that has a plausible earlier value (exchange meter M1 only).
    """
    cols = ["pod", "start", "withdrawn_kwh", "injected_kwh"]
    if revisions.empty or rows.empty:
        return pd.DataFrame(columns=cols)
    rev = revisions[revisions["meter"] == "M1"].copy()
    rev["start"] = pd.to_datetime(rev["start_utc"], utc=True).dt.tz_convert("Europe/Rome")
    wanted = set(zip(rows["pod"].astype(str), pd.to_datetime(rows["start"]).dt.tz_convert("UTC")))
    keep = [
        (p, s) in wanted and p in bounds
        for p, s in zip(rev["pod"].astype(str), rev["start"].dt.tz_convert("UTC"))
    ]
    rev = rev[np.asarray(keep, dtype=bool)]
    if rev.empty:
        return pd.DataFrame(columns=cols)
    ok = [
        bool(np.isfinite(w) and np.isfinite(i))
        and w <= bounds[p].max_kwh("withdrawn", minutes) + 1e-9
        and i <= bounds[p].max_kwh("injected", minutes) + 1e-9
        for p, w, i in zip(rev["pod"].astype(str), rev["withdrawn_kwh"], rev["injected_kwh"])
    ]
    rev = rev[np.asarray(ok, dtype=bool)].sort_values("id")
    return rev.drop_duplicates(["pod", "start"], keep="last")[cols].reset_index(drop=True)
