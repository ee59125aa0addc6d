"""The ingest worker's message pipeline: submit each message at once, acknowledge them in arrival order once
stored.

Rules implemented (the worker's connection and lifecycle are :mod:`condivisa.transports.mqtt.worker`):
- group commit: the messages already queued when the worker is ready (at most ``max_pending``; one, on an
  idle worker) are submitted together, as one group, and the batcher behind ``submit`` commits a group in
  one transaction; a worker that fell behind catches up in few transactions;
- in order: once the group is stored, its answers are published and then its messages acknowledged
  (:class:`~condivisa.transports.mqtt.answers.AnswerPublisher`), in arrival order, since MQTT acknowledges
  in arrival order;
- at least once: a message whose storing fails (database down, read-only) is submitted again with backoff
  and never acknowledged until it is stored; if the worker stops first it stays unacknowledged, and the
  broker resends it when the session resumes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from condivisa.transports.mqtt.answers import AnswerPublisher
from condivisa.transports.mqtt.message import InboundMessage

if TYPE_CHECKING:
    from condivisa.ingest.pipeline import IngestResult

#: the worker's logger: what the pipeline logs is the worker's (e.g. ``condivisa demo`` quiets it by name)
log = logging.getLogger("condivisa.transports.mqtt.worker")

#: what ``submit`` returns: the future of a message's result, an ingest result or its answer as a dict
Submitted: TypeAlias = "Future[IngestResult] | Future[dict[str, Any]]"


@dataclass
class WorkerStats:
    """Counters of one worker since it started (messages, not measurements, except ``stored``/...)."""

    received: int = 0
    acked: int = 0
    accepted: int = 0
    rejected: int = 0
    stored: int = 0
    duplicates: int = 0
    revised: int = 0
    store_errors: int = 0
    connects: int = 0
    sessions_lost: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class MessageProcessor:
    """The worker's processing thread (:meth:`run`) and its queue (module docstring).

    Parameters
    ----------
    submit : callable
        ``submit([InboundMessage, ...]) -> [Future, ...]``: one future per message, completing with its
        result after the commit, or with the exception that kept it from being stored.
    answers : AnswerPublisher
        Publishes the answers before their PUBACKs.
    puback : callable
        ``puback(mid, qos)``: acknowledge a message to the broker.
    stats : WorkerStats
        The worker's counters.
    stopped : threading.Event
        Set when the worker stops: a failing message is then no longer retried.
    on_result : callable, optional
        ``on_result(inbound_topic, answer)`` after each acknowledged message.
    publish_acks : bool
        Publish the answers (else only acknowledge).
    retry_backoff_s : tuple of float
        First and longest wait between two submissions of a failing message, s.
    max_pending : int
        Messages in one group, at most.
    """

    def __init__(
        self,
        submit: Callable[[list[InboundMessage]], list[Submitted]],
        answers: AnswerPublisher,
        puback: Callable[[int, int], Any],
        stats: WorkerStats,
        stopped: threading.Event,
        *,
        on_result: Callable[[str, dict[str, Any]], None] | None = None,
        publish_acks: bool = True,
        retry_backoff_s: tuple[float, float] = (0.5, 30.0),
        max_pending: int = 64,
    ) -> None:
        self._submit, self._answers, self._puback = submit, answers, puback
        self.stats, self._stopped = stats, stopped
        self._on_result, self.publish_acks = on_result, publish_acks
        self._backoff, self.max_pending = retry_backoff_s, max(1, max_pending)
        self.queue: queue.Queue[InboundMessage | None] = queue.Queue()  # messages, and None to stop

    def idle(self) -> bool:
        """Nothing queued and nothing being processed (a message is done once acknowledged)."""
        return self.queue.unfinished_tasks == 0

    def drop_queued(self) -> None:
        """Forget what is still queued (it stays unacknowledged: the broker resends it)."""
        while True:
            try:
                self.queue.get_nowait()
                self.queue.task_done()
            except queue.Empty:
                break

    def run(self) -> None:
        """Take what has arrived (at most ``max_pending`` messages), submit it as one group, then answer and
        acknowledge each message in arrival order once its future completed. Returns when ``None`` is
        queued, after storing what was taken before it."""
        while True:
            item = self.queue.get()
            if not isinstance(item, InboundMessage):  # None: stop
                self.queue.task_done()
                return
            group, stop = self._group(item)
            self._store_and_ack(group)
            if stop:
                self.queue.task_done()
                return

    def _group(self, first: InboundMessage) -> tuple[list[InboundMessage], bool]:
        """``first`` and the messages queued behind it, at most :attr:`max_pending`; True if the stop was
        among them (it is handled after the group)."""
        group = [first]
        while len(group) < self.max_pending:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, InboundMessage):
                self.stats.received += len(group)
                return group, True
            group.append(item)
        self.stats.received += len(group)
        return group, False

    def _start(self, group: list[InboundMessage]) -> list[Submitted]:
        """``submit(group)``; an exception raised at once becomes every message's future's."""
        try:
            return self._submit(group)
        except Exception as exc:  # noqa: BLE001 — handled like a failed commit: retried, not acknowledged
            failed: list[Submitted] = []
            for _ in group:
                future: Future[dict[str, Any]] = Future()
                future.set_exception(exc)
                failed.append(future)
            return failed

    def _store_and_ack(self, group: list[InboundMessage]) -> None:
        """Submit ``group``, wait for each message's result in order (submitting a failed one again with
        backoff), then answer and acknowledge them; if the worker stops while storing fails, the rest of the
        group is left unacknowledged (the broker resends it)."""
        done: list[tuple[InboundMessage, dict[str, Any]]] = []
        for item, future in zip(group, self._start(group)):
            result = self._stored(item, future)
            if result is None:
                break
            done.append((item, self._count(result)))
        if done:
            self._answers.answer_then_ack(done, self._ack, publish=self.publish_acks)

    def _stored(self, item: InboundMessage, future: Submitted) -> IngestResult | dict[str, Any] | None:
        """The result of ``item``, submitting it again with backoff while storing fails; None if the worker
        stops first."""
        delay = self._backoff[0]
        while True:
            try:
                return future.result()
            except Exception as exc:  # noqa: BLE001 — store failure: retry, never acknowledge what is not stored
                self.stats.store_errors += 1
                log.error(
                    "ingest of %s failed (%s); retrying in %.1f s, not acknowledged", item.topic, exc, delay
                )
                if self._stopped.wait(delay):
                    return None
                delay = min(delay * 2, self._backoff[1])
                future = self._start([item])[0]

    def _count(self, result: IngestResult | dict[str, Any]) -> dict[str, Any]:
        answer = dict(result) if isinstance(result, dict) else result.to_dict()
        self.stats.accepted += bool(answer.get("accepted"))
        self.stats.rejected += not answer.get("accepted")
        for key in ("stored", "duplicates", "revised"):
            setattr(self.stats, key, getattr(self.stats, key) + int(answer.get(key) or 0))
        return answer

    def _ack(self, item: InboundMessage, answer: dict[str, Any]) -> None:
        self._puback(item.mid, item.qos)  # PUBACK only now: the store has committed
        self.stats.acked += 1
        self.queue.task_done()
        if self._on_result is not None:
            self._on_result(item.topic, answer)
