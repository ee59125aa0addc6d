"""Simulated DUs respond to flexibility commands (issue #19 item 6): hand-worked shifts, invariants on
ordinary and DST days, the send loop, and the real Mosquitto (event → reply → more energy in the window)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.formats.flex_messages import (
    Advice,
    AdviceWindow,
    EventCommand,
    event_command,
    parse_reply,
)
from condivisa.formats.urbandataset.parse import parse_urbandataset
from condivisa.kernel.timegrid import ROME
from condivisa.sim import devices as sim
from condivisa.sim.flex_response import FlexParams, deferrable_weight, participates, shift_into_window

PAST = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
DAY = dt.date(2026, 6, 1)


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ROME)


def _flat_fleet(kwh: float = 0.1, **device) -> sim.Fleet:
    """One household, 1 June 2026 (96 quarter hours), every quarter ``kwh``; totalizer from 1000 kWh."""
    f = sim.build_fleet([sim.SimDevice("DU-1", "IT001E90000001", **device)], DAY, 1, until=PAST)
    f.withdrawn_kwh[:] = kwh
    f.withdrawn_total_kwh[:] = 1000.0 + np.cumsum(f.withdrawn_kwh, axis=1)
    return f


# ------------------------------------------------------------------------------------------ hand-worked
def test_deferrable_weight():
    np.testing.assert_array_equal(deferrable_weight(np.array([5.75, 6.0, 8.75, 9.0, 18.0, 22.75, 23.0])),
                                  [0.3, 1, 1, 0.3, 1, 1, 0.3])  # fmt: skip


def test_hand_worked_event_shift():
    # 96 x 0.1 kWh; window 12:00-13:00 = quarters 48..51 (|W| = 4); S = the other 92 quarters (9.2 kWh), of
    # which 32 in 06-09 and 18-23 (h = 1) and 60 elsewhere (h = 0.3): Σ h·E = 0.1·(32 + 0.3·60) = 5.0 kWh.
    # ΔE = min(0.25·9.2 = 2.3, cap 3, 5.0, headroom 4·(3 kW·0.25 h − 0.1) = 2.6) = 2.3 kWh.
    f = _flat_fleet(participation=1.0)
    ev = EventCommand("ev-1", _at(DAY, 12), _at(DAY, 13))
    reply = sim.respond(f, "DU-1", ev, sent=0, at=_at(DAY, 8))
    assert reply is not None and (reply.command_id, reply.cmd, reply.status) == ("ev-1", "event", "accepted")
    assert reply.at == _at(DAY, 8)
    assert f.shifted_kwh("ev-1") == {"DU-1": pytest.approx(2.3)}
    e = f.withdrawn_kwh[0]
    np.testing.assert_allclose(e[48:52], 0.1 + 2.3 / 4)  # 0.675 kWh each
    np.testing.assert_allclose(e[24:36], 0.1 - 2.3 * 0.1 / 5.0)  # 06:00-09:00 give 0.046 each
    np.testing.assert_allclose(e[0:24], 0.1 - 2.3 * 0.03 / 5.0)  # night gives 0.0138 each
    np.testing.assert_allclose(e[72:92], 0.054)  # 18:00-23:00
    assert e.sum() == pytest.approx(9.6, abs=1e-9)
    np.testing.assert_allclose(np.diff(f.withdrawn_total_kwh[0]), e[1:], atol=1e-6)  # totals to 1e-6 kWh
    assert f.withdrawn_total_kwh[0, -1] == pytest.approx(1009.6, abs=1e-6)


def test_hand_worked_shift_after_part_of_the_day_was_sent():
    # 50 quarters sent (up to 12:30): W = quarters 50, 51; S = 52..95 (4.4 kWh), 20 of them in 18-23:
    # Σ h·E = 0.1·(20 + 0.3·24) = 2.72; ΔE = min(0.25·4.4 = 1.1, 3, 2.72, 2·0.65 = 1.3) = 1.1 kWh
    f = _flat_fleet(participation=1.0)
    sim.respond(f, "DU-1", EventCommand("ev-2", _at(DAY, 12), _at(DAY, 13)), sent=50)
    e = f.withdrawn_kwh[0]
    np.testing.assert_array_equal(e[:50], 0.1)  # sent: never changed
    np.testing.assert_allclose(e[50:52], 0.1 + 0.55)
    np.testing.assert_allclose(e[72:92], 0.1 - 1.1 * 0.1 / 2.72)
    assert f.shifted_kwh() == {"DU-1": pytest.approx(1.1)}
    assert e.sum() == pytest.approx(9.6, abs=1e-9)


def test_cap_and_contractual_power_limit_the_shift():
    # φ = 1: the cap C = 0.5 kWh binds; then P = 0.8 kW: headroom 4·(0.2 − 0.1) = 0.4 kWh binds
    w = np.full((1, 96), 0.1)
    hours, days, window = np.arange(96) / 4.0, np.zeros(96, int), np.arange(96) // 4 == 12
    _, shifted = shift_into_window(w, hours, days, window, np.array([1.0]), cap_kwh=0.5)
    assert shifted[0] == pytest.approx(0.5)
    new, shifted = shift_into_window(w, hours, days, window, np.array([1.0]), max_kw=0.8)
    assert shifted[0] == pytest.approx(0.4) and new[0, window].max() == pytest.approx(0.2)
    np.testing.assert_array_equal(w, 0.1)  # the input is left as it was


def test_non_participant_and_production_pod_decline_and_do_not_change():
    f = sim.build_fleet(
        [
            sim.SimDevice("DU-N", "IT001E90000001", participation=0.0),
            sim.SimDevice("DU-PV", "IT001E90000002", production_kw=20.0),
        ],
        DAY,
        1,
        until=PAST,
        flex=FlexParams(participation=1.0),
    )
    before = (f.withdrawn_kwh.copy(), f.injected_kwh.copy(), f.withdrawn_total_kwh.copy())
    ev = EventCommand("ev-3", _at(DAY, 11), _at(DAY, 14))
    assert [sim.respond(f, d, ev, sent=0).status for d in ("DU-N", "DU-PV")] == ["declined", "declined"]
    for a, b in zip(before, (f.withdrawn_kwh, f.injected_kwh, f.withdrawn_total_kwh), strict=True):
        np.testing.assert_array_equal(a, b)
    assert f.shifted_kwh() == {} and sim.respond(f, "DU-404", ev, sent=0) is None


def test_window_already_sent_or_outside_the_fleet_is_declined():
    f = _flat_fleet(participation=1.0)
    assert sim.respond(f, "DU-1", EventCommand("a", _at(DAY, 1), _at(DAY, 2)), sent=20).status == "declined"
    tomorrow = DAY + dt.timedelta(days=1)
    assert sim.respond(f, "DU-1", EventCommand("b", _at(tomorrow, 11), _at(tomorrow, 14)), sent=0).status == (
        "declined"
    )
    np.testing.assert_array_equal(f.withdrawn_kwh, 0.1)


def test_advice_moves_less_than_an_event_and_gets_no_reply():
    window = AdviceWindow(_at(DAY, 11), _at(DAY, 14), 40.0)
    f_event, f_advice = _flat_fleet(participation=1.0), _flat_fleet(participation=1.0)
    sim.respond(f_event, "DU-1", EventCommand("x", window.start, window.end), sent=0)
    assert sim.respond(f_advice, "DU-1", Advice("adv-1", DAY, (window,), {}), sent=0) is None
    assert f_advice.responses[0].status == "followed" and f_advice.responses[0].cmd == "advice"
    # u·φ = 0.4·0.25 of the 8.4 kWh outside 11-14 (no other bound binds) versus φ for the event
    assert f_advice.shifted_kwh()["DU-1"] == pytest.approx(0.1 * 8.4)
    assert f_event.shifted_kwh()["DU-1"] == pytest.approx(0.25 * 8.4)


def test_participation_is_seeded_and_order_free():
    draws = [participates(7, f"DU-{k}", "ev-9", 0.5) for k in range(200)]
    assert draws == [participates(7, f"DU-{k}", "ev-9", 0.5) for k in reversed(range(200))][::-1]
    assert 70 < sum(draws) < 130
    assert not any(participates(7, f"DU-{k}", "ev-9", 0.0) for k in range(50))
    with pytest.raises(ValueError, match="flexible_share"):
        FlexParams(flexible_share=1.5)


# ------------------------------------------------------------------------------------------ invariants
@settings(max_examples=40, deadline=None)
@given(
    first=st.sampled_from([dt.date(2026, 3, 28), dt.date(2026, 10, 24), dt.date(2026, 6, 1)]),
    n=st.integers(1, 5),
    seed=st.integers(0, 1000),
    a=st.integers(0, 191),
    length=st.integers(1, 40),
    sent=st.integers(0, 191),
    phi=st.floats(0.0, 1.0),
    cap=st.floats(0.0, 5.0),
    advice=st.booleans(),
)
def test_response_invariants(first, n, seed, a, length, sent, phi, cap, advice):
    # two civil days, one of them a DST day (2026-03-29: 92 quarters, 2026-10-25: 100) when first is not June
    devs = sim.synthetic_devices(n, production_share=0.34, seed=seed)
    f = sim.build_fleet(devs, first, 2, seed=seed, until=PAST, flex=FlexParams(phi, 0.7, cap_kwh=cap))
    m = len(f.starts)
    a, sent = min(a, m - 1), min(sent, m)
    start, end = f.starts[a], f.starts[min(a + length, m - 1)] + pd.Timedelta(minutes=15)
    command = (
        Advice("adv", first, (AdviceWindow(start.to_pydatetime(), end.to_pydatetime(), 1.0),), {})
        if advice
        else EventCommand("ev", start.to_pydatetime(), end.to_pydatetime())
    )
    w0, i0, t0 = f.withdrawn_kwh.copy(), f.injected_kwh.copy(), f.withdrawn_total_kwh.copy()
    for d in devs:
        sim.respond(f, d.du_id, command, sent=sent)
    w = f.withdrawn_kwh
    days = pd.factorize(f.starts.date)[0]
    for k in range(days.max() + 1):  # each civil day's total unchanged
        np.testing.assert_allclose(
            w[:, days == k].sum(axis=1), w0[:, days == k].sum(axis=1), rtol=0, atol=1e-9
        )
    assert (w >= 0).all()
    np.testing.assert_array_equal(w[:, :sent], w0[:, :sent])  # sent quarters never change
    np.testing.assert_array_equal(t0[:, :sent], f.withdrawn_total_kwh[:, :sent])
    np.testing.assert_array_equal(f.injected_kwh, i0)
    pv = [i for i, d in enumerate(devs) if d.production_kw > 0]
    np.testing.assert_array_equal(w[pv], w0[pv])  # production PODs do not respond
    assert (np.diff(f.withdrawn_total_kwh, axis=1) >= 0).all()
    np.testing.assert_allclose(np.diff(f.withdrawn_total_kwh, axis=1), w[:, 1:], atol=2e-6)
    np.testing.assert_allclose(f.withdrawn_total_kwh[:, -1], t0[:, -1], atol=2e-6)  # rounded to 1e-6
    inside = np.asarray((f.starts >= start) & (f.starts < end))
    shifted = f.shifted_kwh()
    for i, d in enumerate(devs):  # what was moved is what the window gained, within the cap
        gained = (w[i] - w0[i])[inside].sum()
        assert gained == pytest.approx(shifted.get(d.du_id, 0.0), abs=1e-9)
        assert shifted.get(d.du_id, 0.0) <= cap + 1e-12
        assert ((w[i] - w0[i])[inside] >= -1e-15).all() and ((w[i] - w0[i])[~inside] <= 1e-15).all()


def test_shift_into_window_on_dst_days_keeps_each_day():
    for day, quarters in ((dt.date(2026, 3, 29), 92), (dt.date(2026, 10, 25), 100)):
        f = sim.build_fleet(sim.synthetic_devices(3, production_share=0), day, 1, until=PAST)
        assert len(f.starts) == quarters
        hours = (f.starts.hour + f.starts.minute / 60.0).to_numpy(dtype=float)
        window = np.asarray((f.starts >= _at(day, 11)) & (f.starts < _at(day, 14)))
        assert window.sum() == 12  # 3 hours, whatever the day's length
        new, shifted = shift_into_window(
            f.withdrawn_kwh, hours, np.zeros(quarters, int), window, np.full(3, 0.25)
        )
        assert (shifted > 0).all()
        np.testing.assert_allclose(new.sum(axis=1), f.withdrawn_kwh.sum(axis=1), rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------------------ send loop
class CommandSink:
    """Gives ``commands`` at step ``at_step`` of :func:`sim.run`; keeps the readings sent and the replies."""

    def __init__(self, commands, at_step):
        self.commands, self.at_step, self.step = commands, at_step, 0
        self.sent, self.replies = [], []

    def send(self, m):
        self.sent.append(m)

    def flush(self):
        pass

    def take_commands(self):
        self.step += 1
        return self.commands if self.step == self.at_step + 1 else []

    def reply(self, du_id, reply):
        self.replies.append((du_id, reply))


def _sent_kwh(sink) -> dict[tuple[str, dt.datetime], float]:
    out = {}
    for m in sink.sent:
        for r in parse_urbandataset(json.loads(m.payload)).readings:
            out[(r.du_id, r.start)] = r.withdrawn_kwh
    return out


def test_run_applies_a_command_before_the_quarters_still_to_send():
    devs = [sim.SimDevice("DU-1", "IT001E90000001", participation=1.0)]
    ev = EventCommand("ev-5", _at(DAY, 11), _at(DAY, 14))
    base = sim.build_fleet(devs, DAY, 1, seed=4, until=PAST)
    f = sim.build_fleet(devs, DAY, 1, seed=4, until=PAST)
    sink = CommandSink([("DU-1", ev)], at_step=40)  # received once 00:00-09:45 were sent
    sim.run(f, sink)
    assert [(d, r.status) for d, r in sink.replies] == [("DU-1", "accepted")]
    got = np.array(list(_sent_kwh(sink).values()))
    np.testing.assert_array_equal(got[:40], base.withdrawn_kwh[0, :40])
    assert got[44:56].sum() == pytest.approx(base.withdrawn_kwh[0, 44:56].sum() + f.shifted_kwh()["DU-1"])
    assert got.sum() == pytest.approx(base.withdrawn_kwh[0].sum(), abs=1e-9)


# ------------------------------------------------------------------------------------------ Mosquitto
class Listener:
    """A plain paho client keeping every message of the given topic filters."""

    def __init__(self, host, port, filters):
        import paho.mqtt.client as mqtt

        self.messages, self._lock, ready = [], threading.Lock(), threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in filters])
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = self._keep
        self.client.connect(host, port)
        self.client.loop_start()
        assert ready.wait(10)

    def _keep(self, client, userdata, msg):
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def wait(self, predicate, timeout_s=20.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.messages)):
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError("timed out waiting for MQTT messages")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.mosquitto
def test_mosquitto_event_reply_and_response(mosquitto):
    from condivisa.sim.sinks import MqttSink

    host, port, root = mosquitto
    devs = [
        sim.SimDevice("DU-YES", "IT001E90000001", daily_kwh=10.0, participation=1.0),
        sim.SimDevice("DU-NO", "IT001E90000002", daily_kwh=10.0, participation=0.0),
    ]
    base = sim.build_fleet(devs, DAY, 1, seed=11, until=PAST)
    fleet = sim.build_fleet(devs, DAY, 1, seed=11, until=PAST)
    listener = Listener(host, port, [f"{root}/cer/du/+/reply", f"{root}/cer/du/+/up"])
    sink = MqttSink(f"mqtt://{host}:{port}", "cer", root=root, client_id=f"{root}-sim")
    try:
        ev = EventCommand("ev-20260601-1", _at(DAY, 11), _at(DAY, 14), target_kw=5.0)
        for du in ("DU-YES", "DU-NO"):
            sink.client.publish(sink.layout.cmd(du), json.dumps(event_command(ev)), qos=1).wait_for_publish(5)
        sink.client.publish(
            sink.layout.cmd("DU-YES"), b'{"cmd":"event","id":"bad","from":"2026-06-01T11:00"}', qos=1
        )
        assert sink.wait_commands(2) == 2
        sim.run(fleet, sink)
        msgs = listener.wait(lambda ms: sum(t.endswith("/up") for t, _ in ms) == 2 * 96
                             and sum(t.endswith("/reply") for t, _ in ms) == 2)  # fmt: skip
    finally:
        sink.close()
        listener.close()
    replies = {t.split("/")[-2]: parse_reply(p) for t, p in msgs if t.endswith("/reply")}
    assert {du: (r.command_id, r.cmd, r.status) for du, r in replies.items()} == {
        "DU-YES": ("ev-20260601-1", "event", "accepted"),
        "DU-NO": ("ev-20260601-1", "event", "declined"),
    }
    assert sink.invalid_commands == 1  # logged and ignored: no reply, no crash
    sent: dict[str, np.ndarray] = {}
    for du in ("DU-YES", "DU-NO"):
        rows = sorted(
            (r.start, r.withdrawn_kwh)
            for t, p in msgs
            if t.endswith(f"/{du}/up")
            for r in parse_urbandataset(json.loads(p)).readings
        )
        assert [s for s, _ in rows] == [s.to_pydatetime() for s in base.starts]
        sent[du] = np.array([e for _, e in rows])
    inside = np.asarray((base.starts >= ev.start) & (base.starts < ev.end))
    shifted = fleet.shifted_kwh(ev.event_id)
    assert set(shifted) == {"DU-YES"} and shifted["DU-YES"] > 0.5
    assert sent["DU-YES"][inside].sum() == pytest.approx(
        base.withdrawn_kwh[0, inside].sum() + shifted["DU-YES"]
    )
    assert sent["DU-YES"].sum() == pytest.approx(base.withdrawn_kwh[0].sum(), abs=1e-9)
    np.testing.assert_array_equal(sent["DU-NO"], base.withdrawn_kwh[1])


def test_cli_takes_the_response_options():
    from typer.testing import CliRunner

    from condivisa.cli import app as cli_app

    result = CliRunner().invoke(cli_app, ["devices", "simulate", "--count", "1", "--participation", "1.5"])
    assert result.exit_code == 2 and "participation" in result.output
    result = CliRunner().invoke(cli_app, ["devices", "simulate", "--count", "1", "--flexible-share", "0.3"])
    assert result.exit_code == 2 and "exactly one" in result.output  # accepted; then no --broker/--api


def test_demo_live_traffic_answers_commands_before_sending():
    from condivisa.sim.demo_traffic import DemoFleets, LiveTraffic

    devs = [sim.SimDevice("DU-1", "IT001E90000001", participation=1.0)]
    base = sim.build_fleet(devs, DAY, 1, seed=4, until=PAST)
    f = sim.build_fleet(devs, DAY, 1, seed=4, until=PAST)
    sink = CommandSink([("DU-1", EventCommand("ev-6", _at(DAY, 11), _at(DAY, 14)))], at_step=0)
    live = LiveTraffic(DemoFleets(f, None, None), sink, CommandSink([], 0), sent=40)
    live.tick(_at(DAY + dt.timedelta(days=1), 0))
    assert [r.status for _, r in sink.replies] == ["accepted"] and live.sent == 96
    got = np.array(list(_sent_kwh(sink).values()))  # quarters 40..95
    assert got[4:16].sum() == pytest.approx(base.withdrawn_kwh[0, 44:56].sum() + f.shifted_kwh()["DU-1"])
    np.testing.assert_array_equal(f.withdrawn_kwh[0, :40], base.withdrawn_kwh[0, :40])
