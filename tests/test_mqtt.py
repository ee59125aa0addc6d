"""MQTT ingest against the real Mosquitto (MQTT 5) and the embedded amqtt broker (MQTT 3.1.1):
publish -> stored; duplicate -> not stored twice; invalid -> dead letter + error on the ack topic;
a gateway message with several DUs; downlink commands; graceful stop drains what was received."""

from __future__ import annotations

import json
import uuid

import pytest

from condivisa.app.runtime import mqtt_ingest_worker
from condivisa.transports.mqtt.broker import EmbeddedBroker
from condivisa.transports.mqtt.topics import TopicLayout, payload_id
from mqtt_helpers import Listener, Publisher, one_reading, wait_until


@pytest.fixture
def rig(broker, store):
    host, port, mqtt5, community = broker
    layout = TopicLayout(community)
    worker = mqtt_ingest_worker(
        store,
        host,
        port,
        layout=layout,
        client_id=f"w-{uuid.uuid4().hex[:8]}",
        mqtt5=mqtt5,
        session_expiry_s=60,
    ).start()
    assert worker.wait_connected(10)
    listener = Listener(host, port, f"condivisa/{community}/+/+/ack")
    pub = Publisher(host, port)
    yield worker, layout, listener, pub, store
    pub.close()
    listener.close()
    worker.stop(drain_timeout_s=5)


def test_publish_is_stored_and_acknowledged(rig):
    worker, layout, listener, pub, store = rig
    raw = one_reading(0)
    pub.publish(layout.up("DU-0001"), raw)
    assert wait_until(lambda: len(listener.snapshot()) == 1)
    topic, ack = listener.snapshot()[0]
    assert topic == layout.ack("DU-0001")
    assert (ack["accepted"], ack["stored"], ack["duplicates"], ack["payload_id"]) == (
        True,
        1,
        0,
        payload_id(raw),
    )
    frame = store.measurements_frame(pods=["IT001E00000001"])
    assert list(frame["withdrawn_kwh"]) == [0.25]
    assert worker.stats.acked == 1


def test_duplicate_is_not_stored_twice(rig):
    worker, layout, listener, pub, store = rig
    raw = one_reading(3)
    pub.publish(layout.up("DU-0001"), raw)
    pub.publish(layout.up("DU-0001"), raw)
    assert wait_until(lambda: len(listener.snapshot()) == 2)
    acks = [a for _, a in listener.snapshot()]
    assert [(a["stored"], a["duplicates"]) for a in acks] == [(1, 0), (0, 1)]
    assert store.counts()["measurements"] == 1


def test_invalid_goes_to_dead_letters_with_an_error_on_the_ack_topic(rig):
    worker, layout, listener, pub, store = rig
    pub.publish(layout.up("DU-0002"), b'{"UrbanDataset": {"broken": true}}')
    assert wait_until(lambda: len(listener.snapshot()) == 1)
    topic, ack = listener.snapshot()[0]
    assert topic == layout.ack("DU-0002")
    assert ack["accepted"] is False and ack["rejected"] and all(r["reason"] for r in ack["rejected"])
    letters = store.dead_letters()
    assert len(letters) == 1 and letters[0]["payload"] == b'{"UrbanDataset": {"broken": true}}'
    assert letters[0]["source"] == f"mqtt:{layout.up('DU-0002')}" and letters[0]["device_id"] == "DU-0002"
    assert store.counts()["measurements"] == 0


def test_gateway_topic_carries_several_dus(rig):
    worker, layout, listener, pub, store = rig
    from condivisa.formats.urbandataset.emit import build_m1_dataset
    from mqtt_helpers import T0, Q

    rows = [
        {
            "du_id": f"DU-000{i}",
            "pod": f"IT001E0000000{i}",
            "start": T0 + k * Q,
            "withdrawn_kwh": 0.1 * i,
            "injected_kwh": 0.0,
        }
        for i in (1, 2, 3)
        for k in range(4)
    ]
    pub.publish(
        layout.up("platform-x", kind="gw"), json.dumps(build_m1_dataset(rows, producer_id="x")).encode()
    )
    assert wait_until(lambda: len(listener.snapshot()) == 1)
    topic, ack = listener.snapshot()[0]
    assert topic == layout.ack("platform-x", kind="gw") and ack["stored"] == 12  # 3 DUs x 4 quarter hours
    assert store.counts()["measurements"] == 12


def test_downlink_command_reaches_the_du(rig):
    worker, layout, listener, pub, store = rig
    host, port = worker.host, worker.port
    cmd_listener = Listener(host, port, layout.cmd("DU-0001"))
    try:
        worker.send_command("DU-0001", {"cmd": "resend", "from": "2025-06-01T00:00:00+02:00"})
        assert wait_until(lambda: len(cmd_listener.snapshot()) == 1)
        assert cmd_listener.snapshot()[0][1] == {"cmd": "resend", "from": "2025-06-01T00:00:00+02:00"}
    finally:
        cmd_listener.close()
    with pytest.raises(ValueError):
        worker.send_command("DU-0001", {"resend": True})
    with pytest.raises(ValueError):
        worker.send_command("DU/0001", {"cmd": "x"})


def test_graceful_stop_stores_what_was_received(rig):
    worker, layout, listener, pub, store = rig
    for k in range(30):
        pub.publish(layout.up("DU-0001"), one_reading(100 + k))
    assert wait_until(lambda: worker.stats.received >= 1)
    worker.stop(drain_timeout_s=20)
    # everything the worker acknowledged is in the store, and nothing is in the store it did not count
    assert store.counts()["measurements"] == worker.stats.stored == worker.stats.acked


def test_topic_layout():
    t = TopicLayout("cer-x", root="condivisa")
    assert t.up("DU-1") == "condivisa/cer-x/du/DU-1/up"
    assert t.ack("GW", kind="gw") == "condivisa/cer-x/gw/GW/ack"
    assert t.cmd("DU-1") == "condivisa/cer-x/du/DU-1/cmd"
    assert t.parse("condivisa/cer-x/du/DU-1/up") == ("du", "DU-1", "up")
    assert t.parse("condivisa/other/du/DU-1/up") is None
    assert t.parse("condivisa/cer-x/xx/DU-1/up") is None
    assert t.uplink_filters() == ["condivisa/cer-x/du/+/up", "condivisa/cer-x/gw/+/up"]
    with pytest.raises(ValueError):
        t.up("a+b")


def test_simulated_du_receives_a_resend_command(rig):
    import datetime as dt

    from condivisa.sim.sinks import MqttSink

    worker, layout, listener, pub, store = rig
    sink = MqttSink(
        f"mqtt://{worker.host}:{worker.port}", layout.community, client_id=f"sim-{uuid.uuid4().hex[:6]}"
    )
    try:
        assert wait_until(lambda: sink.client.is_connected(), 10)
        wait_until(lambda: False, 0.3)  # let the cmd subscription settle
        worker.send_command("DU-0003", {"cmd": "resend", "from": "2025-06-01T10:00:00+02:00"})
        got = []
        assert wait_until(lambda: bool(got.extend(sink.take_resends()) or got), 10)
        assert got == [("DU-0003", dt.datetime(2025, 6, 1, 8, 0, tzinfo=dt.timezone.utc))]
    finally:
        sink.close()


def test_store_failure_is_retried_and_acknowledged_only_after_success(broker, store, monkeypatch):
    """The database fails twice (e.g. restarting): the message is retried, not acknowledged meanwhile,
    and acknowledged once it is stored."""
    import condivisa.ingest.group_commit as gc_mod

    host, port, mqtt5, community = broker
    calls = []
    store_prepared = gc_mod.store_prepared

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= 2:
            raise OSError("database is restarting")
        return store_prepared(*args, **kwargs)

    monkeypatch.setattr(gc_mod, "store_prepared", flaky)

    layout = TopicLayout(community)
    worker = mqtt_ingest_worker(
        store,
        host,
        port,
        layout=layout,
        client_id=f"w-{uuid.uuid4().hex[:8]}",
        mqtt5=mqtt5,
        session_expiry_s=60,
        retry_backoff_s=(0.05, 0.1),
    ).start()
    pub = Publisher(host, port)
    try:
        assert worker.wait_connected(10)
        pub.publish(layout.up("DU-0001"), one_reading(7))
        assert wait_until(lambda: worker.stats.acked == 1)
        assert (worker.stats.store_errors, len(calls), store.counts()["measurements"]) == (2, 3, 1)
    finally:
        pub.close()
        worker.stop(drain_timeout_s=5)


def test_worker_reconnects_after_the_broker_restarts(store):
    """The embedded broker goes away and comes back on the same port: the worker reconnects by itself
    (paho backoff from 1 s), subscribes again, and ingests what is published afterwards."""
    first = EmbeddedBroker(port=0).start()
    port = first.port
    layout = TopicLayout(f"re-{uuid.uuid4().hex[:6]}")
    worker = mqtt_ingest_worker(
        store, "127.0.0.1", port, layout=layout, client_id=f"w-{uuid.uuid4().hex[:8]}", mqtt5=False
    ).start()
    second = None
    try:
        assert worker.wait_connected(10)
        first.stop()
        assert wait_until(lambda: not worker.connected, 10)
        second = EmbeddedBroker(port=port).start()
        assert wait_until(lambda: worker.connected and worker.stats.connects == 2, 20)
        pub = Publisher("127.0.0.1", port)
        wait_until(lambda: False, 0.3)  # the worker's new subscription
        pub.publish(layout.up("DU-0001"), one_reading(9))
        assert wait_until(lambda: store.counts()["measurements"] == 1, 10)
        pub.close()
    finally:
        worker.stop(drain_timeout_s=5)
        if second is not None:
            second.stop()
