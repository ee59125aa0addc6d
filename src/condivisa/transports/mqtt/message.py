"""An uplink message as the broker delivered it to the ingest worker."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from condivisa.kernel import clock


@dataclass
class InboundMessage:
    """One uplink message as the broker delivered it: ``kind`` (``du``/``gw``), ``sender_id`` and
    ``community`` (the community level; None when unknown) from the topic, MQTT 5 response topic and
    correlation data if any, the reception instant."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    kind: str
    sender_id: str
    response_topic: str | None = None
    correlation: bytes | None = None
    received_at: dt.datetime = field(default_factory=clock.now)
    community: str | None = None
