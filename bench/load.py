"""Sustained load: many simulated DUs send their quarter-hour UrbanDatasets over MQTT, with time
compressed, to the real ``condivisa serve`` (``--workers`` ingest worker processes on a shared subscription)
storing into PostgreSQL.

    python bench/load.py [--dus 1000] [--day-seconds 10] [--seconds 30] [--database postgres|sqlite|URL] [--workers 2]
    python bench/load.py --baseline-src /tmp/base/src ...   # the same load on an earlier checkout, then this one

Every DU publishes one message (QoS 1, its own topic ``condivisa/bench/du/<id>/up``) per simulated quarter
hour; a simulated day of 96 quarter hours lasts ``--day-seconds``, so the offered load is
``dus * 96 / day_seconds`` messages per second, for ``--seconds``. Measured in the same run:

- **raw broker rate**: the same number of the same payloads published as fast as possible through the same
  Mosquitto to a subscriber that only counts them (messages/s);
- **ingest rate**: messages stored (acknowledged by the worker after its commit) per second, from the first
  publish to the last acknowledgement; *held* when it keeps up with the offered load (>= 95 %);
- **latency** from publish to the worker's acknowledgement (sent after the commit): p50 and p99;
- **sent / stored / lost**: the database is counted at the end (goal: lost = 0).

Prints the ingest rate as a ratio to the raw broker rate. Nothing is asserted. Needs /usr/sbin/mosquitto
(its own instance on a free port, persistent queue large enough for a lagging worker) and, for the default
``--database postgres``, the PostgreSQL server at 127.0.0.1:5432 (a throw-away database is created).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import sqlalchemy as sa

from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.store.store import Store
from condivisa.transports.mqtt.topics import TopicLayout, payload_id

MOSQUITTO = "/usr/sbin/mosquitto"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
UTC = dt.timezone.utc
QUARTER = dt.timedelta(minutes=15)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(cond, timeout_s: float, step_s: float = 0.05) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step_s)
    return bool(cond())


def du_id(i: int) -> str:
    return f"DU-{i:05d}"


def pod(i: int) -> str:
    return f"IT001E{i:08d}"


def quarter_payloads(k: int, t0: dt.datetime, dus: int) -> list[bytes]:
    """One message per DU for quarter hour ``k``: built once for DU 0, then its ids swapped (same length)."""
    start = t0 + k * QUARTER
    hour = start.astimezone(dt.timezone(dt.timedelta(hours=1))).hour
    kwh = 0.05 + 0.2 * (hour in (7, 8, 19, 20, 21))  # a morning and an evening peak
    doc = json.dumps(
        build_m1_dataset(
            [{"du_id": du_id(0), "pod": pod(0), "start": start, "withdrawn_kwh": kwh, "injected_kwh": 0.0}],
            producer_id=du_id(0),
        )
    ).encode()
    a, b = du_id(0).encode(), pod(0).encode()
    return [doc.replace(a, du_id(i).encode()).replace(b, pod(i).encode()) for i in range(dus)]


class Mosquitto:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        conf = tmp / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    f"user {getpass.getuser()}",
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "max_queued_messages 10000000",
                    "max_inflight_messages 100",
                    f"log_dest file {tmp / 'mosquitto.log'}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "log_type information",
                    "",
                ]
            )
        )
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        if not wait(lambda: _listening(self.port), 10):
            raise SystemExit("mosquitto did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def client(port: int, name: str, on_message=None, subscribe: str | None = None) -> mqtt.Client:
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv311
    )
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    ready = threading.Event()
    if subscribe:
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(subscribe, qos=1)
        c.on_subscribe = lambda *a: ready.set()
        c.on_message = on_message
    else:
        c.on_connect = lambda *a: ready.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    if not ready.wait(10):
        raise SystemExit(f"{name}: could not connect/subscribe")
    return c


def raw_broker_rate(port: int, payloads: list[bytes]) -> float:
    """Messages/s of the same payloads through the broker to a subscriber that only counts them."""
    count = [0]
    sub = client(port, "raw-sub", lambda c, u, m: count.__setitem__(0, count[0] + 1), "bench/raw/#")
    pub = client(port, "raw-pub")
    t0 = time.perf_counter()
    for i, p in enumerate(payloads):
        pub.publish(f"bench/raw/{i % 1000}", p, qos=1)
    wait(lambda: count[0] >= len(payloads), 300, 0.005)
    elapsed = time.perf_counter() - t0
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return count[0] / elapsed


def open_database(choice: str, tmp: Path) -> tuple[str, callable]:
    if choice == "sqlite":
        return f"sqlite:///{tmp / 'load.db'}", lambda: None
    if choice != "postgres":
        return choice, lambda: None
    name = f"condivisa_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dus", type=int, default=1000)
    ap.add_argument("--day-seconds", type=float, default=10.0, help="wall seconds per simulated day")
    ap.add_argument("--seconds", type=float, default=30.0, help="how long the load lasts")
    ap.add_argument("--database", default="postgres", help="postgres (throw-away database), sqlite, or a URL")
    ap.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for the backlog")
    ap.add_argument(
        "--workers",
        type=int,
        default=2,
        help="ingest worker processes of condivisa serve (shared subscription)",
    )
    ap.add_argument(
        "--baseline-src",
        type=Path,
        help="also run the same load with the condivisa package found in DIR (e.g. the src/ of a clone of an "
        "earlier commit), first, and print both ingest rates and the change",
    )
    return ap.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.baseline_src is None:
        run_load(args)
        return
    argv = [a for a in sys.argv[1:] if not a.startswith("--baseline-src")]
    if "--baseline-src" in sys.argv:
        i = sys.argv.index("--baseline-src")
        argv = sys.argv[1:i] + sys.argv[i + 2 :]
    figures = {}
    for label, src in (("baseline", args.baseline_src.resolve()), ("current", None)):
        print(f"--- {label} ({src or 'this checkout'}) ---", flush=True)
        env = dict(os.environ)
        if src is not None:
            env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
        done = subprocess.run(
            [sys.executable, __file__, *argv], env=env, capture_output=True, text=True, check=False
        )
        print(done.stdout, end="")
        if done.returncode != 0:
            raise SystemExit(f"the {label} run failed:\n{done.stderr}")
        figures[label] = json.loads(done.stdout.rsplit("RESULT ", 1)[1])
    base, cur = figures["baseline"], figures["current"]
    print(
        f"BOTH baseline {base['ingest_msg_per_s']:,.0f} msg/s (ratio {base['ratio']:.3f}, lost {base['lost']}) | "
        f"current {cur['ingest_msg_per_s']:,.0f} msg/s (ratio {cur['ratio']:.3f}, lost {cur['lost']}) | "
        f"change of the ingest rate {100 * (cur['ingest_msg_per_s'] / base['ingest_msg_per_s'] - 1):+.1f} %, "
        f"of the ratio {100 * (cur['ratio'] / base['ratio'] - 1):+.1f} % (the raw broker rate varies between runs)"
    )


def run_load(args: argparse.Namespace) -> None:
    """One load run with the condivisa importable here; prints the figures and a ``RESULT {json}`` line."""

    tick_s = args.day_seconds / 96
    ticks = max(1, int(round(args.seconds / tick_s)))
    offered = args.dus / tick_s
    t0 = (dt.datetime.now(UTC) - dt.timedelta(days=ticks // 96 + 30)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    tmp = Path(tempfile.mkdtemp(prefix="condivisa-load-"))
    url, drop = open_database(args.database, tmp)
    broker = Mosquitto(tmp)
    worker = None
    try:
        store = Store(url)
        store.upgrade()
        store.register(
            pods=[(pod(i), f"m{i}", "consumption") for i in range(args.dus)],
            devices=[(du_id(i), pod(i), f"m{i}") for i in range(args.dus)],
        )
        print(
            f"{args.dus} DUs, a day in {args.day_seconds:g} s: offered {offered:,.0f} msg/s for {ticks} quarter hours "
            f"({ticks * tick_s:.0f} s), database {store.dialect}, {args.workers} ingest worker process(es)"
        )

        first = quarter_payloads(0, t0, args.dus)
        raw_n = min(args.dus * ticks, 20_000)
        raw = raw_broker_rate(broker.port, (first * (raw_n // len(first) + 1))[:raw_n])
        print(f"raw broker rate: {raw:,.0f} msg/s ({raw_n} messages)")

        log = open(tmp / "worker.log", "wb")
        env = dict(
            os.environ,
            CONDIVISA_MQTT_CLIENT_ID=f"load-{uuid.uuid4().hex[:6]}",
            CONDIVISA_MQTT_PROTOCOL="5",
            CONDIVISA_MQTT_INGEST_WORKERS=str(args.workers),
        )
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "condivisa",
                "serve",
                "--no-api",
                "--database",
                url,
                "--mqtt-url",
                f"mqtt://127.0.0.1:{broker.port}",
                "--community",
                "bench",
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
        )
        if not wait(lambda: b"MQTT worker connected" in (tmp / "worker.log").read_bytes(), 60):
            raise SystemExit("worker did not start:\n" + (tmp / "worker.log").read_text())

        sent_at: dict[str, float] = {}
        acked_at: dict[str, float] = {}
        lock = threading.Lock()

        def on_ack(c, u, m) -> None:
            now = time.perf_counter()
            pid = json.loads(m.payload)["payload_id"]
            with lock:
                acked_at.setdefault(pid, now)

        layout = TopicLayout("bench")
        acks = client(broker.port, "acks", on_ack, "condivisa/bench/du/+/ack")
        pubs = [client(broker.port, f"du-pub{j}") for j in range(2)]
        start = time.perf_counter()
        behind = 0.0
        infos, refused = [], 0
        for k in range(ticks):
            batch = quarter_payloads(k, t0, args.dus)
            tick_start = start + k * tick_s
            for i, payload in enumerate(batch):
                due = tick_start + tick_s * i / len(batch)
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    behind = max(behind, -delay)
                pid = payload_id(payload)
                with lock:
                    sent_at[pid] = time.perf_counter()
                while (
                    True
                ):  # a DU whose client cannot take the message now retries (paho has 65,535 message ids)
                    info = pubs[i % 2].publish(layout.up(du_id(i)), payload, qos=1)
                    if info.rc != mqtt.MQTT_ERR_QUEUE_SIZE:
                        break
                    refused += 1
                    time.sleep(0.001)
                infos.append(info)
        publish_s = time.perf_counter() - start
        sent = len(sent_at)
        wait(lambda: len(acked_at) >= sent, args.drain_timeout, 0.1)
        confirmed = sum(1 for info in infos if info.rc == mqtt.MQTT_ERR_SUCCESS and info.is_published())
        print(
            f"the broker confirmed (PUBACK) {confirmed:,} of the {sent:,} messages published "
            f"({refused:,} times a publisher's client was full and the DU retried)"
        )
        end = max(acked_at.values()) if acked_at else time.perf_counter()
        stored = store.counts()["measurements"]
        for c in pubs + [acks]:
            c.disconnect()
            c.loop_stop()

        lat = np.array([acked_at[p] - sent_at[p] for p in acked_at if p in sent_at]) * 1000
        ingest = len(acked_at) / (end - start)
        print(
            f"published {sent:,} messages in {publish_s:.1f} s ({sent / publish_s:,.0f} msg/s; publisher at most "
            f"{behind:.2f} s behind schedule)"
        )
        print(
            f"ingest rate: {ingest:,.0f} msg/s -> {'held' if ingest >= 0.95 * offered else 'NOT held'} "
            f"({ingest / offered:.2f} of the offered {offered:,.0f} msg/s)"
        )
        if lat.size:
            print(
                f"latency publish -> stored+acknowledged: p50 {np.percentile(lat, 50):,.0f} ms, "
                f"p99 {np.percentile(lat, 99):,.0f} ms, max {lat.max():,.0f} ms"
            )
        print(f"sent {sent:,}  stored {stored:,}  lost {sent - stored:,}")
        print(f"RATIO ingest / raw broker rate: {ingest / raw:.3f}")
        result = {
            "ingest_msg_per_s": ingest,
            "raw_msg_per_s": raw,
            "ratio": ingest / raw,
            "lost": sent - stored,
        }
        print("RESULT " + json.dumps(result), flush=True)
        store.close()
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(60)
        broker.stop()
        drop()


if __name__ == "__main__":
    main()
