"""`condivisa serve` end to end on the embedded defaults: embedded broker + MQTT worker + HTTP API in one
process; a reading published over MQTT is readable over HTTP; SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from condivisa.transports.mqtt.broker import free_port
from condivisa.transports.mqtt.topics import TopicLayout
from mqtt_helpers import T0, Listener, Publisher, one_reading, wait_until


@pytest.mark.slow
def test_serve_embedded_end_to_end(tmp_path, example_community_path):
    mqtt_port, http_port = free_port(), free_port()
    env = dict(os.environ, CONDIVISA_MQTT_EMBEDDED_PORT=str(mqtt_port))
    env.pop("CONDIVISA_MQTT_URL", None)
    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "condivisa",
                "serve",
                "--insecure-no-auth",  # this test is about the embedded services, not authentication
                "--config",
                str(example_community_path),
                "--database",
                f"sqlite:///{tmp_path / 'platform.db'}",
                "--port",
                str(http_port),
                "--log-level",
                "warning",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
        try:
            assert wait_until(lambda: "HTTP API on" in log.read_text() or proc.poll() is not None, 60), (
                log.read_text()
            )
            assert proc.poll() is None, log.read_text()
            base = f"http://127.0.0.1:{http_port}"
            assert wait_until(lambda: httpx.get(f"{base}/healthz").status_code == 200, 20)
            assert httpx.get(f"{base}/healthz").json()["mqtt"] == "connected"

            layout = TopicLayout("cer-esempio-sud")  # slug of "CER Esempio Sud"
            acks = Listener("127.0.0.1", mqtt_port, layout.ack("DU-0001"))
            pub = Publisher("127.0.0.1", mqtt_port)
            pub.publish(layout.up("DU-0001"), one_reading(0, w=0.375))
            assert wait_until(lambda: len(acks.snapshot()) == 1, 20), log.read_text()
            assert acks.snapshot()[0][1]["stored"] == 1
            pub.close()
            acks.close()

            # T0 = 2025-06-01 00:00 UTC = 02:00 in Rome
            r = httpx.get(
                f"{base}/api/v1/pods/IT001E00000001/measurements",
                params={"from": T0.isoformat(), "to": "2025-06-01T03:00:00+02:00"},
            )
            assert [(m["start"], m["withdrawn_kwh"]) for m in r.json()["measurements"]] == [
                ("2025-06-01T02:00:00+02:00", 0.375)
            ]
            r = httpx.post(
                f"{base}/api/v1/urbandatasets",
                content=one_reading(1),
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 201 and r.json()["stored"] == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
    text = log.read_text()
    assert code == 0, text
    assert "stopped." in text
    stats = json.loads(text.split("MQTT worker: ")[1].splitlines()[0].replace("'", '"'))
    assert stats["acked"] == 1 and stats["stored"] == 1
