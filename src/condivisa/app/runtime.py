"""What ``condivisa serve`` runs besides the HTTP app: the MQTT ingest worker, wired to the store.

:func:`mqtt_ingest_worker` joins the three floors a reading crosses: the transport
(:class:`~condivisa.transports.mqtt.worker.IngestWorker`, which knows only the broker), the one batcher
(:class:`~condivisa.ingest.group_commit.GroupCommitter`) and the DU write scope
(:func:`~condivisa.ingest.scope.du_scope`). :func:`worker_from_settings` reads those options from
:class:`~condivisa.app.settings.Settings` (the broker: :func:`broker_connection`).

One worker for every community (issue #18): unless the setting ``community`` is given, the worker subscribes
to every community's uplink (``<root>/+/du/+/up``, ``<root>/+/gw/+/up``; :func:`topic_layout`); each
message carries the community of its topic, its answer goes to that community's ``ack`` topic and its dead
letter records it. A DU belongs to one community: with strict devices a DU registered in community B
(``devices.community``) publishing on A's topics is rejected ("DU DU-7 is registered in community 'b', not
'a'"), without them its lines are stored and flagged ``du_other_community``. A DU registered without a
community (before communities existed) is accepted on any community's topics, as before. Setting
``community`` keeps the old layout: that community's topics only (a platform instance per community).

Beside the worker, ``serve`` publishes the members' Home Assistant sensors on the same broker with the same
credential (:func:`broker_connection`): :mod:`condivisa.app.ha_runtime`.

Payload cap (issue #13, finding 8): a message larger than ``max_payload_bytes`` (``max_body_bytes`` of the
settings, the same bound as an HTTP push) is not decoded: it is rejected with the reason, its first
:data:`OVERSIZED_KEPT_BYTES` kept as a dead letter, and acknowledged (a device resending it would be refused
again). Mosquitto's ``message_size_limit`` of ``condivisa mqtt-acl`` stops larger ones at the broker.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from condivisa.app.replies import reply_handler
from condivisa.app.settings import Settings
from condivisa.formats.urbandataset.types import FieldError
from condivisa.ingest.group_commit import GroupCommitter
from condivisa.ingest.pipeline import IngestResult, PreparedMessage, prepare_payload
from condivisa.ingest.scope import du_scope
from condivisa.store.store import Store
from condivisa.transports.mqtt.connection import BrokerConnection
from condivisa.transports.mqtt.message import InboundMessage
from condivisa.transports.mqtt.processing import Submitted
from condivisa.transports.mqtt.topics import TopicLayout
from condivisa.transports.mqtt.worker import IngestWorker

#: options that are :class:`BrokerConnection` fields (``client_id``, ``mqtt5``, ``tls``, ...)
_CONNECTION_FIELDS = frozenset(f.name for f in dataclasses.fields(BrokerConnection))
#: largest MQTT payload ingested by default, bytes (the default ``max_body_bytes``)
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
#: bytes of an oversized payload kept in its dead letter
OVERSIZED_KEPT_BYTES = 64 * 1024


def mqtt_ingest_worker(
    store: Store,
    host: str,
    port: int,
    *,
    strict_devices: bool = False,
    committer: GroupCommitter | None = None,
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    **options: Any,
) -> IngestWorker:
    """An MQTT ingest worker storing into ``store``.

    Parameters
    ----------
    store : Store
        Where readings go.
    host, port : str, int
        The broker.
    strict_devices : bool
        A message on a DU's own topic may carry only the POD that DU is registered to read, and only on the
        topics of the DU's own community (:func:`~condivisa.ingest.scope.du_scope`); otherwise such lines
        are stored and flagged.
    committer : GroupCommitter, optional
        The batcher to submit to; by default one of the worker's own, closed when the worker stops.
    max_payload_bytes : int
        A larger payload is rejected without decoding it (module docstring).
    **options
        Fields of the :class:`~condivisa.transports.mqtt.connection.BrokerConnection` (``client_id``,
        ``mqtt5``, ``session_expiry_s``, ``username``, ``password``, ``tls``, ``receive_maximum``), and the
        other options of :class:`~condivisa.transports.mqtt.worker.IngestWorker` (``layout``, …).
    """
    connection, worker_options = _split(BrokerConnection(host, port), options)
    return _ingest_worker(
        store,
        connection,
        strict_devices=strict_devices,
        committer=committer,
        max_payload_bytes=max_payload_bytes,
        **worker_options,
    )


def broker_connection(settings: Settings) -> BrokerConnection:
    """How the ingest worker reaches the broker of ``settings``: MQTT 5 on an external broker unless
    ``mqtt_protocol`` says 3.1.1; always 3.1.1 on the embedded amqtt broker."""
    host, port, tls = settings.broker_address()
    return BrokerConnection(
        host,
        port,
        client_id=settings.mqtt_client_id,
        mqtt5=(not settings.embedded_broker) and settings.mqtt_protocol == "5",
        session_expiry_s=settings.mqtt_session_expiry_s,
        username=settings.mqtt_username,
        password=settings.mqtt_password,
        tls=tls,
    )


def topic_layout(settings: Settings) -> TopicLayout:
    """The topics the worker of ``settings`` serves (module docstring): one community's when the setting
    ``community`` is given, else every community's (the home community, for topics built without a message,
    is :meth:`Settings.community_slug`)."""
    if settings.community:
        return TopicLayout(settings.community, settings.mqtt_topic_root)
    return TopicLayout.every_community(settings.mqtt_topic_root, home=settings.community_slug())


def worker_from_settings(settings: Settings, store: Store, **overrides: Any) -> IngestWorker:
    """An ingest worker configured from ``settings``: :func:`broker_connection`, the topics of
    :func:`topic_layout`, the DU write scope when devices are strict. ``overrides`` replace any of those
    (``client_id=``, ``strict_devices=``, ``layout=``, …) or add worker options (``shared_group=``,
    ``on_result=``, …)."""
    connection, options = _split(broker_connection(settings), overrides)
    options.setdefault("layout", topic_layout(settings))
    options.setdefault("strict_devices", settings.strict_devices())
    options.setdefault("max_payload_bytes", settings.max_body_bytes)
    options.setdefault("on_reply", reply_handler(store))  # the DUs' replies to events (issue #19)
    return _ingest_worker(store, connection, **options)


def _split(connection: BrokerConnection, options: dict[str, Any]) -> tuple[BrokerConnection, dict[str, Any]]:
    """``connection`` with the fields that ``options`` name replaced, and the options left."""
    fields = {k: v for k, v in options.items() if k in _CONNECTION_FIELDS}
    rest = {k: v for k, v in options.items() if k not in _CONNECTION_FIELDS}
    return dataclasses.replace(connection, **fields), rest


def _ingest_worker(
    store: Store,
    connection: BrokerConnection,
    *,
    strict_devices: bool = False,
    committer: GroupCommitter | None = None,
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    **options: Any,
) -> IngestWorker:
    """The worker on ``connection`` submitting to ``committer`` (or a batcher of its own, see
    :func:`mqtt_ingest_worker`)."""
    own = committer is None
    batcher = committer or GroupCommitter(store, name="condivisa-mqtt-commit")

    def prepare(message: InboundMessage) -> PreparedMessage:
        on_du_topic = message.kind == "du"
        if len(message.payload) > max_payload_bytes:
            return oversized(message, max_payload_bytes)
        scope = (
            du_scope(store, message.sender_id, message.community) if strict_devices and on_du_topic else None
        )
        prepared = prepare_payload(
            message.payload,
            source=f"mqtt:{message.topic}",
            device_id=message.sender_id if on_du_topic else None,
            received_at=message.received_at,
            may_write=scope.may_write if scope is not None else None,
            community=message.community,
        )
        if scope is not None and scope.refusal is not None:  # a DU of another community: the whole message
            prepared.errors.insert(0, FieldError("$", scope.refusal))
        return prepared

    def submit(messages: list[InboundMessage]) -> list[Submitted]:
        return list(batcher.submit_all([prepare(m) for m in messages]))

    return IngestWorker(connection, submit=submit, on_stopped=batcher.close if own else None, **options)


def oversized(message: InboundMessage, max_payload_bytes: int) -> PreparedMessage:
    """``message`` rejected for its size, undecoded: its first :data:`OVERSIZED_KEPT_BYTES` and the reason."""
    size = len(message.payload)
    reason = (
        f"payload of {size} bytes is larger than the limit of {max_payload_bytes} bytes; "
        f"not read, its first {min(size, OVERSIZED_KEPT_BYTES)} bytes kept"
    )
    return PreparedMessage(
        message.payload[:OVERSIZED_KEPT_BYTES],
        f"mqtt:{message.topic}"[:200],
        message.sender_id if message.kind == "du" else None,
        message.received_at,
        IngestResult(accepted=False),
        errors=[FieldError("$", reason)],
        community=message.community,
    )
