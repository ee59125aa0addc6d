"""MQTT device-to-cloud transport: topic layout and the ingest worker (paho-mqtt 2).

Topics: :mod:`condivisa.edges.mqtt_topics` (``<root>/<community>/{du,gw}/<id>/{up,ack,cmd}``).

On ``du/<du_id>/up`` the DU id from the topic is passed to :func:`condivisa.ingest.ingest_payload` as
``device_id`` (so a POD sent by a DU it is not registered to gets flagged); on ``gw/<gw_id>/up`` it is not.

Delivery guarantee (at least once, stored once): the worker subscribes with QoS 1 on a persistent session
(MQTT 5 ``clean_start=False`` + session expiry; MQTT 3.1.1 ``clean_session=False`` on brokers without MQTT 5,
e.g. the embedded amqtt) and acknowledges each message **manually**, with ``client.ack(mid, qos)`` called only
after ``ingest_payload`` has returned, i.e. after the store committed it (or kept it as a dead letter). A worker
that dies before that leaves the message unacknowledged, and the broker resends it when the session resumes;
the store is idempotent, so a resent message is counted as duplicate, not stored twice. If the store raises
(database down, read-only), the message is retried with backoff and never acknowledged until it is stored.

Group commit: when several messages are already queued (the worker fell behind), it takes up to
``batch_max_messages`` of them and ingests them in **one transaction** (:func:`condivisa.ingest.ingest_payloads`,
same per-message results as one at a time), then publishes each answer and acknowledges each message, only
after that commit. If the batch fails, nothing of it is acknowledged and its messages are retried one by one.
A message arriving on an idle worker is committed alone, at once: batching adds no latency.

Answers (where they go, and why a PUBACK never overtakes its answer): :mod:`condivisa.edges.mqtt_answers`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from condivisa import clock
from condivisa.edges.mqtt_answers import ANSWER_WAIT_S, ANSWERS_IN_FLIGHT, AnswerPublisher  # noqa: F401
from condivisa.edges.mqtt_topics import SENDER_KINDS, TopicLayout, payload_id

__all__ = ["SENDER_KINDS", "IngestWorker", "TopicLayout", "WorkerStats", "payload_id", "worker_from_settings"]

log = logging.getLogger(__name__)


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
    batches: int = 0  # transactions of more than one message (group commits)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Inbound:
    mid: int
    qos: int
    topic: str
    payload: bytes
    kind: str
    sender_id: str
    response_topic: str | None = None
    correlation: bytes | None = None
    received_at: dt.datetime = field(default_factory=clock.now)


class IngestWorker:
    """Subscribes to the uplink topics and feeds every message to ``ingest_payload``, in order (queued messages
    in one transaction: see "Group commit" in the module docstring).

    ``ingest`` defaults to :func:`condivisa.ingest.ingest_payload`; ``on_result(inbound_topic, result_dict)`` is
    called after each acknowledged message (tests, benchmark). Reconnects by itself (backoff 1 s .. 60 s).

    ``subscribe=False`` connects (to the same persistent session, ``clean_start`` off) without subscribing: what
    the session already holds, or receives through the subscriptions it kept, is ingested as usual. This is how
    :func:`condivisa.edges.mqtt_pool.drain_orphan_sessions` empties the session of a worker that is no longer
    run (see :meth:`unsubscribe` and ``stop(end_session=True)``). ``receive_maximum`` (MQTT 5) is the number of
    unacknowledged messages the broker may send at once (unset: the broker's own limit, 20 on Mosquitto).
    ``session_present`` tells, after the connection, whether the broker still had the session.
    """

    def __init__(
        self,
        store: Any,
        host: str,
        port: int,
        *,
        layout: TopicLayout | None = None,
        client_id: str = "condivisa-ingest",
        mqtt5: bool = True,
        session_expiry_s: int = 7 * 24 * 3600,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        ingest: Callable[..., Any] | None = None,
        on_result: Callable[[str, dict[str, Any]], None] | None = None,
        publish_acks: bool = True,
        retry_backoff_s: tuple[float, float] = (0.5, 30.0),
        ingest_batch: Callable[..., list[Any]] | None = None,
        batch_max_messages: int = 64,
        batch_max_bytes: int = 4 * 1024 * 1024,
        shared_group: str | None = None,
        strict_devices: bool = False,
        subscribe: bool = True,
        receive_maximum: int | None = None,
    ) -> None:
        if ingest is None:
            from condivisa.ingest import ingest_payload as ingest
            from condivisa.ingest import ingest_payloads as default_batch

            ingest_batch = ingest_batch or default_batch
        # a custom ``ingest`` without ``ingest_batch`` is called one message at a time
        self._ingest_batch = ingest_batch
        self.batch_max_messages, self.batch_max_bytes = max(1, batch_max_messages), batch_max_bytes
        self.store, self.host, self.port = store, host, port
        self.shared_group, self.strict_devices = shared_group, strict_devices
        self.subscribe, self.receive_maximum = subscribe, receive_maximum
        #: after the connection: the broker still had this client id's session (None before the first CONNACK)
        self.session_present: bool | None = None
        #: reason of the last disconnection the worker did not ask for (e.g. "Session taken over"), else None
        self.lost_connection: str | None = None
        self._unsubscribed: dict[int, Any] = {}
        self._unsub_done = threading.Condition()
        self._last_message_at = 0.0
        self.layout = layout or TopicLayout()
        self.mqtt5, self.session_expiry_s = mqtt5, session_expiry_s
        self._ingest, self._on_result, self.publish_acks = ingest, on_result, publish_acks
        self._backoff = retry_backoff_s
        self.stats = WorkerStats()
        self._queue: queue.Queue[_Inbound | None] = queue.Queue()
        self._draining = threading.Event()
        self._stopped = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        kwargs: dict[str, Any] = {"protocol": mqtt.MQTTv5} if mqtt5 else {"protocol": mqtt.MQTTv311, "clean_session": False}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, manual_ack=True, **kwargs)
        if username:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(min_delay=1, max_delay=60)
        self.client.max_queued_messages_set(0)
        # answers in flight at once (paho's default is 20): a batch's answers go out at once
        self.client.max_inflight_messages_set(ANSWERS_IN_FLIGHT)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        self._answers = AnswerPublisher(self.client, self.layout, mqtt5=mqtt5, connected=self._connected,
                                        stopped=self._stopped)

    def filters(self) -> list[str]:
        """The uplink subscriptions: shared (``$share/<group>/...``) when several workers split the uplink."""
        plain = self.layout.uplink_filters()
        return [f"$share/{self.shared_group}/{f}" for f in plain] if self.shared_group else plain

    def _scope(self, item: _Inbound) -> dict[str, Any]:
        """``{"may_write": ...}`` for a message on a DU's own topic when ``strict_devices``: the DU may write only
        the POD it is registered to read, in lines naming itself or no DU (issue #6; the broker's ACL already
        proves the sender owns the topic). Empty otherwise (gateways: no scope; lax mode: such lines are flagged)."""
        if not self.strict_devices or item.kind != "du":
            return {}
        registry = getattr(self.store, "registry", None)
        with self.store.engine.connect() as conn:
            pods = registry.device_pods(conn, [item.sender_id]) if registry is not None else {}
        own, du_id = pods.get(item.sender_id), item.sender_id

        def may_write(*, pod: str | None = None, du: str | None = None) -> bool:
            return own is not None and pod == own and (du is None or du == du_id)

        return {"may_write": may_write}

    # -- MQTT callbacks (paho network thread) ------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            log.warning("MQTT connect to %s:%s refused: %s", self.host, self.port, reason_code)
            return
        self.stats.connects += 1
        self.session_present = bool(getattr(flags, "session_present", False))
        log.info("MQTT worker connected to %s:%s (session present: %s)", self.host, self.port, self.session_present)
        if not self.subscribe:
            self._connected.set()  # nothing to subscribe: the session's own subscriptions (if any) still deliver
            return
        # ready (``wait_connected``) only once the broker confirmed the subscription: a message published
        # between CONNACK and SUBACK would otherwise miss a worker whose session is new
        client.subscribe([(f, 1) for f in self.filters()])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        if any(getattr(rc, "is_failure", False) for rc in (reason_codes or [])):
            log.warning("MQTT worker: the broker refused the uplink subscription: %s", reason_codes)
            return
        self._connected.set()

    def _on_unsubscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        with self._unsub_done:
            self._unsubscribed[mid] = list(reason_codes or [])
            self._unsub_done.notify_all()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._connected.clear()
        if not self._stopped.is_set():
            self.lost_connection = str(reason_code)
            log.warning("MQTT worker disconnected (%s); paho reconnects with backoff", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._draining.is_set():
            return  # not acknowledged: the broker resends it to the next worker on this session
        parsed = self.layout.parse(msg.topic)
        if parsed is None or parsed[2] != "up":
            client.ack(msg.mid, msg.qos)  # not ours (cannot happen with our filters): drop it
            return
        props = getattr(msg, "properties", None)
        self._last_message_at = time.monotonic()
        self._queue.put(_Inbound(
            mid=msg.mid, qos=msg.qos, topic=msg.topic, payload=bytes(msg.payload), kind=parsed[0],
            sender_id=parsed[1], response_topic=getattr(props, "ResponseTopic", None) if props else None,
            correlation=getattr(props, "CorrelationData", None) if props else None,
        ))

    # -- processing thread ---------------------------------------------------------------------------
    def _process_loop(self) -> None:
        while True:
            batch: list[_Inbound] = []
            stop = False
            item = self._queue.get()
            try:
                if item is None:
                    return
                batch.append(item)
                size = len(item.payload)
                # take what is already queued (never wait for more): one transaction for all of it
                while self._ingest_batch is not None and len(batch) < self.batch_max_messages and size < self.batch_max_bytes:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    batch.append(nxt)
                    size += len(nxt.payload)
                if len(batch) == 1:
                    self._process(batch[0])
                else:
                    self._process_batch(batch)
            finally:
                for _ in range(len(batch) + stop + (item is None)):
                    self._queue.task_done()
            if stop:
                return

    def _answered(self, entries: list[tuple[_Inbound, dict[str, Any]]]) -> None:
        """Publish the answers of committed messages, then PUBACK them in arrival order
        (:meth:`condivisa.edges.mqtt_answers.AnswerPublisher.answer_then_ack`)."""
        self._answers.answer_then_ack(entries, self._ack, publish=self.publish_acks)

    def _process_batch(self, items: list[_Inbound]) -> None:
        """Group commit: one transaction for ``items``, then answer and acknowledge each, in order."""
        try:
            results = self._ingest_batch(self.store, [
                {"raw": it.payload, "source": f"mqtt:{it.topic}", "device_id": it.sender_id if it.kind == "du" else None,
                 "received_at": it.received_at, **self._scope(it)} for it in items])
        except Exception as exc:  # nothing of the batch committed: none acknowledged; retry one at a time
            self.stats.store_errors += 1
            log.error("group commit of %d messages failed (%s); retrying them one by one", len(items), exc)
            for it in items:
                if self._stopped.is_set():
                    return  # left unacknowledged: the broker resends them
                self._process(it)
            return
        self.stats.batches += 1
        self.stats.received += len(items)
        self._answered([(it, self._count(r)) for it, r in zip(items, results)])

    def _process(self, item: _Inbound) -> None:
        self.stats.received += 1
        delay = self._backoff[0]
        while True:
            try:
                result = self._ingest(
                    self.store, item.payload, source=f"mqtt:{item.topic}",
                    device_id=item.sender_id if item.kind == "du" else None, received_at=item.received_at,
                    **self._scope(item),
                )
                break
            except Exception as exc:  # store failure: retry, never acknowledge what is not stored
                self.stats.store_errors += 1
                log.error("ingest of %s failed (%s); retrying in %.1f s, not acknowledged", item.topic, exc, delay)
                if self._stopped.wait(delay):
                    return  # shutting down: left unacknowledged, the broker resends it later
                delay = min(delay * 2, self._backoff[1])
        self._answered([(item, self._count(result))])

    def _count(self, result: Any) -> dict[str, Any]:
        answer = result.to_dict() if hasattr(result, "to_dict") else dict(result)
        self.stats.accepted += bool(answer.get("accepted"))
        self.stats.rejected += not answer.get("accepted")
        for key in ("stored", "duplicates", "revised"):
            setattr(self.stats, key, getattr(self.stats, key) + int(answer.get(key) or 0))
        return answer

    def _ack(self, item: _Inbound, answer: dict[str, Any]) -> None:
        self.client.ack(item.mid, item.qos)  # PUBACK only now: the store has committed
        self.stats.acked += 1
        if self._on_result is not None:
            self._on_result(item.topic, answer)

    # -- downlink ----------------------------------------------------------------------------------------
    def send_command(self, du_id: str, command: dict[str, Any], kind: str = "du") -> None:
        """Publish a downlink command (QoS 1) on the DU's ``cmd`` topic, e.g. ``{"cmd": "resend", "from": ts}``."""
        if "cmd" not in command:
            raise ValueError(f"command {command!r} has no 'cmd' key")
        self.client.publish(self.layout.cmd(du_id, kind), json.dumps(command, default=str), qos=1)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> IngestWorker:
        """Connect (asynchronously: a broker that is down is retried) and start processing."""
        self._thread = threading.Thread(target=self._process_loop, name="condivisa-ingest", daemon=True)
        self._thread.start()
        if self.mqtt5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry_s
            if self.receive_maximum:
                props.ReceiveMaximum = self.receive_maximum
            self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        else:
            self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        return self

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        return self._connected.wait(timeout_s)

    def idle(self) -> bool:
        """Nothing queued and nothing being processed (a message is done once acknowledged)."""
        return self._queue.unfinished_tasks == 0

    def unsubscribe(self, filters: list[str] | None = None, timeout_s: float = 10.0, quiet_s: float = 0.5) -> bool:
        """Unsubscribe ``filters`` (default: :meth:`filters`; ``$share/...`` or plain), wait for the broker's
        UNSUBACK, then until every message received is stored and acknowledged (:meth:`idle`) and none arrived
        for ``quiet_s`` (messages the session had queued beyond the in-flight window come one per PUBACK).
        True when all that happened within ``timeout_s`` and the broker refused none of the filters ("no
        subscription existed" is fine). Messages are ingested meanwhile as usual."""
        deadline = time.monotonic() + timeout_s
        rc, mid = self.client.unsubscribe(filters if filters is not None else self.filters())
        if rc != mqtt.MQTT_ERR_SUCCESS or mid is None:
            return False
        with self._unsub_done:
            if not self._unsub_done.wait_for(lambda: mid in self._unsubscribed, max(0.0, deadline - time.monotonic())):
                return False
            codes = self._unsubscribed.pop(mid)
        if any(getattr(rc, "is_failure", False) for rc in codes):
            log.warning("MQTT worker: the broker refused to unsubscribe: %s", codes)
            return False
        while time.monotonic() < deadline:
            if self.idle() and time.monotonic() - self._last_message_at >= quiet_s:
                return self.idle()
            time.sleep(0.01)
        return False

    def stop(self, drain_timeout_s: float = 10.0, end_session: bool = False) -> None:
        """Graceful stop: take no new message, finish (store and acknowledge) the queued ones, then disconnect.
        Messages still queued after ``drain_timeout_s`` stay unacknowledged and are resent after a restart.
        ``end_session=True`` (MQTT 5) disconnects with a session expiry of 0: the broker deletes the session,
        its subscriptions and whatever it still held (MQTT 3.1.1 cannot: the session stays)."""
        self._draining.set()
        deadline = time.monotonic() + drain_timeout_s
        while not self.idle() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stopped.set()
        if not self.idle():
            end_session = False  # the session keeps what was not acknowledged
            log.warning("stopping with %d message(s) not stored; the broker will resend them", self._queue.qsize())
            while True:
                try:
                    self._queue.get_nowait()
                    self._queue.task_done()
                except queue.Empty:
                    break
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(drain_timeout_s)
        time.sleep(0.1)  # let paho flush the last PUBACKs
        props = None
        if end_session and self.mqtt5:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
        self.client.disconnect(properties=props)
        self.client.loop_stop()


def worker_from_settings(settings: Any, store: Any, **kwargs: Any) -> IngestWorker:
    """An :class:`IngestWorker` configured from :class:`condivisa.settings.Settings`: MQTT 5 on an external
    broker unless ``mqtt_protocol`` says 3.1.1; always 3.1.1 on the embedded amqtt broker."""
    host, port, tls = settings.broker_address()
    mqtt5 = (not settings.embedded_broker) and getattr(settings, "mqtt_protocol", "5") == "5"
    options: dict[str, Any] = {
        "layout": TopicLayout(settings.community_slug(), settings.mqtt_topic_root), "client_id": settings.mqtt_client_id,
        "mqtt5": mqtt5, "session_expiry_s": settings.mqtt_session_expiry_s, "username": settings.mqtt_username,
        "password": settings.mqtt_password, "tls": tls, "strict_devices": settings.strict_devices(),
    }
    return IngestWorker(store, host, port, **{**options, **kwargs})
