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
from typing import Any

log = logging.getLogger(__name__)

#: shared-subscription group of condivisa's ingest workers
SHARED_GROUP = "condivisa-ingest"
#: per worker: messages acknowledged, accepted, rejected; measurements stored, duplicates, revised
_FIELDS = ("acked", "accepted", "rejected", "stored", "duplicates", "revised")


def _run(settings_data: dict, index: int, shared_group: str | None, stop: Any, ready: Any, counters: Any,
         drain_timeout_s: float) -> None:
    """Body of a worker process: connect, ingest until ``stop`` is set, drain, exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through ``stop`` (Ctrl-C reaches the group)
    from condivisa.edges.mqtt import worker_from_settings
    from condivisa.edges.store import Store
    from condivisa.settings import Settings

    settings = Settings(**settings_data)
    base = index * len(_FIELDS)

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
        if worker.wait_connected(30):
            ready.set()
        stop.wait()
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
        self._stop = ctx.Event()
        self._ready = [ctx.Event() for _ in range(count)]
        self._counters = ctx.Array("q", len(_FIELDS) * (first_index + count), lock=False)
        self._procs = [ctx.Process(target=_run, name=f"condivisa-ingest-{first_index + k}", daemon=True, args=(
            settings.model_dump(mode="json"), first_index + k, shared_group, self._stop, self._ready[k], self._counters,
            drain_timeout_s)) for k in range(count)]

    def start(self) -> WorkerProcesses:
        for p in self._procs:
            p.start()
        return self

    def wait_connected(self, timeout_s: float = 30.0) -> bool:
        """True when every worker is connected and subscribed."""
        return all(e.wait(timeout_s) for e in self._ready)

    def stats(self) -> dict[str, int]:
        """Counters summed over the processes (messages acked/accepted/rejected; measurements stored, ...)."""
        n = len(_FIELDS)
        return {f: sum(self._counters[(self.first_index + k) * n + i] for k in range(self.count))
                for i, f in enumerate(_FIELDS)}

    def alive(self) -> int:
        return sum(p.is_alive() for p in self._procs)

    def stop(self) -> None:
        """Ask every worker to drain and exit; a process still alive after the drain time is terminated (what
        it had not acknowledged is resent by the broker)."""
        self._stop.set()
        for p in self._procs:
            p.join(self.drain_timeout_s + 10)
            if p.is_alive():
                log.warning("ingest worker %s did not stop in time; terminating it", p.name)
                p.terminate()
                p.join(5)
