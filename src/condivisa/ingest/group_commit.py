"""Group commit, the one batcher of every transport: many messages, one transaction, each answered after it.

A platform that pushes over REST with several connections at once would otherwise pay one durable commit (an
``fsync`` on SQLite, a WAL flush on PostgreSQL) per request, one after the other, since the store has one
writer. *Group commit* (Gray & Reuter, *Transaction Processing*, 1993, §9.4.7; PostgreSQL's ``commit_delay``)
shares that cost: each caller prepares its message in its own thread (decode, parse, validate — no database,
:func:`condivisa.ingest.pipeline.prepare_payload`), hands it to **one writer thread**, and waits. The writer
takes
everything that is waiting (at most :attr:`GroupCommitter.max_readings` lines), stores it in one transaction
(:func:`condivisa.ingest.pipeline.store_prepared`, with exactly the results the messages would have had one
after the
other, in arrival order) and only then wakes each caller with its own result. With a single sender the batch
holds one message and nothing changes but a thread hop. The HTTP routes submit from their request threads;
the MQTT worker submits each message as it arrives and acknowledges them, in order, as their futures
complete (:mod:`condivisa.transports.mqtt.worker`), so a worker that fell behind commits what is waiting
together.

Nothing is acknowledged before it is committed. If the batch's transaction fails, nothing of it is stored, and
the writer stores its messages again **one by one**, so a message that makes the database fail (or a database
that recovered in between) cannot take the others down with it; a message that still fails gets the exception,
which the caller turns into "not stored, send again" (HTTP 503).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from condivisa.ingest.pipeline import IngestResult, PreparedMessage, store_prepared
from condivisa.store.store import Store

log = logging.getLogger(__name__)

_STOP = object()
#: a submitted message and the future its result goes to
_Item = tuple[PreparedMessage, Future[IngestResult]]


class GroupCommitter:
    """One writer thread storing what concurrent callers :meth:`submit`, a batch per transaction.

    ``max_readings`` bounds a batch (lines over all its messages; a single larger message is still taken
    whole), so that one transaction stays short and the first caller of a batch does not wait for too many
    others. The thread starts at the first :meth:`submit`; :meth:`close` stores what was submitted, then
    stops.
    """

    def __init__(self, store: Store, *, max_readings: int = 20_000, name: str = "condivisa-group-commit"):
        self.store = store
        self.max_readings = max_readings
        self.name = name
        self._queue: queue.SimpleQueue[list[_Item] | object] = queue.SimpleQueue()  # groups, and _STOP
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: batches committed, messages in them, batches of more than one message, and batches that had to be
        #: retried one by one
        self.batches = 0
        self.messages = 0
        self.grouped = 0
        self.retried_batches = 0

    # ------------------------------------------------------------------------------------------ callers

    def submit(self, message: PreparedMessage) -> Future[IngestResult]:
        """Queue a prepared message; the future gets its :class:`~condivisa.ingest.pipeline.IngestResult`
        after the commit, or the database's exception (nothing of it was stored)."""
        return self.submit_all([message])[0]

    def submit_all(self, messages: Sequence[PreparedMessage]) -> list[Future[IngestResult]]:
        """Queue prepared messages as one group: the writer takes a group whole, so they share a transaction
        (with whatever else is waiting), as long as the group fits :attr:`max_readings`; one future each."""
        group: list[_Item] = [(m, Future()) for m in messages]
        with self._lock:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._queue.put(group)
        return [f for _, f in group]

    async def store_async(self, message: PreparedMessage) -> IngestResult:
        """In an event loop: submit and await the result without blocking the loop."""
        return await asyncio.wrap_future(self.submit(message))

    def close(self, timeout_s: float = 30.0) -> None:
        """Store everything already submitted, then stop the writer thread (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout_s)

    # ------------------------------------------------------------------------------------------ writer

    def _take(self, first: list[_Item]) -> tuple[list[_Item], bool]:
        """The group ``first`` and the groups waiting behind it, up to :attr:`max_readings` lines (a group is
        taken whole); True when a stop was seen."""
        batch = list(first)
        size = sum(m.result.readings for m, _ in first)
        while size < self.max_readings:
            try:
                group = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(group, list):  # _STOP
                return batch, True
            batch.extend(group)
            size += sum(m.result.readings for m, _ in group)
        return batch, False

    def _run(self) -> None:
        # :meth:`close` queues the stop under the lock that :meth:`submit_all` queues under, after refusing
        # further submissions: everything submitted is ahead of the stop in the queue, nothing is left behind
        stop = False
        while not stop:
            first = self._queue.get()
            if not isinstance(first, list):  # _STOP
                break
            batch, stop = self._take(first)
            self._commit(batch)

    def _commit(self, batch: Sequence[_Item]) -> None:
        live = [(m, f) for m, f in batch if f.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = store_prepared(self.store, [m for m, _ in live])
        except Exception as exc:  # noqa: BLE001 — the database failed: retry one by one (see module docstring)
            if len(live) == 1:
                live[0][1].set_exception(exc)
                return
            self.retried_batches += 1
            log.warning(
                "group commit of %d messages failed (%s: %s); storing them one by one",
                len(live),
                type(exc).__name__,
                exc,
            )
            for m, f in live:
                try:
                    f.set_result(store_prepared(self.store, [m])[0])
                except Exception as one:  # noqa: BLE001 — given to that caller only
                    f.set_exception(one)
            return
        self.batches += 1
        self.messages += len(live)
        self.grouped += len(live) > 1
        for (_, f), r in zip(live, results):
            f.set_result(r)
