"""Publish the members' Home Assistant entities (issue #19, item 5): discovery configs and current states,
QoS 1, **retained**, on each member's own topics (:mod:`condivisa.transports.mqtt.ha_discovery`).

The values are the caller's, as plain numbers: ``shared_today_kwh`` from the settlement result (every number
from one place: nothing is recomputed here), ``community_spare_kw`` and ``good_time``. The publishing client
uses the platform's credential (kind ``worker``), which may write ``<root>/+/member/+/#``; a member's
credential (kind ``member``) may only read its own ``<root>/<community>/member/<member_id>/#``
(:mod:`condivisa.auth.mqtt_acl`).

The broker must accept retained messages: the generated Mosquitto configuration refuses them unless
:func:`condivisa.auth.mqtt_acl.mosquitto_conf_text` is given ``retain_available=True``.
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
    host: str, port: int, username: str, password: str, *, client_id: str | None = None, timeout_s: float = 10
) -> mqtt.Client:
    """A connected paho client (MQTT 3.1.1, network loop started); raises ``ConnectionError`` if refused."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id or f"condivisa-ha-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
    )
    client.username_pw_set(username, password)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    # is_connected() turns True only on a successful CONNACK
    for _ in range(int(timeout_s / 0.05)):
        if client.is_connected():
            return client
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    raise ConnectionError(f"MQTT broker {host}:{port} refused {username!r} or did not answer")


def member_messages(values: MemberValues, community: str, root: str = "condivisa") -> dict[str, bytes]:
    """``topic -> payload`` of one member: the discovery configs first, then the states."""
    topics = MemberTopics(community, values.member_id, root)
    out = {t: encode(p) for t, p in discovery_configs(topics, values.name).items()}
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
) -> int:
    """Publish one member's configs and states (QoS 1, retained) and wait for the broker's PUBACKs; returns
    the number of messages."""
    infos = [
        client.publish(topic, payload, qos=QOS, retain=True)
        for topic, payload in member_messages(values, community, root).items()
    ]
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
