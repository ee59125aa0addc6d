"""Group commit (``ingest_payloads``): a batch gives exactly the per-message results, rows, revisions, flags
and
dead letters of one-by-one ``ingest_payload``, on SQLite and the real PostgreSQL; and the MQTT worker uses
it."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from condivisa.domain.config import load_community
from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.ingest.pipeline import ingest_payload, ingest_payloads, prepare_payload
from condivisa.store.models import DeadLetter, DeviceActivity, Measurement, MeasurementRevision
from condivisa.store.store import Store
from condivisa.store.writer import write_readings

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
NOW = dt.datetime(2025, 6, 2, 0, 0, tzinfo=UTC)


def reading(
    i: int, du: str = "DU-0001", pod: str = "IT001E00000001", wd: float = 0.25, total: float | None = None
) -> dict:
    # consistent totalizers: 1000 + 0.25 * (i + 1) kWh at the end of quarter i
    return {
        "du_id": du,
        "pod": pod,
        "start": T0 + dt.timedelta(minutes=15 * i),
        "withdrawn_kwh": wd,
        "injected_kwh": 0.0,
        "withdrawn_total_kwh": 1000 + 0.25 * (i + 1) if total is None else total,
        "injected_total_kwh": 50.0,
    }


def payload(readings) -> bytes:
    return json.dumps(build_m1_dataset(readings, producer_id="DU-maker", timestamp=NOW)).encode()


def mixed_messages() -> list[dict]:
    """Valid, duplicate, revised, flagged, invalid and unknown-POD messages, with dependencies between them."""
    first = payload([reading(0), reading(1)])
    future = payload([{**reading(0), "start": NOW + dt.timedelta(days=3)}])
    msgs = [
        first,  # 2 stored
        first,  # 2 duplicates of the message before (same batch)
        payload([reading(1, wd=0.40, total=1000.65)]),  # revision: 1000.25 + 0.40 = 1000.65, consistent
        b'{"UrbanDataset": ',  # invalid JSON: dead letter
        payload(
            [reading(2, wd=0.10, total=1001.0)]
        ),  # totalizer moved 1001.0 - 1000.65 = 0.35, energy 0.10: flag
        payload([reading(0, pod="IT009E99999999")]),  # unknown POD: dead letter, nothing written
        payload([reading(3, total=999.0)]),  # below 1001.0 of the quarter before: backwards flag
        future,  # future reading: dead letter
        payload(
            [reading(0, du="DU-0002", pod="IT001E00000002"), reading(1, du="DU-0002", pod="IT001E00000002")]
        ),
        payload([reading(4, du="DU-0001")]),  # sent on DU-0003's topic: du_mismatch flag
        payload([reading(2, wd=0.10, total=1001.0)]),  # duplicate of the flagged quarter
    ]
    return [
        {
            "raw": raw,
            "source": f"test:{k}",
            "received_at": NOW + dt.timedelta(seconds=k),
            "device_id": "DU-0003" if k == 9 else None,
        }
        for k, raw in enumerate(msgs)
    ]


def snapshot(store: Store) -> dict:
    def rows(table, order, drop=("id",)):
        with store.read() as conn:
            return [
                {k: v for k, v in r._mapping.items() if k not in drop}
                for r in conn.execute(sa.select(table).order_by(*order))
            ]

    m, r, d, a = (
        Measurement.__table__,
        MeasurementRevision.__table__,
        DeadLetter.__table__,
        DeviceActivity.__table__,
    )
    return {
        "measurements": rows(m, [m.c.pod, m.c.start_utc, m.c.meter]),
        "revisions": rows(r, [r.c.id], drop=("id", "measurement_id")),
        "dead_letters": rows(d, [d.c.id]),
        "activity": rows(a, [a.c.du_id], drop=()),
    }


def test_batch_equals_one_by_one(db_url, example_community_path):
    community = load_community(example_community_path)
    msgs = mixed_messages()
    with Store(db_url) as store:
        store.upgrade()
        store.register_devices(community)
        one = [ingest_payload(store, **m).to_dict() for m in msgs]
        expected = snapshot(store)
        with store.engine.begin() as conn:  # empty the data tables, keep the registry
            for t in (Measurement, MeasurementRevision, DeadLetter, DeviceActivity):
                conn.execute(sa.delete(t.__table__))
        batch = [r.to_dict() for r in ingest_payloads(store, msgs)]
        got = snapshot(store)
    # dead letter ids differ (the table was emptied, ids go on): compare all else
    for a in one + batch:
        a["dead_letter_id"] = a["dead_letter_id"] is not None
    assert batch == one
    assert got == expected
    # the hand-checked story of the batch
    counts = [(r["accepted"], r["stored"], r["duplicates"], r["revised"]) for r in batch]
    assert counts == [
        (True, 2, 0, 0),
        (True, 0, 2, 0),
        (True, 0, 0, 1),
        (False, 0, 0, 0),
        (True, 1, 0, 0),
        (False, 0, 0, 0),
        (True, 1, 0, 0),
        (False, 0, 0, 0),
        (True, 2, 0, 0),
        (True, 1, 0, 0),
        (True, 0, 1, 0),
    ]
    assert [f["code"] for f in batch[4]["flags"]] == ["withdrawn_energy_vs_totalizer"]
    assert "withdrawn_totalizer_backwards" in [f["code"] for f in batch[6]["flags"]]
    assert "du_mismatch" in [f["code"] for f in batch[9]["flags"]]
    assert len(got["revisions"]) == 1 and got["revisions"][0]["withdrawn_kwh"] == 0.25
    assert (
        len(got["dead_letters"]) == 3 and len(got["measurements"]) == 7
    )  # 5 of POD 1 (quarters 0-4) + 2 of POD 2


def test_database_error_rolls_back_the_whole_batch(sqlite_url, example_community_path, monkeypatch):
    """A failure while inserting the batch's rows, after its revision and device activity were written,
    leaves nothing of any message (nor the dead letter of the invalid one): nothing to acknowledge."""
    import condivisa.store.batch as batch_mod

    with Store(sqlite_url) as store:
        store.upgrade()
        store.register_devices(load_community(example_community_path))
        ingest_payload(store, payload([reading(0)]), source="t", received_at=NOW)

        def failing(conn, rows):
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

        monkeypatch.setattr(batch_mod, "insert_rows", failing)
        msgs = [
            {
                "raw": payload([reading(0, wd=0.30, total=1000.30)]),
                "source": "t",
                "received_at": NOW,
            },  # revision
            {"raw": b"not json", "source": "t", "received_at": NOW},
        ]
        msgs += [{"raw": payload([reading(i)]), "source": "t", "received_at": NOW} for i in range(1, 4)]
        with pytest.raises(sa.exc.OperationalError):
            ingest_payloads(store, msgs)
        counts = store.counts()
        assert counts["measurements"] == 1 and counts["dead_letters"] == 0
        with store.read() as conn:
            assert conn.scalar(sa.select(sa.func.count()).select_from(MeasurementRevision)) == 0
            assert conn.scalar(sa.select(DeviceActivity.readings)) == 1


# ---------------------------------------------------------------------------------- batch == one by one, any
# input

PODS = [("IT001E00000001", "DU-0001"), ("IT001E00000002", "DU-0002")]
line_st = st.fixed_dictionaries(
    {
        "who": st.integers(0, 1),
        "q": st.integers(0, 15),
        "wd": st.sampled_from([0.0, 0.25, 0.5]),
        "total": st.one_of(st.none(), st.sampled_from([1000.0, 1000.25, 1000.5, 1000.75, 1001.0, 999.0])),
        "other_du": st.booleans(),
    }
)
message_st = st.lists(line_st, min_size=1, max_size=4)


def _payload_of(lines) -> bytes | None:
    seen, readings = set(), []
    for ln in lines:
        pod, du = PODS[ln["who"]]
        if (pod, ln["q"]) in seen:
            continue
        seen.add((pod, ln["q"]))
        readings.append(
            {
                "du_id": PODS[1 - ln["who"]][1] if ln["other_du"] else du,
                "pod": pod,
                "start": T0 + dt.timedelta(minutes=15 * ln["q"]),
                "withdrawn_kwh": ln["wd"],
                "injected_kwh": 0.0,
                "withdrawn_total_kwh": ln["total"],
                "injected_total_kwh": None,
            }
        )
    return payload(readings)


def reference_ingest(store: Store, m: dict) -> dict:
    """One message through the reference per-message writer (``write_readings``: a window read and a check per
    message, no set-based shortcut), in its own transaction — what every batch must reproduce."""
    p = prepare_payload(
        m["raw"], source=m["source"], device_id=m.get("device_id"), received_at=m["received_at"]
    )
    assert p.valid
    with store.engine.begin() as conn:
        out = write_readings(
            conn,
            p.parsed.readings,
            source=p.source,
            received_at=p.received_at,
            device_id=p.device_id,
            registry=store.registry,
        )
    return {
        "accepted": not out.unknown_pods,
        "stored": out.stored,
        "duplicates": out.duplicates,
        "revised": out.revised,
        "flags": [f.to_dict() for f in out.flags],
    }


@pytest.fixture
def twin_stores(tmp_path, example_community_path):
    """Two stores set up once for all the examples of a test (each example empties their data tables)."""
    folder = tmp_path
    stores = [Store(f"sqlite:///{folder / name}.db") for name in ("one", "batch")]
    for s in stores:
        s.upgrade()
        s.register_devices(load_community(example_community_path))
    yield stores
    for s in stores:
        s.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=st.lists(message_st, max_size=4),
    batch=st.lists(message_st, min_size=1, max_size=6),
    devices=st.lists(st.sampled_from([None, "DU-0001", "DU-0002"]), min_size=6, max_size=6),
)
def test_set_based_batch_equals_one_by_one(twin_stores, history, batch, devices):
    """Hypothesis: for any stored history and any batch (out of order, revisions, re-sends, totalizers going
    backwards or disagreeing with energies, lines read by another DU), the set-based group commit gives the
    results and the rows of the reference writer (``write_readings``) storing the messages one by one."""
    one, grouped = twin_stores
    for s in twin_stores:
        with s.engine.begin() as conn:
            for t in (Measurement, MeasurementRevision, DeadLetter, DeviceActivity):
                conn.execute(sa.delete(t.__table__))
        for k, lines in enumerate(history):
            ingest_payload(s, _payload_of(lines), source=f"h{k}", received_at=NOW)
    msgs = [
        {
            "raw": _payload_of(lines),
            "source": f"b{k}",
            "received_at": NOW + dt.timedelta(seconds=k),
            "device_id": devices[k],
        }
        for k, lines in enumerate(batch)
    ]
    expected = [reference_ingest(one, m) for m in msgs]
    got = [
        {k: r.to_dict()[k] for k in ("accepted", "stored", "duplicates", "revised", "flags")}
        for r in ingest_payloads(grouped, msgs)
    ]
    assert got == expected
    a, b = snapshot(one), snapshot(grouped)
    for snap in (a, b):
        snap.pop("dead_letters")
    assert b == a


@pytest.mark.mosquitto
def test_worker_group_commits_a_backlog(mosquitto, sqlite_url, example_community_path):
    """A backlog queued while the worker was away is stored in a few transactions, each message answered and
    acknowledged once; an invalid message in the middle gets its dead letter and does not fail the others."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from condivisa.app.runtime import mqtt_ingest_worker
    from condivisa.ingest.group_commit import GroupCommitter
    from condivisa.transports.mqtt.topics import TopicLayout

    host, port, prefix = mosquitto
    layout = TopicLayout(prefix)
    client_id = f"w-{uuid.uuid4().hex[:8]}"
    with Store(sqlite_url) as store:
        store.upgrade()
        store.register_devices(load_community(example_community_path))
        first = mqtt_ingest_worker(store, host, port, layout=layout, client_id=client_id).start()
        assert first.wait_connected(10)
        time.sleep(0.3)  # subscribed
        first.stop(drain_timeout_s=2)  # the session stays: messages published now are queued by the broker
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"p-{uuid.uuid4().hex[:6]}")
        pub.connect(host, port)
        pub.loop_start()
        n = 40
        for i in range(n):
            raw = b"not json" if i == 17 else payload([reading(i, wd=0.25)])
            pub.publish(layout.up("DU-0001"), raw, qos=1).wait_for_publish(5)
        results = []
        committer = GroupCommitter(store)
        worker = mqtt_ingest_worker(
            store,
            host,
            port,
            layout=layout,
            client_id=client_id,
            committer=committer,
            on_result=lambda topic, answer: results.append(answer),
        ).start()
        try:
            deadline = time.monotonic() + 30
            while len(results) < n and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            worker.stop(drain_timeout_s=5)
            committer.close()
            pub.loop_stop()
            pub.disconnect()
        assert len(results) == n and worker.stats.acked == n
        assert committer.grouped >= 1  # some messages shared a transaction
        assert sum(not r["accepted"] for r in results) == 1 and store.counts()["dead_letters"] == 1
        assert store.counts()["measurements"] == n - 1
