"""The demo's device traffic: which DUs send over MQTT or REST, which one falls silent, and what is sent when.

Rules implemented (``condivisa demo``):
- the DUs of a maker's cloud (``REST_DUS``) reach the platform over REST, one message per group of them; the
  others publish over MQTT, one message per DU;
- the past (the demo's weeks up to now) is sent time-compressed, as a DU catching up would send it: one
  message per ``QUARTERS_PER_MESSAGE`` quarter hours, with lost, repeated and corrupt MQTT messages
  (``FAULTS``, each at ``FAULT_RATE``, seeded) — :func:`send_past`;
- one DU (``SILENT_DU``) sends nothing that reaches into the last ``SILENT_FOR``, so the data-quality panel
  shows a silent device;
- while the demo is served, each quarter hour is sent as it ends by the clock, one message per DU over MQTT
  and one per group over REST, as real devices do (:class:`LiveTraffic`); the silent DU stays silent;
- the DUs answer the ``event``/``advice`` commands they received before each message step of the past and
  before each tick while served, moving consumption into the window's quarter hours not sent yet
  (:func:`condivisa.sim.devices.respond`); the REST DUs too (their maker's cloud relays the command and
  the reply, which goes out on the DU's MQTT reply topic) — :func:`answer_all`;
- :func:`send_past` can pause before the first quarter hour starting at ``pause_at`` (the demo's event day):
  what was sent is flushed, ``on_pause`` runs (the demo stores the days before, plans and sends its event
  and waits until the DUs have it), then the DUs answer the commands and the rest is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from condivisa.sim.devices import Fleet, SimDevice, Sink, build_fleet, messages, respond
from condivisa.sim.sinks import MqttSink

#: DUs whose readings reach the platform through their maker's cloud (REST), per demo community
REST_DUS = {"cer": ("DU-0013", "DU-0014", "DU-0015", "DU-0016"), "is-corrias": ("DU-N007", "DU-N008")}
#: a DU that stops sending three hours before now (the data-quality panel shows it)
SILENT_DU = {"cer": "DU-0007", "is-corrias": "DU-N003"}
SILENT_FOR = dt.timedelta(hours=3)
FAULTS = ("gap", "dup", "corrupt")
FAULT_RATE = 0.002
QUARTERS_PER_MESSAGE = 16

#: ``(done, total)`` of a long step, for a progress bar
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DemoFleets:
    """The demo's simulated DUs: those on MQTT, those behind the maker's cloud (REST) and the silent one."""

    mqtt: Fleet
    rest: Fleet | None
    silent_du: str | None


def demo_fleets(
    kind: str, devices: list[SimDevice], start: dt.date, days: int, until: dt.datetime
) -> DemoFleets:
    """The fleets of demo community ``kind``: ``days`` civil days from ``start``, quarter hours up to
    ``until`` (seeded: 1 for MQTT, 2 for REST)."""
    rest_ids = set(REST_DUS[kind])
    fleet_mqtt = build_fleet(
        [d for d in devices if d.du_id not in rest_ids], start, days, seed=1, until=until
    )
    rest_devs = [d for d in devices if d.du_id in rest_ids]
    fleet_rest = build_fleet(rest_devs, start, days, seed=2, until=until) if rest_devs else None
    return DemoFleets(fleet_mqtt, fleet_rest, SILENT_DU[kind])


def ended(fleet: Fleet, now: dt.datetime) -> int:
    """How many of the fleet's quarter hours have ended by ``now``."""
    return int(((fleet.starts + pd.Timedelta(minutes=15)) <= pd.Timestamp(now)).sum())


def answer_all(fleets: DemoFleets, sink: Sink, *, sent: int) -> int:
    """Apply the flexibility commands ``sink`` received (if it can receive any) to the quarters ``>= sent``
    of the fleet of each DU (MQTT or REST) and publish the events' replies on ``sink``; returns how many
    commands were answered."""
    take = getattr(sink, "take_commands", None)
    if take is None:
        return 0
    commands = take()
    for du_id, command in commands:
        for fleet in (fleets.mqtt, fleets.rest):
            if fleet is not None and any(d.du_id == du_id for d in fleet.devices):
                reply = respond(fleet, du_id, command, sent=sent)
                if reply is not None:
                    sink.reply(du_id, reply)  # type: ignore[attr-defined]
                break
    return len(commands)


def _steps(fleet: Fleet, n: int, pause_at: dt.datetime | None) -> tuple[list[tuple[int, int]], int | None]:
    """The message steps ``(first quarter, quarters)`` of the first ``n`` quarter hours, a step ending where
    the quarter hours from ``pause_at`` begin; and the index of that first quarter (None: no pause)."""
    pause = None
    if pause_at is not None:
        later = np.flatnonzero(np.asarray(fleet.starts[:n] >= pd.Timestamp(pause_at)))
        pause = int(later[0]) if len(later) else None
    steps, q = [], 0
    while q < n:
        size = min(QUARTERS_PER_MESSAGE, n - q)
        if pause is not None and q < pause < q + size:
            size = pause - q
        steps.append((q, size))
        q += size
    return steps, pause


def send_past(
    fleets: DemoFleets,
    mqtt_sink: Sink,
    rest_sink: Sink,
    now: dt.datetime,
    on_progress: Progress | None = None,
    *,
    pause_at: dt.datetime | None = None,
    on_pause: Callable[[dict[str, int]], None] | None = None,
) -> dict[str, int]:
    """Send every quarter hour of the fleets that has ended by ``now``, time-compressed (module docstring).

    ``on_progress(done, total)`` counts MQTT messages (as :func:`wait_acknowledged` does). With
    ``pause_at`` and ``on_pause``, ``on_pause(counts so far)`` runs once everything before the first quarter
    hour starting at ``pause_at`` was sent and flushed; the commands the DUs got by then are answered before
    the rest goes out. Returns the counts: ``mqtt_messages``, ``rest_messages``, ``readings``, ``lost``,
    ``repeated``, ``corrupt``, ``silenced`` (messages the silent DU kept back) and ``sent_quarters``.
    """
    rng = np.random.default_rng(3)
    cutoff = now - SILENT_FOR
    fleet_mqtt, fleet_rest = fleets.mqtt, fleets.rest
    n = ended(fleet_mqtt, now)
    counts = dict.fromkeys(
        ("mqtt_messages", "rest_messages", "readings", "lost", "repeated", "corrupt", "silenced"), 0
    )
    counts["sent_quarters"] = n
    steps, pause = _steps(fleet_mqtt, n, pause_at if on_pause is not None else None)
    # the progress counts MQTT messages, as the acknowledgements after it do: at most one per DU and message
    expected = len(steps) * len(fleet_mqtt.devices)
    if on_progress is not None:
        on_progress(0, expected)
    for q, quarters in steps:
        if q == pause and on_pause is not None:
            mqtt_sink.flush()
            on_pause(dict(counts))
        answer_all(fleets, mqtt_sink, sent=q)
        last = fleet_mqtt.starts[q + quarters - 1]
        late = (last + pd.Timedelta(minutes=15)).to_pydatetime() > cutoff  # the message reaches the last 3 h
        for m in messages(fleet_mqtt, q, faults=FAULTS, fault_rate=FAULT_RATE, rng=rng, quarters=quarters):
            if late and m.sender_id == fleets.silent_du:
                counts["silenced"] += 1
                continue
            mqtt_sink.send(m)
            counts["mqtt_messages"] += 1
            counts["readings"] += m.readings
            counts.update(
                {k: counts[k] + 1 for k, f in (("repeated", "dup"), ("corrupt", "corrupt")) if m.fault == f}
            )
        if fleet_rest is not None:
            for m in messages(fleet_rest, q, group=len(fleet_rest.devices), quarters=quarters):
                rest_sink.send(m)
                counts["rest_messages"] += 1
                counts["readings"] += m.readings
        if on_progress is not None:
            on_progress(counts["mqtt_messages"], max(expected, counts["mqtt_messages"]))
    mqtt_sink.flush()
    if on_progress is not None:  # the silent DU's and the lost ones were never sent: the bar ends full
        on_progress(counts["mqtt_messages"], counts["mqtt_messages"])
    return counts


def wait_acknowledged(
    mqtt_sink: MqttSink, expected: int, on_progress: Progress | None = None, idle_timeout_s: float = 20.0
) -> int:
    """Wait until the platform answered ``expected`` MQTT messages, or none for ``idle_timeout_s``; returns
    how many answers came."""
    return mqtt_sink.wait_answers(expected, idle_timeout_s, on_progress)


class LiveTraffic:
    """The DUs sending each quarter hour as it ends by the clock, after the ``sent`` already sent."""

    def __init__(self, fleets: DemoFleets, mqtt_sink: Sink, rest_sink: Sink, sent: int) -> None:
        self.fleets, self.mqtt_sink, self.rest_sink = fleets, mqtt_sink, rest_sink
        self.sent = sent

    def tick(self, now: dt.datetime) -> None:
        """Send the quarter hours that ended since the last tick."""
        fleet_mqtt, fleet_rest = self.fleets.mqtt, self.fleets.rest
        upto = ended(fleet_mqtt, now)
        answer_all(self.fleets, self.mqtt_sink, sent=self.sent)
        for q in range(self.sent, upto):
            for m in messages(fleet_mqtt, q):
                if m.sender_id != self.fleets.silent_du:
                    self.mqtt_sink.send(m)
            if fleet_rest is not None:
                for m in messages(fleet_rest, q, group=len(fleet_rest.devices)):
                    self.rest_sink.send(m)
        self.sent = max(self.sent, upto)
