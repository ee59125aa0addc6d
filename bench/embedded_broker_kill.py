"""How many messages the embedded broker acknowledged and lost when it is killed (issue #13, finding 4).

    python bench/embedded_broker_kill.py [--messages 1000] [--inflight 100] [--kill-after 300] [--json]

The embedded amqtt broker runs in a subprocess; an ingest worker (this process, SQLite in a temporary
folder) is subscribed on a persistent session; a DU publishes ``--messages`` QoS 1 messages without pauses,
at most ``--inflight`` unacknowledged at once. Once ``--kill-after`` PUBACKs have arrived the broker is
killed with SIGKILL and started again on the same port; the worker reconnects (and reports the lost
session). Then it counts the messages whose PUBACK the device had received and that are not stored: they
are lost, since the device will never send them again. Mosquitto with the configuration of ``condivisa
mqtt-acl`` keeps them (persistence); amqtt keeps everything in memory, hence ``docs/mqtt.md``: the embedded
broker is for trials.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from condivisa.app.runtime import mqtt_ingest_worker  # noqa: E402
from condivisa.domain.config import load_community  # noqa: E402
from condivisa.store.store import Store  # noqa: E402
from condivisa.transports.mqtt.broker import free_port  # noqa: E402
from condivisa.transports.mqtt.topics import TopicLayout  # noqa: E402
from mqtt_helpers import T0, one_reading, wait_port, wait_until  # noqa: E402

BROKER = (
    "import sys, time; from condivisa.transports.mqtt.broker import EmbeddedBroker; "
    "EmbeddedBroker(port=int(sys.argv[1])).start(); time.sleep(1e9)"
)


def _broker(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", BROKER, str(port)], stderr=subprocess.DEVNULL)
    wait_port(port, 20)
    return proc


def measure(messages: int = 1000, inflight: int = 100, kill_after: int = 300) -> dict[str, object]:
    """Publish, kill the broker after ``kill_after`` PUBACKs, restart it; count what was acknowledged and lost."""
    port = free_port()
    layout = TopicLayout("bench-kill")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/kill.db")
        store.upgrade()
        store.register_devices(load_community(ROOT / "examples" / "community.yaml"))
        broker = _broker(port)
        worker = mqtt_ingest_worker(
            store, "127.0.0.1", port, layout=layout, client_id=f"kill-{uuid.uuid4().hex[:6]}", mqtt5=False
        ).start()
        assert worker.wait_connected(10), "worker did not connect"
        acked: set[int] = set()
        lock = threading.Lock()
        mids: dict[int, int] = {}
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="DU-0001", protocol=mqtt.MQTTv311)
        pub.max_inflight_messages_set(inflight)
        pub.max_queued_messages_set(0)

        def on_publish(c: mqtt.Client, u: object, mid: int, rc: object, p: object) -> None:
            with lock:
                if mid in mids:
                    acked.add(mids[mid])

        pub.on_publish = on_publish
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        for k in range(messages):
            info = pub.publish(layout.up("DU-0001"), one_reading(k), qos=1)
            with lock:
                mids[info.mid] = k
        wait_until(lambda: len(acked) >= kill_after, 60, 0.001)
        os.kill(broker.pid, signal.SIGKILL)
        broker.wait(10)
        with lock:
            acked_at_kill = set(acked)
        pub.loop_stop()
        time.sleep(1.0)
        broker = _broker(port)  # a new broker: the worker reconnects to it
        wait_until(lambda: worker.connected, 30)
        wait_until(worker.idle, 30)
        time.sleep(1.0)
        stored = set(store.measurements_frame()["start"]) if store.counts()["measurements"] else set()
        stored_k = {int((s.to_pydatetime() - T0).total_seconds() // 900) for s in stored}
        result = {
            "messages": messages,
            "inflight": inflight,
            "acked_before_kill": len(acked_at_kill),
            "stored": len(stored_k),
            "acked_and_lost": len(acked_at_kill - stored_k),
            "worker_health_after": worker.health,
        }
        worker.stop(2)
        broker.kill()
        broker.wait(10)
        store.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--inflight", type=int, default=100)
    ap.add_argument("--kill-after", type=int, default=300)
    ap.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = ap.parse_args()
    result = measure(args.messages, args.inflight, args.kill_after)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
