"""Helpers of the MQTT tests: a QoS 1 publisher, an ack listener, messages, a worker subprocess."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from condivisa.formats.urbandataset.emit import build_m1_dataset

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
Q = dt.timedelta(minutes=15)


def one_reading(k: int, du: str = "DU-0001", pod: str = "IT001E00000001", w: float = 0.25) -> bytes:
    """Quarter hour number ``k`` after T0 of one DU; the totalizer grows by ``w`` every quarter hour."""
    r = {
        "du_id": du,
        "pod": pod,
        "start": T0 + k * Q,
        "withdrawn_kwh": w,
        "injected_kwh": 0.0,
        "withdrawn_total_kwh": 1000.0 + w * (k + 1),
        "injected_total_kwh": 0.0,
    }
    return json.dumps(build_m1_dataset([r], producer_id=du)).encode()


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def wait_until(cond, timeout_s: float = 20.0, step_s: float = 0.05) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step_s)
    return bool(cond())


class Publisher:
    def __init__(self, host: str, port: int):
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311
        )
        self.client.connect(host, port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Listener:
    """Collects JSON messages on ``topic_filter`` (the ack topics)."""

    def __init__(self, host: str, port: int, topic_filter: str):
        self.messages: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"lis-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311
        )
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._ready.wait(10), "listener could not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, json.loads(msg.payload)))

    def snapshot(self) -> list[tuple[str, dict]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class WorkerProcess:
    """``condivisa serve --no-api`` in a subprocess, stderr to a file."""

    def __init__(
        self, tmp: Path, db_url: str, broker_url: str, community: str, client_id: str, protocol: str
    ):
        self.log = tmp / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = dict(
            os.environ,
            CONDIVISA_MQTT_PROTOCOL=protocol,
            CONDIVISA_MQTT_CLIENT_ID=client_id,
            CONDIVISA_MQTT_SESSION_EXPIRY_S="120",
        )
        self.fh = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "condivisa",
                "serve",
                "--no-api",
                "--database",
                db_url,
                "--mqtt-url",
                broker_url,
                "--community",
                community,
                "--log-level",
                "warning",
            ],
            stdout=self.fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
        )
        ok = wait_until(lambda: "MQTT worker connected" in self.text() or self.proc.poll() is not None, 60)
        assert ok and self.proc.poll() is None, f"worker did not start:\n{self.text()}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.fh.close()

    def terminate(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.fh.close()
        return self.text()
