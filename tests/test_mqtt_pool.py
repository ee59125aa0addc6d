"""Several ingest worker processes on one MQTT shared subscription (``condivisa.app.worker_pool``), on the real
Mosquitto: every message is acknowledged once and stored once, both processes work, ``stop()`` drains; a worker
killed with ``kill -9`` mid-stream loses nothing once a pool with the same client ids is back; ``condivisa serve``
with ``CONDIVISA_MQTT_INGEST_WORKERS=2`` (real Mosquitto: works; embedded broker: refused with exit code 2)."""

from __future__ import annotations

import collections
import datetime as dt
import gc
import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

from condivisa.app.runtime import worker_from_settings
from condivisa.app.settings import Settings
from condivisa.app.worker_pool import SHARED_GROUP, WorkerProcesses, drain_orphan_sessions, orphan_candidates
from condivisa.domain.config import load_community
from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.store.store import Store
from condivisa.transports.mqtt.topics import TopicLayout, payload_id
from mqtt_helpers import Listener, Publisher, wait_until

pytestmark = pytest.mark.mosquitto

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
NOW = dt.datetime(2025, 6, 10, 0, 0, tzinfo=UTC)
Q = dt.timedelta(minutes=15)
N = 210  # messages: 30 per DU of the example community (7 DUs)
PER_MESSAGE = 2  # quarter hours per message


def messages(devices: list[tuple[str, str]], n: int = N) -> list[tuple[str, bytes]]:
    """(du_id, payload) of ``n`` messages, round robin over the DUs; each DU's quarter hours follow each other
    and its totalizer grows by exactly the energy (no cross-check flag)."""
    out = []
    for i in range(n):
        du, pod = devices[i % len(devices)]
        first = (i // len(devices)) * PER_MESSAGE
        rows = [
            {
                "du_id": du,
                "pod": pod,
                "start": T0 + q * Q,
                "withdrawn_kwh": 0.25,
                "injected_kwh": 0.0,
                "withdrawn_total_kwh": 1000.0 + 0.25 * (q + 1),
                "injected_total_kwh": 0.0,
            }
            for q in range(first, first + PER_MESSAGE)
        ]
        out.append((du, json.dumps(build_m1_dataset(rows, producer_id=du, timestamp=NOW)).encode()))
    return out


@pytest.fixture(autouse=True)
def _collect_garbage():
    """Collect this test's garbage (a drain makes 64 IngestWorkers, paho clients, threads) before the next test:
    the collector's pause otherwise lands in a later test, and test_mqtt_strict's group-commit test (which needs
    its first message to be taken alone, before the next ones arrive) then fails."""
    yield
    gc.collect()


@pytest.fixture
def rig(db_url, mosquitto, example_community_path):
    """A registered store, pool settings on the real Mosquitto, a publisher and a listener of every answer."""
    host, port, prefix = mosquitto
    community = load_community(example_community_path)
    store = Store(db_url)
    store.upgrade()
    store.register_devices(community)
    settings = Settings(
        database_url=db_url,
        mqtt_url=f"mqtt://{host}:{port}",
        community=prefix,
        mqtt_client_id=f"pool-{uuid.uuid4().hex[:8]}",
        mqtt_session_expiry_s=120,
    )
    acks = Listener(host, port, f"condivisa/{prefix}/+/+/ack")
    pub = Publisher(host, port)
    devices = [(d.id, d.pod) for d in community.devices]
    yield settings, store, TopicLayout(prefix), pub, acks, devices
    pub.close()
    acks.close()
    store.close()


def answers_by_payload(acks: Listener) -> collections.Counter:
    return collections.Counter(a["payload_id"] for _, a in acks.snapshot())


def test_two_processes_share_the_uplink_and_store_everything_once(rig):
    settings, store, layout, pub, acks, devices = rig
    group = f"g-{uuid.uuid4().hex[:6]}"
    pool = WorkerProcesses(settings, 2, shared_group=group, drain_timeout_s=10).start()
    try:
        assert pool.wait_connected(60), "the worker processes did not connect"
        assert pool.alive() == 2
        msgs = messages(devices)
        for du, raw in msgs:
            pub.publish(layout.up(du), raw)
        assert wait_until(lambda: pool.stats()["acked"] >= N, 60), pool.stats_per_worker()
    finally:
        pool.stop()
    assert pool.alive() == 0 and pool.exitcodes() == [0, 0]  # stop() drained, both exited on their own
    per_worker = pool.stats_per_worker()
    total = pool.stats()
    print(
        f"\nsent {N} messages ({N * PER_MESSAGE} quarter hours); per process: {per_worker}; "
        f"stored {store.counts()['measurements']}"
    )
    # every message handled by exactly one process, acknowledged once, and both processes did part of it
    assert total["acked"] == total["accepted"] == N and total["rejected"] == 0
    assert all(w["acked"] > 0 for w in per_worker), f"one process got nothing: {per_worker}"
    assert sum(w["acked"] for w in per_worker) == N
    assert total["stored"] == N * PER_MESSAGE and total["duplicates"] == 0 and total["revised"] == 0
    # exactly one answer per message on the ack topics, every one accepted
    assert wait_until(lambda: sum(answers_by_payload(acks).values()) >= N, 10)
    answers = answers_by_payload(acks)
    assert answers == collections.Counter({payload_id(raw): 1 for _, raw in msgs})
    assert all(a["accepted"] and a["stored"] == PER_MESSAGE for _, a in acks.snapshot())
    # in the store: every quarter hour of every DU once, no revision, no dead letter
    counts = store.counts()
    assert counts["measurements"] == N * PER_MESSAGE
    assert counts["measurement_revisions"] == 0 and counts["dead_letters"] == 0
    frame = store.measurements_frame()
    assert not frame.duplicated(["pod", "start"]).any()
    assert frame.groupby("pod").size().to_dict() == {
        pod: N // len(devices) * PER_MESSAGE for _, pod in devices
    }


def test_sigterm_makes_a_worker_drain_and_exit(rig):
    """``systemctl stop`` sends SIGTERM to every process of the service: a worker process then stores and
    acknowledges what it has received and exits cleanly, instead of dying in the middle of a message."""
    settings, store, layout, pub, acks, devices = rig
    pool = WorkerProcesses(settings, 2, shared_group=f"g-{uuid.uuid4().hex[:6]}", drain_timeout_s=10).start()
    try:
        assert pool.wait_connected(60)
        for du, raw in messages(devices, 70):
            pub.publish(layout.up(du), raw)
        assert wait_until(lambda: pool.stats_per_worker()[1]["acked"] >= 1, 30)
        os.kill(pool.pids()[1], signal.SIGTERM)
        assert wait_until(lambda: pool.alive() == 1, 20)
        assert pool.exitcodes()[1] == 0, pool.exitcodes()  # a normal exit (killed by the signal: -15)
        assert wait_until(lambda: pool.stats_per_worker()[0]["acked"] >= 35, 30)  # the other one goes on
    finally:
        pool.stop()
    done = pool.stats_per_worker()
    print(f"\nafter SIGTERM of worker 1: {done}; stored {store.counts()['measurements']}")
    # everything worker 1 acknowledged is stored, and nothing was stored without being acknowledged
    assert store.counts()["measurements"] == sum(w["acked"] for w in done) * PER_MESSAGE
    assert sum(w["stored"] for w in done) == store.counts()["measurements"]


def test_pool_refuses_what_cannot_work(mosquitto):
    host, port, prefix = mosquitto
    settings = Settings(mqtt_url=f"mqtt://{host}:{port}", community=prefix)
    with pytest.raises(ValueError, match="shared subscription"):
        WorkerProcesses(settings, 2, shared_group=None)
    with pytest.raises(ValueError, match="embedded broker"):
        WorkerProcesses(settings.model_copy(update={"mqtt_url": ""}), 2)
    pool = WorkerProcesses(settings, 2, first_index=1)
    assert pool.client_ids() == [f"{settings.mqtt_client_id}-1", f"{settings.mqtt_client_id}-2"]
    assert pool.pids() == [None, None]  # not started
    pool.stop()  # harmless before start


_ORPHAN_SCRIPT = """
import sys, time
from condivisa.app.worker_pool import WorkerProcesses
from condivisa.app.settings import Settings
settings = Settings(database_url=sys.argv[1], mqtt_url=sys.argv[2], community=sys.argv[3], mqtt_client_id=sys.argv[4],
                    mqtt_session_expiry_s=60)
pool = WorkerProcesses(settings, 2, shared_group=sys.argv[4]).start()
assert pool.wait_connected(60)
print(" ".join(str(p) for p in pool.pids()), flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an orphan that exited may wait for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_workers_stop_when_their_parent_is_killed(tmp_path, sqlite_url, mosquitto, example_community_path):
    """``kill -9`` of the process that started the pool (e.g. ``condivisa serve``): its worker processes drain and
    exit instead of living on as orphans holding the sessions a restarted ``serve`` needs."""
    host, port, prefix = mosquitto
    with Store(sqlite_url) as store:
        store.upgrade()
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _ORPHAN_SCRIPT,
            sqlite_url,
            f"mqtt://{host}:{port}",
            prefix,
            f"orphan-{uuid.uuid4().hex[:8]}",
        ],
        stdout=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_running(p) for p in pids)
        parent.kill()
        parent.wait(10)
        assert wait_until(lambda: not any(_running(p) for p in pids), 20), (
            "worker processes outlived their parent"
        )
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


@pytest.mark.slow
def test_worker_killed_mid_stream_nothing_lost_after_a_pool_with_the_same_ids(rig):
    """kill -9 of one of two workers while messages are in flight. What Mosquitto (2.0) does, observed here:
    the dead worker's persistent session stays subscribed to the shared group, keeps the messages that were
    in flight to it (delivered, not acknowledged) and those already queued for it, and goes on receiving its
    round-robin share of new messages; none of them goes to the surviving worker. They are delivered when a
    worker with the same client id connects again."""
    settings, store, layout, pub, acks, devices = rig
    group = f"g-{uuid.uuid4().hex[:6]}"
    msgs = messages(devices)
    half = N // 2
    first = WorkerProcesses(settings, 2, shared_group=group, drain_timeout_s=5).start()
    second = None
    try:
        assert first.wait_connected(60)
        for du, raw in msgs[:half]:
            pub.publish(layout.up(du), raw)
        # mid-stream: the victim has acknowledged some messages, not all of its share
        victim = 1
        assert wait_until(lambda: first.stats_per_worker()[victim]["acked"] >= 5, 30), (
            first.stats_per_worker()
        )
        os.kill(first.pids()[victim], signal.SIGKILL)
        assert wait_until(lambda: first.alive() == 1, 10)
        acked_by_victim = first.stats_per_worker()[victim]["acked"]
        # the second half of the stream is published while the victim is dead
        for du, raw in msgs[half:]:
            pub.publish(layout.up(du), raw)
        survivor = 1 - victim
        # the survivor keeps working; wait until it has nothing more to do (its counter stops moving)
        assert wait_until(lambda: store.counts()["measurements"] >= acked_by_victim * PER_MESSAGE, 30)
        last = [-1]

        def settled() -> bool:
            now = first.stats_per_worker()[survivor]["acked"]
            done, last[0] = now == last[0], now
            return done

        assert wait_until(settled, 30, step_s=1.0)
        first.stop()  # the survivor drains: whatever it had received is stored and acknowledged now
        survivor_acked = first.stats_per_worker()[survivor]["acked"]
        stored_before = store.counts()["measurements"]
        held = N * PER_MESSAGE - stored_before
        print(
            f"\nkill -9 of worker {victim} after it acknowledged {acked_by_victim} messages; the survivor then "
            f"acknowledged {survivor_acked}; stored {stored_before} of {N * PER_MESSAGE} quarter hours, "
            f"{held} held by the broker for the dead session"
        )
        # Mosquitto does not hand the dead session's messages to the surviving member of the group, and keeps
        # giving the dead session its round-robin turn: the survivor took only its half of the stream
        assert held > 0, "everything stored without the dead worker: Mosquitto redistributed its messages"
        assert survivor_acked <= N // 2 + 1, first.stats_per_worker()

        # a new pool with the same client ids: the dead worker's session gets its messages back
        second = WorkerProcesses(settings, 2, shared_group=group, drain_timeout_s=5).start()
        assert second.client_ids() == first.client_ids()
        assert second.wait_connected(60)
        assert wait_until(lambda: store.counts()["measurements"] == N * PER_MESSAGE, 60), (
            f"{store.counts()} after the restart; {second.stats_per_worker()}"
        )
        assert wait_until(lambda: set(answers_by_payload(acks)) == {payload_id(raw) for _, raw in msgs}, 30)
        resent = second.stats_per_worker()
    finally:
        first.stop()
        if second is not None:
            second.stop()
    frame = store.measurements_frame()
    answers = answers_by_payload(acks)
    duplicated = sum(n - 1 for n in answers.values())
    print(
        f"sent {N} messages / {N * PER_MESSAGE} quarter hours; stored {len(frame)}; answered twice "
        f"(committed, not acknowledged before the kill) {duplicated}; after the restart per process: {resent}"
    )
    assert len(frame) == N * PER_MESSAGE and not frame.duplicated(["pod", "start"]).any()
    assert store.counts()["measurement_revisions"] == 0  # a resend is a duplicate, never a revision
    # the restarted victim session did the held messages; the restarted survivor session had nothing pending
    assert resent[victim]["acked"] > 0
    assert sum(w["stored"] for w in resent) == held
    assert duplicated <= 20  # at most the victim's in-flight window (Mosquitto max_inflight_messages 20)


def _serve(tmp_path, env_extra: dict, args: list[str]):
    env = dict(os.environ, **env_extra)
    log = tmp_path / f"serve-{uuid.uuid4().hex[:6]}.log"
    fh = open(log, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "condivisa", "serve", "--no-api", *args, "--log-level", "warning"],
        stdout=fh,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    return proc, log, fh


@pytest.mark.slow
def test_serve_with_two_ingest_workers_on_mosquitto(tmp_path, mosquitto, example_community_path):
    host, port, prefix = mosquitto
    db = f"sqlite:///{tmp_path / 'platform.db'}"
    proc, log, fh = _serve(
        tmp_path,
        {
            "CONDIVISA_MQTT_INGEST_WORKERS": "2",
            "CONDIVISA_MQTT_SESSION_EXPIRY_S": "120",
            "CONDIVISA_MQTT_CLIENT_ID": f"serve-{uuid.uuid4().hex[:8]}",
        },
        [
            "--config",
            str(example_community_path),
            "--database",
            db,
            "--mqtt-url",
            f"mqtt://{host}:{port}",
            "--community",
            prefix,
        ],
    )
    pub = acks = None
    try:
        assert wait_until(
            lambda: "MQTT worker connected" in log.read_text() or proc.poll() is not None, 60
        ), log.read_text()
        assert proc.poll() is None, log.read_text()
        text = log.read_text()
        assert "2 worker processes" in text and "$share/condivisa-ingest/" in text, text
        layout = TopicLayout(prefix)
        acks = Listener(host, port, f"condivisa/{prefix}/+/+/ack")
        pub = Publisher(host, port)
        devices = [(d.id, d.pod) for d in load_community(example_community_path).devices]
        msgs = messages(devices, 70)
        for du, raw in msgs:
            pub.publish(layout.up(du), raw)
        assert wait_until(lambda: len(acks.snapshot()) >= 70, 60), log.read_text()
    finally:
        for c in (pub, acks):
            if c is not None:
                c.close()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        fh.close()
    text = log.read_text()
    assert code == 0, text
    assert "stopped." in text
    # serve's own worker (index 0) and the extra process (index 1) split the 70 messages
    own = json.loads(text.split("MQTT worker: ")[1].splitlines()[0].replace("'", '"'))
    other = json.loads(text.split("other MQTT workers: ")[1].splitlines()[0].replace("'", '"'))
    print(f"\nserve's worker: {own}\nthe other process: {other}")
    assert own["acked"] + other["acked"] == 70 and own["acked"] > 0 and other["acked"] > 0
    assert own["stored"] + other["stored"] == 70 * PER_MESSAGE
    with Store(db) as store:
        assert store.counts()["measurements"] == 70 * PER_MESSAGE
    assert collections.Counter(a["payload_id"] for _, a in acks.snapshot()) == collections.Counter(
        {payload_id(raw): 1 for _, raw in msgs}
    )


def test_serve_refuses_several_workers_on_the_embedded_broker(tmp_path, example_community_path):
    env = {
        "CONDIVISA_MQTT_INGEST_WORKERS": "2",
        "CONDIVISA_MQTT_EMBEDDED_PORT": "0",
        "CONDIVISA_MQTT_URL": "",
    }
    proc, log, fh = _serve(
        tmp_path,
        env,
        ["--config", str(example_community_path), "--database", f"sqlite:///{tmp_path / 'platform.db'}"],
    )
    try:
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
        fh.close()
    text = log.read_text()
    assert code == 2, text
    assert "embedded broker (amqtt) has no shared subscriptions" in text and "CONDIVISA_MQTT_URL" in text, (
        text
    )
    assert "MQTT worker connected" not in text


# -- orphaned sessions: fewer workers than before, drained at start-up ------------------------------------------


def run_and_stop_two_workers(settings) -> WorkerProcesses:
    """Start two worker processes on the shared subscription, wait until both are connected, stop them: their
    sessions (``<id>-0``, ``<id>-1``) stay at the broker."""
    pool = WorkerProcesses(settings, 2, shared_group=SHARED_GROUP, drain_timeout_s=5).start()
    try:
        assert pool.wait_connected(60), "the worker processes did not connect"
    finally:
        pool.stop()
    return pool


def session_exists(host: str, port: int, client_id: str) -> bool:
    """Whether the broker holds a session named ``client_id``: an MQTT 5 connection with clean start off says so
    (CONNACK "session present"); it asks for a session expiry of 0, so it leaves nothing behind either way."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    seen: list[bool] = []
    done = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        seen.append(bool(flags.session_present))
        done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_connect = on_connect
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    client.connect(host, port, clean_start=False, properties=props)
    client.loop_start()
    try:
        assert done.wait(10), f"no CONNACK for {client_id}"
    finally:
        client.disconnect()
        client.loop_stop()
    return seen[0]


def test_fewer_workers_orphaned_sessions_are_drained_and_deleted(rig):
    """2 workers, stopped; messages published meanwhile queue at the broker for the two sessions. The next run has
    one worker (client id ``<id>``, plain subscription): :func:`drain_orphan_sessions` stores what the sessions
    ``<id>-0`` and ``<id>-1`` held, each message once, and deletes them, so later messages all go to the live worker."""
    settings, store, layout, pub, acks, devices = rig
    host, port, _ = settings.broker_address()
    cid = settings.mqtt_client_id
    old = run_and_stop_two_workers(settings)
    assert old.exitcodes() == [0, 0]
    assert (
        session_exists(host, port, f"{cid}-1") is True
    )  # the check itself: it sees a session that is there...
    run_and_stop_two_workers(settings)  # ...and deletes it

    msgs = messages(devices, 70)
    for du, raw in msgs:
        pub.publish(
            layout.up(du), raw
        )  # acknowledged by the broker: it keeps them for the two stopped sessions
    assert store.counts()["measurements"] == 0

    live_acked: list[dict] = []  # answers of the live worker's messages
    live = worker_from_settings(
        settings, store, on_result=lambda topic, answer: live_acked.append(answer)
    ).start()
    try:
        filters = layout.uplink_filters() + layout.reply_filters()  # and the DUs' replies (issue #19)
        assert live.wait_connected(10) and live.filters() == filters  # one worker: no $share
        report = drain_orphan_sessions(settings, store, keep_ids=[cid])
        stored = store.counts()["measurements"]
        answers = answers_by_payload(acks)
        print(
            f"\nsent 70 messages ({70 * PER_MESSAGE} quarter hours) while 2 workers were stopped; "
            f"drained {dict(report)} "
            f"in {report.seconds:.2f} s; stored {stored}; answered twice {sum(n - 1 for n in answers.values())}; "
            f"failed {report.failed}"
        )
        assert report.failed == {}
        assert set(report) == {f"{cid}-0", f"{cid}-1"} and sum(report.values()) == 70, dict(report)
        assert all(
            n > 0 for n in report.values()
        )  # both sessions held part of it (Mosquitto takes them in turn)
        assert stored == 70 * PER_MESSAGE
        assert wait_until(lambda: sum(answers_by_payload(acks).values()) >= 70, 10)
        assert answers_by_payload(acks) == collections.Counter({payload_id(raw): 1 for _, raw in msgs})
        assert not live_acked  # the live worker had nothing to do with the old messages

        assert not session_exists(host, port, f"{cid}-0") and not session_exists(host, port, f"{cid}-1")
        # the old sessions are out of the group: 20 new messages all go to the live worker, promptly
        later = messages(devices, 90)[70:]
        for du, raw in later:
            pub.publish(layout.up(du), raw)
        assert wait_until(lambda: len(live_acked) >= 20, 10), (live.stats.as_dict(), store.counts())
        assert wait_until(lambda: sum(answers_by_payload(acks).values()) >= 90, 10)
    finally:
        live.stop()
    frame = store.measurements_frame()
    answers = answers_by_payload(acks)
    duplicated = sum(n - 1 for n in answers.values())
    print(
        f"then 20 more: the live worker stored {live.stats.stored} quarter hours of {len(live_acked)} "
        f"messages; in all sent 90, stored {len(frame)} quarter hours, duplicated {duplicated}"
    )
    assert len(live_acked) == 20 and all(a["accepted"] and a["stored"] == PER_MESSAGE for a in live_acked)
    assert answers == collections.Counter({payload_id(raw): 1 for _, raw in msgs + later})
    assert live.stats.stored == 20 * PER_MESSAGE and live.stats.duplicates == 0
    assert len(frame) == 90 * PER_MESSAGE and not frame.duplicated(["pod", "start"]).any()
    assert duplicated == 0 and store.counts()["measurement_revisions"] == 0
    assert store.counts()["dead_letters"] == 0


def test_nothing_to_drain_is_quick_and_leaves_nothing(mosquitto, sqlite_url):
    """No orphaned session: every candidate id is looked at (65 of them), none is found, none is created."""
    host, port, prefix = mosquitto
    cid = f"none-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=sqlite_url,
        mqtt_url=f"mqtt://{host}:{port}",
        community=prefix,
        mqtt_client_id=cid,
        mqtt_session_expiry_s=120,
    )
    with Store(sqlite_url) as store:
        store.upgrade()
        report = drain_orphan_sessions(settings, store, keep_ids=[f"{cid}-0", f"{cid}-1"])
        counts = store.counts()
    candidates = orphan_candidates(cid)
    print(f"\nnothing to drain: {len(candidates) - 2} session names looked at in {report.seconds:.2f} s")
    assert len(candidates) == 65 and candidates[0] == cid and candidates[-1] == f"{cid}-63"
    assert dict(report) == {} and report.failed == {}
    assert counts["measurements"] == 0 and counts["dead_letters"] == 0
    assert report.seconds < 2.0, f"{report.seconds:.2f} s to look at 63 session names"
    # none of the probes left a session behind (expiry 0 at disconnect)
    assert not any(session_exists(host, port, c) for c in (cid, f"{cid}-2", f"{cid}-63"))


def test_drain_on_mqtt_311_deletes_the_sessions(rig):
    """``CONDIVISA_MQTT_PROTOCOL=3.1.1`` (no session expiry): drained the same way, and the sessions are deleted by
    a clean-session connection."""
    settings, store, layout, pub, acks, devices = rig
    settings = settings.model_copy(update={"mqtt_protocol": "3.1.1"})
    host, port, _ = settings.broker_address()
    cid = settings.mqtt_client_id
    run_and_stop_two_workers(settings)
    msgs = messages(devices, 30)
    for du, raw in msgs:
        pub.publish(layout.up(du), raw)
    report = drain_orphan_sessions(settings, store, keep_ids=[cid])
    print(
        f"\nMQTT 3.1.1: sent 30, drained {dict(report)}, stored {store.counts()['measurements']}, "
        f"failed {report.failed}"
    )
    assert report.failed == {} and sum(report.values()) == 30 and set(report) == {f"{cid}-0", f"{cid}-1"}
    assert store.counts()["measurements"] == 30 * PER_MESSAGE
    assert not any(session_exists(host, port, c) for c in (cid, f"{cid}-0", f"{cid}-1", f"{cid}-5"))


@pytest.mark.slow
def test_serve_with_one_worker_drains_the_sessions_of_the_two_before(
    tmp_path, mosquitto, example_community_path
):
    """``condivisa serve`` with 2 workers, stopped; 70 messages published; ``condivisa serve`` with 1 worker (same
    client id) stores them at start-up, deletes the two old sessions, and then gets every new message."""
    host, port, prefix = mosquitto
    db = f"sqlite:///{tmp_path / 'platform.db'}"
    cid = f"serve-{uuid.uuid4().hex[:8]}"
    args = [
        "--config",
        str(example_community_path),
        "--database",
        db,
        "--mqtt-url",
        f"mqtt://{host}:{port}",
        "--community",
        prefix,
    ]
    env = {"CONDIVISA_MQTT_SESSION_EXPIRY_S": "120", "CONDIVISA_MQTT_CLIENT_ID": cid}

    def run(workers: int, until: str):
        proc, log, fh = _serve(tmp_path, {**env, "CONDIVISA_MQTT_INGEST_WORKERS": str(workers)}, args)
        assert wait_until(lambda: until in log.read_text() or proc.poll() is not None, 60), log.read_text()
        assert proc.poll() is None, log.read_text()
        return proc, log, fh

    def stop(proc, fh) -> int:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        fh.close()
        return code

    proc, log, fh = run(2, "orphaned worker sessions:")
    assert "0 drained" in log.read_text()
    assert stop(proc, fh) == 0, log.read_text()
    layout = TopicLayout(prefix)
    devices = [(d.id, d.pod) for d in load_community(example_community_path).devices]
    msgs = messages(devices, 90)
    pub = Publisher(host, port)
    try:
        for du, raw in msgs[:70]:
            pub.publish(layout.up(du), raw)
        proc, log, fh = run(1, "orphaned worker sessions:")
        try:
            text = log.read_text()
            assert f"orphaned MQTT session {cid}-0:" in text and f"orphaned MQTT session {cid}-1:" in text, (
                text
            )
            assert "2 drained (70 messages)" in text and "left at the broker" not in text, text
            with Store(db) as store:
                assert store.counts()["measurements"] == 70 * PER_MESSAGE
            for du, raw in msgs[70:]:
                pub.publish(layout.up(du), raw)
            with Store(db) as store:
                assert wait_until(lambda: store.counts()["measurements"] == 90 * PER_MESSAGE, 20), (
                    store.counts()
                )
        finally:
            code = stop(proc, fh)
    finally:
        pub.close()
    text = log.read_text()
    assert code == 0, text
    own = json.loads(text.split("MQTT worker: ")[1].splitlines()[0].replace("'", '"'))
    with Store(db) as store:
        frame = store.measurements_frame()
    print(
        f"\nserve with 1 worker after 2: {text.split('orphaned worker sessions: ')[1].splitlines()[0]}; "
        f"then its worker {own}; sent 90, stored {len(frame)} quarter hours, "
        f"duplicated rows {int(frame.duplicated(['pod', 'start']).sum())}"
    )
    assert own["acked"] == 20 and own["stored"] == 20 * PER_MESSAGE and own["duplicates"] == 0
    assert len(frame) == 90 * PER_MESSAGE and not frame.duplicated(["pod", "start"]).any()
