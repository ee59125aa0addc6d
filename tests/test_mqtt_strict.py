"""Strict device scope of the MQTT ingest worker (``mqtt_ingest_worker(..., strict_devices=True)``, the scope of
``condivisa.ingest.scope.du_write_scope``), on the real Mosquitto: a DU publishing on its own topic may write
only the POD it is registered to, in lines naming itself or no DU;
anything else refuses the whole message (dead letter + answer on the DU's ack topic). Gateways are not
restricted; with the scope off such a line is stored and flagged. And the defaults of the setting."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

import pytest

import condivisa.ingest.group_commit as gc_mod
from condivisa.app.runtime import mqtt_ingest_worker, worker_from_settings
from condivisa.app.settings import Settings
from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.ingest.group_commit import GroupCommitter
from condivisa.transports.mqtt.message import InboundMessage
from condivisa.transports.mqtt.topics import TopicLayout, payload_id
from mqtt_helpers import Listener, Publisher, wait_until

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
Q = dt.timedelta(minutes=15)
OWN = ("DU-0001", "IT001E00000001")  # DU-A and the POD it is registered to (examples/community.yaml)
OTHER = ("DU-0002", "IT001E00000002")  # DU-B and its POD


def dataset(lines: list[tuple[str, str]], k: int = 0, producer: str = "DU-0001") -> bytes:
    """One quarter hour (number ``k``) per (du_id, pod) line (UserDeviceID is required in every line of the
    M1/M2 profiles, so "a line naming no DU" cannot reach the worker as a valid UrbanDataset)."""
    rows = [
        {"du_id": du, "pod": pod, "start": T0 + k * Q, "withdrawn_kwh": 0.25, "injected_kwh": 0.0}
        for du, pod in lines
    ]
    return json.dumps(build_m1_dataset(rows, producer_id=producer)).encode()


def _rig(mosquitto, store, strict: bool, **kwargs):
    host, port, prefix = mosquitto
    layout = TopicLayout(prefix)
    worker = mqtt_ingest_worker(
        store,
        host,
        port,
        layout=layout,
        client_id=f"strict-{uuid.uuid4().hex[:8]}",
        session_expiry_s=60,
        strict_devices=strict,
        **kwargs,
    ).start()
    assert worker.wait_connected(10)
    listener = Listener(host, port, f"condivisa/{prefix}/+/+/ack")
    return worker, layout, listener, Publisher(host, port)


def _rigged(mosquitto, store, strict: bool):
    worker, layout, listener, pub = _rig(mosquitto, store, strict)
    yield worker, layout, listener, pub, store
    pub.close()
    listener.close()
    worker.stop(drain_timeout_s=5)


@pytest.fixture
def strict_rig(mosquitto, store):
    yield from _rigged(mosquitto, store, True)


@pytest.fixture
def lax_rig(mosquitto, store):
    yield from _rigged(mosquitto, store, False)


def send(pub: Publisher, listener: Listener, topic: str, raw: bytes) -> tuple[str, dict]:
    """Publish ``raw`` and return the answer to it (topic, JSON)."""
    pub.publish(topic, raw)
    pid = payload_id(raw)
    assert wait_until(lambda: any(a["payload_id"] == pid for _, a in listener.snapshot()), 20), "no answer"
    return next((t, a) for t, a in listener.snapshot() if a["payload_id"] == pid)


pytestmark = pytest.mark.mosquitto


def test_strict_du_writing_its_own_pod_is_stored(strict_rig):
    worker, layout, listener, pub, store = strict_rig
    for k in range(2):
        topic, ack = send(pub, listener, layout.up(OWN[0]), dataset([OWN], k=k))
        assert topic == layout.ack(OWN[0])
        assert ack["accepted"] is True and ack["stored"] == 1 and ack["flags"] == [], ack
    assert store.counts()["measurements"] == 2 and store.dead_letters() == []
    assert worker.stats.accepted == 2 and worker.stats.rejected == 0


def test_strict_du_writing_another_dus_pod_is_rejected(strict_rig):
    worker, layout, listener, pub, store = strict_rig
    cases = {
        "other POD, own DU id": dataset([(OWN[0], OTHER[1])]),
        "other POD and DU id": dataset([(OTHER[0], OTHER[1])], k=1),
        "own POD read by another DU": dataset([(OTHER[0], OWN[1])], k=3),
        "own line + a foreign line": dataset([(OWN[0], OWN[1]), (OWN[0], OTHER[1])], k=4),
    }
    for name, raw in cases.items():
        topic, ack = send(pub, listener, layout.up(OWN[0]), raw)
        assert topic == layout.ack(OWN[0]), name  # the answer goes to DU-A, the sender
        assert ack["accepted"] is False and ack["stored"] == 0, (name, ack)
        reasons = " ".join(r["reason"] for r in ack["rejected"])
        assert "not authorised" in reasons, (name, ack["rejected"])
        foreign_pod = OWN[1] if name == "own POD read by another DU" else OTHER[1]
        assert foreign_pod in reasons, (name, reasons)  # the reason names the POD
        assert ack["dead_letter_id"] is not None, name
    # nothing of any of them stored (a message is all or nothing), each kept byte for byte as a dead letter
    assert store.counts()["measurements"] == 0
    letters = store.dead_letters()
    assert sorted(d["payload"] for d in letters) == sorted(cases.values())
    assert {d["device_id"] for d in letters} == {OWN[0]}
    assert all(d["source"] == f"mqtt:{layout.up(OWN[0])}" for d in letters)
    assert worker.stats.rejected == len(cases) and worker.stats.acked == len(cases)


def test_strict_unregistered_du_may_write_nothing(strict_rig):
    worker, layout, listener, pub, store = strict_rig
    topic, ack = send(pub, listener, layout.up("DU-9999"), dataset([("DU-9999", OWN[1])]))
    assert (
        topic == layout.ack("DU-9999") and ack["accepted"] is False and OWN[1] in ack["rejected"][0]["reason"]
    )
    assert store.counts()["measurements"] == 0


def test_strict_does_not_restrict_a_gateway(strict_rig):
    worker, layout, listener, pub, store = strict_rig
    topic, ack = send(
        pub, listener, layout.up("platform-x", kind="gw"), dataset([OWN, OTHER], producer="platform-x")
    )
    assert topic == layout.ack("platform-x", kind="gw")
    assert ack["accepted"] is True and ack["stored"] == 2, ack
    assert store.counts()["measurements"] == 2


def test_strict_scope_also_in_a_group_commit(mosquitto, store, monkeypatch):
    """Messages queued behind a slow commit are stored in one transaction: the scope is applied to each
    message
    there too, and one refused message does not make the others fail."""
    gate, first = threading.Event(), threading.Event()
    store_prepared = gc_mod.store_prepared

    def slow_first(*args, **kwargs):  # hold the first commit until the others wait behind it
        if not first.is_set():
            first.set()
            assert gate.wait(20)
        return store_prepared(*args, **kwargs)

    monkeypatch.setattr(gc_mod, "store_prepared", slow_first)
    committer = GroupCommitter(store)
    worker, layout, listener, pub = _rig(mosquitto, store, True, committer=committer)
    try:
        raws = [dataset([OWN], k=0)] + [
            dataset([OWN if k % 2 else (OWN[0], OTHER[1])], k=k) for k in range(1, 9)
        ]
        pub.publish(layout.up(OWN[0]), raws[0])  # alone: committed by itself
        assert first.wait(20)
        for raw in raws[1:]:  # submitted while the first commit is held
            pub.publish(layout.up(OWN[0]), raw)
        assert wait_until(lambda: worker.processor.queue.qsize() == len(raws) - 1, 20)  # all 8 others waiting
        gate.set()
        assert wait_until(lambda: worker.stats.acked == len(raws), 20)
        assert committer.grouped >= 1  # the 8 shared a transaction
        answers = (
            {a["payload_id"]: a for _, a in listener.snapshot()}
            if wait_until(lambda: len(listener.snapshot()) == len(raws), 20)
            else {}
        )
        got = [answers[payload_id(raw)]["accepted"] for raw in raws]
        assert got == [True] + [bool(k % 2) for k in range(1, 9)]
        assert store.counts()["measurements"] == 1 + 4 and len(store.dead_letters()) == 4
        assert all(
            OTHER[1] in answers[payload_id(raw)]["rejected"][0]["reason"]
            for k, raw in enumerate(raws)
            if k and not k % 2
        )
    finally:
        pub.close()
        listener.close()
        worker.stop(drain_timeout_s=5)
        committer.close()


def test_lax_du_writing_another_pod_is_stored_and_flagged(lax_rig):
    worker, layout, listener, pub, store = lax_rig
    topic, ack = send(pub, listener, layout.up(OWN[0]), dataset([(OWN[0], OTHER[1])]))
    assert topic == layout.ack(OWN[0])
    assert ack["accepted"] is True and ack["stored"] == 1, ack
    assert [(f["code"], f["pod"]) for f in ack["flags"]] == [("pod_not_registered_to_du", OTHER[1])], ack[
        "flags"
    ]
    assert store.counts()["measurements"] == 1 and store.dead_letters() == []


# -- the setting --------------------------------------------------------------------------------------------
def test_strict_devices_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("CONDIVISA_MQTT_STRICT_DEVICES", raising=False)
    monkeypatch.delenv("CONDIVISA_MQTT_EMBEDDED_ACL_DIR", raising=False)
    monkeypatch.delenv("CONDIVISA_MQTT_URL", raising=False)
    acl = tmp_path / "mqtt"
    # embedded broker without DU passwords: anyone may publish on any DU topic, so the topic proves nothing:
    # off
    assert Settings().strict_devices() is False
    # embedded broker enforcing DU passwords and ACL: the topic proves the sender: on
    assert Settings(mqtt_embedded_acl_dir=acl).strict_devices() is True
    # an external broker: condivisa cannot see its ACL: off unless set
    assert Settings(mqtt_url="mqtt://127.0.0.1:1883").strict_devices() is False
    assert Settings(mqtt_url="mqtt://127.0.0.1:1883", mqtt_embedded_acl_dir=acl).strict_devices() is False
    # an explicit value always wins
    assert Settings(mqtt_url="mqtt://127.0.0.1:1883", mqtt_strict_devices=True).strict_devices() is True
    assert Settings(mqtt_embedded_acl_dir=acl, mqtt_strict_devices=False).strict_devices() is False
    monkeypatch.setenv("CONDIVISA_MQTT_STRICT_DEVICES", "true")
    assert Settings(mqtt_url="mqtt://127.0.0.1:1883").strict_devices() is True
    monkeypatch.setenv("CONDIVISA_MQTT_STRICT_DEVICES", "false")
    assert Settings(mqtt_embedded_acl_dir=acl).strict_devices() is False


def test_worker_from_settings_carries_the_scope(store):
    on = worker_from_settings(Settings(mqtt_url="mqtt://127.0.0.1:1883", mqtt_strict_devices=True), store)
    off = worker_from_settings(Settings(mqtt_url="mqtt://127.0.0.1:1883"), store)
    shared = worker_from_settings(
        Settings(mqtt_url="mqtt://127.0.0.1:1883"), store, client_id="x-1", shared_group="g"
    )
    assert shared.filters() == [f"$share/g/{f}" for f in off.filters()]

    def accepted(worker, k: int) -> bool:  # a DU writing another DU's POD, on its own topic
        message = InboundMessage(
            mid=1,
            qos=1,
            topic=worker.layout.up(OWN[0]),
            kind="du",
            sender_id=OWN[0],
            payload=dataset([(OWN[0], OTHER[1])], k=k),
        )
        return worker._submit([message])[0].result(10).accepted

    try:
        assert (accepted(on, 0), accepted(off, 1)) == (False, True)
    finally:
        for worker in (on, off, shared):
            worker._on_stopped()  # their batchers
