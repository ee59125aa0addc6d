"""The embedded MQTT broker: amqtt running in its own thread, on 127.0.0.1, for installs without Mosquitto.

``condivisa serve`` starts it when no ``CONDIVISA_MQTT_URL`` is configured. What amqtt 0.12 gives and does
not:

- it speaks **MQTT 3.1.1 only** (no MQTT 5): the ingest worker therefore connects to it with MQTT 3.1.1 and
  ``clean_session=False`` instead of MQTT 5 ``clean_start=False`` + session expiry (see
  :mod:`condivisa.transports.mqtt.worker`);
- it keeps a disconnected client's session and queues its QoS 1 messages only for sessions that are *not
  anonymous*; its stock anonymous plugin marks every client anonymous, so by default we load
  :class:`OpenAuthPlugin`, which admits every client on the loopback interface as a named session;
- sessions of disconnected clients are kept ``session_expiry_s`` seconds (default one week);
- amqtt 0.12 forgets an outgoing QoS 1 message whose PUBACK does not come within 5 s or whose subscriber
  disconnects before acknowledging it, so a worker killed between receiving and committing a message would
  lose it. MQTT 3.1.1 §4.4 requires the broker to resend unacknowledged messages when the session resumes;
  :func:`install_redelivery_fix` makes amqtt's broker-side handler keep such messages in the session's
  in-flight table until their PUBACK arrives (late PUBACKs included), and amqtt already resends the
  in-flight table on reconnection. It is installed by :class:`EmbeddedBroker` (process-wide, broker side
  only).

Device authentication and topic ACLs (each device may publish only on its own topics:
:mod:`condivisa.auth.mqtt_acl`) plug in through ``plugins=``: a mapping of amqtt plugin
dotted paths to their configuration, replacing :data:`DEFAULT_PLUGINS`.

What :class:`_GuardedBroker` changes in amqtt 0.12 (issue #13, findings 3 and 10):

- a CONNECT is authenticated **before** amqtt looks up, deletes (clean session) or takes over the session of
  its client id: stock amqtt deleted the worker's session (subscriptions and queued messages) for an
  anonymous CONNECT it then refused, and let a refused client take over a connected one. The auth plugins
  see the CONNECT's fresh session and may rename it: :class:`~condivisa.auth.mqtt_acl.AmqttPasswordAuthPlugin`
  gives a device the client id of its username (Mosquitto's ``use_username_as_clientid``), so a device can
  never reach the session of the platform's client ids;
- a retained message is delivered only to a session that holds the subscription (stock amqtt published
  retained messages for a *refused* subscription, and on connection for every subscription of every client)
  and only if the ACL lets that session receive the topic;
- a PUBLISH with the retain flag is delivered as usual but never kept as retained (condivisa retains
  nothing; a device's retained uplink would otherwise sit in the broker for anyone subscribing later).

Durability: amqtt keeps everything in memory and acknowledges (PUBACK) a device's message as soon as it has
read it. If the broker's process is killed (``kill -9``, power loss) the messages it acknowledged but had not
yet handed to the worker, or the worker had not yet committed, are lost (``bench/embedded_broker_kill.py``
measures it). The embedded broker is for trials and development; real devices go through Mosquitto with
the configuration of ``condivisa mqtt-acl`` (persistence on), see ``docs/mqtt.md``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

from amqtt.adapters import ReaderAdapter, WriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action, ListenerConfig
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.constants import QOS_1
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.puback import PubackPacket
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import OUTGOING, IncomingApplicationMessage, OutgoingApplicationMessage, Session
from amqtt.utils import gen_client_id

log = logging.getLogger(__name__)


class OpenAuthPlugin(BaseAuthPlugin):
    """Admit every client and treat it as a named (non-anonymous) session, so that a client connecting with
    ``clean_session=False`` keeps its subscriptions and its queued QoS 1 messages across disconnections
    (MQTT 3.1.1 §3.1.2.4). Bind the broker to the loopback interface when you use this plugin."""

    async def authenticate(self, *, session: Session) -> bool:
        session.is_anonymous = False
        return True


#: seconds the broker waits for a PUBACK before leaving the message in flight for a later PUBACK or a resend
PUBACK_WAIT_S = 5.0
_ORIGINAL_QOS1_FLOW = BrokerProtocolHandler._handle_qos1_message_flow
_ORIGINAL_HANDLE_PUBACK = BrokerProtocolHandler.handle_puback


async def _qos1_flow_keeping_inflight(
    self: BrokerProtocolHandler, app_message: OutgoingApplicationMessage | IncomingApplicationMessage
) -> None:
    """Outgoing QoS 1 (MQTT 3.1.1 §4.3.2, §4.4): send PUBLISH, wait for PUBACK; on timeout or disconnection
    keep the message in ``session.inflight_out`` so it is resent (DUP=1) when the session resumes."""
    if app_message.direction != OUTGOING or app_message.qos != QOS_1 or self.session is None:
        await _ORIGINAL_QOS1_FLOW(self, app_message)
        return
    packet_id = app_message.packet_id
    self.session.inflight_out[packet_id] = app_message
    packet = app_message.build_publish_packet(dup=app_message.publish_packet is not None)
    waiter: asyncio.Future[PubackPacket] = asyncio.get_running_loop().create_future()
    self._puback_waiters[packet_id] = waiter
    try:
        await self._send_packet(packet)
        app_message.publish_packet = packet
        app_message.puback_packet = await asyncio.wait_for(waiter, timeout=PUBACK_WAIT_S)
    except (asyncio.TimeoutError, TimeoutError):
        return  # still in flight: a late PUBACK clears it (below), a reconnection resends it
    finally:
        if self._puback_waiters.get(packet_id) is waiter:
            del self._puback_waiters[packet_id]
    self.session.inflight_out.pop(packet_id, None)


async def _handle_puback_late(self: BrokerProtocolHandler, puback: PubackPacket) -> None:
    """A PUBACK whose waiter has gone (late ack) still completes the in-flight message."""
    packet_id = puback.variable_header.packet_id if puback.variable_header is not None else None
    if packet_id is not None and packet_id not in self._puback_waiters and self.session is not None:
        self.session.inflight_out.pop(packet_id, None)
        return
    await _ORIGINAL_HANDLE_PUBACK(self, puback)


def install_redelivery_fix() -> None:
    """Make amqtt's broker keep unacknowledged QoS 1 messages for resending (idempotent, broker side only)."""
    BrokerProtocolHandler._handle_qos1_message_flow = _qos1_flow_keeping_inflight
    BrokerProtocolHandler.handle_puback = _handle_puback_late


class _GuardedBroker(Broker):
    """amqtt's broker with the session and retained-message fixes of the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: ids of sessions authenticated by :meth:`_initialize_client_session` (amqtt authenticates again)
        self._authenticated: set[int] = set()

    async def _initialize_client_session(
        self, reader: ReaderAdapter, writer: WriterAdapter, remote_address: str, remote_port: int
    ) -> tuple[BrokerProtocolHandler, Session]:
        """amqtt's own, except that the CONNECT is authenticated before any existing session is touched."""
        try:
            handler, incoming = await BrokerProtocolHandler.init_from_connect(
                reader, writer, self.plugins_manager
            )
        except MQTTError:
            await writer.close()
            raise
        except NoDataError as exc:
            raise AMQTTError(exc) from exc
        if not await super()._authenticate(incoming, ListenerConfig()):
            connack = ConnackPacket.build(0, NOT_AUTHORIZED)
            await connack.to_stream(writer)
            await writer.close()
            raise MQTTError(f"client {incoming.client_id!r} from {remote_address} refused before its session")
        if incoming.clean_session:
            if incoming.client_id:
                await self._delete_session(incoming.client_id)
            else:
                incoming.client_id = gen_client_id()
            incoming.parent = 0
            session = incoming
        elif incoming.client_id in self._sessions:
            session = self._sessions[incoming.client_id][0]
            for attr in (
                "will_flag",
                "will_message",
                "will_topic",
                "will_qos",
                "keep_alive",
                "username",
                "password",
            ):
                setattr(session, attr, getattr(incoming, attr))
            session.is_anonymous = incoming.is_anonymous
            session.parent = 1
        else:
            incoming.parent = 0
            session = incoming
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        self._authenticated.add(id(session))
        return handler, session

    async def _authenticate(self, session: Session, listener: ListenerConfig) -> bool:
        """Already done by :meth:`_initialize_client_session` (the passwords' hash is slow on purpose)."""
        if id(session) in self._authenticated:
            self._authenticated.discard(id(session))
            return True
        return await super()._authenticate(session, listener)

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        """Retained messages matching ``subscription``, only if ``session`` holds it and may receive them."""
        topic_filter, qos = subscription
        if all(s.client_id != session.client_id for s, _ in self._subscriptions.get(topic_filter, ())):
            return  # refused (amqtt would publish anyway), or another client's subscription
        handler = self._get_handler(session)
        if handler is None:
            return
        tasks = []
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter) and await self._topic_filtering(
                session, topic=topic, action=Action.RECEIVE
            ):
                publish = handler.mqtt_publish(
                    topic, retained.data, min(qos, retained.qos or qos), retain=True
                )
                tasks.append(asyncio.ensure_future(publish))
        if tasks:
            await asyncio.wait(tasks)

    async def retain_message(
        self,
        source_session: Session | None,
        topic_name: str | None,
        data: bytes | bytearray | None,
        qos: int | None = None,
    ) -> None:
        """Nothing is retained (the message itself was delivered as usual)."""
        log.warning(
            "embedded broker: retained PUBLISH on %s from %s delivered but not retained",
            topic_name,
            getattr(source_session, "client_id", None),
        )


class _TrackingBroker(_GuardedBroker):
    """The guarded broker, remembering its clients' TCP streams so that :meth:`EmbeddedBroker.stop` can close
    them even when amqtt's own shutdown hangs (it can, on a client caught half-way through connecting)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_writers: set[asyncio.StreamWriter] = set()

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        self.client_writers.add(writer)
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:
            self.client_writers.discard(writer)

    async def close_everything(self) -> None:
        """Stop listening and drop every client connection (the forceful end of a shutdown)."""
        for server in self._servers.values():
            instance = getattr(server, "instance", None)
            if instance is not None:
                instance.close()
        for writer in list(self.client_writers):
            writer.transport.abort()


#: amqtt plugins: dotted path of the plugin class -> its configuration
Plugins = dict[str, dict[str, object]]
#: plugins of the embedded broker unless the caller passes its own
DEFAULT_PLUGINS: Plugins = {"condivisa.transports.mqtt.broker.OpenAuthPlugin": {}}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (for tests and ``mqtt_embedded_port = 0``)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """An amqtt broker on ``host:port`` served by a background thread with its own event loop.

    >>> broker = EmbeddedBroker(port=0).start()   # doctest: +SKIP
    >>> broker.url                                # 'mqtt://127.0.0.1:40123'
    >>> broker.stop()
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1884,
        *,
        plugins: Plugins | None = None,
        session_expiry_s: int = 7 * 24 * 3600,
    ) -> None:
        install_redelivery_fix()
        self.host = host
        self.port = port or free_port(host)
        self.plugins = dict(DEFAULT_PLUGINS if plugins is None else plugins)
        self.session_expiry_s = session_expiry_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: _TrackingBroker | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def config(self) -> dict[str, object]:
        """The amqtt configuration dictionary (listener, session expiry, plugins)."""
        return {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 0}
            },
            "session_expiry_interval": self.session_expiry_s,
            "timeout_disconnect_delay": 0,
            "plugins": self.plugins,
        }

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        """Start the broker thread and wait until it listens; raise ``RuntimeError`` if it cannot."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="condivisa-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(
                f"embedded MQTT broker did not start on {self.host}:{self.port} within {timeout_s} s"
            )
        if self._error is not None:
            raise RuntimeError(
                f"embedded MQTT broker could not start on {self.host}:{self.port}: {self._error}"
            )
        log.info("embedded MQTT broker listening on %s", self.url)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            self._broker = _TrackingBroker(self.config(), loop=loop)
            await self._broker.start()

        try:
            loop.run_until_complete(boot())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the broker down and join its thread (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._broker is not None and loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop)
            try:
                fut.result(min(timeout_s, 3.0))
            except Exception as exc:  # amqtt's shutdown hung or failed: close the sockets ourselves
                log.info("embedded broker: forced shutdown (%s)", type(exc).__name__)
            try:
                asyncio.run_coroutine_threadsafe(self._broker.close_everything(), loop).result(timeout_s)
            except Exception as exc:
                log.warning("embedded broker: could not close its sockets: %s", exc)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        self._thread = self._loop = self._broker = None
        self._ready.clear()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
