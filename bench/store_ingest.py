"""Ingestion cost without transport: ``ingest_payload`` (decode, schema + profile validation, cross-checks,
one transaction per message) against a baseline measured in the same run: the same rows written by a bare
SQLAlchemy executemany INSERT, one transaction per message, into a fresh copy of the same schema.

    python bench/store_ingest.py [--messages 2000] [--group 1] [--database sqlite|postgres|both]

Prints messages/s, readings/s and the ratio ingest/baseline (1.0 = validation and checks cost nothing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.formats.urbandataset.parse import parse_urbandataset
from condivisa.ingest.pipeline import ingest_payload
from condivisa.store.models import Measurement
from condivisa.store.store import Store

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, tzinfo=UTC)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def payloads(n_messages: int, group: int, n_devices: int = 100) -> list[bytes]:
    """``n_messages`` messages of ``group`` DUs each; each DU advances one quarter hour per message it is in."""
    out, step = [], {}
    for m in range(n_messages):
        rows = []
        for g in range(group):
            du = (m * group + g) % n_devices
            q = step.get(du, 0)
            step[du] = q + 1
            rows.append(
                {
                    "du_id": f"DU-{du:05d}",
                    "pod": f"IT001E{du:08d}",
                    "start": T0 + dt.timedelta(minutes=15 * q),
                    "withdrawn_kwh": 0.25,
                    "injected_kwh": 0.0,
                    "withdrawn_total_kwh": 1000 + 0.25 * (q + 1),
                    "injected_total_kwh": 10.0,
                }
            )
        out.append(
            json.dumps(
                build_m1_dataset(rows, producer_id="bench", timestamp=T0 + dt.timedelta(days=30))
            ).encode()
        )
    return out


def fresh_store(kind: str, tmp: Path) -> tuple[Store, callable]:
    if kind == "sqlite":
        s = Store(f"sqlite:///{tmp / (uuid.uuid4().hex + '.db')}")
        return s, s.close
    name = f"condivisa_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    s = Store(PG_ADMIN.rsplit("/", 1)[0] + "/" + name)

    def drop():
        s.close()
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return s, drop


def setup(store: Store, n_devices: int = 100) -> None:
    store.upgrade()
    store.register(
        pods=[(f"IT001E{d:08d}", f"m{d}", "consumption") for d in range(n_devices)],
        devices=[(f"DU-{d:05d}", f"IT001E{d:08d}", f"m{d}") for d in range(n_devices)],
    )


def run(kind: str, msgs: list[bytes], tmp: Path) -> None:
    received = T0 + dt.timedelta(days=30)
    rows_per_msg = [
        [
            {
                "pod": r.pod,
                "start_utc": r.start,
                "meter": "M1",
                "minutes": 15,
                "withdrawn_kwh": r.withdrawn_kwh,
                "injected_kwh": r.injected_kwh,
                "withdrawn_total_kwh": r.withdrawn_total_kwh,
                "injected_total_kwh": r.injected_total_kwh,
                "du_id": r.du_id,
                "received_at": received,
                "source": "bench",
                "revision": 0,
                "flags": None,
            }
            for r in parse_urbandataset(json.loads(m)).readings
        ]
        for m in msgs
    ]
    n_readings = sum(len(r) for r in rows_per_msg)

    base, close = fresh_store(kind, tmp)
    setup(base)
    t = time.perf_counter()
    for rows in rows_per_msg:
        with base.engine.begin() as conn:
            conn.execute(sa.insert(Measurement.__table__), rows)
    t_base = time.perf_counter() - t
    close()

    store, close = fresh_store(kind, tmp)
    setup(store)
    t = time.perf_counter()
    stored = 0
    for m in msgs:
        stored += ingest_payload(store, m, source="bench", received_at=received).stored
    t_ingest = time.perf_counter() - t
    t = time.perf_counter()
    dup = sum(ingest_payload(store, m, source="bench", received_at=received).duplicates for m in msgs)
    t_dup = time.perf_counter() - t
    close()

    t = time.perf_counter()
    for m in msgs:
        parse_urbandataset(json.loads(m))
    t_parse = time.perf_counter() - t

    n = len(msgs)
    print(f"{kind:8s} messages={n} readings={n_readings}")
    print(f"  baseline bare INSERT : {n / t_base:8.0f} msg/s {n_readings / t_base:9.0f} readings/s")
    print(
        f"  ingest_payload       : {n / t_ingest:8.0f} msg/s {n_readings / t_ingest:9.0f} readings/s  "
        f"ratio to baseline {t_base / t_ingest:.2f}  stored={stored}/{n_readings}"
    )
    print(f"  same messages again  : {n / t_dup:8.0f} msg/s  duplicates={dup}/{n_readings}")
    print(f"  parse+validate only  : {n / t_parse:8.0f} msg/s (no database)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--group", type=int, default=1, help="DUs per message")
    ap.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    if "postgres" in kinds:
        try:
            socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        except OSError:
            print("PostgreSQL not reachable on 127.0.0.1:5432: skipped", file=sys.stderr)
            kinds.remove("postgres")
    msgs = payloads(args.messages, args.group)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            run(kind, msgs, Path(tmp))


if __name__ == "__main__":
    main()
