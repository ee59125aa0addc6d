"""How a simulated household answers a flexibility ``event`` or ``advice``: it moves part of its deferrable
consumption (washing machine, dishwasher, water heater) into the asked window (issue #19, item 6).

Pure numpy (pandas only to find a window's quarter hours): the arrays of :class:`condivisa.sim.devices.Fleet`
go in, the shifted energies come out.

Model, for device i, civil day d (Europe/Rome) and the window's quarter hours W (``[start, end)`` of an
event, or the union of an advice's windows), counting only the quarter hours not sent yet (index ≥ ``sent``):

* S = the day's unsent quarter hours outside W; E_q the quarter-hour withdrawal (kWh);
* h(τ) = 1 in the morning (06:00–09:00) and evening (18:00–23:00) hours, when deferrable loads usually run,
  and :data:`OFF_PEAK_WEIGHT` = 0.3 elsewhere (the night's fridge and standby are not deferrable);
* the energy moved (kWh)::

      ΔE_i = min( φ_i · Σ_{q∈S} E_q,               flexible share φ of what is left of the day
                  C − ΔE already moved by the same command on an earlier day of W,   cap C (kWh)
                  Σ_{q∈S} h(τ_q) · E_q,             never more than the deferrable part
                  |W| · max(0, P · 0.25 h − max_{q∈W} E_q) )   contractual power P (kW) in every quarter

  with φ_i the device's flexible share for an event and u · φ_i for an advice (uptake u =
  :attr:`FlexParams.advice_uptake`: a suggestion moves less than an event the member accepted);
* taken from S in proportion to h · E:  t_q = ΔE_i · h(τ_q) E_q / Σ_{q'∈S} h(τ_q') E_q'  (so t_q ≤ E_q);
* added to W flat:  a_q = ΔE_i / |W|.

Hence the day's total is unchanged (Σ a = Σ t = ΔE), no quarter hour goes negative, no window quarter
exceeds P · 0.25 h unless it already did, and quarter hours already sent are never touched. Production
PODs and non-participants do not respond: a device participates in a command with probability p, drawn
from ``(seed, du_id, command id)`` so that the same arguments give the same answers in any order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from condivisa.formats.flex_messages import Advice, EventCommand

#: h(τ) outside the morning and evening hours (see the module docstring)
OFF_PEAK_WEIGHT = 0.3
#: local hours [from, to) when deferrable loads usually run, h(τ) = 1
DEFERRABLE_HOURS = ((6.0, 9.0), (18.0, 23.0))


@dataclass(frozen=True)
class FlexParams:
    """Parameters of the response model (module docstring), for a whole fleet.

    ``flexible_share`` φ (0..1, of the day's remaining consumption), ``participation`` p (0..1, probability
    that a household acts on a command), ``advice_uptake`` u (0..1, an advice moves u · φ), ``cap_kwh`` C
    (kWh per device and command), ``max_kw`` P (kW, the household's contractual power)."""

    flexible_share: float = 0.25
    participation: float = 0.8
    advice_uptake: float = 0.4
    cap_kwh: float = 3.0
    max_kw: float = 3.0

    def __post_init__(self) -> None:
        for name in ("flexible_share", "participation", "advice_uptake"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.cap_kwh < 0 or self.max_kw <= 0:
            raise ValueError(f"cap_kwh must be >= 0 and max_kw > 0, got {self.cap_kwh}, {self.max_kw}")


@dataclass(frozen=True)
class Response:
    """What one device did about one command: ``status`` ``accepted``/``declined`` (events) or
    ``followed``/``ignored`` (advice), and the energy it moved into the window (kWh)."""

    du_id: str
    command_id: str
    cmd: str  # "event" or "advice"
    status: str
    shifted_kwh: float


def deferrable_weight(hours_of_day: np.ndarray) -> np.ndarray:
    """h(τ) of local hours of day ``τ`` (0 ≤ τ < 24): 1 in :data:`DEFERRABLE_HOURS`, else 0.3."""
    h = np.asarray(hours_of_day, dtype=float)
    inside = np.zeros(h.shape, dtype=bool)
    for lo, hi in DEFERRABLE_HOURS:
        inside |= (h >= lo) & (h < hi)
    return np.where(inside, 1.0, OFF_PEAK_WEIGHT)


def window_mask(starts: pd.DatetimeIndex, command: EventCommand | Advice) -> np.ndarray:
    """Which quarter hours (aware ``starts``) lie in the command's window(s) ``[start, end)``: the event's
    window, or the union of an advice's windows."""
    spans = (
        [(command.start, command.end)]
        if isinstance(command, EventCommand)
        else [(w.start, w.end) for w in command.windows]
    )
    inside = np.zeros(len(starts), dtype=bool)
    for a, b in spans:
        inside |= np.asarray((starts >= pd.Timestamp(a)) & (starts < pd.Timestamp(b)))
    return inside


def participates(seed: int, du_id: str, command_id: str, probability: float) -> bool:
    """Whether device ``du_id`` acts on command ``command_id``: u < p with u uniform in [0, 1) drawn from
    ``(seed, crc32(du_id), crc32(command_id))`` (the same in any order of commands)."""
    key = [seed, zlib.crc32(du_id.encode()), zlib.crc32(command_id.encode())]
    return bool(np.random.default_rng(key).random() < probability)


def shift_into_window(
    withdrawn_kwh: np.ndarray,
    hours_of_day: np.ndarray,
    day_codes: np.ndarray,
    window: np.ndarray,
    share: np.ndarray,
    *,
    sent: int = 0,
    cap_kwh: float = 3.0,
    max_kw: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Move consumption into the ``window`` quarter hours (module docstring).

    Parameters
    ----------
    withdrawn_kwh : array ``(n_devices, n_quarters)``, kWh per quarter hour
    hours_of_day : array ``(n_quarters,)``, local hour of each quarter's start (0 ≤ τ < 24)
    day_codes : array ``(n_quarters,)``, the civil day of each quarter (equal codes = same day)
    window : bool array ``(n_quarters,)``, the quarter hours W to move energy into
    share : array ``(n_devices,)``, the share moved (φ, or u · φ for an advice; 0: the device does not
        respond)
    sent : quarters ``< sent`` were sent already and are left as they are
    cap_kwh, max_kw : the cap C (kWh per device) and the contractual power P (kW)

    Returns
    -------
    (new withdrawn_kwh, shifted kWh per device ``(n_devices,)``); the input is not modified.
    """
    e = np.array(withdrawn_kwh, dtype=float)
    share = np.asarray(share, dtype=float)
    window = np.asarray(window, dtype=bool)
    idx = np.arange(e.shape[1])
    unsent = idx >= sent
    h = deferrable_weight(hours_of_day)
    shifted = np.zeros(e.shape[0])
    for d in np.unique(day_codes[window & unsent]):
        day = (day_codes == d) & unsent
        w, s = day & window, day & ~window
        flexible = e[:, s] * h[s]  # h · E on S, (n, |S|)
        flexible_kwh = flexible.sum(axis=1)
        headroom = w.sum() * np.maximum(0.0, max_kw * 0.25 - e[:, w].max(axis=1))
        delta = np.minimum.reduce(
            [share * e[:, s].sum(axis=1), np.maximum(cap_kwh - shifted, 0.0), flexible_kwh, headroom]
        )
        delta = np.where(flexible_kwh > 0.0, delta, 0.0)
        ratio = np.divide(delta, flexible_kwh, out=np.zeros_like(delta), where=flexible_kwh > 0.0)
        e[:, s] -= flexible * ratio[:, None]
        e[:, w] += (delta / w.sum())[:, None]
        shifted += delta
    return e, shifted
