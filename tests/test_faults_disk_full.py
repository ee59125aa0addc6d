"""Faults: the database is full (SQLITE_FULL, "database or disk is full"), a real fault of SQLite, not a mock.

The test caps the database file at its current size with ``PRAGMA max_page_count`` on every connection the
store's engine hands out (a ``checkout`` listener), so the next message that needs a new page fails as on a
full disk. Ingestion must then refuse (raise, never report ``accepted``), the MQTT worker must not send the
PUBACK, and once the cap is lifted the message — retried in place, or redelivered by the broker to the next
worker on the same session — is stored exactly once. Each MQTT test prints sent / stored / duplicated."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
import sqlalchemy as sa

from condivisa.app.runtime import mqtt_ingest_worker
from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.ingest.pipeline import ingest_payload
from condivisa.store.store import Store
from condivisa.transports.mqtt.topics import TopicLayout, payload_id
from condivisa.transports.mqtt.worker import IngestWorker
from mqtt_helpers import Listener, Publisher, wait_until

T0 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
Q = dt.timedelta(minutes=15)
RECEIVED = T0 + dt.timedelta(days=30)
SQLITE_MAX_PAGES = 1073741823  # SQLite's default cap


def one_day(d: int, du: str = "DU-0001", pod: str = "IT001E00000001") -> bytes:
    """Day ``d`` after T0 of one DU: 96 quarter hours (more than the free room in any page: a new page needed)."""
    rows = [
        {
            "du_id": du,
            "pod": pod,
            "start": T0 + (96 * d + k) * Q,
            "withdrawn_kwh": 0.25,
            "injected_kwh": 0.0,
            "withdrawn_total_kwh": 1000.0 + 0.25 * (96 * d + k + 1),
            "injected_total_kwh": 0.0,
        }
        for k in range(96)
    ]
    return json.dumps(build_m1_dataset(rows, producer_id=du)).encode()


class DiskFull:
    """Caps ``store``'s SQLite file at its current number of pages (``fill``) or lifts the cap (``lift``), on
    every
    connection the engine hands out from then on."""

    def __init__(self, store: Store) -> None:
        self.store, self.limit = store, None
        sa.event.listen(store.engine, "checkout", self._on_checkout)

    def _on_checkout(self, dbapi_conn, record, proxy) -> None:
        if self.limit is not None:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA max_page_count = {int(self.limit)}")
            cur.close()

    def pages(self) -> tuple[int, int]:
        with self.store.engine.connect() as c:
            return (
                c.exec_driver_sql("PRAGMA page_count").scalar(),
                c.exec_driver_sql("PRAGMA freelist_count").scalar(),
            )

    def fill(self) -> int:
        pages, free = self.pages()
        assert free == 0, "free pages would absorb the next writes"
        self.limit = pages
        return pages

    def lift(self) -> None:
        self.limit = SQLITE_MAX_PAGES

    def close(self) -> None:
        sa.event.remove(self.store.engine, "checkout", self._on_checkout)


@pytest.fixture
def disk(store):
    d = DiskFull(store)
    yield d
    d.close()


def test_ingest_payload_raises_when_the_database_is_full(store, disk):
    ok = ingest_payload(store, one_day(0), source="test", device_id="DU-0001", received_at=RECEIVED)
    assert ok.accepted and ok.stored == 96
    before = store.counts()
    disk.fill()
    with pytest.raises(sa.exc.OperationalError, match="database or disk is full"):
        ingest_payload(store, one_day(1), source="test", device_id="DU-0001", received_at=RECEIVED)
    # a bad message is not "kept among the rejected" either when its dead letter cannot be written
    with pytest.raises(sa.exc.OperationalError, match="database or disk is full"):
        ingest_payload(
            store,
            b'{"UrbanDataset": "x"}' + b" " * 8000,
            source="test",
            device_id="DU-0001",
            received_at=RECEIVED,
        )
    assert store.counts() == before  # nothing half-written
    disk.lift()
    again = ingest_payload(store, one_day(1), source="test", device_id="DU-0001", received_at=RECEIVED)
    assert (again.accepted, again.stored, again.duplicates, again.revised) == (True, 96, 0, 0)
    assert store.counts()["measurements"] == 192 and store.counts()["measurement_revisions"] == 0


def test_mqtt_worker_does_not_acknowledge_while_the_database_is_full(broker, store, disk):
    host, port, mqtt5, community = broker
    layout = TopicLayout(community)
    client_id = f"w-{uuid.uuid4().hex[:8]}"

    def new_worker() -> IngestWorker:
        w = mqtt_ingest_worker(
            store,
            host,
            port,
            layout=layout,
            client_id=client_id,
            mqtt5=mqtt5,
            session_expiry_s=120,
            retry_backoff_s=(0.05, 0.2),
        ).start()
        assert w.wait_connected(10)
        return w

    def stored() -> int:
        return store.counts()["measurements"]

    listener = Listener(host, port, f"condivisa/{community}/+/+/ack")
    pub = Publisher(host, port)
    first = new_worker()
    second = None
    sent = [one_day(d) for d in range(4)]
    try:
        # two days stored as usual
        pub.publish(layout.up("DU-0001"), sent[0])
        pub.publish(layout.up("DU-0001"), sent[1])
        assert wait_until(lambda: first.stats.acked == 2 and len(listener.snapshot()) == 2, 20)

        # 1) the disk fills up: the worker retries in place and sends no PUBACK, no answer
        pages = disk.fill()
        pub.publish(layout.up("DU-0001"), sent[2])
        assert wait_until(lambda: first.stats.store_errors >= 3, 20)
        time.sleep(0.3)
        assert (stored(), first.stats.acked, len(listener.snapshot())) == (192, 2, 2)
        assert disk.pages()[0] == pages
        disk.lift()  # room again: the same message goes in, then (only then) it is acknowledged
        assert wait_until(lambda: first.stats.acked == 3 and len(listener.snapshot()) == 3, 20)
        assert stored() == 288

        # 2) full again, and the worker is stopped meanwhile: the message stays unacknowledged at the broker,
        # which gives it again to the next worker on the same session once there is room
        disk.fill()
        pub.publish(layout.up("DU-0001"), sent[3])
        errors = first.stats.store_errors
        assert wait_until(lambda: first.stats.store_errors >= errors + 2, 20)
        first.stop(drain_timeout_s=1.0)
        assert (first.stats.acked, stored(), len(listener.snapshot())) == (3, 288, 3)
        disk.lift()
        second = new_worker()
        assert wait_until(lambda: second.stats.acked == 1 and len(listener.snapshot()) == 4, 30), second.stats
        answers = {a["payload_id"]: a for _, a in listener.snapshot()}
        assert list(answers) == [payload_id(raw) for raw in sent]  # one answer per message, in order
        assert all((a["accepted"], a["stored"], a["duplicates"]) == (True, 96, 0) for a in answers.values())
        frame = store.measurements_frame(pods=["IT001E00000001"])
        duplicated = sum(a["duplicates"] for a in answers.values())
        print(
            f"\n[database full, {'mosquitto' if mqtt5 else 'embedded'}] sent={4 * 96} stored={len(frame)} "
            f"unique={frame['start'].nunique()} duplicated(resends recognised)={duplicated} "
            f"store errors={first.stats.store_errors} (not acknowledged meanwhile) "
            f"acknowledged={first.stats.acked}+{second.stats.acked}"
        )
        assert len(frame) == 4 * 96 and frame["start"].is_unique
        assert store.counts()["measurement_revisions"] == 0
    finally:
        for w in (first, second):
            if w is not None and not w._stopped.is_set():
                w.stop(drain_timeout_s=2)
        pub.close()
        listener.close()
