"""What demand-response events earned: extra shared energy, extra premium, and the flexibility bonus.

For an event with members' responses ``r_{i,q}`` (kWh, :func:`condivisa.engines.baseline.measure_response`)
the community's extra consumption in settlement interval h is the members' positive response in it,
``R_h = Σ_i Σ_{q ∈ h} max(r_{i,q}, 0)``. Without the event the configuration would have withdrawn
``W_h − R_h``, so the event's **extra shared energy** is (TIAD art. 1: shared = hourly minimum)

    ΔE_h = min(I_h, W_h) − min(I_h, max(W_h − R_h, 0))   ≥ 0,

with I_h and W_h the configuration's injection and withdrawal in h. The **extra premium** values it at the
hour's premium per kWh of shared energy, ``ΔP = Σ_h ΔE_h · P_h / E_sh,h`` (P_h the premium of h in €,
:mod:`condivisa.engines.settlement_money`; 0 where E_sh,h = 0), rounded once to the cent (half to even).

The **flexibility bonus** (``rules.flexibility_bonus.share`` = s, default 0): ``B = round(s · ΔP)`` cents,
never more than the period's premium, taken off the premium *before* its producers / community / consumers
split and given to the members who shifted, pro rata to their kWh shifted ``max(0, Σ_q r_{i,q})`` over the
period's events (:func:`condivisa.engines.allocation.allocate`, largest remainder). The enterprise cap of
the GSE applies after it, as to any premium.

A community under several primary substations is valued on its totals: the extra shared energy of each
configuration is not separated (noted in docs/events.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from condivisa.domain.community import Community
from condivisa.engines.baseline import (
    BaselineError,
    BaselineMethod,
    Response,
    day_clock_table,
    measure_response,
)
from condivisa.kernel.timegrid import ROME


@dataclass(frozen=True)
class MeasuredEvent:
    """A demand-response event and each invited member's measured response (member id → Response)."""

    event_id: str
    start: pd.Timestamp
    end: pd.Timestamp
    responses: dict[str, Response]

    def shifted_kwh(self) -> dict[str, float]:
        """kWh each member moved into the window, ``max(0, Σ_q r_q)``."""
        return {m: r.shifted_kwh for m, r in self.responses.items()}


@dataclass(frozen=True)
class EventFigures:
    """What one event earned in the settlement."""

    event_id: str
    start: pd.Timestamp
    end: pd.Timestamp
    shifted_kwh: dict[str, float]
    extra_consumption_kwh: float
    extra_shared_kwh: float
    extra_premium_eur: float


@dataclass(frozen=True)
class FlexibilityFigures:
    """The period's events, their extra premium (cents) and the bonus to share (cents), with each member's
    weight (kWh shifted over the period)."""

    events: list[EventFigures] = field(default_factory=list)
    extra_premium_cents: int = 0
    bonus_cents: int = 0
    member_shifted_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def extra_shared_kwh(self) -> float:
        return float(sum(e.extra_shared_kwh for e in self.events))


def _extra_by_interval(event: MeasuredEvent, starts_ns: np.ndarray, step_ns: int) -> np.ndarray:
    """``R_h``: the members' positive response summed onto the settlement intervals, kWh."""
    out = np.zeros(starts_ns.size)
    for response in event.responses.values():
        t = response.starts.tz_convert("UTC").as_unit("ns").asi8
        idx = np.searchsorted(starts_ns, t, side="right") - 1
        ok = (idx >= 0) & (t < starts_ns[np.clip(idx, 0, None)] + step_ns) if starts_ns.size else idx < -1
        np.add.at(out, idx[ok], np.maximum(response.response_kwh[ok], 0.0))
    return out


def event_figures(
    event: MeasuredEvent,
    starts_ns: np.ndarray,
    step_ns: int,
    injected_kwh: np.ndarray,
    withdrawn_kwh: np.ndarray,
    premium_eur: np.ndarray,
) -> EventFigures:
    """One event's extra consumption, extra shared energy and extra premium (module docstring).

    Parameters
    ----------
    event : MeasuredEvent
        The window and the members' responses.
    starts_ns : numpy.ndarray
        UTC nanoseconds of the settlement intervals' starts.
    step_ns : int
        The settlement interval, ns.
    injected_kwh, withdrawn_kwh : numpy.ndarray
        The configuration's injection I_h and withdrawal W_h per interval, kWh.
    premium_eur : numpy.ndarray
        The premium P_h per interval, € (all plants).

    Returns
    -------
    EventFigures
        ``Σ_h R_h``, ``Σ_h ΔE_h`` (kWh) and ``ΔP`` (€, unrounded).

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1: shared energy per hour.
    .. [2] DM MASE 414/2023, annex 1: the premium on incentivised shared energy.
    """
    extra = _extra_by_interval(event, starts_ns, step_ns)
    shared = np.minimum(injected_kwh, withdrawn_kwh)
    without = np.minimum(injected_kwh, np.maximum(withdrawn_kwh - extra, 0.0))
    extra_shared = shared - without
    rate = np.divide(premium_eur, shared, out=np.zeros_like(shared), where=shared > 0)
    return EventFigures(
        event.event_id,
        event.start,
        event.end,
        event.shifted_kwh(),
        float(extra.sum()),
        float(extra_shared.sum()),
        float((extra_shared * rate).sum()),
    )


def flexibility_figures(
    events: Sequence[MeasuredEvent],
    member_ids: Sequence[str],
    *,
    share: float,
    premium_total_cents: int,
    starts_ns: np.ndarray,
    step_ns: int,
    injected_kwh: np.ndarray,
    withdrawn_kwh: np.ndarray,
    premium_eur: np.ndarray,
) -> FlexibilityFigures:
    """The period's events valued (:func:`event_figures`), their extra premium and the bonus ``B`` in cents,
    and each member's kWh shifted over the period (the bonus's key).

    Parameters
    ----------
    events : sequence of MeasuredEvent
        The events of the period (non-overlapping windows: each is valued on its own).
    member_ids : sequence of str
        The community's members, in the settlement's order.
    share : float
        ``s`` of ``rules.flexibility_bonus.share``, in [0, 1].
    premium_total_cents : int
        The period's premium, cents: the bonus never exceeds it.
    starts_ns, step_ns, injected_kwh, withdrawn_kwh, premium_eur
        As in :func:`event_figures`.

    Returns
    -------
    FlexibilityFigures
        ``extra_premium_cents = round(100 · Σ ΔP)``, ``bonus_cents = min(round(s · that), premium)``.
    """
    figures = [event_figures(e, starts_ns, step_ns, injected_kwh, withdrawn_kwh, premium_eur) for e in events]
    extra_cents = int(round(100 * sum(f.extra_premium_eur for f in figures)))
    position = {m: i for i, m in enumerate(member_ids)}
    shifted = np.zeros(len(member_ids))
    for f in figures:
        for member, kwh in f.shifted_kwh.items():
            if member in position:
                shifted[position[member]] += kwh
    bonus = min(int(round(share * extra_cents)), premium_total_cents) if shifted.sum() > 0 else 0
    return FlexibilityFigures(figures, extra_cents, max(bonus, 0), shifted)


@dataclass(frozen=True)
class EventWindow:
    """An event to measure: its id, window ``[start, end)`` (tz-aware) and the members invited."""

    event_id: str
    start: pd.Timestamp
    end: pd.Timestamp
    members: tuple[str, ...]


def _consumption(community: Community, by_pod: dict[str, pd.DataFrame], member_id: str) -> pd.Series:
    """A member's withdrawal summed over their consumption PODs, kWh per data interval (aware index)."""
    member = next(m for m in community.members if m.id == member_id)
    parts = [by_pod[p] for p in member.consumption_pods if p in by_pod]
    if not parts:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz=ROME))
    rows = pd.concat(parts) if len(parts) > 1 else parts[0]
    return rows.groupby("start")["withdrawn_kwh"].sum().sort_index()


def measure_events(
    community: Community,
    measurements: pd.DataFrame,
    windows: Sequence[EventWindow],
    method: BaselineMethod | None = None,
) -> tuple[list[MeasuredEvent], list[str]]:
    """Each event's invited members' responses (:func:`condivisa.engines.baseline.measure_response`), the
    days of the other events left out of every baseline; and the problems (a member without a baseline is
    left out of that event, with the reason).

    Parameters
    ----------
    community : Community
        The members and their consumption PODs.
    measurements : pandas.DataFrame
        The measurements table (``pod``, ``start``, ``withdrawn_kwh``, ...), quarter-hour or hourly, with the
        days before the events (the baseline looks back 45 days).
    windows : sequence of EventWindow
        The events.
    method : BaselineMethod, optional
        The baseline's parameters.

    Returns
    -------
    tuple of (list of MeasuredEvent, list of str)
    """
    if measurements.empty or not windows:
        return [], []
    starts = pd.DatetimeIndex(measurements["start"].drop_duplicates().sort_values())
    step = int((starts[1:] - starts[:-1]).min() / pd.Timedelta(minutes=1)) if len(starts) > 1 else 60
    event_days = {w.start.tz_convert(ROME).date() for w in windows}
    known = {m.id for m in community.members}
    out: list[MeasuredEvent] = []
    problems: list[str] = []
    cache: dict[str, pd.DataFrame] = {}
    by_pod = dict(tuple(measurements[["pod", "start", "withdrawn_kwh"]].groupby("pod", sort=False)))
    for w in windows:
        day = w.start.tz_convert(ROME).date()
        responses = {}
        for member_id in w.members:
            if member_id not in known:
                problems.append(f"event {w.event_id}: {member_id} is no longer a member")
                continue
            if member_id not in cache:
                cache[member_id] = day_clock_table(_consumption(community, by_pod, member_id))
            try:
                responses[member_id] = measure_response(
                    cache[member_id], w.start, w.end, step_minutes=step, method=method,
                    exclude_days=event_days - {day},
                )  # fmt: skip
            except BaselineError as exc:
                problems.append(f"event {w.event_id}, member {member_id}: {exc}")
        out.append(MeasuredEvent(w.event_id, w.start, w.end, responses))
    return out, problems
