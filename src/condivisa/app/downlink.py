"""Commands to the DUs from a command-line run (``condivisa advise``, ``condivisa events send``): one
short-lived MQTT connection with the platform's credential, QoS 1, every PUBACK awaited.

The ingest worker of ``condivisa serve`` publishes the commands of the HTTP API on its own connection
(:meth:`condivisa.transports.mqtt.worker.IngestWorker.send_command`); a command run from the CLI may run
where no worker is, so it connects by itself (:func:`condivisa.app.ha_publisher.connect`).
"""

from __future__ import annotations

from collections.abc import Mapping

from condivisa.app.ha_publisher import connect
from condivisa.app.settings import Settings

QOS = 1


def publish_commands(
    settings: Settings, messages: Mapping[str, bytes], *, timeout_s: float = 10.0
) -> list[str]:
    """Publish ``topic -> payload`` (QoS 1, not retained) on the broker of ``settings`` and wait for every
    PUBACK; returns the topics acknowledged.

    Raises
    ------
    ConnectionError
        The broker is unreachable or refused the credential (the message names host:port).
    TimeoutError
        A message was not acknowledged within ``timeout_s``.
    """
    if not messages:
        return []
    host, port, tls = settings.broker_address()
    client = connect(host, port, settings.mqtt_username, settings.mqtt_password, tls=tls, timeout_s=timeout_s)
    try:
        infos = [(t, client.publish(t, p, qos=QOS, retain=False)) for t, p in messages.items()]
        for topic, info in infos:
            info.wait_for_publish(timeout_s)
            if not info.is_published():
                raise TimeoutError(
                    f"MQTT broker {host}:{port}: {topic} not acknowledged within {timeout_s} s"
                )
    finally:
        client.disconnect()
        client.loop_stop()
    return list(messages)
