"""A worker killed (SIGKILL) while messages are received but not yet committed/acknowledged: after a restart
the broker resends them and every quarter hour is stored exactly once. Real Mosquitto (MQTT 5, session
expiry) and the embedded amqtt broker (MQTT 3.1.1, clean_session=False)."""

from __future__ import annotations

import uuid

import pytest

from condivisa.domain.config import load_community
from condivisa.store.store import Store
from condivisa.transports.mqtt.broker import EmbeddedBroker
from condivisa.transports.mqtt.topics import TopicLayout
from mqtt_helpers import Listener, Publisher, WorkerProcess, one_reading, wait_until

N = 400  # messages, one quarter hour each


@pytest.fixture(params=["embedded", pytest.param("mosquitto", marks=pytest.mark.mosquitto)])
def broker(request):
    if request.param == "embedded":
        with EmbeddedBroker(port=0) as b:
            yield b.host, b.port, "3.1.1", f"emb-{uuid.uuid4().hex[:8]}"
    else:
        host, port, prefix = request.getfixturevalue("mosquitto")
        yield host, port, "5", prefix


@pytest.mark.slow
def test_worker_killed_before_commit_loses_nothing_and_stores_once(
    broker, sqlite_url, tmp_path, example_community_path
):
    host, port, protocol, community = broker
    store = Store(sqlite_url)
    store.upgrade()
    store.register_devices(load_community(example_community_path))
    layout = TopicLayout(community)
    client_id = f"crash-{uuid.uuid4().hex[:8]}"
    url = f"mqtt://{host}:{port}"

    first = WorkerProcess(tmp_path, sqlite_url, url, community, client_id, protocol)
    acks = Listener(host, port, f"condivisa/{community}/du/+/ack")
    pub = Publisher(host, port)
    try:
        for k in range(N):
            pub.publish(layout.up("DU-0001"), one_reading(k))
        assert wait_until(lambda: len(acks.snapshot()) >= 20, 30), first.text()
        first.kill9()  # mid-stream: some messages committed, others received or queued but not acknowledged
        stored_at_kill = store.counts()["measurements"]
        assert 0 < stored_at_kill < N, f"kill did not land mid-stream ({stored_at_kill} of {N} stored)"

        second = WorkerProcess(tmp_path, sqlite_url, url, community, client_id, protocol)
        try:
            assert wait_until(lambda: store.counts()["measurements"] == N, 60), (
                f"{store.counts()} after restart\n{second.text()}"
            )
            # the message being processed at the kill (committed, not acknowledged) comes back as a duplicate
            assert wait_until(lambda: len({a["payload_id"] for _, a in acks.snapshot()}) == N, 30)
        finally:
            log = second.terminate()
    finally:
        pub.close()
        acks.close()
    frame = store.measurements_frame(pods=["IT001E00000001"])
    assert len(frame) == N and frame["start"].is_unique  # every quarter hour once
    assert store.counts()["measurement_revisions"] == 0  # a resend is a duplicate, never a revision
    assert "MQTT worker" in log
    store.close()
