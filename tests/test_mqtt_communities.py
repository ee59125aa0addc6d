"""One MQTT ingest worker for every community of a platform (issue #18), on the real Mosquitto: DUs of two
communities publish on their own community's topics, the readings of both are stored and each answer goes to
its own community's ack topic; a rejected payload's dead letter carries the community of its topic; a DU
belongs to one community (strict devices: a DU of A on B's topics is rejected with the reason; otherwise
stored and flagged); two worker processes on a shared subscription store each community's messages once.

Every test uses a topic root of its own, so the worker's ``<root>/+/du/+/up`` sees only this test's messages.
"""

from __future__ import annotations

import collections
import uuid

import pytest
import sqlalchemy as sa

from condivisa.app.runtime import topic_layout, worker_from_settings
from condivisa.app.settings import Settings
from condivisa.app.worker_pool import WorkerProcesses
from condivisa.ingest.pipeline import replay_dead_letter
from condivisa.store.models import Device
from condivisa.store.store import Store
from condivisa.transports.mqtt.topics import TopicLayout, payload_id
from mqtt_helpers import Listener, Publisher, one_reading, wait_until

#: community -> its DUs and the POD each reads
COMMUNITIES = {
    "a": [("DU-A1", "IT001E00000101"), ("DU-A2", "IT001E00000102")],
    "b": [("DU-B1", "IT001E00000201"), ("DU-B2", "IT001E00000202")],
}


def register(store: Store) -> None:
    """The PODs and DUs of both communities, each DU registered in its own community."""
    store.register(
        pods=[(pod, None, "consumption") for dus in COMMUNITIES.values() for _, pod in dus],
        devices=[(du, pod, None) for dus in COMMUNITIES.values() for du, pod in dus],
    )
    with store.engine.begin() as conn:
        for slug, dus in COMMUNITIES.items():
            conn.execute(
                sa.update(Device.__table__)
                .where(Device.__table__.c.du_id.in_([du for du, _ in dus]))
                .values(community=slug)
            )
    store.registry.clear()


@pytest.fixture
def rig(db_url, mosquitto):
    """A store with both communities, settings serving every community under a root of this test's own, a
    publisher and a listener of every community's answers."""
    host, port, prefix = mosquitto
    root = f"root-{prefix}"
    store = Store(db_url)
    store.upgrade()
    register(store)
    settings = Settings(
        database_url=db_url,
        mqtt_url=f"mqtt://{host}:{port}",
        mqtt_topic_root=root,
        mqtt_client_id=f"comm-{uuid.uuid4().hex[:8]}",
        mqtt_session_expiry_s=120,
    )
    acks = Listener(host, port, f"{root}/+/du/+/ack")
    pub = Publisher(host, port)
    yield settings, store, TopicLayout.every_community(root), pub, acks
    pub.close()
    acks.close()
    store.close()


def start(settings: Settings, store: Store, **options):
    worker = worker_from_settings(settings, store, **options).start()
    assert worker.wait_connected(10)
    return worker


def test_layouts():
    every = TopicLayout.every_community("r", home="a")
    assert every.uplink_filters() == ["r/+/du/+/up", "r/+/gw/+/up"]
    assert every.parts("r/b/du/DU-1/up") == ("b", "du", "DU-1", "up")
    assert every.parse("r/b/gw/GW-1/up") == ("gw", "GW-1", "up")
    assert every.parts("other/b/du/DU-1/up") is None and every.parts("r/b/xx/DU-1/up") is None
    assert every.ack("DU-1", community="b") == "r/b/du/DU-1/ack"
    assert every.cmd("DU-1") == "r/a/du/DU-1/cmd"  # no community named: the home community's
    one = TopicLayout("a", "r")
    assert one.uplink_filters() == ["r/a/du/+/up", "r/a/gw/+/up"]
    assert one.parts("r/b/du/DU-1/up") is None and one.parts("r/a/du/DU-1/up") == ("a", "du", "DU-1", "up")
    with pytest.raises(ValueError, match="not served"):
        one.ack("DU-1", community="b")
    with pytest.raises(ValueError, match="one MQTT topic level"):
        every.up("DU-1", community="+")
    # the default: every community; the setting ``community`` given explicitly: only that one
    assert topic_layout(Settings(mqtt_topic_root="r")) == TopicLayout.every_community("r", home="default")
    assert topic_layout(Settings(mqtt_topic_root="r", community="a")) == TopicLayout("a", "r")


def test_one_worker_serves_every_community(rig):
    settings, store, layout, pub, acks = rig
    worker = start(settings, store)
    try:
        assert sorted(worker.filters()) == sorted(layout.uplink_filters() + layout.reply_filters())
        sent = {}
        for slug, dus in COMMUNITIES.items():
            for k, (du, pod) in enumerate(dus):
                raw = one_reading(k, du=du, pod=pod)
                sent[payload_id(raw)] = layout.ack(du, community=slug)
                pub.publish(layout.up(du, community=slug), raw)
        bad = b'{"UrbanDataset": {"broken": true}}'
        pub.publish(layout.up("DU-B1", community="b"), bad)
        assert wait_until(lambda: len(acks.snapshot()) == 5, 20), acks.snapshot()
    finally:
        worker.stop(5)
    answers = {a["payload_id"]: (topic, a) for topic, a in acks.snapshot()}
    for pid, topic in sent.items():  # each answer on its own community's ack topic, stored
        assert answers[pid][0] == topic and answers[pid][1]["stored"] == 1 and not answers[pid][1]["flags"]
    topic, answer = answers[payload_id(bad)]
    assert topic == layout.ack("DU-B1", community="b") and not answer["accepted"]
    frame = store.measurements_frame()
    assert sorted(frame["pod"]) == sorted(pod for dus in COMMUNITIES.values() for _, pod in dus)
    letters = store.dead_letters()
    assert len(letters) == 1
    assert letters[0]["community"] == "b" and letters[0]["device_id"] == "DU-B1"
    assert letters[0]["id"] == answer["dead_letter_id"]


def test_without_strict_devices_a_du_of_another_community_is_stored_and_flagged(rig):
    settings, store, layout, pub, acks = rig
    worker = start(settings, store, strict_devices=False)
    try:
        pub.publish(layout.up("DU-A1", community="b"), one_reading(0, du="DU-A1", pod="IT001E00000101"))
        assert wait_until(lambda: len(acks.snapshot()) == 1, 20)
    finally:
        worker.stop(5)
    topic, answer = acks.snapshot()[0]
    assert topic == layout.ack("DU-A1", community="b")
    assert answer["accepted"] and answer["stored"] == 1
    assert [(f["code"], f["detail"]) for f in answer["flags"]] == [
        ("du_other_community", "DU DU-A1 is registered in community 'a', not 'b'")
    ]


def test_strict_devices_reject_a_du_of_another_community(rig):
    settings, store, layout, pub, acks = rig
    worker = start(settings.model_copy(update={"mqtt_strict_devices": True}), store)
    try:
        # DU-A1 of community a, with its own POD, on community b's topic: refused, whatever the POD
        wrong = one_reading(0, du="DU-A1", pod="IT001E00000101")
        pub.publish(layout.up("DU-A1", community="b"), wrong)
        assert wait_until(lambda: len(acks.snapshot()) == 1, 20)
        # the same DU on its own community's topic: stored
        pub.publish(layout.up("DU-A1", community="a"), one_reading(1, du="DU-A1", pod="IT001E00000101"))
        assert wait_until(lambda: len(acks.snapshot()) == 2, 20)
    finally:
        worker.stop(5)
    (topic, refused), (own_topic, stored) = acks.snapshot()
    assert topic == layout.ack("DU-A1", community="b") and own_topic == layout.ack("DU-A1", community="a")
    assert not refused["accepted"] and refused["stored"] == 0
    assert refused["rejected"] == [
        {"path": "$", "reason": "DU DU-A1 is registered in community 'a', not 'b'"}
    ]
    assert stored["accepted"] and stored["stored"] == 1
    assert store.counts()["measurements"] == 1  # only the reading sent on its own community's topic
    (letter,) = store.dead_letters()
    assert letter["community"] == "b" and letter["id"] == refused["dead_letter_id"]
    assert letter["payload"] == wrong
    # a refusal of the sender is replayed only deliberately
    assert "only deliberately" in replay_dead_letter(store, letter["id"]).rejected[0].reason
    assert store.counts()["measurements"] == 1


def test_two_worker_processes_store_every_community_once(rig):
    settings, store, layout, pub, acks = rig
    n_per_du = 10
    sent = []
    pool = WorkerProcesses(settings, 2, shared_group=f"g-{uuid.uuid4().hex[:6]}", drain_timeout_s=10).start()
    try:
        assert pool.wait_connected(60), "the worker processes did not connect"
        for k in range(n_per_du):
            for slug, dus in COMMUNITIES.items():
                for du, pod in dus:
                    raw = one_reading(k, du=du, pod=pod)
                    sent.append((slug, raw))
                    pub.publish(layout.up(du, community=slug), raw)
        assert wait_until(lambda: pool.stats()["acked"] >= len(sent), 60), pool.stats_per_worker()
        assert wait_until(lambda: len(acks.snapshot()) >= len(sent), 10)
    finally:
        pool.stop()
    per_worker = pool.stats_per_worker()
    assert pool.exitcodes() == [0, 0]
    assert sum(w["acked"] for w in per_worker) == len(sent) and all(w["acked"] > 0 for w in per_worker)
    # one answer per message, on its own community's ack topic
    answers = collections.Counter((a["payload_id"], topic.split("/")[1]) for topic, a in acks.snapshot())
    assert answers == collections.Counter((payload_id(raw), slug) for slug, raw in sent)
    frame = store.measurements_frame()
    assert len(frame) == len(sent) and not frame.duplicated(["pod", "start"]).any()
    assert frame.groupby("pod").size().to_dict() == {
        pod: n_per_du for dus in COMMUNITIES.values() for _, pod in dus
    }
    assert store.counts()["dead_letters"] == 0
