"""Pivot the long measurements table onto a dense points × intervals array, once.

The measurements table (``pod``, ``start``, ``withdrawn_kwh``, ``injected_kwh``; one row per POD and
quarter hour or hour) is scattered into ``numpy`` arrays indexed by (point, interval) with pure array
operations: no Python loop runs over time. Intervals are counted on the UTC axis from the first local
midnight, so the spring DST day has 92 quarter hours (23 hours) and the autumn one 100 (25 hours).

Rules (issue #2, §5):
- a reading outside a point's expected window (a member's ``joined``..``left``, a plant's
  commissioning onwards) is ignored; inside it, a missing interval is *counted*, never silently
  filled: ``fill=None`` leaves it to the caller to refuse the data, ``"zero"`` and ``"interpolate"``
  (linear in time between the neighbouring readings of that POD) fill it explicitly;
- two rows for the same POD and interval are an error (the CSV reader drops exact duplicates first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

QUARTER_NS = 15 * 60 * 10**9
HOUR_NS = 60 * 60 * 10**9


class MeasurementError(ValueError):
    """The measurements cannot be settled; the message names the POD and the interval."""


def utc_ns(values) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of tz-aware timestamps; naive ones are refused."""
    idx = pd.DatetimeIndex(values)
    if idx.tz is None:
        raise MeasurementError("timestamps must carry a time zone (UTC offset), got naive ones")
    if idx.unit != "ns":
        idx = idx.as_unit("ns")
    return idx.asi8  # the UTC instants whatever the display zone


def point_codes(pod_column: pd.Series, pods: tuple[str, ...]) -> np.ndarray:
    """Index (int32) of each row's POD in ``pods``; raise naming the first POD not in the community."""
    index = pd.Index(list(pods))
    if isinstance(pod_column.dtype, pd.CategoricalDtype):  # map the few categories, then the codes
        mapping = np.append(index.get_indexer(pod_column.cat.categories), -1).astype(np.int32)
        cat_codes = pod_column.cat.codes.to_numpy()
        if mapping.size - 1 == len(pods) and np.array_equal(mapping[:-1], np.arange(len(pods))):
            codes = cat_codes.astype(np.int32, copy=False)
        else:
            codes = mapping[cat_codes]  # code -1 (a missing POD) picks the appended -1
    else:
        codes = index.get_indexer(pod_column).astype(np.int32)
    if codes.size and codes.min() < 0:
        first = np.flatnonzero(codes < 0)[0]
        raise MeasurementError(f"row {first}: pod {pod_column.iloc[first]!r} is not a POD of this community")
    return codes


@dataclass
class Dense:
    """A dense block: ``values`` and ``present`` are rows × intervals; ``first``/``end`` the expected window."""

    values: np.ndarray
    present: np.ndarray
    first: np.ndarray
    end: np.ndarray

    @property
    def expected(self) -> np.ndarray:
        return window_mask(self.first, self.end, self.values.shape[1])

    @property
    def expected_count(self) -> np.ndarray:
        return np.asarray(self.end) - np.asarray(self.first)

    @property
    def missing_count(self) -> np.ndarray:
        """Missing intervals per row: expected but absent."""
        n = self.values.shape[1]
        if np.all(self.first == 0) and np.all(self.end == n):
            return n - np.count_nonzero(self.present, axis=1)
        return np.count_nonzero(self.expected & ~self.present, axis=1)


def window_mask(first_idx: np.ndarray, end_idx: np.ndarray, n: int) -> np.ndarray:
    """rows × n boolean mask, True for first_idx[r] <= i < end_idx[r]."""
    i = np.arange(n)
    return (i[None, :] >= np.asarray(first_idx)[:, None]) & (i[None, :] < np.asarray(end_idx)[:, None])


def pivot(
    codes: np.ndarray,
    tidx: np.ndarray,
    withdrawn_kwh: np.ndarray,
    injected_kwh: np.ndarray,
    *,
    n: int,
    n_consumers: int,
    plant_codes: np.ndarray,
    pods: tuple[str, ...],
    t0_ns: int,
    step_ns: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scatter the long columns onto the dense grid in one pass.

    ``codes`` index ``pods``, whose first ``n_consumers`` entries are the consumption PODs;
    ``plant_codes[k]`` is plant k's POD. Rows outside ``0 <= tidx < n`` are dropped. Returns the
    withdrawal (consumers × n), its present mask, the injection (plants × n) and its present mask.
    Raises :class:`MeasurementError` on two readings for one POD and interval.
    """
    n_points = len(pods)
    if tidx.size and (tidx.min() < 0 or tidx.max() >= n):
        keep = (tidx >= 0) & (tidx < n)
        codes, tidx, withdrawn_kwh, injected_kwh = (
            codes[keep],
            tidx[keep],
            withdrawn_kwh[keep],
            injected_kwh[keep],
        )
    flat = codes.astype(np.int64) * n + tidx
    present = np.zeros(n_points * n, dtype=bool)
    present[flat] = True
    if np.count_nonzero(present) != flat.size:
        order = np.argsort(flat, kind="stable")
        dup = flat[order][1:][np.diff(flat[order]) == 0][0]
        when = pd.Timestamp(t0_ns + int(dup % n) * step_ns, tz="UTC")
        raise MeasurementError(
            f"pod {pods[dup // n]!r}: two readings for the interval starting {when.isoformat()}"
        )
    present = present.reshape(n_points, n)
    # withdrawal: every point into one block (consumers first; the few other rows are dropped after)
    w_all = np.zeros(n_points * n)
    w_all[flat] = withdrawn_kwh
    withdrawn = w_all.reshape(n_points, n)[:n_consumers]
    # injection: only the rows of plant PODs
    plant_row = np.full(n_points + 1, -1, dtype=np.int16 if len(plant_codes) < 2**15 else np.int64)
    plant_row[np.asarray(plant_codes, dtype=np.int64)] = np.arange(len(plant_codes))
    rows = plant_row[codes]
    sel = rows >= 0
    injected = np.zeros(len(plant_codes) * n)
    injected[rows[sel].astype(np.int64) * n + tidx[sel]] = injected_kwh[sel]
    return (
        withdrawn,
        present[:n_consumers],
        injected.reshape(len(plant_codes), n),
        present[np.asarray(plant_codes, dtype=np.int64)],
    )


def fill_missing(dense: Dense, how: str | None, names: tuple[str, ...]) -> np.ndarray:
    """Values with missing intervals filled (``"zero"``/``"interpolate"``) and unexpected ones zeroed, in
    place.

    ``how=None`` returns the values as they are (missing are zero) — the caller must have refused
    data with missing intervals first.
    """
    values = dense.values
    n = values.shape[1]
    if how not in (None, "zero", "interpolate"):
        raise ValueError(f"fill must be zero or interpolate, got {how!r}")
    windowed = np.flatnonzero((dense.first > 0) | (dense.end < n))
    for r in windowed:  # a member who joined or left inside the period: drop readings outside the window
        values[r, : dense.first[r]] = 0.0
        values[r, dense.end[r] :] = 0.0
    if how != "interpolate":
        return values
    for r in np.flatnonzero(dense.missing_count):  # one vectorised np.interp per POD with gaps
        lo, hi = int(dense.first[r]), int(dense.end[r])
        have = lo + np.flatnonzero(dense.present[r, lo:hi])
        if have.size == 0:
            raise MeasurementError(
                f"pod {names[r]!r}: no readings at all to interpolate from; use fill 'zero'"
            )
        want = lo + np.flatnonzero(~dense.present[r, lo:hi])
        values[r, want] = np.interp(want, have, values[r, have])
    return values


def to_hours(values: np.ndarray, step_minutes: int) -> np.ndarray:
    """Sum quarter hours into hours (the grid starts on a local midnight, hence on a UTC hour)."""
    if step_minutes == 60:
        return values
    rows, n = values.shape
    return values.reshape(rows, n // 4, 4).sum(axis=2)
