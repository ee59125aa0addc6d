"""Publish the members' Home Assistant entities (issue #19, item 5): discovery configs and current states,
QoS 1, **retained**, on each member's own topics (:mod:`condivisa.transports.mqtt.ha_discovery`).

The values are the caller's, as plain numbers: ``shared_today_kwh`` from the settlement result (every number
from one place: nothing is recomputed here), ``community_spare_kw`` and ``good_time``. The publishing client
uses the platform's credential (kind ``worker``), which may write ``<root>/+/member/+/#``; a member's
credential (kind ``member``) may only read its own ``<root>/<community>/member/<member_id>/#``
(:mod:`condivisa.auth.mqtt_acl`).

The broker must accept retained messages: the Mosquitto configuration of ``condivisa mqtt-acl`` accepts them
once a ``member`` credential exists (:func:`condivisa.auth.mqtt_acl.write_mosquitto_files`). The embedded
amqtt broker keeps no retained message: a Home Assistant connecting after the configs were published learns
nothing (trials only). :mod:`condivisa.app.ha_runtime` runs the publishing in ``condivisa serve``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from condivisa.transports.mqtt.ha_discovery import MemberTopics, discovery_configs, encode, states

QOS = 1


@dataclass(frozen=True)
class MemberValues:
    """What one member's entities show now."""

    member_id: str
    shared_today_kwh: float
    community_spare_kw: float
    good_time: bool
    name: str | None = None


def connect(
    host: str,
    port: int,
    username: str | None,
    password: str | None,
    *,
    client_id: str | None = None,
    timeout_s: float = 10,
    tls: bool = False,
) -> mqtt.Client:
    """A connected paho client (MQTT 3.1.1, clean session, network loop started; TLS with the system's CA
    certificates when ``tls``); raises ``ConnectionError`` if refused or unreachable (``OSError``)."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id or f"condivisa-ha-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
    )
    if username:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set()
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise ConnectionError(f"MQTT broker {host}:{port} not reachable: {exc}") from exc
    client.loop_start()
    # is_connected() turns True only on a successful CONNACK
    for _ in range(int(timeout_s / 0.05)):
        if client.is_connected():
            return client
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    raise ConnectionError(f"MQTT broker {host}:{port} refused {username!r} or did not answer")


def member_messages(
    values: MemberValues, community: str, root: str = "condivisa", *, configs: bool = True
) -> dict[str, bytes]:
    """``topic -> payload`` of one member: the discovery configs first (unless ``configs`` is False), then
    the states."""
    topics = MemberTopics(community, values.member_id, root)
    out = {t: encode(p) for t, p in discovery_configs(topics, values.name).items()} if configs else {}
    out |= {
        t: encode(p)
        for t, p in states(
            topics,
            shared_today_kwh=values.shared_today_kwh,
            community_spare_kw=values.community_spare_kw,
            good_time=values.good_time,
        ).items()
    }
    return out


def publish_member(
    client: mqtt.Client,
    values: MemberValues,
    community: str,
    *,
    root: str = "condivisa",
    timeout_s: float = 10,
    configs: bool = True,
) -> int:
    """Publish one member's configs (unless ``configs`` is False) and states (QoS 1, retained) and wait for
    the broker's PUBACKs; returns the number of messages."""
    return _publish_all(client, member_messages(values, community, root, configs=configs), timeout_s)


def clear_member(
    client: mqtt.Client, community: str, member_id: str, *, root: str = "condivisa", timeout_s: float = 10
) -> int:
    """Delete the broker's retained configs and states of one member (an empty retained payload each, which
    also removes the entities from Home Assistant); returns the number of messages."""
    topics = MemberTopics(community, member_id, root)
    names = [
        *discovery_configs(topics),
        *states(topics, shared_today_kwh=0, community_spare_kw=0, good_time=False),
    ]
    return _publish_all(client, dict.fromkeys(names, b""), timeout_s)


def _publish_all(client: mqtt.Client, messages: dict[str, bytes], timeout_s: float) -> int:
    infos = [client.publish(topic, payload, qos=QOS, retain=True) for topic, payload in messages.items()]
    for info in infos:
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise TimeoutError(f"MQTT: message {info.mid} not acknowledged within {timeout_s} s")
    return len(infos)


def publish_community(
    client: mqtt.Client,
    community: str,
    members: Iterable[MemberValues],
    *,
    root: str = "condivisa",
    timeout_s: float = 10,
) -> int:
    """Publish every member's entities of ``community``; returns the number of messages."""
    return sum(publish_member(client, m, community, root=root, timeout_s=timeout_s) for m in members)
