"""Answers of the MQTT ingest worker: after a message is committed, publish its answer (the
:class:`~condivisa.ingest.pipeline.IngestResult` as JSON) to the sender, then acknowledge (PUBACK) it — never
the other
way round.

Where an answer goes (only to the sender: a device must not receive another device's answers, nor have its
answers sent to another device's topics): the sender's ``ack`` topic
(:meth:`condivisa.transports.mqtt.topics.TopicLayout.ack`, in the community the message came from),
or its MQTT 5 Response Topic when that lies under the sender's own topics and has no wildcard; an MQTT 5
Correlation Data is returned as is. The body is ``{"payload_id", "topic", **answer}``.

Order rule: a PUBACK must never reach the broker before its message's answer, or a crash in between would lose
the answer of a message the broker will not resend. paho writes packets to the socket in the order they are
made, so an answer made within paho's in-flight window (:data:`ANSWERS_IN_FLIGHT`) precedes the PUBACK made
after
it, and nothing is waited for. Only when paho has to hold answers back (window full) are they waited for until
the broker confirms them — or :data:`ANSWER_WAIT_S` passed, or the connection is gone, or the worker stops
(the
data is stored; a re-sent message is answered "duplicate"). The PUBACKs leave before the next batch is taken:
holding them longer made Mosquitto 2.0.11 count the unacknowledged messages against its per-client queue and
drop new ones (seen in bench/ingest.py).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from condivisa.transports.mqtt.message import InboundMessage
from condivisa.transports.mqtt.topics import TopicLayout, payload_id

#: longest wait for the broker to take an answer before its message is acknowledged anyway
ANSWER_WAIT_S = 10.0
#: QoS 1 answers paho may have in flight (beyond it, paho holds answers back while a PUBACK would leave at
#: once)
ANSWERS_IN_FLIGHT = 1000


def settled(info: mqtt.MQTTMessageInfo | None) -> bool:
    """The broker has the answer, or paho gave up on it (disconnected: the wait would be vain), or none was sent."""
    if info is None:
        return True
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True


def answer_topic(layout: TopicLayout, item: InboundMessage) -> str:
    """The sender's ``ack`` topic in the message's own community, or its MQTT 5 Response Topic if that is
    under the sender's own topics and has no wildcard (a device cannot have answers sent to another device's
    topics, nor to another community's)."""
    topic = layout.ack(item.sender_id, item.kind, item.community)
    own = topic.rsplit("/", 1)[0] + "/"
    if (
        item.response_topic
        and item.response_topic.startswith(own)
        and not any(c in item.response_topic for c in "+#")
    ):
        return item.response_topic
    return topic


class AnswerPublisher:
    """Publishes the answers of committed messages on ``client`` and then acknowledges the messages, in
    arrival
    order (see the module docstring). ``connected`` / ``stopped`` are the worker's events: a lost connection
    or
    a stopping worker ends the wait for held-back answers."""

    def __init__(
        self,
        client: mqtt.Client,
        layout: TopicLayout,
        *,
        mqtt5: bool,
        connected: threading.Event,
        stopped: threading.Event,
    ) -> None:
        self.client, self.layout, self.mqtt5 = client, layout, mqtt5
        self._connected, self._stopped = connected, stopped
        #: answers the broker has not confirmed yet (paho's QoS 1 in-flight window)
        self._unconfirmed: deque[mqtt.MQTTMessageInfo] = deque()

    def publish(self, item: InboundMessage, answer: dict[str, Any]) -> mqtt.MQTTMessageInfo:
        """Publish (QoS 1) the answer of one message to its sender (:func:`answer_topic`)."""
        body = orjson.dumps(
            {"payload_id": payload_id(item.payload), "topic": item.topic, **answer}, default=str
        )
        props = None
        if self.mqtt5 and item.correlation is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = item.correlation
        return self.client.publish(answer_topic(self.layout, item), body, qos=1, properties=props)

    def answer_then_ack(
        self,
        entries: list[tuple[InboundMessage, dict[str, Any]]],
        ack: Callable[[InboundMessage, dict[str, Any]], None],
        *,
        publish: bool = True,
    ) -> None:
        """Publish the answers of ``entries`` (unless ``publish`` is false), wait for them only when paho
        holds
        them back, then call ``ack(item, answer)`` for each, in order (MQTT requires PUBACKs in arrival
        order)."""
        while self._unconfirmed and settled(self._unconfirmed[0]):
            self._unconfirmed.popleft()
        in_order = (
            len(self._unconfirmed) + len(entries) <= ANSWERS_IN_FLIGHT - 100
        )  # margin: commands, stragglers
        infos = [self.publish(it, a) if publish else None for it, a in entries]
        self._unconfirmed.extend(i for i in infos if i is not None)
        deadline = time.monotonic() + ANSWER_WAIT_S
        while not (
            in_order
            or all(settled(i) for i in infos)
            or not self._connected.is_set()
            or time.monotonic() >= deadline
            or self._stopped.is_set()
        ):
            time.sleep(0.001)
        for item, answer in entries:
            ack(item, answer)
