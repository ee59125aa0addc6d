"""Ingest workers in their own processes, sharing the uplink through an MQTT shared subscription.

One :class:`~condivisa.transports.mqtt.worker.IngestWorker` is bound to one CPU core by Python's GIL (parse,
validate,
cross-check and write are Python). ``condivisa serve`` with ``mqtt_ingest_workers = N > 1`` keeps its own
worker and starts N − 1 more here; all N subscribe to ``$share/<group>/<uplink>``, so the broker hands every
message to exactly one of them. Each worker has its own persistent session (client id ``<id>-<k>``) and
acknowledges a message only after its own commit: the at-least-once, stored-once guarantee of a single worker
holds for each of them, and the store's unique key makes two workers racing on a re-sent quarter hour safe.

Shared subscriptions need a broker that has them (Mosquitto ≥ 1.6, MQTT 5 or 3.1.1); the embedded amqtt
broker has not, so there the setting is refused.

Orphaned sessions: the broker keeps a worker's persistent session (and its place in the shared group) after
the
worker stopped, and keeps queueing that worker's share of new messages for it. When the operator lowers the
number of workers or changes the client id, nobody comes back for those sessions:
:func:`drain_orphan_sessions`
(called by ``condivisa serve`` at start-up) connects to each of them, stores what they hold, unsubscribes them
and deletes them.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import signal
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from condivisa.app.settings import Settings
    from condivisa.store.store import Store
    from condivisa.transports.mqtt.worker import IngestWorker

log = logging.getLogger(__name__)

#: shared-subscription group of condivisa's ingest workers
SHARED_GROUP = "condivisa-ingest"
#: per worker: messages acknowledged, accepted, rejected; measurements stored, duplicates, revised
_FIELDS = ("acked", "accepted", "rejected", "stored", "duplicates", "revised")
#: how often a worker process looks at its stop flag and at its parent
_POLL_S = 0.1
#: ``serve`` looks for orphaned sessions ``<client id>`` and ``<client id>-0`` .. ``<client id>-63``
MAX_WORKERS_DRAINED = 64


def _run(
    settings_data: dict[str, Any],
    index: int,
    shared_group: str | None,
    stop: ctypes.c_byte,
    ready: ctypes.Array[ctypes.c_byte],
    counters: ctypes.Array[ctypes.c_longlong],
    drain_timeout_s: float,
) -> None:
    """Body of a worker process: connect, ingest until ``stop`` is set (or SIGTERM, or the parent is gone),
    drain, exit.

    ``stop`` and ``ready`` are plain shared flags polled here, not ``multiprocessing.Event``s: ``Event.set()``
    waits for every process sleeping in ``Event.wait()`` to wake up, so one worker killed with ``kill -9``
    while waiting would block the parent's ``stop()`` forever."""
    signal.signal(
        signal.SIGINT, signal.SIG_IGN
    )  # the parent stops us through ``stop`` (Ctrl-C reaches the group)
    terminated = []
    # SIGTERM (``systemctl stop`` signals the whole group): drain like a normal stop, do not die mid-message
    signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))
    from condivisa.app.runtime import worker_from_settings
    from condivisa.app.settings import Settings
    from condivisa.store.store import Store

    settings = Settings(**settings_data)
    base = index * len(_FIELDS)
    parent = mp.parent_process()

    def count(topic: str, answer: dict[str, Any]) -> None:  # each shared item costs a ctypes call: touch few
        counters[base] += 1
        counters[base + (1 if answer.get("accepted") else 2)] += 1
        for k, key in enumerate(("stored", "duplicates", "revised"), start=3):
            n = answer.get(key)
            if n:
                counters[base + k] += int(n)

    store = Store(settings.database_url)
    worker = worker_from_settings(
        settings,
        store,
        client_id=f"{settings.mqtt_client_id}-{index}",
        shared_group=shared_group,
        on_result=count,
    ).start()
    try:
        while not stop.value and not terminated:
            if worker.connected:
                ready[index] = 1
            if parent is not None and not parent.is_alive():
                # an orphan would keep its session busy and fight the next ``serve`` over its client id
                log.warning("ingest worker %d: the parent process is gone; stopping", index)
                break
            time.sleep(_POLL_S)
    finally:
        worker.stop(drain_timeout_s=drain_timeout_s)
        store.close()


class WorkerProcesses:
    """``count`` ingest workers, each in a spawned process with its own store connection.

    ``shared_group`` (default :data:`SHARED_GROUP`) makes them share the uplink; ``None`` is allowed only for
    a single process. ``first_index`` numbers the client ids (``serve`` keeps index 0 for its own worker).
    """

    def __init__(
        self,
        settings: Settings,
        count: int,
        *,
        shared_group: str | None = SHARED_GROUP,
        first_index: int = 0,
        drain_timeout_s: float = 10.0,
    ):
        if count < 1:
            raise ValueError("count must be >= 1")
        if shared_group is None and count > 1:
            raise ValueError("several workers need a shared subscription group")
        if shared_group is not None and settings.embedded_broker:
            raise ValueError(
                "the embedded broker (amqtt) has no shared subscriptions: use one ingest worker, "
                "or an external broker (CONDIVISA_MQTT_URL)"
            )
        self.settings, self.count, self.shared_group = settings, count, shared_group
        self.first_index, self.drain_timeout_s = first_index, drain_timeout_s
        ctx = mp.get_context("spawn")
        self._stop = ctx.RawValue("b", 0)
        self._ready = ctx.RawArray("b", first_index + count)
        self._counters = ctx.Array("q", len(_FIELDS) * (first_index + count), lock=False)
        self._procs = [
            ctx.Process(
                target=_run,
                name=f"condivisa-ingest-{first_index + k}",
                daemon=True,
                args=(
                    settings.model_dump(mode="json"),
                    first_index + k,
                    shared_group,
                    self._stop,
                    self._ready,
                    self._counters,
                    drain_timeout_s,
                ),
            )
            for k in range(count)
        ]

    def start(self) -> WorkerProcesses:
        for p in self._procs:
            p.start()
        return self

    def wait_connected(self, timeout_s: float = 30.0) -> bool:
        """True when every worker is connected and subscribed (False at once if one of them died)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if all(self._ready[self.first_index + k] for k in range(self.count)):
                return True
            if time.monotonic() >= deadline or not all(p.is_alive() for p in self._procs):
                return False
            time.sleep(0.05)

    def stats(self) -> dict[str, int]:
        """Counters summed over the processes (messages acked/accepted/rejected; measurements stored, ...)."""
        n = len(_FIELDS)
        return {
            f: sum(self._counters[(self.first_index + k) * n + i] for k in range(self.count))
            for i, f in enumerate(_FIELDS)
        }

    def stats_per_worker(self) -> list[dict[str, int]]:
        """The same counters, one dict per process (in the order of :meth:`pids`): to see that each one works."""
        n = len(_FIELDS)
        return [
            {f: self._counters[(self.first_index + k) * n + i] for i, f in enumerate(_FIELDS)}
            for k in range(self.count)
        ]

    def pids(self) -> list[int | None]:
        """Process ids of the workers (None before :meth:`start`), e.g. for a supervisor or a crash test."""
        return [p.pid for p in self._procs]

    def client_ids(self) -> list[str]:
        """MQTT client ids (= persistent session names) of the workers: ``<mqtt_client_id>-<index>``."""
        return [f"{self.settings.mqtt_client_id}-{self.first_index + k}" for k in range(self.count)]

    def exitcodes(self) -> list[int | None]:
        """Exit codes of the workers (None while running; 0 after a clean stop, -9 after ``kill -9``)."""
        return [p.exitcode for p in self._procs]

    def alive(self) -> int:
        return sum(p.is_alive() for p in self._procs)

    def stop(self) -> None:
        """Ask every worker to drain and exit; a process still alive after the drain time is killed (what it
        had not acknowledged is resent by the broker). Safe to call again, and after a worker died."""
        self._stop.value = 1
        for p in self._procs:
            if p.pid is None:
                continue  # never started
            p.join(self.drain_timeout_s + 10)
            if p.is_alive():
                log.warning("ingest worker %s did not stop in time; killing it", p.name)
                p.kill()  # SIGKILL: SIGTERM would only ask it to drain again
                p.join(5)


def orphan_candidates(client_id: str, max_workers: int = MAX_WORKERS_DRAINED) -> list[str]:
    """Session names a ``condivisa serve`` with ``client_id`` may have used: one worker (``<client_id>``,
    plain
    subscription) or several (``<client_id>-0`` .. ``-<max_workers - 1>``, shared subscription)."""
    return [client_id] + [f"{client_id}-{k}" for k in range(max_workers)]


class DrainReport(dict):
    """``{client id: messages drained}`` for every orphaned session found, drained and deleted; ``failed``:
    ``{client id: reason}`` for those found but left at the broker (e.g. the broker refused the
    unsubscription, or another client took the id over meanwhile — a live worker of another ``serve``), and
    ids that could not be looked at (``"not reachable"``). ``seconds``: how long it took."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: dict[str, str] = {}
        self.seconds = 0.0

    def record(self, client_id: str, drained: int | None, reason: str | None) -> None:
        """Note one id's outcome (:func:`_drain_session`)."""
        if reason is not None:
            self.failed[client_id] = reason
        elif drained is not None:
            self[client_id] = drained

    def log(self) -> None:
        """Log what was drained, and each session left at the broker (unreachable ones are not repeated)."""
        for client_id, n in self.items():
            log.info("orphaned MQTT session %s: %d message(s) stored, session deleted", client_id, n)
        for client_id, reason in self.failed.items():
            if reason != "not reachable":
                log.warning("orphaned MQTT session %s left at the broker: %s", client_id, reason)


def drain_orphan_sessions(
    settings: Settings,
    store: Store,
    keep_ids: Iterable[str],
    candidates: Iterable[str] | None = None,
    *,
    connect_timeout_s: float = 5.0,
    drain_timeout_s: float = 60.0,
    parallel: int = 16,
) -> DrainReport:
    """Empty and delete the persistent sessions of ingest workers that are no longer run.

    For each client id of ``candidates`` (default :func:`orphan_candidates` of ``settings.mqtt_client_id``)
    not in ``keep_ids`` (the ids this run uses), an :class:`~condivisa.transports.mqtt.worker.IngestWorker`
    connects with that id, clean start off, **without subscribing**:

    - the broker had no such session: it disconnects at once with a session expiry of 0 (MQTT 3.1.1: then
      connects once more with a clean session), so nothing it created stays;
    - it had one: the messages the session holds arrive by themselves (the worker asks for up to 65,535 at
      once, so the broker's in-flight limit does not hold them back) and are stored like any other, group
      commit and acknowledgement after commit included; then it unsubscribes the uplink filters, shared
      (``$share/<group>/...``) and plain (a former single worker), waits for the UNSUBACK and until
      everything received is stored and acknowledged, and disconnects with a session expiry of 0: the broker
      deletes the session. If anything went wrong (refused unsubscription, connection lost, taken over) the
      session is left alone: nothing it still holds is thrown away, and the next start tries again.

    The ids are looked at ``parallel`` at a time; if the broker cannot be reached, the first one says so
    within ``connect_timeout_s`` and the rest are skipped. Only for an external broker (the embedded amqtt
    has neither shared subscriptions nor session expiry). Returns a :class:`DrainReport`."""
    started = time.monotonic()
    report = DrainReport()
    keep = set(keep_ids)
    ids = [
        c
        for c in (candidates if candidates is not None else orphan_candidates(settings.mqtt_client_id))
        if c not in keep
    ]
    if not ids:
        return report

    def one(client_id: str) -> tuple[str, int | None, str | None]:
        return _drain_session(settings, store, client_id, connect_timeout_s, drain_timeout_s)

    first = one(ids[0])  # when the broker is down, the first id says so and the rest are not tried
    report.record(*first)
    if first[2] == "not reachable":
        report.failed.update({c: "not reachable" for c in ids[1:]})
    elif ids[1:]:
        with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="condivisa-drain") as pool:
            for result in pool.map(one, ids[1:]):
                report.record(*result)
    report.log()
    report.seconds = time.monotonic() - started
    return report


def _drain_session(
    settings: Settings, store: Store, client_id: str, connect_timeout_s: float, drain_timeout_s: float
) -> tuple[str, int | None, str | None]:
    """Look at the session of ``client_id`` and, if there is one, empty and delete it
    (:func:`drain_orphan_sessions`): ``(id, messages drained or None when there was no session, failure
    reason or None)``. Never raises: a failure is a reason, and the session, if any, stays for the next
    start."""
    from condivisa.app.runtime import worker_from_settings

    try:
        worker = worker_from_settings(
            settings, store, client_id=client_id, shared_group=None, subscribe=False, receive_maximum=65535
        ).start()
        if not worker.wait_connected(connect_timeout_s):
            worker.stop(drain_timeout_s=0)
            return client_id, None, "not reachable"
        if not worker.session_present:
            worker.stop(drain_timeout_s=0, end_session=True)
            if not worker.mqtt5:
                _forget_session_311(settings, client_id)
            return client_id, None, None
        reason = _empty_session(settings, worker, client_id, drain_timeout_s)
        return client_id, worker.stats.acked, reason  # counted once everything received is stored
    except Exception as exc:  # never stops ``serve``
        log.exception("orphaned MQTT session %s: drain failed", client_id)
        return client_id, None, f"failed: {exc}"


def _empty_session(
    settings: Settings, worker: IngestWorker, client_id: str, drain_timeout_s: float
) -> str | None:
    """Unsubscribe the connected ``worker`` (which holds a session) from the uplink filters, shared and plain,
    store what it received and stop it, deleting the session only when nothing went wrong; returns why the
    session was left at the broker, or None."""
    plain = worker.layout.uplink_filters()
    unsubscribed = worker.unsubscribe(
        [f"$share/{SHARED_GROUP}/{f}" for f in plain] + plain, timeout_s=drain_timeout_s
    )
    intact = worker.lost_connection is None and worker.stats.connects == 1 and worker.connected
    ok = unsubscribed and intact
    worker.stop(drain_timeout_s=drain_timeout_s, end_session=ok)
    if ok and not worker.mqtt5:
        _forget_session_311(settings, client_id)
    if ok:
        return None
    if intact:
        return "the broker did not confirm the unsubscription in time, or refused it"
    return f"connection lost or taken over ({worker.lost_connection})"


def _forget_session_311(settings: Settings, client_id: str) -> None:
    """MQTT 3.1.1 has no session expiry: a connection with a clean session makes the broker delete the session."""
    import paho.mqtt.client as mqtt

    host, port, tls = settings.broker_address()
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=True
    )
    if settings.mqtt_username:
        client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
    if tls:
        client.tls_set()
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    try:
        client.connect(host, port, keepalive=10)
        client.loop_start()
        if not connected.wait(5):
            log.warning("could not delete the MQTT 3.1.1 session %s: no CONNACK", client_id)
        client.disconnect()
    except OSError as exc:
        log.warning("could not delete the MQTT 3.1.1 session %s: %s", client_id, exc)
    finally:
        client.loop_stop()
