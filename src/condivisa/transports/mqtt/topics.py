"""MQTT topics of condivisa: one layout for every community of the platform, or for one of them (see
:mod:`condivisa.transports.mqtt.worker` for the worker).

Topic layout (``root`` is ``condivisa`` unless configured; ``<community>`` is the community's slug)::

    <root>/<community>/du/<du_id>/up     uplink: a DU publishes its UrbanDataset (QoS 1)
    <root>/<community>/du/<du_id>/ack    the platform answers each uplink: counts, rejections (QoS 1)
    <root>/<community>/du/<du_id>/cmd    downlink commands to the DU, e.g. {"cmd": "resend", "from": "..."},
                                         ``advice`` and ``event`` (:mod:`condivisa.formats.flex_messages`)
    <root>/<community>/du/<du_id>/reply  the DU's replies to commands, e.g. an event's acknowledgement (QoS 1)
    <root>/<community>/gw/<gw_id>/up     uplink of a gateway/platform grouping many DUs in one message
    <root>/<community>/gw/<gw_id>/ack    its answers (and .../cmd its commands)

Two layouts (issue #18):

- **every community** (``TopicLayout(home, root, every=True)``, :meth:`TopicLayout.every_community`): the
  worker subscribes to ``<root>/+/du/+/up`` and ``<root>/+/gw/+/up``; parsing a topic gives its community,
  and the answer to a message goes to its own community's ``ack`` topic. ``community`` (the *home*
  community) is used only for topics built without a message (a command sent without naming a community).
  This is the default of :func:`condivisa.app.runtime.worker_from_settings`: one worker serves all the
  communities of the platform, and a single-community deployment still works (its topics match ``+``);
- **one community** (``TopicLayout(community, root)``): the topics of that community only; what
  ``worker_from_settings`` uses when the setting ``community`` is given explicitly (a platform instance
  serving one community, as before).

Several ingest workers share the uplink with MQTT shared subscriptions
(``$share/<group>/<root>/+/du/+/up`` and ``.../gw/+/up``; one community:
``$share/<group>/<root>/<community>/du/+/up`` ...): the broker gives each message to one of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

#: kinds of sender in the topic: a single user device, or a gateway/platform grouping several DUs
SENDER_KINDS = ("du", "gw")
#: the community level of the filters of a layout serving every community
ANY = "+"


class TopicParts(NamedTuple):
    """The levels of a topic: ``<root>/<community>/<kind>/<sender_id>/<leaf>``."""

    community: str
    kind: str
    sender_id: str
    leaf: str


def _level(value: str, what: str) -> str:
    if not value or any(c in value for c in "/+#"):
        raise ValueError(f"{what} {value!r} cannot be one MQTT topic level (empty, or has / + #)")
    return value


@dataclass(frozen=True)
class TopicLayout:
    """Builds and parses the topics of one community, or of every community (``every``; module docstring)."""

    community: str = "default"
    root: str = "condivisa"
    every: bool = False

    @classmethod
    def every_community(cls, root: str = "condivisa", home: str = "default") -> TopicLayout:
        """The layout of a worker serving every community; ``home`` names the community of topics built
        without one."""
        return cls(home, root, every=True)

    def covers(self, community: str) -> bool:
        """The layout's worker receives the uplink of ``community``."""
        return self.every or community == self.community

    def _topic(self, kind: str, sender_id: str, leaf: str, community: str | None) -> str:
        if kind not in SENDER_KINDS:
            raise ValueError(f"sender kind must be one of {SENDER_KINDS}, got {kind!r}")
        _level(sender_id, "device id")
        c = _level(community or self.community, "community")
        if not self.covers(c):
            raise ValueError(f"community {c!r} is not served by this layout (only {self.community!r})")
        return f"{self.root}/{c}/{kind}/{sender_id}/{leaf}"

    def up(self, du_id: str, kind: str = "du", community: str | None = None) -> str:
        return self._topic(kind, du_id, "up", community)

    def ack(self, du_id: str, kind: str = "du", community: str | None = None) -> str:
        return self._topic(kind, du_id, "ack", community)

    def cmd(self, du_id: str, kind: str = "du", community: str | None = None) -> str:
        return self._topic(kind, du_id, "cmd", community)

    def reply(self, du_id: str, kind: str = "du", community: str | None = None) -> str:
        return self._topic(kind, du_id, "reply", community)

    def reply_filters(self) -> list[str]:
        """The subscriptions for the DUs' replies to commands (issue #19: events' acknowledgements)."""
        community = ANY if self.every else self.community
        return [f"{self.root}/{community}/du/+/reply"]

    def uplink_filters(self) -> list[str]:
        """The subscriptions of the ingest worker."""
        community = ANY if self.every else self.community
        return [f"{self.root}/{community}/{kind}/+/up" for kind in SENDER_KINDS]

    def parts(self, topic: str) -> TopicParts | None:
        """The community, kind, sender and leaf of a topic this layout covers, or None."""
        p = topic.split("/")
        if (
            len(p) != 5
            or p[0] != self.root
            or not p[1]
            or not self.covers(p[1])
            or p[2] not in SENDER_KINDS
            or not p[3]
        ):
            return None
        return TopicParts(p[1], p[2], p[3], p[4])

    def parse(self, topic: str) -> tuple[str, str, str] | None:
        """``(kind, sender_id, leaf)`` of a topic this layout covers, or None (:meth:`parts` adds the
        community)."""
        parts = self.parts(topic)
        return None if parts is None else (parts.kind, parts.sender_id, parts.leaf)


def payload_id(raw: bytes) -> str:
    """A short, stable id of a payload (first 16 hex digits of its SHA-256) echoed on the ack topic, so a DU
    on MQTT 3.1.1 (no correlation data) can match an answer to what it sent."""
    return hashlib.sha256(raw).hexdigest()[:16]
