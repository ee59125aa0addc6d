"""MQTT device-to-cloud transport: topic layout and the ingest worker (paho-mqtt 2).

Topics: :mod:`.topics` (``<root>/<community>/{du,gw}/<id>/{up,ack,cmd}``; one worker serves every community
of the platform, or one of them); the broker, the client id and the
session: :class:`~condivisa.transports.mqtt.connection.BrokerConnection`.

The worker knows neither the store nor the parser: it is given ``submit(messages) -> futures``, which starts
storing a group of :class:`InboundMessage` and gives one future each, completed with the message's result
(an :class:`~condivisa.ingest.pipeline.IngestResult`, or its answer as a dict) once it is committed. The
application wires it to the one batcher, :class:`condivisa.ingest.group_commit.GroupCommitter`
(:func:`condivisa.app.runtime.mqtt_ingest_worker`), with the DU's write scope when devices are strict.

Delivery guarantee (at least once, stored once): the worker subscribes with QoS 1 on a persistent session
(MQTT 5 ``clean_start=False`` + session expiry; MQTT 3.1.1 ``clean_session=False`` on brokers without MQTT 5,
e.g. the embedded amqtt) and acknowledges each message **manually**, with ``client.ack(mid, qos)`` called only
after its future completed, i.e. after the store committed it (or kept it as a dead letter). A worker that
dies before that leaves the message unacknowledged, and the broker resends it when the session resumes; the
store is idempotent, so a resent message is counted as duplicate, not stored twice. If storing fails
(database down, read-only), the message is submitted again with backoff and never acknowledged until it is
stored; the messages behind it wait, since MQTT acknowledges in arrival order.

Group commit (:mod:`.processing`): when the worker is ready, it takes every message already queued (at most
``max_pending``; on an idle worker that is the one that just arrived, committed at once) and submits them as
one group, which the batcher commits in one transaction; then it answers and acknowledges them in arrival
order. A worker that fell behind catches up in few transactions.

Answers (where they go, and why a PUBACK never overtakes its answer): :mod:`.answers`.

Session lost (issue #13, finding 3): once the worker has had a session (subscribed, or resumed one), every
reconnection expects the broker to still have it. A CONNACK saying "session present: no" means that what the
broker held for the worker (messages it had acknowledged to devices but not yet delivered) is gone: the
worker logs an error, subscribes again (it always does on connecting) and reports ``"session lost"`` in
:attr:`IngestWorker.health` (``/healthz``) from then on, until it is restarted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from condivisa.transports.mqtt.answers import ANSWERS_IN_FLIGHT, AnswerPublisher
from condivisa.transports.mqtt.connection import BrokerConnection
from condivisa.transports.mqtt.message import InboundMessage
from condivisa.transports.mqtt.processing import MessageProcessor, Submitted, WorkerStats
from condivisa.transports.mqtt.topics import TopicLayout

log = logging.getLogger(__name__)


class IngestWorker:
    """Subscribes to the uplink topics and hands every message to ``submit``, acknowledging each, in arrival
    order, once stored (see the module docstring). Reconnects by itself (backoff 1 s .. 60 s).

    Parameters
    ----------
    connection : BrokerConnection
        The broker, the client id (= the persistent session) and the protocol.
    submit : callable
        ``submit([InboundMessage, ...]) -> [Future, ...]``, one future per message, completing with its
        result after the commit, or with
        the exception that kept it from being stored.
    layout : TopicLayout
        The topics served: every community's, or one community's (:mod:`.topics`).
    on_result : callable, optional
        ``on_result(inbound_topic, answer)`` after each acknowledged message (tests, benchmark).
    on_stopped : callable, optional
        Called at the end of :meth:`stop` (the application closes its batcher there).
    max_pending : int
        Messages in one group (one transaction), at most.
    on_reply : callable, optional
        ``on_reply(community, du_id, payload) -> reason | None``: a DU's reply to a command (``.../reply``,
        issue #19), handled on arrival; a reason (the reply is invalid) is answered on the DU's ``ack``
        topic as ``{"reply_error": reason}``; an exception (the store is down) leaves the message
        unacknowledged, so the broker delivers it again. Without it the worker does not subscribe to replies.
    subscribe : bool
        False connects (to the same persistent session, ``clean_start`` off) without subscribing: what the
        session already holds, or receives through the subscriptions it kept, is ingested as usual. This is
        how :func:`condivisa.app.worker_pool.drain_orphan_sessions` empties the session of a worker that is
        no longer run (see :meth:`unsubscribe` and ``stop(end_session=True)``).

    ``session_present`` tells, after the connection, whether the broker still had the session.
    """

    def __init__(
        self,
        connection: BrokerConnection,
        *,
        submit: Callable[[list[InboundMessage]], list[Submitted]],
        layout: TopicLayout | None = None,
        on_result: Callable[[str, dict[str, Any]], None] | None = None,
        on_stopped: Callable[[], None] | None = None,
        publish_acks: bool = True,
        retry_backoff_s: tuple[float, float] = (0.5, 30.0),
        max_pending: int = 64,
        shared_group: str | None = None,
        subscribe: bool = True,
        on_reply: Callable[[str, str, bytes], str | None] | None = None,
    ) -> None:
        self.connection = connection
        self._on_reply = on_reply
        self.host, self.port, self.mqtt5 = connection.host, connection.port, connection.mqtt5
        self._submit, self._on_stopped = submit, on_stopped
        self.shared_group = shared_group
        self.subscribe = subscribe
        #: after the connection: the broker still had this client id's session (None before the first CONNACK)
        self.session_present: bool | None = None
        #: reason of the last disconnection the worker did not ask for (e.g. "Session taken over"), else None
        self.lost_connection: str | None = None
        #: the broker should have this worker's session (it subscribed, or resumed one)
        self._expects_session = False
        #: wall-clock time (``time.time()``) the broker was first found to have lost the session, else None
        self.session_lost_at: float | None = None
        self._unsubscribed: dict[int, list[ReasonCode]] = {}
        self._unsub_done = threading.Condition()
        self._last_message_at = 0.0
        self.layout = layout or TopicLayout()
        self.stats = WorkerStats()
        self._draining = threading.Event()
        self._stopped = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self.client = self._make_client()
        answers = AnswerPublisher(
            self.client, self.layout, mqtt5=self.mqtt5, connected=self._connected, stopped=self._stopped
        )
        self.processor = MessageProcessor(
            submit,
            answers,
            self.client.ack,
            self.stats,
            self._stopped,
            on_result=on_result,
            publish_acks=publish_acks,
            retry_backoff_s=retry_backoff_s,
            max_pending=max_pending,
        )

    def _make_client(self) -> mqtt.Client:
        """The connection's paho client, callbacks bound, answers' in-flight window widened."""
        client = self.connection.new_client()
        client.max_queued_messages_set(0)
        # answers in flight at once (paho's default is 20): a batch's answers go out at once
        client.max_inflight_messages_set(ANSWERS_IN_FLIGHT)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        return client

    def filters(self) -> list[str]:
        """The uplink subscriptions: shared (``$share/<group>/...``) when several workers split the uplink."""
        plain = self.layout.uplink_filters() + (self.layout.reply_filters() if self._on_reply else [])
        return [f"$share/{self.shared_group}/{f}" for f in plain] if self.shared_group else plain

    # -- MQTT callbacks (paho network thread) ------------------------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connect to %s:%s refused: %s", self.host, self.port, reason_code)
            return
        self.stats.connects += 1
        self.session_present = bool(flags.session_present)
        log.info(
            "MQTT worker connected to %s:%s (session present: %s)", self.host, self.port, self.session_present
        )
        if self._expects_session and not self.session_present:
            self.stats.sessions_lost += 1
            self.session_lost_at = self.session_lost_at or time.time()
            log.error(
                "MQTT worker: the broker %s:%s lost the session of client id %r; messages it had acknowledged "
                "to devices for this worker may be lost; subscribing again",
                self.host,
                self.port,
                self.connection.client_id,
            )
        self._expects_session = self._expects_session or self.session_present
        if not self.subscribe:
            self._connected.set()  # nothing to subscribe: the session's own subscriptions (if any) still deliver
            return
        # ready (``wait_connected``) only once the broker confirmed the subscription: a message published
        # between CONNACK and SUBACK would otherwise miss a worker whose session is new
        client.subscribe([(f, 1) for f in self.filters()])

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if any(rc.is_failure for rc in reason_codes or []):
            log.warning("MQTT worker: the broker refused the uplink subscription: %s", reason_codes)
            return
        self._expects_session = True
        self._connected.set()

    def _on_unsubscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._unsub_done:
            self._unsubscribed[mid] = list(reason_codes or [])
            self._unsub_done.notify_all()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if not self._stopped.is_set():
            self.lost_connection = str(reason_code)
            log.warning("MQTT worker disconnected (%s); paho reconnects with backoff", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if self._draining.is_set():
            return  # not acknowledged: the broker resends it to the next worker on this session
        parsed = self.layout.parts(msg.topic)
        if parsed is not None and parsed.leaf == "reply" and parsed.kind == "du" and self._on_reply:
            self._handle_reply(client, msg, parsed.community, parsed.sender_id)
            return
        if parsed is None or parsed.leaf != "up":
            client.ack(msg.mid, msg.qos)  # not ours (cannot happen with our filters): drop it
            return
        props = getattr(msg, "properties", None)
        self._last_message_at = time.monotonic()
        self.processor.queue.put(
            InboundMessage(
                mid=msg.mid,
                qos=msg.qos,
                topic=msg.topic,
                payload=bytes(msg.payload),
                kind=parsed.kind,
                sender_id=parsed.sender_id,
                community=parsed.community,
                response_topic=getattr(props, "ResponseTopic", None) if props else None,
                correlation=getattr(props, "CorrelationData", None) if props else None,
            )
        )

    def _handle_reply(self, client: mqtt.Client, msg: mqtt.MQTTMessage, community: str, du_id: str) -> None:
        assert self._on_reply is not None
        try:
            reason = self._on_reply(community, du_id, bytes(msg.payload))
        except Exception:  # the store is down: not acknowledged, the broker delivers it again
            log.exception("MQTT worker: reply of DU %s not stored; left unacknowledged", du_id)
            return
        if reason:
            answer = json.dumps({"reply_error": reason})
            client.publish(self.layout.ack(du_id, community=community), answer, qos=1)
        client.ack(msg.mid, msg.qos)

    # -- downlink ----------------------------------------------------------------------------------------
    def send_command(
        self, du_id: str, command: dict[str, Any], kind: str = "du", community: str | None = None
    ) -> None:
        """Publish a downlink command (QoS 1) on the DU's ``cmd`` topic in ``community`` (default: the
        layout's own, or home, community), e.g. ``{"cmd": "resend", "from": ts}``."""
        if "cmd" not in command:
            raise ValueError(f"command {command!r} has no 'cmd' key")
        topic = self.layout.cmd(du_id, kind, community)
        self.client.publish(topic, json.dumps(command, default=str), qos=1)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> IngestWorker:
        """Connect (asynchronously: a broker that is down is retried) and start processing."""
        self._thread = threading.Thread(target=self.processor.run, name="condivisa-ingest", daemon=True)
        self._thread.start()
        self.connection.connect_async(self.client)
        self.client.loop_start()
        return self

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def health(self) -> str:
        """``"session lost"`` once the broker lost this worker's session (module docstring), else
        ``"connected"`` or ``"disconnected"``: the ``mqtt`` line of ``/healthz``."""
        if self.session_lost_at is not None:
            return "session lost"
        return "connected" if self.connected else "disconnected"

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        return self._connected.wait(timeout_s)

    def idle(self) -> bool:
        """Nothing queued and nothing being processed (a message is done once acknowledged)."""
        return self.processor.idle()

    def unsubscribe(
        self, filters: list[str] | None = None, timeout_s: float = 10.0, quiet_s: float = 0.5
    ) -> bool:
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
            if not self._unsub_done.wait_for(
                lambda: mid in self._unsubscribed, max(0.0, deadline - time.monotonic())
            ):
                return False
            codes = self._unsubscribed.pop(mid)
        if any(rc.is_failure for rc in codes):
            log.warning("MQTT worker: the broker refused to unsubscribe: %s", codes)
            return False
        while time.monotonic() < deadline:
            if self.idle() and time.monotonic() - self._last_message_at >= quiet_s:
                return self.idle()
            time.sleep(0.01)
        return False

    def stop(self, drain_timeout_s: float = 10.0, end_session: bool = False) -> None:
        """Graceful stop: take no new message, finish (store and acknowledge) the queued ones, then
        disconnect.
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
            log.warning(
                "stopping with %d message(s) not stored; the broker will resend them",
                self.processor.queue.qsize(),
            )
            self.processor.drop_queued()
        self.processor.queue.put(None)
        if self._thread is not None:
            self._thread.join(drain_timeout_s)
        time.sleep(0.1)  # let paho flush the last PUBACKs
        props = None
        if end_session and self.mqtt5:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
        self.client.disconnect(properties=props)
        self.client.loop_stop()
        if self._on_stopped is not None:
            self._on_stopped()
