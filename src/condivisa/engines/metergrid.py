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
    return idx.tz_convert("UTC").as_unit("ns").asi8


def interval_minutes(start_ns: np.ndarray) -> int:
    """15 when any reading starts off the hour, else 60 (an hourly table)."""
    if start_ns.size == 0:
        return 15
    return 15 if np.any(start_ns % HOUR_NS) else 60


def point_codes(pod_column: pd.Series, pods: tuple[str, ...]) -> np.ndarray:
    """Index of each row's POD in ``pods``; raise naming the first POD not in the community."""
    index = pd.Index(list(pods))
    if isinstance(pod_column.dtype, pd.CategoricalDtype):  # map the few categories, then the codes
        mapping = np.append(index.get_indexer(pod_column.cat.categories), -1)
        cat_codes = np.asarray(pod_column.cat.codes, dtype=np.int64)
        codes = mapping[cat_codes]  # code -1 (a missing POD) picks the appended -1
    else:
        codes = np.asarray(index.get_indexer(pod_column), dtype=np.int64)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        first = bad[0]
        raise MeasurementError(
            f"row {first}: pod {pod_column.iloc[first]!r} is not a POD of this community"
        )
    return codes


@dataclass
class Dense:
    """A dense block: ``values`` and ``present`` are rows × intervals; ``expected`` likewise."""

    values: np.ndarray
    present: np.ndarray
    expected: np.ndarray

    @property
    def missing_count(self) -> np.ndarray:
        """Missing intervals per row: expected but absent."""
        return np.count_nonzero(self.expected & ~self.present, axis=1)


def window_mask(first_idx: np.ndarray, end_idx: np.ndarray, n: int) -> np.ndarray:
    """rows × n boolean mask, True for first_idx[r] <= i < end_idx[r]."""
    i = np.arange(n)
    return (i[None, :] >= np.asarray(first_idx)[:, None]) & (i[None, :] < np.asarray(end_idx)[:, None])


def scatter(
    codes: np.ndarray,
    tidx: np.ndarray,
    values: np.ndarray,
    row_of_code: np.ndarray,
    n_rows: int,
    n: int,
    pods: tuple[str, ...],
    step_ns: int,
    t0_ns: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Place ``values`` at (row_of_code[codes], tidx); rows mapping to -1 or times outside 0..n are skipped.

    Returns ``(dense values, present mask)``; raises :class:`MeasurementError` on two readings for
    one POD and interval.
    """
    rows = row_of_code[codes]
    keep = (rows >= 0) & (tidx >= 0) & (tidx < n)
    flat = rows[keep] * n + tidx[keep]
    present = np.zeros(n_rows * n, dtype=bool)
    present[flat] = True
    if np.count_nonzero(present) != flat.size:
        order = np.argsort(flat, kind="stable")
        dup = flat[order][1:][np.diff(flat[order]) == 0][0]
        code = np.flatnonzero(row_of_code == dup // n)[0]
        when = pd.Timestamp(t0_ns + int(dup % n) * step_ns, tz="UTC")
        raise MeasurementError(f"pod {pods[code]!r}: two readings for the interval starting {when.isoformat()}")
    out = np.zeros(n_rows * n)
    out[flat] = values[keep]
    return out.reshape(n_rows, n), present.reshape(n_rows, n)


def fill_missing(dense: Dense, how: str | None, names: tuple[str, ...]) -> np.ndarray:
    """Values with missing intervals filled (``"zero"``/``"interpolate"``) and unexpected ones zeroed.

    ``how=None`` returns the values as they are (missing are zero) — the caller must have refused
    data with missing intervals first.
    """
    values = np.where(dense.expected, dense.values, 0.0)
    if how in (None, "zero"):
        return values
    if how != "interpolate":
        raise ValueError(f"fill must be zero or interpolate, got {how!r}")
    gaps = dense.expected & ~dense.present
    for r in np.flatnonzero(gaps.any(axis=1)):  # one vectorised np.interp per POD with gaps
        have = np.flatnonzero(dense.present[r] & dense.expected[r])
        if have.size == 0:
            raise MeasurementError(f"pod {names[r]!r}: no readings at all to interpolate from; use fill 'zero'")
        want = np.flatnonzero(gaps[r])
        values[r, want] = np.interp(want, have, values[r, have])
    return values


def to_hours(values: np.ndarray, step_minutes: int) -> np.ndarray:
    """Sum quarter hours into hours (the grid starts on a local midnight, hence on a UTC hour)."""
    if step_minutes == 60:
        return values
    rows, n = values.shape
    return values.reshape(rows, n // 4, 4).sum(axis=2)
