"""Ingest workers in their own processes, sharing the uplink through an MQTT shared subscription.

One :class:`~condivisa.edges.mqtt.IngestWorker` is bound to one CPU core by Python's GIL (parse, validate,
cross-check and write are Python). ``condivisa serve`` with ``mqtt_ingest_workers = N > 1`` keeps its own
worker and starts N − 1 more here; all N subscribe to ``$share/<group>/<uplink>``, so the broker hands every
message to exactly one of them. Each worker has its own persistent session (client id ``<id>-<k>``) and
acknowledges a message only after its own commit: the at-least-once, stored-once guarantee of a single worker
holds for each of them, and the store's unique key makes two workers racing on a re-sent quarter hour safe.

Shared subscriptions need a broker that has them (Mosquitto ≥ 1.6, MQTT 5 or 3.1.1); the embedded amqtt
broker has not, so there the setting is refused.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import time
from typing import Any

log = logging.getLogger(__name__)

#: shared-subscription group of condivisa's ingest workers
SHARED_GROUP = "condivisa-ingest"
#: per worker: messages acknowledged, accepted, rejected; measurements stored, duplicates, revised
_FIELDS = ("acked", "accepted", "rejected", "stored", "duplicates", "revised")
#: how often a worker process looks at its stop flag and at its parent
_POLL_S = 0.1


def _run(settings_data: dict, index: int, shared_group: str | None, stop: Any, ready: Any, counters: Any,
         drain_timeout_s: float) -> None:
    """Body of a worker process: connect, ingest until ``stop`` is set (or SIGTERM, or the parent is gone),
    drain, exit.

    ``stop`` and ``ready`` are plain shared flags polled here, not ``multiprocessing.Event``s: ``Event.set()``
    waits for every process sleeping in ``Event.wait()`` to wake up, so one worker killed with ``kill -9``
    while waiting would block the parent's ``stop()`` forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through ``stop`` (Ctrl-C reaches the group)
    terminated = []
    # SIGTERM (``systemctl stop`` signals the whole group): drain like a normal stop, do not die mid-message
    signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))
    from condivisa.edges.mqtt import worker_from_settings
    from condivisa.edges.store import Store
    from condivisa.settings import Settings

    settings = Settings(**settings_data)
    base = index * len(_FIELDS)
    parent = mp.parent_process()

    def count(topic: str, answer: dict) -> None:
        counters[base] += 1
        counters[base + 1] += bool(answer.get("accepted"))
        counters[base + 2] += not answer.get("accepted")
        for k, key in enumerate(("stored", "duplicates", "revised"), start=3):
            counters[base + k] += int(answer.get(key) or 0)

    store = Store(settings.database_url)
    worker = worker_from_settings(settings, store, client_id=f"{settings.mqtt_client_id}-{index}",
                                  shared_group=shared_group, on_result=count).start()
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

    def __init__(self, settings: Any, count: int, *, shared_group: str | None = SHARED_GROUP, first_index: int = 0,
                 drain_timeout_s: float = 10.0):
        if count < 1:
            raise ValueError("count must be >= 1")
        if shared_group is None and count > 1:
            raise ValueError("several workers need a shared subscription group")
        if shared_group is not None and settings.embedded_broker:
            raise ValueError("the embedded broker (amqtt) has no shared subscriptions: use one ingest worker, "
                             "or an external broker (CONDIVISA_MQTT_URL)")
        self.settings, self.count, self.shared_group = settings, count, shared_group
        self.first_index, self.drain_timeout_s = first_index, drain_timeout_s
        ctx = mp.get_context("spawn")
        self._stop = ctx.RawValue("b", 0)
        self._ready = ctx.RawArray("b", first_index + count)
        self._counters = ctx.Array("q", len(_FIELDS) * (first_index + count), lock=False)
        self._procs = [ctx.Process(target=_run, name=f"condivisa-ingest-{first_index + k}", daemon=True, args=(
            settings.model_dump(mode="json"), first_index + k, shared_group, self._stop, self._ready, self._counters,
            drain_timeout_s)) for k in range(count)]

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
        return {f: sum(self._counters[(self.first_index + k) * n + i] for k in range(self.count))
                for i, f in enumerate(_FIELDS)}

    def stats_per_worker(self) -> list[dict[str, int]]:
        """The same counters, one dict per process (in the order of :meth:`pids`): to see that each one works."""
        n = len(_FIELDS)
        return [{f: self._counters[(self.first_index + k) * n + i] for i, f in enumerate(_FIELDS)}
                for k in range(self.count)]

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
