"""Pivot the long measurements table onto a dense points × intervals array, once.

The measurements table (``pod``, ``start``, ``withdrawn_kwh``, ``injected_kwh``; one row per POD and
quarter hour or hour) is scattered into ``numpy`` arrays indexed by (point, interval) with pure array
operations: no Python loop runs over time. Intervals are counted on the UTC axis from the first local
midnight, so the spring DST day has 92 quarter hours (23 hours) and the autumn one 100 (25 hours).

Rules (a settlement must never price energy that was not measured without saying so):
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


def utc_ns(values: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of tz-aware timestamps.

    Parameters
    ----------
    values : pandas.Series, pandas.Index or numpy.ndarray
        Tz-aware timestamps, in any display zone.

    Returns
    -------
    numpy.ndarray
        int64 nanoseconds since 1970-01-01 UTC, the same instants whatever the display zone.

    Raises
    ------
    MeasurementError
        For naive timestamps (their instant is ambiguous).
    """
    idx = pd.DatetimeIndex(values)
    if idx.tz is None:
        raise MeasurementError("timestamps must carry a time zone (UTC offset), got naive ones")
    if idx.unit != "ns":
        idx = idx.as_unit("ns")
    return idx.asi8  # the UTC instants whatever the display zone


def point_codes(pod_column: pd.Series, pods: tuple[str, ...]) -> np.ndarray:
    """Index of each row's POD in ``pods``.

    A categorical column is mapped through its few categories, then its codes (no per-row lookup).

    Parameters
    ----------
    pod_column : pandas.Series
        The measurements' ``pod`` column (strings or categorical).
    pods : tuple of str
        The community's PODs, in code order.

    Returns
    -------
    numpy.ndarray
        int32 code of each row.

    Raises
    ------
    MeasurementError
        Naming the first row whose POD is not in ``pods``.
    """
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
        """rows × intervals: True inside each row's expected window."""
        return window_mask(self.first, self.end, self.values.shape[1])

    @property
    def expected_count(self) -> np.ndarray:
        """Expected intervals per row: the length of its window."""
        return np.asarray(self.end) - np.asarray(self.first)

    @property
    def missing_count(self) -> np.ndarray:
        """Missing intervals per row: expected but absent."""
        n = self.values.shape[1]
        if np.all(self.first == 0) and np.all(self.end == n):
            return n - np.count_nonzero(self.present, axis=1)
        return np.count_nonzero(self.expected & ~self.present, axis=1)


def window_mask(first_idx: np.ndarray, end_idx: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask of each row's expected window: ``first_idx[r] <= i < end_idx[r]``.

    Parameters
    ----------
    first_idx, end_idx : numpy.ndarray
        Per row, the first expected interval and the one after the last.
    n : int
        Number of intervals.

    Returns
    -------
    numpy.ndarray
        rows × ``n`` booleans.
    """
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

    Rows outside ``0 <= tidx < n`` are dropped. Two readings of one POD and interval are refused (the
    CSV reader has already dropped exact duplicates), so no energy is counted twice.

    Parameters
    ----------
    codes : numpy.ndarray
        Each row's index in ``pods`` (:func:`point_codes`).
    tidx : numpy.ndarray
        Each row's interval index.
    withdrawn_kwh, injected_kwh : numpy.ndarray
        Each row's withdrawal and injection, kWh.
    n : int
        Number of intervals.
    n_consumers : int
        The first ``n_consumers`` entries of ``pods`` are the consumption PODs.
    plant_codes : numpy.ndarray
        ``plant_codes[k]`` is the code of plant k's POD.
    pods : tuple of str
        The community's PODs, in code order (names the POD in errors).
    t0_ns, step_ns : int
        UTC nanoseconds of interval 0 and the interval length (name the interval in errors).

    Returns
    -------
    withdrawn : numpy.ndarray
        Withdrawal, consumers × n, kWh (0 where absent).
    withdrawn_present : numpy.ndarray
        Its present mask, consumers × n.
    injected : numpy.ndarray
        Injection, plants × n, kWh.
    injected_present : numpy.ndarray
        Its present mask, plants × n.

    Raises
    ------
    MeasurementError
        On two readings for one POD and interval.
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
    present_2d = present.reshape(n_points, n)
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
        present_2d[:n_consumers],
        injected.reshape(len(plant_codes), n),
        present_2d[np.asarray(plant_codes, dtype=np.int64)],
    )


def fill_missing(dense: Dense, how: str | None, names: tuple[str, ...]) -> np.ndarray:
    """Fill the missing intervals of a dense block and zero the readings outside each row's window, in place.

    ``"zero"`` leaves a missing interval at 0 kWh; ``"interpolate"`` fills it linearly in time between the
    neighbouring readings of the same POD (``numpy.interp``; the edges repeat the nearest reading).

    Parameters
    ----------
    dense : Dense
        Values (rows × intervals, kWh), present mask and expected windows.
    how : str or None
        ``None`` (the caller has refused data with missing intervals; missing stay 0), ``"zero"`` or
        ``"interpolate"``.
    names : tuple of str
        The rows' PODs (names the POD in errors).

    Returns
    -------
    numpy.ndarray
        ``dense.values``, filled, kWh.

    Raises
    ------
    ValueError
        For an unknown ``how``.
    MeasurementError
        When a POD to interpolate has no reading at all.
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
                f"pod {names[r]!r}: no readings at all to interpolate from; use --fill zero"
            )
        want = lo + np.flatnonzero(~dense.present[r, lo:hi])
        values[r, want] = np.interp(want, have, values[r, have])
    return values


def to_hours(values: np.ndarray, step_minutes: int) -> np.ndarray:
    """Sum quarter hours into hours.

    The grid starts on a local midnight, hence on a UTC hour, so every run of four quarter hours is one
    hour.

    Parameters
    ----------
    values : numpy.ndarray
        rows × intervals, kWh.
    step_minutes : int
        The intervals' length: 15 (summed here) or 60 (returned as is).

    Returns
    -------
    numpy.ndarray
        rows × hours, kWh.
    """
    if step_minutes == 60:
        return values
    rows, n = values.shape
    return values.reshape(rows, n // 4, 4).sum(axis=2)
