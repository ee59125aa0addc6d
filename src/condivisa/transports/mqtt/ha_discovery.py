"""Home Assistant MQTT discovery for one member: the configs and states of the member's own sensors.

Pure builders (no broker; :mod:`condivisa.app.ha_publisher` publishes them). Topics, all under the member's
own prefix, the only one a ``member`` credential may read (:mod:`condivisa.auth.mqtt_acl`)::

    <root>/<community>/member/<member_id>/ha/<component>/<object_id>/config   discovery config (retained)
    <root>/<community>/member/<member_id>/state/<object_id>                   current state (retained)

so the member's Home Assistant has its *discovery prefix* set to ``<root>/<community>/member/<member_id>/ha``
(Home Assistant's discovery topic is ``<discovery_prefix>/<component>/[<node_id>/]<object_id>/config``).

Entities (one Home Assistant device per member, manufacturer ``condivisa``):

- ``sensor`` ``energia_condivisa_oggi``: the member's shared energy today, kWh, ``device_class`` ``energy``,
  ``state_class`` ``total_increasing`` (it restarts from 0 each day, which ``total_increasing`` allows);
- ``sensor`` ``surplus_comunita_adesso``: the community's spare power now, kW, ``power``, ``measurement``;
- ``binary_sensor`` ``buon_momento_per_consumare``: ``ON`` when it is a good time to consume, else ``OFF``.

States are plain strings (a number with a dot, or ``ON``/``OFF``), so no ``value_template`` is needed.
The values themselves are the caller's (the settlement result's, never recomputed here).

References
----------
Home Assistant, "MQTT" integration, section "MQTT Discovery" (discovery topic format, the config payload,
the ``device`` block with ``identifiers``/``name``/``manufacturer``, ``unique_id``):
https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery ; the MQTT sensor
(https://www.home-assistant.io/integrations/sensor.mqtt/) and binary sensor
(https://www.home-assistant.io/integrations/binary_sensor.mqtt/, default ``payload_on`` ``ON``,
``payload_off`` ``OFF``) pages.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

MANUFACTURER = "condivisa"
SHARED_TODAY = "energia_condivisa_oggi"
COMMUNITY_SPARE = "surplus_comunita_adesso"
GOOD_TIME = "buon_momento_per_consumare"


def _level(value: str, what: str) -> str:
    if not value or any(c in value for c in "/+#") or any(c.isspace() for c in value):
        raise ValueError(f"{what} {value!r} cannot be one MQTT topic level")
    return value


@dataclass(frozen=True)
class Entity:
    component: str  # "sensor" or "binary_sensor"
    object_id: str
    name: str
    extra: tuple[tuple[str, str], ...]  # unit_of_measurement, device_class, state_class ...


ENTITIES = (
    Entity(
        "sensor",
        SHARED_TODAY,
        "energia condivisa oggi",
        (("unit_of_measurement", "kWh"), ("device_class", "energy"), ("state_class", "total_increasing")),
    ),
    Entity(
        "sensor",
        COMMUNITY_SPARE,
        "surplus della comunità adesso",
        (("unit_of_measurement", "kW"), ("device_class", "power"), ("state_class", "measurement")),
    ),
    Entity(
        "binary_sensor",
        GOOD_TIME,
        "buon momento per consumare",
        (("payload_on", "ON"), ("payload_off", "OFF")),
    ),
)


@dataclass(frozen=True)
class MemberTopics:
    """The topics of one member's Home Assistant entities."""

    community: str
    member_id: str
    root: str = "condivisa"

    def __post_init__(self) -> None:
        _level(self.root, "root")
        _level(self.community, "community")
        _level(self.member_id, "member id")

    @property
    def base(self) -> str:
        return f"{self.root}/{self.community}/member/{self.member_id}"

    @property
    def discovery_prefix(self) -> str:
        """What the member sets as Home Assistant's discovery prefix."""
        return f"{self.base}/ha"

    def config(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{object_id}/config"

    def state(self, object_id: str) -> str:
        return f"{self.base}/state/{object_id}"


def device_block(topics: MemberTopics, member_name: str | None = None) -> dict[str, Any]:
    return {
        "identifiers": [f"condivisa_{topics.community}_{topics.member_id}"],
        "name": f"condivisa {member_name or topics.member_id}",
        "manufacturer": MANUFACTURER,
        "model": f"comunità energetica {topics.community}",
    }


def discovery_configs(topics: MemberTopics, member_name: str | None = None) -> dict[str, dict[str, Any]]:
    """``config topic -> payload`` (a dict, JSON-encoded by :func:`encode`) of the member's three entities."""
    device = device_block(topics, member_name)
    out = {}
    for e in ENTITIES:
        out[topics.config(e.component, e.object_id)] = {
            "name": e.name,
            "unique_id": f"condivisa_{topics.community}_{topics.member_id}_{e.object_id}",
            "object_id": f"condivisa_{e.object_id}",
            "state_topic": topics.state(e.object_id),
            **dict(e.extra),
            "device": device,
        }
    return out


def _number(value: float, what: str, digits: int) -> str:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{what}: {value!r} is not a finite number")
    return f"{round(v, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.000"


def states(
    topics: MemberTopics, *, shared_today_kwh: float, community_spare_kw: float, good_time: bool
) -> dict[str, str]:
    """``state topic -> payload`` for the values the caller gives (kWh and kW with 3 decimals)."""
    return {
        topics.state(SHARED_TODAY): _number(shared_today_kwh, "shared_today_kwh", 3),
        topics.state(COMMUNITY_SPARE): _number(community_spare_kw, "community_spare_kw", 3),
        topics.state(GOOD_TIME): "ON" if good_time else "OFF",
    }


def encode(payload: dict[str, Any] | str) -> bytes:
    """The bytes published: JSON (UTF-8, no ASCII escapes) for a config, the string itself for a state."""
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
