"""Faults: nothing acknowledged is ever lost. The platform's ingest worker runs as a subprocess
(`condivisa serve --no-api`) against a Mosquitto of the test's own (persistent, restartable) and a fresh
PostgreSQL database. Each test prints sent / stored / duplicated."""

from __future__ import annotations

import getpass
import json
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa

from condivisa.domain.config import load_community
from condivisa.store.store import Store
from condivisa.transports.mqtt.broker import free_port
from condivisa.transports.mqtt.topics import TopicLayout
from mqtt_helpers import WorkerProcess, one_reading, wait_until

MOSQUITTO = "/usr/sbin/mosquitto"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.mosquitto,
    pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="no mosquitto binary"),
]


class OwnMosquitto:
    """A Mosquitto of this test on a free port, persisting sessions and queued messages across restarts."""

    def __init__(self, tmp: Path) -> None:
        self.port, self.dir = free_port(), tmp / "mosquitto"
        self.dir.mkdir()
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            "\n".join(
                [
                    f"user {getpass.getuser()}",
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {self.dir}/",
                    "max_queued_messages 100000",
                    "",
                ]
            )
        )
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.log = open(self.dir / "log.txt", "ab")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=self.log, stderr=subprocess.STDOUT
        )
        assert wait_until(self._listening, 10), "mosquitto did not start"

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Mosquitto saves its persistence file
            self.proc.wait(10)
        self.log.close()

    def restart(self, down_s: float = 1.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


class Client:
    """A QoS 1 client with a persistent session (clean_session False, fixed id) that reconnects by itself:
    its unacknowledged publications are resent and its subscriptions' messages queued while it is away."""

    def __init__(self, port: int, subscribe: str | None = None) -> None:
        self.acks: dict[str, dict] = {}
        self.duplicates = 0
        self._lock = threading.Lock()
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"f-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv311,
            clean_session=False,
        )
        self.c.reconnect_delay_set(0.2, 1)
        self.c.max_queued_messages_set(0)
        if subscribe:
            self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(subscribe, qos=1)
            self.c.on_message = self._on_message
        self.sent: dict[int, tuple[str, bytes]] = {}  # mid -> message, until the broker's PUBACK
        self._early: set[int] = set()
        self.c.on_publish = self._on_publish
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        answer = json.loads(msg.payload)
        with self._lock:
            self.duplicates += int(answer.get("duplicates") or 0)
            self.acks[answer["payload_id"]] = answer

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            if self.sent.pop(mid, None) is None:
                self._early.add(mid)  # PUBACK before publish() returned

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.c.publish(topic, payload, qos=1)  # never under self._lock: paho calls back under its own
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
            else:
                self.sent[info.mid] = (topic, payload)

    def all_published(self) -> bool:
        """Like a device: a message not acknowledged yet is sent again (once connected) — the platform
        recognises the copies as duplicates. True when every message has its PUBACK."""
        with self._lock:
            pending = list(self.sent.items())
        if not pending:
            return True
        if self.c.is_connected():
            for mid, (topic, payload) in pending:
                with self._lock:
                    if self.sent.pop(mid, None) is None:
                        continue
                self.publish(topic, payload)
            time.sleep(0.5)
        return False

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def rig(tmp_path, pg_url, example_community_path):
    store = Store(pg_url)
    store.upgrade()
    store.register_devices(load_community(example_community_path))
    broker = OwnMosquitto(tmp_path)
    community = f"faults-{uuid.uuid4().hex[:6]}"
    layout = TopicLayout(community)
    acks = Client(broker.port, f"condivisa/{community}/du/+/ack")
    pub = Client(broker.port)
    workers: list[WorkerProcess] = []

    def start_worker() -> WorkerProcess:
        w = WorkerProcess(
            tmp_path, pg_url, f"mqtt://127.0.0.1:{broker.port}", community, f"worker-{community}", "5"
        )
        workers.append(w)
        return w

    ns = type(
        "Rig",
        (),
        dict(
            store=store,
            broker=broker,
            layout=layout,
            acks=acks,
            pub=pub,
            start_worker=start_worker,
            url=pg_url,
        ),
    )
    try:
        yield ns
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.terminate()
        pub.close()
        acks.close()
        broker.stop()
        store.close()


def stored(store: Store) -> int:
    return store.counts()["measurements"]


def report(name: str, sent: int, store: Store, acks: Client) -> None:
    frame = store.measurements_frame(pods=["IT001E00000001"])
    print(
        f"\n[{name}] sent={sent} stored={len(frame)} unique={frame['start'].nunique()} "
        f"duplicated(resends recognised)={acks.duplicates} answers on the ack topic={len(acks.acks)}"
    )
    assert len(frame) == sent and frame["start"].is_unique
    assert store.counts()["measurement_revisions"] == 0


def publish_paced(rig, n: int, pause_s: float, start_k: int = 0) -> threading.Thread:
    def run() -> None:
        for k in range(start_k, start_k + n):
            rig.pub.publish(rig.layout.up("DU-0001"), one_reading(k))
            time.sleep(pause_s)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_worker_kill9_mid_stream(rig):
    n = 300
    first = rig.start_worker()
    for k in range(n):
        rig.pub.publish(rig.layout.up("DU-0001"), one_reading(k))
    assert wait_until(lambda: stored(rig.store) >= 20, 30), first.text()
    first.kill9()
    at_kill = stored(rig.store)
    assert at_kill < n, "the kill came too late to test anything"
    second = rig.start_worker()
    assert wait_until(lambda: stored(rig.store) == n, 90), second.text()
    assert wait_until(lambda: len(rig.acks.acks) == n, 30)
    print(f"\n[kill -9] stored at the kill: {at_kill}")
    report("kill -9", n, rig.store, rig.acks)


def test_mosquitto_restart_during_ingestion(rig):
    n = 300
    worker = rig.start_worker()
    t = publish_paced(rig, n, 0.01)
    assert wait_until(lambda: stored(rig.store) >= 30, 30), worker.text()
    rig.broker.restart(down_s=1.0)
    at_restart = stored(rig.store)
    t.join(30)
    assert wait_until(rig.pub.all_published, 60), "publisher could not deliver after the restart"
    assert wait_until(lambda: stored(rig.store) == n, 90), worker.text()
    assert worker.proc.poll() is None  # the same worker process reconnected by itself
    print(f"\n[mosquitto restart] stored when the broker went down: {at_restart}")
    report("mosquitto restart", n, rig.store, rig.acks)


def _admin(url: str):
    return sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")


def _terminate_backends(admin, db: str) -> int:
    with admin.connect() as c:
        return len(
            c.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": db},
            ).all()
        )


def test_database_connections_killed_during_ingestion(rig):
    n = 300
    db = rig.url.rsplit("/", 1)[1]
    admin = _admin(rig.url)
    worker = rig.start_worker()
    t = publish_paced(rig, n, 0.01)
    kills = 0
    try:
        for threshold in (30, 120, 210):
            assert wait_until(lambda threshold=threshold: stored(rig.store) >= threshold, 60), worker.text()
            kills += _terminate_backends(admin, db)
        t.join(30)
        assert wait_until(lambda: stored(rig.store) == n, 90), worker.text()
    finally:
        admin.dispose()
    assert kills >= 3 and worker.proc.poll() is None
    print(f"\n[pg_terminate_backend] backends terminated: {kills}")
    report("database connections killed", n, rig.store, rig.acks)


def test_read_only_database_refuses_and_does_not_acknowledge(rig):
    db = rig.url.rsplit("/", 1)[1]
    admin = _admin(rig.url)
    worker = rig.start_worker()
    try:
        for k in range(10):
            rig.pub.publish(rig.layout.up("DU-0001"), one_reading(k))
        assert wait_until(lambda: len(rig.acks.acks) == 10, 30), worker.text()
        with admin.connect() as c:
            c.execute(sa.text(f'ALTER DATABASE "{db}" SET default_transaction_read_only = on'))
        _terminate_backends(admin, db)  # existing sessions pick the setting up on reconnection
        for k in range(10, 20):
            rig.pub.publish(rig.layout.up("DU-0001"), one_reading(k))
        time.sleep(4)
        assert stored(rig.store) == 10 and len(rig.acks.acks) == 10  # refused, and nothing acknowledged
        assert "read-only" in worker.text() and "not acknowledged" in worker.text()
        print(
            f"\n[read-only] during read-only: sent=20 stored={stored(rig.store)} acknowledged={len(rig.acks.acks)}"
        )
        with admin.connect() as c:
            c.execute(sa.text(f'ALTER DATABASE "{db}" SET default_transaction_read_only = off'))
        _terminate_backends(admin, db)
        assert wait_until(lambda: stored(rig.store) == 20, 90), worker.text()
        assert wait_until(lambda: len(rig.acks.acks) == 20, 30)
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'ALTER DATABASE "{db}" SET default_transaction_read_only = off'))
        admin.dispose()
    report("read-only database", 20, rig.store, rig.acks)
