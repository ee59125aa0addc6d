"""MQTT topics of condivisa: one layout per community (see :mod:`condivisa.transports.mqtt.worker` for the
worker).

Topic layout (one community per platform instance; ``root`` is ``condivisa`` unless configured)::

    <root>/<community>/du/<du_id>/up     uplink: a DU publishes its UrbanDataset (QoS 1)
    <root>/<community>/du/<du_id>/ack    the platform answers each uplink: counts, rejections (QoS 1)
    <root>/<community>/du/<du_id>/cmd    downlink commands to the DU, e.g. {"cmd": "resend", "from": "..."}
    <root>/<community>/gw/<gw_id>/up     uplink of a gateway/platform grouping many DUs in one message
    <root>/<community>/gw/<gw_id>/ack    its answers (and .../cmd its commands)

Several ingest workers share the uplink with an MQTT shared subscription
(``$share/<group>/<root>/<community>/+/+/up``): the broker gives each message to one of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: kinds of sender in the topic: a single user device, or a gateway/platform grouping several DUs
SENDER_KINDS = ("du", "gw")


@dataclass(frozen=True)
class TopicLayout:
    """Builds and parses the topics of one community (see the module docstring)."""

    community: str = "default"
    root: str = "condivisa"

    def _topic(self, kind: str, sender_id: str, leaf: str) -> str:
        if kind not in SENDER_KINDS:
            raise ValueError(f"sender kind must be one of {SENDER_KINDS}, got {kind!r}")
        if not sender_id or any(c in sender_id for c in "/+#"):
            raise ValueError(f"device id {sender_id!r} cannot be one MQTT topic level (empty, or has / + #)")
        return f"{self.root}/{self.community}/{kind}/{sender_id}/{leaf}"

    def up(self, du_id: str, kind: str = "du") -> str:
        return self._topic(kind, du_id, "up")

    def ack(self, du_id: str, kind: str = "du") -> str:
        return self._topic(kind, du_id, "ack")

    def cmd(self, du_id: str, kind: str = "du") -> str:
        return self._topic(kind, du_id, "cmd")

    def uplink_filters(self) -> list[str]:
        """The subscriptions of the ingest worker."""
        return [f"{self.root}/{self.community}/{kind}/+/up" for kind in SENDER_KINDS]

    def parse(self, topic: str) -> tuple[str, str, str] | None:
        """``(kind, sender_id, leaf)`` of a topic of this community, or None."""
        parts = topic.split("/")
        if (
            len(parts) != 5
            or parts[0] != self.root
            or parts[1] != self.community
            or parts[2] not in SENDER_KINDS
        ):
            return None
        return parts[2], parts[3], parts[4]


def payload_id(raw: bytes) -> str:
    """A short, stable id of a payload (first 16 hex digits of its SHA-256) echoed on the ack topic, so a DU
    on MQTT 3.1.1 (no correlation data) can match an answer to what it sent."""
    return hashlib.sha256(raw).hexdigest()[:16]
