"""REST under faults, against the real ``condivisa serve`` process (SQLite, durable commits): several
connections push while the server is killed (``kill -9``) or stopped (SIGTERM). Whatever was answered 2xx is
in the database, whole; no message is there in part; sending everything again after a restart stores each
quarter hour exactly once. This is what group commit must not break: an answer only after the commit."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import threading

import httpx
import pytest
import sqlalchemy as sa

from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.store.models import Measurement
from condivisa.store.store import Store
from condivisa.transports.mqtt.broker import free_port
from mqtt_helpers import wait_until

T0 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
Q = dt.timedelta(minutes=15)
LINES = 8  # quarter hours per message
CONNECTIONS = [
    ("IT001E00000001", "DU-0001"),
    ("IT001E00000002", "DU-0002"),
    ("IT001E00000003", "DU-0003"),
    ("IT001E00000004", "DU-0004"),
]  # one POD per connection: messages never overlap


def message(pod: str, du: str, j: int) -> bytes:
    """Message ``j`` of a connection: quarter hours ``8j … 8j+7`` of its POD, consistent totalizers."""
    rows = [
        {
            "du_id": du,
            "pod": pod,
            "start": T0 + (LINES * j + k) * Q,
            "withdrawn_kwh": 0.25,
            "injected_kwh": 0.0,
            "withdrawn_total_kwh": 1000.0 + 0.25 * (LINES * j + k + 1),
            "injected_total_kwh": 0.0,
        }
        for k in range(LINES)
    ]
    return json.dumps(build_m1_dataset(rows, producer_id=du)).encode()


class Server:
    """``condivisa serve --no-mqtt`` on a SQLite file, as a child process."""

    def __init__(self, tmp_path, community) -> None:
        self.db = f"sqlite:///{tmp_path / 'platform.db'}"
        self.log = tmp_path / "serve.log"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.community = community
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "condivisa",
                    "serve",
                    "--no-mqtt",
                    "--insecure-no-auth",  # this test is about faults, not authentication
                    "--config",
                    str(self.community),
                    "--database",
                    self.db,
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=self.log.parent,
            )
        assert wait_until(lambda: self._up() or self.proc.poll() is not None, 60), self.log.read_text()
        assert self.proc.poll() is None, self.log.read_text()
        return self

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


class Pushers:
    """One thread per connection, pushing its messages one after the other until told to stop or refused;
    remembers which were answered 2xx."""

    def __init__(self, base: str, per_connection: int) -> None:
        self.base, self.n = base, per_connection
        self.acked: set[tuple[int, int]] = set()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(c,), daemon=True) for c in range(len(CONNECTIONS))
        ]

    def _run(self, c: int) -> None:
        pod, du = CONNECTIONS[c]
        with httpx.Client(
            base_url=self.base, timeout=30, headers={"Content-Type": "application/json"}
        ) as client:
            for j in range(self.n):
                try:
                    r = client.post("/api/v1/urbandatasets", content=message(pod, du, j))
                except httpx.HTTPError:
                    return  # the server is gone: this message is not acknowledged
                if r.status_code < 300:
                    with self.lock:
                        self.acked.add((c, j))

    def start(self) -> Pushers:
        for t in self.threads:
            t.start()
        return self

    def join(self) -> None:
        for t in self.threads:
            t.join(60)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


def stored_lines(db_url: str) -> dict[tuple[int, int], int]:
    """Lines stored per (connection, message)."""
    pods = {pod: c for c, (pod, _) in enumerate(CONNECTIONS)}
    out: dict[tuple[int, int], int] = {}
    with Store(db_url) as store, store.read() as conn:
        for pod, start in conn.execute(sa.select(Measurement.pod, Measurement.start_utc)):
            q = int((start - T0) / Q)
            key = (pods[pod], q // LINES)
            out[key] = out.get(key, 0) + 1
    return out


def check_acknowledged_are_whole(acked: set, stored: dict) -> None:
    missing = sorted(k for k in acked if stored.get(k) != LINES)
    assert not missing, f"acknowledged but not (wholly) stored: {missing[:10]}"
    partial = sorted(k for k, n in stored.items() if n != LINES)
    assert not partial, f"messages stored in part: {partial[:10]}"


def resend_everything_once_more(server: Server, n: int) -> None:
    pushers = Pushers(server.base, n).start()
    pushers.join()
    assert pushers.count() == len(CONNECTIONS) * n  # every message answered 2xx (stored, or duplicates)
    stored = stored_lines(server.db)
    assert stored == {(c, j): LINES for c in range(len(CONNECTIONS)) for j in range(n)}
    with Store(server.db) as store:
        assert store.counts()["measurements"] == len(CONNECTIONS) * n * LINES  # never twice


N = 150  # messages per connection; the signal comes after 60 answers, in the middle


def stop_while_pushing(server: Server, sig: signal.Signals) -> tuple[int, set, dict]:
    """Push from every connection, send ``sig`` to the server after 60 answers; ``(exit code, acknowledged,
    stored lines)``, then check the acknowledged messages are stored whole and none in part."""
    pushers = Pushers(server.base, N).start()
    try:
        assert wait_until(lambda: pushers.count() >= 60, 60), server.log.read_text()
    finally:
        server.proc.send_signal(sig)
        code = server.proc.wait(30)
    pushers.join()
    acked, stored = set(pushers.acked), stored_lines(server.db)
    print(f"{sig.name}: acknowledged {len(acked)} messages, {len(stored)} stored")
    assert len(acked) < len(CONNECTIONS) * N  # the signal came in the middle
    check_acknowledged_are_whole(acked, stored)
    return code, acked, stored


def restart_and_resend(server: Server) -> None:
    server.start()
    try:
        resend_everything_once_more(server, N)
    finally:
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0, server.log.read_text()


@pytest.mark.slow
def test_kill9_while_pushing_keeps_every_acknowledged_message(tmp_path, example_community_path):
    server = Server(tmp_path, example_community_path).start()
    stop_while_pushing(server, signal.SIGKILL)
    restart_and_resend(server)


@pytest.mark.slow
def test_sigterm_while_pushing_answers_in_flight_and_stores_them(tmp_path, example_community_path):
    server = Server(tmp_path, example_community_path).start()
    code, _, _ = stop_while_pushing(server, signal.SIGTERM)
    assert code == 0, (
        server.log.read_text()
    )  # a clean stop: in-flight requests answered, their batch committed
    restart_and_resend(server)
