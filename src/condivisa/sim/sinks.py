"""Where simulated DUs send their messages: an MQTT broker (:class:`MqttSink`) or a platform's REST API
(:class:`RestSink`); both count the platform's answers.

Rules implemented:
- over MQTT, each message is published with QoS 1 (MQTT 3.1.1, so it works with Mosquitto and the embedded
  broker) on the sender's uplink topic (:class:`~condivisa.transports.mqtt.topics.TopicLayout`); the answers
  come on the ack topics, and a ``resend`` command on a DU's cmd topic is kept for the sender
  (:meth:`MqttSink.take_resends`); an ``event`` or ``advice`` command (:mod:`condivisa.formats.flex_messages`)
  is kept for the send loop (:meth:`MqttSink.take_commands`, answered by
  :func:`condivisa.sim.devices.answer_commands`) and an event's reply goes out QoS 1 on the DU's reply topic
  (:meth:`MqttSink.reply`); an invalid command is logged and ignored; with ``credentials`` (the DU
  passwords of ``condivisa mqtt-acl``'s ``new-credentials.csv``) each DU logs in on its own connection,
  its client id being its username;
- over REST, each message is POSTed gzipped to ``<api>/api/v1/urbandatasets``; server errors and refusals
  (401, 403, 413, 415) are counted as ``http_errors``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import pandas as pd

from condivisa.formats.flex_messages import (
    Advice,
    EventCommand,
    MessageError,
    Reply,
    parse_advice,
    parse_event,
    reply_payload,
)
from condivisa.sim.devices import Message

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)


class MqttSink:
    """Publishes messages with QoS 1 (MQTT 3.1.1, works with Mosquitto and the embedded broker) and counts
    the platform's answers on the ack topics."""

    def __init__(
        self,
        url: str,
        community: str,
        root: str = "condivisa",
        client_id: str = "condivisa-simulator",
        credentials: Mapping[str, str] | None = None,
    ):
        from urllib.parse import urlsplit

        from condivisa.transports.mqtt.topics import TopicLayout

        parts = urlsplit(url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 1883)
        self._root, self._community = root, community
        self.layout = TopicLayout(community, root)
        self.answers = {"accepted": 0, "rejected": 0, "stored": 0, "duplicates": 0}
        self._resends: list[tuple[str, dt.datetime]] = []
        self._commands: list[tuple[str, EventCommand | Advice]] = []
        self._lock = threading.Lock()
        self.commands_received = 0  # valid event/advice commands received so far
        self.invalid_commands = 0
        self._pending: list = []
        self._credentials = dict(credentials) if credentials is not None else None
        self._clients: dict[str, mqtt.Client] = {}
        if self._credentials is None:  # one connection for every DU: a broker without device passwords
            self.client = self._connect(client_id, None, f"{root}/{community}/+/+")

    def _connect(self, client_id: str, password: str | None, topic_base: str) -> mqtt.Client:
        """A started paho client (MQTT 3.1.1, QoS 1) subscribed to ``topic_base``/ack and /cmd; with a
        ``password`` it logs in as ``client_id`` (a device's client id is its username, docs/mqtt.md)."""
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        if password is not None:
            client.username_pw_set(client_id, password)
        client.max_inflight_messages_set(100)
        connack: list[object] = []
        subscribed: list[object] = []

        def on_connect(
            c: mqtt.Client, userdata: object, flags: object, reason: object, *rest: object
        ) -> None:
            if not getattr(reason, "is_failure", False):
                c.subscribe([(f"{topic_base}/ack", 1), (f"{topic_base}/cmd", 1)])
            connack.append(reason)

        client.on_connect = on_connect
        client.on_subscribe = lambda *args: subscribed.append(args)
        client.on_message = self._on_ack
        client.connect(*self._address)
        client.loop_start()
        deadline = time.monotonic() + 10.0
        while not connack and time.monotonic() < deadline:
            time.sleep(0.01)
        while connack and not subscribed and time.monotonic() < deadline:  # commands reach us from here on
            time.sleep(0.01)
        if not connack or getattr(connack[0], "is_failure", False):
            client.loop_stop()
            why = connack[0] if connack else "no answer within 10 s"
            raise ConnectionRefusedError(
                f"the broker {self._address[0]}:{self._address[1]} refused {client_id}: {why}"
            )
        return client

    def _client_for(self, sender_id: str, kind: str) -> mqtt.Client:
        """The connection a message of ``sender_id`` goes out on: its own login when credentials are given."""
        if self._credentials is None:
            return self.client
        client = self._clients.get(sender_id)
        if client is None:
            password = self._credentials.get(sender_id)
            if password is None:
                raise KeyError(f"no MQTT password for {sender_id} in the credentials file")
            base = self.layout.up(sender_id, kind).rsplit("/", 1)[0]
            client = self._clients[sender_id] = self._connect(sender_id, password, base)
        return client

    def _on_ack(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            a = json.loads(msg.payload)
        except ValueError:
            return
        if msg.topic.endswith("/cmd"):
            parsed = self.layout.parse(msg.topic)
            if not isinstance(a, dict) or parsed is None:
                return
            if a.get("cmd") == "resend" and a.get("from"):
                try:
                    self._resends.append((parsed[1], pd.Timestamp(a["from"]).to_pydatetime()))
                except ValueError:
                    pass
            elif a.get("cmd") in ("event", "advice") and parsed[0] == "du":
                self._keep_command(parsed[1], a)
            return
        self.answers["accepted" if a.get("accepted") else "rejected"] += 1
        self.answers["stored"] += int(a.get("stored") or 0)
        self.answers["duplicates"] += int(a.get("duplicates") or 0)

    def _keep_command(self, du_id: str, body: dict) -> None:
        """Keep a valid ``event``/``advice`` for :meth:`take_commands`; log and drop an invalid one."""
        try:
            command = parse_event(body) if body["cmd"] == "event" else parse_advice(body)
        except MessageError as exc:
            log.warning("ignoring an invalid %s command for %s: %s", body["cmd"], du_id, exc)
            with self._lock:
                self.invalid_commands += 1
            return
        with self._lock:
            self._commands.append((du_id, command))
            self.commands_received += 1

    def take_commands(self) -> list[tuple[str, EventCommand | Advice]]:
        """``(du_id, command)`` of the valid ``event``/``advice`` commands received since the last call."""
        with self._lock:
            out, self._commands = self._commands, []
        return out

    def wait_commands(self, expected: int, timeout_s: float = 10.0) -> int:
        """Wait until ``expected`` valid commands were received in all (or ``timeout_s``); returns the count.
        A test publishing an event before the window is sent waits here so the response is deterministic."""
        deadline = time.monotonic() + timeout_s
        while self.commands_received < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.commands_received

    def reply(self, du_id: str, reply: Reply) -> None:
        """Publish ``reply`` (QoS 1) on ``du_id``'s reply topic, from the DU's connection."""
        client = self._client_for(du_id, "du")
        self._pending.append(client.publish(self.layout.reply(du_id), reply_payload(reply), qos=1))

    def answered(self) -> int:
        """Messages the platform answered so far (accepted or rejected)."""
        return self.answers["accepted"] + self.answers["rejected"]

    def wait_answers(
        self,
        expected: int,
        idle_timeout_s: float = 10.0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Wait until ``expected`` answers came back, or none came for ``idle_timeout_s``; returns the count.
        ``on_progress(done, expected)`` is told as they come."""
        last, since = -1, time.monotonic()
        while True:
            got = self.answered()
            if on_progress is not None:
                on_progress(min(got, expected), expected)
            if got >= expected:
                return got
            if got != last:
                last, since = got, time.monotonic()
            elif time.monotonic() - since > idle_timeout_s:
                return got
            time.sleep(0.1)

    def send(self, m: Message) -> None:
        client = self._client_for(m.sender_id, m.kind)
        self._pending.append(client.publish(self.layout.up(m.sender_id, m.kind), m.payload, qos=1))
        if len(self._pending) >= 500:
            self.flush()

    def take_resends(self) -> list[tuple[str, dt.datetime]]:
        """``(du_id, from)`` of the ``resend`` commands received since the last call."""
        out, self._resends = self._resends, []
        return out

    def flush(self) -> None:
        for info in self._pending:
            info.wait_for_publish(60)
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        for client in [*self._clients.values(), *([self.client] if self._credentials is None else [])]:
            client.disconnect()
            client.loop_stop()


class RestSink:
    """POSTs each message, gzipped, to ``<api>/api/v1/urbandatasets`` and counts the answers."""

    def __init__(self, api_url: str, token: str | None = None):
        import httpx

        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=60)
        self.answers = {"accepted": 0, "rejected": 0, "stored": 0, "duplicates": 0, "http_errors": 0}

    def send(self, m: Message) -> None:
        r = self.client.post("/api/v1/urbandatasets", content=gzip.compress(m.payload, compresslevel=5))
        if r.status_code >= 500 or r.status_code in (401, 403, 413, 415):
            self.answers["http_errors"] += 1
            return
        a = r.json()
        self.answers["accepted" if a.get("accepted") else "rejected"] += 1
        self.answers["stored"] += int(a.get("stored") or 0)
        self.answers["duplicates"] += int(a.get("duplicates") or 0)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.client.close()
