"""Group commit across concurrent senders (:mod:`condivisa.ingest.group_commit`), on SQLite and the real
PostgreSQL:
batches give exactly the one-by-one results, a failed batch is stored again message by message, nothing
submitted is lost at shutdown, and the REST API stores concurrent pushes through it (answering 503, with
nothing stored, when the database is full)."""

from __future__ import annotations

import gzip
import threading
import time

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import condivisa.ingest.group_commit as gc_mod
from condivisa.app.http_app import create_app
from condivisa.app.settings import Settings
from condivisa.ingest.group_commit import GroupCommitter
from condivisa.ingest.pipeline import ingest_payload, prepare_payload, store_prepared
from condivisa.store.models import DeadLetter, DeviceActivity, Measurement, MeasurementRevision
from condivisa.store.store import Store
from test_faults_disk_full import DiskFull, one_day
from test_ingest_batch import mixed_messages, payload, reading, snapshot

REAL_STORE_PREPARED = store_prepared


def prepared(msgs):
    return [
        prepare_payload(
            m["raw"], source=m["source"], device_id=m.get("device_id"), received_at=m.get("received_at")
        )
        for m in msgs
    ]


def expected_one_by_one(store: Store, msgs) -> tuple[list[dict], dict]:
    """Results and tables of ``msgs`` ingested one after the other; the data tables are emptied afterwards."""
    results = [ingest_payload(store, **m).to_dict() for m in msgs]
    tables = snapshot(store)
    empty(store)
    return results, tables


def empty(store: Store) -> None:
    with store.engine.begin() as conn:
        for t in (Measurement, MeasurementRevision, DeadLetter, DeviceActivity):
            conn.execute(sa.delete(t.__table__))


def comparable(results: list[dict]) -> list[dict]:
    for r in results:  # dead letter ids go on after the tables were emptied: compare presence only
        r["dead_letter_id"] = r["dead_letter_id"] is not None
    return results


class Gate:
    """Wraps ``store_prepared``: records each batch's size; the first call waits until :meth:`open`, so that
    everything submitted meanwhile forms the next batch."""

    def __init__(self, monkeypatch, fail=None):
        self.sizes: list[int] = []
        self.event = threading.Event()
        self.fail = fail
        monkeypatch.setattr(gc_mod, "store_prepared", self)

    def __call__(self, store, msgs, **kw):
        self.sizes.append(len(msgs))
        if len(self.sizes) == 1:
            assert self.event.wait(10)
        if self.fail is not None:
            self.fail(msgs)
        return REAL_STORE_PREPARED(store, msgs, **kw)

    def submit_all(self, committer: GroupCommitter, items: list) -> list:
        """Submit ``items[0]``, wait until the writer holds it at the gate, submit the rest, open the gate."""
        futures = [committer.submit(items[0])]
        deadline = time.monotonic() + 10
        while not self.sizes and time.monotonic() < deadline:
            time.sleep(0.005)
        futures += [committer.submit(m) for m in items[1:]]
        self.event.set()
        return futures


def test_waiting_messages_form_one_batch_with_the_one_by_one_results(db_store, monkeypatch):
    msgs = mixed_messages()  # valid, duplicate, revised, flagged, invalid, unknown-POD... with dependencies
    want, tables = expected_one_by_one(db_store, msgs)
    gate = Gate(monkeypatch)
    committer = GroupCommitter(db_store)
    items = prepared(msgs)
    futures = gate.submit_all(committer, items)
    got = [f.result(30).to_dict() for f in futures]
    committer.close()
    assert gate.sizes == [1, len(msgs) - 1]  # the writer took everything that was waiting at once
    assert committer.batches == 2 and committer.messages == len(msgs) and committer.retried_batches == 0
    assert comparable(got) == comparable(want)
    assert snapshot(db_store) == tables


def test_max_readings_bounds_a_batch(db_store, monkeypatch):
    gate = Gate(monkeypatch)
    committer = GroupCommitter(db_store, max_readings=3)
    items = prepared([{"raw": payload([reading(i)]), "source": f"t{i}"} for i in range(8)])  # one line each
    futures = gate.submit_all(committer, items)
    assert [f.result(30).stored for f in futures] == [1] * 8
    committer.close()
    assert gate.sizes == [1, 3, 3, 1]


def test_a_failed_batch_is_stored_again_one_by_one(db_store, monkeypatch):
    msgs = mixed_messages()
    want, tables = expected_one_by_one(db_store, msgs)

    def fail_batches(batch):
        if len(batch) > 1:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    gate = Gate(monkeypatch, fail=fail_batches)
    committer = GroupCommitter(db_store)
    items = prepared(msgs)
    futures = gate.submit_all(committer, items)
    got = [f.result(30).to_dict() for f in futures]
    committer.close()
    assert committer.retried_batches == 1
    assert comparable(got) == comparable(want)  # the failed batch left nothing behind; the retries did it all
    assert snapshot(db_store) == tables


def test_a_message_that_keeps_failing_fails_alone(db_store, monkeypatch):
    def poison(batch):
        if any(m.source == "poison" for m in batch):
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

    gate = Gate(monkeypatch, fail=poison)
    committer = GroupCommitter(db_store)
    items = prepared(
        [{"raw": payload([reading(i)]), "source": "poison" if i == 2 else f"t{i}"} for i in range(5)]
    )
    futures = gate.submit_all(committer, items)
    with pytest.raises(sa.exc.OperationalError):
        futures[2].result(30)
    assert [futures[k].result(30).stored for k in (0, 1, 3, 4)] == [1, 1, 1, 1]
    committer.close()
    assert db_store.counts()["measurements"] == 4 and db_store.counts()["dead_letters"] == 0


def test_close_stores_everything_submitted_then_refuses(db_store):
    committer = GroupCommitter(db_store)
    futures = [
        committer.submit(m)
        for m in prepared([{"raw": payload([reading(i)]), "source": "t"} for i in range(40)])
    ]
    committer.close()
    assert all(f.done() for f in futures) and sum(f.result().stored for f in futures) == 40
    assert db_store.counts()["measurements"] == 40
    with pytest.raises(RuntimeError, match="closed"):
        committer.submit(prepared([{"raw": payload([reading(50)]), "source": "t"}])[0])
    committer.close()  # idempotent


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.sets(st.integers(1, 10)))
def test_any_split_into_batches_gives_the_one_by_one_results(store, cuts):
    """Whatever batches the timing of concurrent requests produces, the results and the tables are those of
    the messages stored one after the other in arrival order."""
    msgs = mixed_messages()
    want, tables = expected_one_by_one(store, msgs)
    bounds = [0, *sorted(cuts), len(msgs)]
    got = []
    items = prepared(msgs)
    for a, b in zip(bounds, bounds[1:]):
        got += [r.to_dict() for r in store_prepared(store, items[a:b])]
    assert comparable(got) == comparable(want)
    assert snapshot(store) == tables
    empty(store)


# ------------------------------------------------------------------------------------------ through REST


def serve(app):
    import uvicorn

    from condivisa.transports.mqtt.broker import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def test_concurrent_pushes_over_rest_are_all_stored_once(db_store):
    """8 connections push 10 messages each (80 quarter hours of 2 PODs, gzipped), then push them all again:
    every first push is 201 and stored, every second one 200 with duplicates only; the table holds 160
    rows."""
    app = create_app(Settings(database_url=db_store.url, api_auth_required=False), store=db_store)
    server, thread, base = serve(app)
    bodies = {
        c: [
            gzip.compress(
                payload(
                    [
                        reading(10 * c + i, du=du, pod=pod)
                        for pod, du in (("IT001E00000001", "DU-0001"), ("IT001E00000002", "DU-0002"))
                    ]
                )
            )
            for i in range(10)
        ]
        for c in range(8)
    }
    answers: dict[int, list] = {c: [] for c in bodies}

    def push(c: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for body in bodies[c]:
                r = client.post(
                    "/api/v1/urbandatasets",
                    content=body,
                    headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
                )
                answers[c].append((r.status_code, r.json()))

    try:
        for _ in range(2):
            threads = [threading.Thread(target=push, args=(c,)) for c in bodies]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
    finally:
        server.should_exit = True
        thread.join(10)
    for _client, got in answers.items():
        first, second = got[:10], got[10:]
        assert [(s, a["stored"], a["duplicates"]) for s, a in first] == [(201, 2, 0)] * 10
        assert [(s, a["stored"], a["duplicates"]) for s, a in second] == [(200, 0, 2)] * 10
    assert db_store.counts()["measurements"] == 160 and db_store.counts()["dead_letters"] == 0
    assert app.state.committer.messages == 160  # every push went through the group committer...
    with pytest.raises(RuntimeError, match="closed"):  # ...which the server's shutdown closed
        app.state.committer.submit(prepare_payload(payload([reading(0)]), source="late"))


def test_rest_answers_503_and_stores_nothing_when_the_database_is_full(store):
    disk = DiskFull(store)
    try:
        settings = Settings(database_url=store.url, api_auth_required=False, allowed_hosts=["testserver"])
        with TestClient(
            create_app(settings, store=store), headers={"Content-Type": "application/json"}
        ) as client:
            assert client.post("/api/v1/urbandatasets", content=one_day(0)).status_code == 201
            before = store.counts()
            disk.fill()
            r = client.post("/api/v1/urbandatasets", content=one_day(1))
            assert r.status_code == 503 and r.headers["Retry-After"] == "5"
            assert "nothing was stored" in r.json()["detail"]
            assert store.counts() == before  # neither the rows nor a dead letter
            disk.lift()
            r = client.post("/api/v1/urbandatasets", content=one_day(1))
            assert r.status_code == 201 and r.json()["stored"] == 96
    finally:
        disk.close()
