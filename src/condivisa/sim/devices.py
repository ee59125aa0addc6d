"""Simulated chain-2 user devices (DU) publishing quarter-hour UrbanDatasets over MQTT or REST.

The fleet's energies, its messages and the send loop (:func:`run`) are here; where the messages go (the
broker, a platform's REST API) is :mod:`condivisa.sim.sinks`.

Profiles (kWh per quarter hour q, Europe/Rome local time τ_q, civil day d):

* household (consumption POD):  E_q = D_d · a(τ_q) / Σ_{q'∈d} a(τ_q') · (1 + ε_q)
  with a(τ) the case-study appliance shape of :func:`condivisa.engines.loads.appliance_shape` (morning and
  evening peaks), D_d a daily energy drawn around the DU's mean (lognormal, σ = 0.15) and ε_q ~ N(0, 0.1²)
  clipped at −0.9 so that E_q > 0;
* production POD (PV plant behind the exchange meter):  E_q = P · p(t_q) · 0.25 h · k_d, injected,
  with p the clear-sky AC power of 1 kW of PV at mid-interval (:func:`condivisa.engines.pv.clearsky_ac_kw`,
  pvlib Ineichen, 30° south), P the plant's kW and k_d a daily cloudiness factor uniform in [0.55, 1];
  the plant's auxiliaries draw 0.005 kWh per quarter hour when it produces nothing.

Totalizers are the running sums of the quarter-hour energies on top of a random initial reading, so they
are monotone and their differences equal the quarter-hour energies exactly (what the platform cross-checks).
Everything is seeded: the same arguments give the same messages.

Flexibility (issue #19): a household DU that gets an ``event`` or ``advice`` on its cmd topic moves part of
its deferrable consumption into the window (:mod:`condivisa.sim.flex_response`); :func:`respond` applies it
to the quarter hours not sent yet and recomputes the totalizers, and :func:`run` answers the commands a sink
receives (``take_commands()``) before each quarter hour is sent.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from condivisa.domain.community import Community
from condivisa.formats.flex_messages import Advice, EventCommand, Reply
from condivisa.kernel import clock
from condivisa.kernel.timegrid import QUARTER, quarter_hours
from condivisa.sim.flex_response import (
    FlexParams,
    Response,
    participates,
    shift_into_window,
    window_mask,
)

FAULTS = ("dup", "gap", "corrupt")
CAGLIARI = (39.22, 9.11)


@dataclass(frozen=True)
class SimDevice:
    du_id: str
    pod: str
    production_kw: float = 0.0  # > 0: a PV plant's POD (injects)
    daily_kwh: float = 8.0  # mean daily consumption of a household POD
    flexible_share: float | None = None  # φ of this DU (None: the fleet's FlexParams)
    participation: float | None = None  # p of this DU (None: the fleet's FlexParams)


@dataclass
class Fleet:
    """Quarter-hour energies of every device: arrays ``(n_devices, n_quarters)`` in kWh; ``flex`` and
    ``seed`` drive the response to flexibility commands, ``responses`` records them (:func:`respond`)."""

    devices: list[SimDevice]
    starts: pd.DatetimeIndex  # aware, Europe/Rome
    withdrawn_kwh: np.ndarray
    injected_kwh: np.ndarray
    withdrawn_total_kwh: np.ndarray  # reading at the interval's end
    injected_total_kwh: np.ndarray
    flex: FlexParams = field(default_factory=FlexParams)
    seed: int = 0
    responses: list[Response] = field(default_factory=list)

    def shifted_kwh(self, command_id: str | None = None) -> dict[str, float]:
        """kWh each DU moved into the windows of ``command_id`` (default: of every command), the truth to
        compare a baseline-measured response with; DUs that moved nothing are left out."""
        out: dict[str, float] = {}
        for r in self.responses:
            if r.shifted_kwh > 0 and command_id in (None, r.command_id):
                out[r.du_id] = out.get(r.du_id, 0.0) + r.shifted_kwh
        return out

    def readings(self, i: int, q: int) -> dict:
        d = self.devices[i]
        return {
            "du_id": d.du_id,
            "pod": d.pod,
            "start": self.starts[q].to_pydatetime(),
            "withdrawn_kwh": float(self.withdrawn_kwh[i, q]),
            "injected_kwh": float(self.injected_kwh[i, q]),
            "withdrawn_total_kwh": float(self.withdrawn_total_kwh[i, q]),
            "injected_total_kwh": float(self.injected_total_kwh[i, q]),
        }


def synthetic_devices(count: int, *, production_share: float = 0.1, seed: int = 0) -> list[SimDevice]:
    """``count`` DUs ``DU-00001``.. on PODs ``IT001E9xxxxxxx``; about ``production_share`` of them on PV plant PODs."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        is_pv = k % max(1, round(1 / production_share)) == 0 if production_share > 0 else False
        out.append(
            SimDevice(
                f"DU-{k + 1:05d}",
                f"IT001E9{k + 1:07d}",
                production_kw=float(rng.choice([6.0, 20.0, 50.0])) if is_pv else 0.0,
                daily_kwh=float(rng.uniform(5.0, 14.0)),
            )
        )
    return out


def devices_from_community(community: Community) -> list[SimDevice]:
    """The community's registered DUs; those on a plant's POD produce (the plant's kW)."""
    plants = {p.pod: p.power_kw for p in community.plants}
    return [SimDevice(d.id, d.pod, production_kw=plants.get(d.pod, 0.0)) for d in community.devices]


def example_community_yaml(devices: list[SimDevice], name: str = "CER Simulata") -> dict:
    """A community file registering ``devices`` (one member per household POD, plants owned by the community)."""
    members = [
        {"id": f"m{k + 1}", "pods": [{"pod": d.pod, "kind": "consumption"}]}
        for k, d in enumerate(devices)
        if d.production_kw <= 0
    ]
    plants = [
        {
            "id": f"pv{k + 1}",
            "pod": d.pod,
            "owner": "community",
            "power_kw": d.production_kw,
            "commissioning": "2024-01-01",
        }
        for k, d in enumerate(devices)
        if d.production_kw > 0
    ]
    return {
        "name": name,
        "configuration": "CER",
        "zone": "south",
        "constituted": "2024-01-01",
        "members": members,
        "plants": plants,
        "devices": [{"id": d.du_id, "pod": d.pod} for d in devices],
    }


def household_kwh(
    hours_of_day: np.ndarray, day_codes: np.ndarray, daily_kwh: float, rng: np.random.Generator
) -> np.ndarray:
    """Quarter-hour energies of one household (see the module docstring)."""
    from condivisa.engines.loads import appliance_shape

    w = appliance_shape(hours_of_day)
    share = w / np.bincount(day_codes, weights=w)[day_codes]
    day_kwh = daily_kwh * rng.lognormal(0.0, 0.15, size=day_codes.max() + 1)
    noise = np.clip(rng.normal(0.0, 0.1, size=len(w)), -0.9, None)
    return share * day_kwh[day_codes] * (1.0 + noise)


@functools.lru_cache(maxsize=16)
def _pv_1kw(first_start: str, n: int, location: tuple[float, float]) -> np.ndarray:
    """Clear-sky AC kW of 1 kWp (30° tilt, south) at the middle of ``n`` quarter hours from ``first_start``."""
    from condivisa.engines.pv import clearsky_ac_kw

    starts = pd.date_range(pd.Timestamp(first_start), periods=n, freq="15min")
    out = np.nan_to_num(clearsky_ac_kw(starts + QUARTER / 2, *location, 1.0, 30.0, 0.0))
    out.setflags(write=False)
    return out


def build_fleet(
    devices: list[SimDevice],
    start: dt.date,
    days: int,
    *,
    seed: int = 0,
    until: dt.datetime | None = None,
    location: tuple[float, float] = CAGLIARI,
    flex: FlexParams | None = None,
) -> Fleet:
    """Energies of ``devices`` for ``days`` civil days from ``start``; quarter hours ending after ``until``
    (default: now) are dropped, since a device cannot report the future. ``flex`` (default
    :class:`FlexParams`: φ = 0.25, p = 0.8) is how the households answer flexibility commands."""
    starts = quarter_hours(start, start + dt.timedelta(days=days))
    until = pd.Timestamp(until or clock.now())
    starts = starts[starts + QUARTER <= until]
    if len(starts) == 0:
        raise ValueError(f"no quarter hour between {start} and {until}: choose an earlier --start")
    hours = (starts.hour + starts.minute / 60.0).to_numpy(dtype=float)
    day_codes = pd.factorize(starts.date)[0]
    pv_1kw = None
    rng = np.random.default_rng(seed)
    n, m = len(devices), len(starts)
    wd, inj = np.zeros((n, m)), np.zeros((n, m))
    for i, d in enumerate(devices):
        if d.production_kw > 0:
            if pv_1kw is None:
                pv_1kw = _pv_1kw(starts[0].isoformat(), len(starts), location)
            cloud = rng.uniform(0.55, 1.0, size=day_codes.max() + 1)[day_codes]
            inj[i] = d.production_kw * pv_1kw * 0.25 * cloud
            wd[i] = np.where(inj[i] <= 0.0, 0.005, 0.0)
        else:
            wd[i] = household_kwh(hours, day_codes, d.daily_kwh, rng)
    wd, inj = np.round(wd, 6), np.round(inj, 6)
    w0 = rng.uniform(1000.0, 20000.0, size=(n, 1)).round(3)
    i0 = np.where(inj.sum(axis=1, keepdims=True) > 0, rng.uniform(100.0, 5000.0, size=(n, 1)).round(3), 0.0)
    return Fleet(
        devices,
        starts,
        wd,
        inj,
        np.round(w0 + np.cumsum(wd, axis=1), 6),
        np.round(i0 + np.cumsum(inj, axis=1), 6),
        flex or FlexParams(),
        seed,
    )


def respond(
    fleet: Fleet, du_id: str, command: EventCommand | Advice, *, sent: int, at: dt.datetime | None = None
) -> Reply | None:
    """DU ``du_id`` answers ``command`` once quarters ``< sent`` were sent: a participating household
    (probability p, seeded) moves consumption into the window (:func:`~condivisa.sim.flex_response.
    shift_into_window`, φ for an event, u · φ for an advice), the totalizers are recomputed from ``sent``,
    and the answer is recorded in ``fleet.responses``. An event gets a :class:`Reply`: ``accepted`` when the
    DU moves energy, else ``declined`` (non-participant, production POD, window already sent or outside
    the fleet); an advice gets none. A DU not in the fleet: None, nothing recorded."""
    index = {d.du_id: i for i, d in enumerate(fleet.devices)}
    if du_id not in index:
        return None
    i, device, p = index[du_id], fleet.devices[index[du_id]], fleet.flex
    is_event = isinstance(command, EventCommand)
    command_id = command.event_id if isinstance(command, EventCommand) else command.advice_id
    joins = device.production_kw <= 0 and participates(
        fleet.seed,
        du_id,
        command_id,
        p.participation if device.participation is None else device.participation,
    )
    phi = p.flexible_share if device.flexible_share is None else device.flexible_share
    share = (phi if is_event else p.advice_uptake * phi) if joins else 0.0
    moved = 0.0
    if share > 0 and sent < len(fleet.starts):
        hours = (fleet.starts.hour + fleet.starts.minute / 60.0).to_numpy(dtype=float)
        new, shifted = shift_into_window(
            fleet.withdrawn_kwh[i : i + 1],
            hours,
            pd.factorize(fleet.starts.date)[0],
            window_mask(fleet.starts, command),
            np.array([share]),
            sent=sent,
            cap_kwh=p.cap_kwh,
            max_kw=p.max_kw,
        )
        moved = float(shifted[0])
        if moved > 0:  # totalizers from the last one sent (or the initial reading), rounded as built
            t = fleet.withdrawn_total_kwh[i]
            base = t[sent - 1] if sent > 0 else t[0] - fleet.withdrawn_kwh[i, 0]
            fleet.withdrawn_kwh[i, sent:] = new[0, sent:]
            t[sent:] = np.round(base + np.cumsum(new[0, sent:]), 6)
    status = (
        ("accepted" if moved > 0 else "declined") if is_event else ("followed" if moved > 0 else "ignored")
    )
    fleet.responses.append(Response(du_id, command_id, "event" if is_event else "advice", status, moved))
    if not is_event:
        return None
    return Reply(command_id, "event", status, at if at is not None else clock.now())


@dataclass(frozen=True)
class Message:
    kind: str  # "du" (one DU) or "gw" (a group of DUs)
    sender_id: str
    payload: bytes
    readings: int  # quarter hours carried (0 for a corrupt message)
    fault: str | None = None


def messages(
    fleet: Fleet,
    q: int,
    *,
    group: int = 1,
    faults: tuple[str, ...] = (),
    fault_rate: float = 0.05,
    rng: np.random.Generator | None = None,
    quarters: int = 1,
) -> Iterator[Message]:
    """The messages of quarter-hour step ``q`` (carrying quarters ``q .. q+quarters-1``): one per DU
    (``group`` = 1, topic kind ``du``) or one per ``group`` DUs (kind ``gw``, sender ``sim-gw-<k>``).
    Faults, each with probability ``fault_rate`` per message: ``gap`` skips it, ``dup`` sends it twice,
    ``corrupt`` sends a truncated copy."""
    from condivisa.formats.urbandataset.emit import build_m1_dataset

    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}: choose among {', '.join(FAULTS)}")
    rng = rng if rng is not None else np.random.default_rng(q)
    qs = range(q, min(q + quarters, len(fleet.starts)))
    n = len(fleet.devices)
    for g in range(0, n, group):
        idx = range(g, min(g + group, n))
        rows = [fleet.readings(i, k) for i in idx for k in qs]
        kind, sender = ("du", fleet.devices[g].du_id) if group == 1 else ("gw", f"sim-gw-{g // group + 1}")
        raw = json.dumps(build_m1_dataset(rows, producer_id=sender), separators=(",", ":")).encode()
        fault = None
        if faults and rng.random() < fault_rate:
            fault = str(rng.choice(list(faults)))
        if fault == "gap":
            continue
        if fault == "corrupt":
            yield Message(kind, sender, raw[: len(raw) // 2], 0, fault)
            continue
        yield Message(kind, sender, raw, len(rows))
        if fault == "dup":
            yield Message(kind, sender, raw, len(rows), fault)


def catch_up(fleet: Fleet, du_id: str, since: dt.datetime, upto: int) -> Message | None:
    """One message re-sending every quarter hour of ``du_id`` from ``since`` to step ``upto`` (a ``resend``
    command), or None when there is nothing to resend."""
    from condivisa.formats.urbandataset.emit import build_m1_dataset

    index = {d.du_id: i for i, d in enumerate(fleet.devices)}
    if du_id not in index:
        return None
    qs = [q for q in range(min(upto + 1, len(fleet.starts))) if fleet.starts[q] >= pd.Timestamp(since)]
    if not qs:
        return None
    rows = [fleet.readings(index[du_id], q) for q in qs]
    return Message(
        "du",
        du_id,
        json.dumps(build_m1_dataset(rows, producer_id=du_id), separators=(",", ":")).encode(),
        len(rows),
    )


class Sink(Protocol):
    """Where :func:`run` sends the messages (:class:`~condivisa.sim.sinks.MqttSink`,
    :class:`~condivisa.sim.sinks.RestSink`, a test's list); a sink with ``take_resends()`` also gets the DUs'
    resend requests, one with ``take_commands()`` (``(du_id, EventCommand | Advice)`` pairs) and
    ``reply(du_id, Reply)`` their flexibility commands."""

    def send(self, m: Message) -> None: ...
    def flush(self) -> None: ...


def run(
    fleet: Fleet,
    sink: Sink,
    *,
    speed: float = 0.0,
    group: int = 1,
    faults: tuple[str, ...] = (),
    fault_rate: float = 0.05,
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, int]:
    """Send every quarter hour of ``fleet`` through ``sink``; ``speed`` X compresses time (a quarter hour
    takes 900/X s of wall time; 0 = as fast as possible). Returns counts of what was sent."""
    import time

    sleep = sleep or time.sleep
    rng = np.random.default_rng(seed)
    sent = {"messages": 0, "readings": 0, "dup": 0, "gap": 0, "corrupt": 0, "resent": 0}
    t0 = time.monotonic()
    for q in range(len(fleet.starts)):
        answer_commands(fleet, sink, sent=q)
        expected = len(fleet.devices) // group + (len(fleet.devices) % group > 0)
        produced = 0
        for m in messages(fleet, q, group=group, faults=faults, fault_rate=fault_rate, rng=rng):
            sink.send(m)
            sent["messages"] += 1
            sent["readings"] += m.readings
            if m.fault:
                sent[m.fault] += 1
            produced += m.fault != "dup"
        sent["gap"] += expected - produced
        for du_id, since in getattr(sink, "take_resends", list)():
            late = catch_up(fleet, du_id, since, q)
            if late is not None:
                sink.send(late)
                sent["messages"] += 1
                sent["resent"] += late.readings
        if on_step is not None:
            on_step(q + 1, len(fleet.starts))
        if speed > 0:
            wait = t0 + (q + 1) * 900.0 / speed - time.monotonic()
            if wait > 0:
                sleep(wait)
    answer_commands(fleet, sink, sent=len(fleet.starts))
    sink.flush()
    return sent


def answer_commands(fleet: Fleet, sink: Sink, *, sent: int) -> int:
    """Apply the flexibility commands ``sink`` received (if it can receive any) to the quarters ``>= sent``
    and publish the events' replies; returns how many commands were answered."""
    take = getattr(sink, "take_commands", None)
    if take is None:
        return 0
    commands = take()
    for du_id, command in commands:
        reply = respond(fleet, du_id, command, sent=sent)
        if reply is not None:
            sink.reply(du_id, reply)  # type: ignore[attr-defined]
    return len(commands)
