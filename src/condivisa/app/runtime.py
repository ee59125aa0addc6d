"""What ``condivisa serve`` runs besides the HTTP app: the MQTT ingest worker, wired to the store.

:func:`mqtt_ingest_worker` joins the three floors a reading crosses: the transport
(:class:`~condivisa.transports.mqtt.worker.IngestWorker`, which knows only the broker), the one batcher
(:class:`~condivisa.ingest.group_commit.GroupCommitter`) and the DU write scope
(:func:`~condivisa.ingest.scope.du_write_scope`). :func:`worker_from_settings` reads those options from
:class:`~condivisa.app.settings.Settings`.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from condivisa.app.settings import Settings
from condivisa.ingest.group_commit import GroupCommitter
from condivisa.ingest.scope import du_write_scope
from condivisa.store.store import Store
from condivisa.transports.mqtt.message import InboundMessage
from condivisa.transports.mqtt.topics import TopicLayout
from condivisa.transports.mqtt.worker import IngestWorker


def mqtt_ingest_worker(
    store: Store,
    host: str,
    port: int,
    *,
    strict_devices: bool = False,
    committer: GroupCommitter | None = None,
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
        A message on a DU's own topic may carry only the POD that DU is registered to read
        (:func:`~condivisa.ingest.scope.du_write_scope`); otherwise such lines are stored and flagged.
    committer : GroupCommitter, optional
        The batcher to submit to; by default one of the worker's own, closed when the worker stops.
    **options
        Passed to :class:`~condivisa.transports.mqtt.worker.IngestWorker` (``layout``, ``client_id``, …).
    """
    own = committer is None
    batcher = committer or GroupCommitter(store, name="condivisa-mqtt-commit")

    def submit(message: InboundMessage) -> Future:
        on_du_topic = message.kind == "du"
        return batcher.submit_payload(
            message.payload,
            source=f"mqtt:{message.topic}",
            device_id=message.sender_id if on_du_topic else None,
            received_at=message.received_at,
            may_write=du_write_scope(store, message.sender_id) if strict_devices and on_du_topic else None,
        )

    return IngestWorker(host, port, submit=submit, on_stopped=batcher.close if own else None, **options)


def worker_from_settings(settings: Settings, store: Store, **kwargs: Any) -> IngestWorker:
    """An ingest worker configured from ``settings``: MQTT 5 on an external broker unless ``mqtt_protocol``
    says 3.1.1; always 3.1.1 on the embedded amqtt broker. ``kwargs`` override the options."""
    host, port, tls = settings.broker_address()
    mqtt5 = (not settings.embedded_broker) and settings.mqtt_protocol == "5"
    options: dict[str, Any] = {
        "layout": TopicLayout(settings.community_slug(), settings.mqtt_topic_root),
        "client_id": settings.mqtt_client_id,
        "mqtt5": mqtt5,
        "session_expiry_s": settings.mqtt_session_expiry_s,
        "username": settings.mqtt_username,
        "password": settings.mqtt_password,
        "tls": tls,
        "strict_devices": settings.strict_devices(),
    }
    return mqtt_ingest_worker(store, host, port, **{**options, **kwargs})
