"""Baseline of a member's consumption in a demand-response window, and their measured response.

What a member *would have* consumed in the window ``[start, end)`` of day d had there been no event
(issue #19, item 3), the **10-of-10 with a same-day adjustment** used for customer baseline loads:

1. **similar days**: the ``n`` (10) most recent days before d of the same ARERA day type (working day,
   Saturday, Sunday or national holiday; :func:`condivisa.domain.time_bands.day_type`), within
   ``lookback_days`` (45), leaving out the days of other events and days without complete data in the
   window; at least ``min_days`` (3) are needed, else :class:`BaselineError`;
2. **average profile**: for each interval q of the window, ``B_q = mean_{d' ∈ S} E_{d', τ_q}``, with τ_q the
   interval's local wall-clock time (Europe/Rome: on the DST days the windows of the afternoon keep their
   clock times; a window over the missing or repeated night hour is refused);
3. **same-day adjustment**: ``α = A_d / A_S`` with A the energy in the ``adjustment_hours`` (2) ending
   ``gap_hours`` (1) before ``start`` — on day d and averaged on the similar days — clipped to
   ``[1 − cap, 1 + cap]`` (cap 0.2), and 1 when ``A_S = 0``; the baseline is ``α · B_q``.

The member's **response** is ``r_q = E_{d,q} − α · B_q`` (kWh; > 0: more consumption in the window) and
the energy **shifted** into the window is ``max(0, Σ_q r_q)``.

The adjustment corrects for a day that is simply colder or busier than the similar days; its cap stops a
member who moved morning consumption into the window from inflating their own response more than 20 %.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from condivisa.domain.time_bands import day_type
from condivisa.kernel.timegrid import ROME


class BaselineError(ValueError):
    """No baseline can be computed (too few similar days, a window over a DST change); the text says why."""


@dataclass(frozen=True)
class BaselineMethod:
    """The parameters of the baseline (module docstring); the defaults are the documented method."""

    days: int = 10
    lookback_days: int = 45
    min_days: int = 3
    adjustment_hours: float = 2.0
    gap_hours: float = 1.0
    cap: float = 0.2


@dataclass(frozen=True)
class Response:
    """One member's consumption in an event window: actual, baseline and their difference, kWh per
    data interval (``starts``)."""

    starts: pd.DatetimeIndex
    actual_kwh: np.ndarray
    baseline_kwh: np.ndarray
    similar_days: tuple[dt.date, ...]
    adjustment: float

    @property
    def response_kwh(self) -> np.ndarray:
        """``r_q = E_q − α·B_q``, kWh."""
        return self.actual_kwh - self.baseline_kwh

    @property
    def shifted_kwh(self) -> float:
        """Energy moved into the window, ``max(0, Σ_q r_q)``, kWh."""
        return max(0.0, float(self.response_kwh.sum()))


def day_clock_table(consumption_kwh: pd.Series) -> pd.DataFrame:
    """``consumption_kwh`` as a table: local civil day (rows) × minute of the local clock (columns), kWh;
    NaN where absent. Computed once per member and reused for every event (:func:`measure_response`)."""
    local = consumption_kwh.index.tz_convert(ROME)
    day_codes, days = pd.factorize(local.date, sort=True)
    minute_codes, minutes = pd.factorize(local.hour * 60 + local.minute, sort=True)
    values = np.zeros((len(days), len(minutes)))
    seen = np.zeros_like(values, dtype=bool)
    np.add.at(values, (day_codes, minute_codes), consumption_kwh.to_numpy(float))
    seen[day_codes, minute_codes] = True
    return pd.DataFrame(np.where(seen, values, np.nan), index=list(days), columns=np.asarray(minutes))


def _clock_minutes(start: pd.Timestamp, end: pd.Timestamp, step_minutes: int) -> np.ndarray:
    """The local clock minutes of the intervals in ``[start, end)``; refused over a DST change."""
    if start.tz_convert(ROME).utcoffset() != (end - pd.Timedelta(minutes=1)).tz_convert(ROME).utcoffset():
        raise BaselineError(f"window {start}–{end} spans a change of the clock: no wall-clock baseline")
    first = start.tz_convert(ROME)
    n = int((end - start) / pd.Timedelta(minutes=step_minutes))
    return first.hour * 60 + first.minute + step_minutes * np.arange(n)


def similar_days(
    day: dt.date, available: Iterable[dt.date], method: BaselineMethod, exclude: Iterable[dt.date] = ()
) -> list[dt.date]:
    """The days of the baseline (step 1): the most recent ``method.days`` days of ``day``'s type before it,
    among ``available``, within ``method.lookback_days``, not in ``exclude``; most recent first."""
    kind = day_type(day)[0]
    skip = set(exclude)
    earliest = day - dt.timedelta(days=method.lookback_days)
    candidates = sorted((d for d in set(available) if earliest <= d < day and d not in skip), reverse=True)
    same = (
        [d for d, k in zip(candidates, day_type(candidates), strict=True) if k == kind] if candidates else []
    )
    return same[: method.days]


def measure_response(
    consumption_kwh: pd.Series | pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    step_minutes: int = 15,
    method: BaselineMethod | None = None,
    exclude_days: Iterable[dt.date] = (),
) -> Response:
    """A member's baseline and response in the window ``[start, end)`` (module docstring, steps 1–3).

    Parameters
    ----------
    consumption_kwh : pandas.Series or pandas.DataFrame
        The member's withdrawal, kWh per data interval, indexed by tz-aware interval start; the days
        before the event (at least ``method.min_days`` similar ones) and the event's day. Or its
        :func:`day_clock_table`, when several events are measured on the same member.
    start, end : pandas.Timestamp
        The event window, tz-aware, on one civil day, aligned to ``step_minutes``.
    step_minutes : int, default 15
        The data interval, minutes (15 or 60).
    method : BaselineMethod, optional
        The baseline's parameters (default: the documented 10-of-10, 2 h adjustment, cap 20 %).
    exclude_days : iterable of datetime.date
        Days of other events: never similar days.

    Returns
    -------
    Response
        Actual and baseline kWh per interval of the window, the similar days used and α.

    Raises
    ------
    BaselineError
        Too few similar days with complete data, the event's day missing data, or a window over a DST
        change.

    References
    ----------
    .. [1] PJM, Manual 11: Energy & Ancillary Services Market Operations, §10.3 "Customer Baseline Load"
       (the highest/most recent similar days, with a same-day symmetric additive/multiplicative adjustment).
    .. [2] EnerNOC, "The Demand Response Baseline" (2009): the 10-of-10 average with a capped same-day
       adjustment.
    """
    m = method or BaselineMethod()
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    day = start.tz_convert(ROME).date()
    window = _clock_minutes(start, end, step_minutes)
    adj_end = start - pd.Timedelta(hours=m.gap_hours)
    adj_start = adj_end - pd.Timedelta(hours=m.adjustment_hours)
    if adj_start.tz_convert(ROME).date() != day:
        raise BaselineError(f"window {start}: its adjustment hours start on the day before")
    adjust = _clock_minutes(adj_start, adj_end, step_minutes)
    table = consumption_kwh if isinstance(consumption_kwh, pd.DataFrame) else day_clock_table(consumption_kwh)
    cols = table.reindex(columns=np.concatenate([window, adjust])).to_numpy(float)
    row = {d: i for i, d in enumerate(table.index)}
    n = len(window)
    if day not in row or np.isnan(cols[row[day], :n]).any():
        raise BaselineError(f"the event's day {day} has no complete data in the window")
    complete = [d for d, ok in zip(table.index, ~np.isnan(cols).any(axis=1), strict=True) if ok]
    days = similar_days(day, complete, m, exclude_days)
    if len(days) < m.min_days:
        raise BaselineError(
            f"only {len(days)} similar day(s) with data before {day} (at least {m.min_days} of the "
            f"same day type within {m.lookback_days} days)"
        )
    similar = cols[[row[d] for d in days]]
    profile = similar[:, :n].mean(axis=0)
    a_similar = float(similar[:, n:].sum(axis=1).mean())
    a_day = float(np.nansum(cols[row[day], n:]))
    alpha = 1.0 if a_similar <= 0 else float(np.clip(a_day / a_similar, 1 - m.cap, 1 + m.cap))
    starts = pd.date_range(start, end, freq=f"{step_minutes}min", inclusive="left").tz_convert(ROME)
    return Response(starts, cols[row[day], :n].copy(), alpha * profile, tuple(days), alpha)
