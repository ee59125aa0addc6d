"""The read path on PostgreSQL: ``Store.measurements_frame`` (the settlement's table) against a bare ``COPY ...
TO STDOUT`` of the same rows, measured in the same run on the same (partitioned) table.

    python bench/read_path.py [--pods 100] [--days 365] [--repeat 2]
    python bench/read_path.py --pods 1000           # the full size: 1,000 PODs x a year = 35 M rows

Loads ``pods`` x ``days`` quarter hours (exchange meter M1, starting 2025-01-01 in Italian time; each row as an
MQTT reading stores it: meter totals, DU id, source topic) into a fresh database with one server-side
``INSERT ... SELECT generate_series`` (no client round trips), prints the bytes on disk per row (partitions,
indexes, TOAST: the storage per year of docs/scale.md), then times, best of ``repeat``:

- ``bare COPY``: ``COPY (SELECT pod, start_utc, withdrawn_kwh, injected_kwh FROM measurements WHERE ... ORDER
  BY pod, start_utc) TO STDOUT`` consumed block by block by psycopg (nothing parsed): the floor;
- ``measurements_frame``: ``Store.measurements_frame(pods, start, end)`` into the settlement's DataFrame
  (``pod``, ``start`` aware Europe/Rome, ``withdrawn_kwh``, ``injected_kwh``, sorted).

Prints rows/s of both and the ratio frame/COPY (goal >= 0.5); asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import sys
import time
import uuid

import psycopg
import sqlalchemy as sa

from condivisa.kernel.timegrid import ROME
from condivisa.store.store import Store

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START = dt.datetime(2025, 1, 1, tzinfo=ROME)


def pod_code(i: int) -> str:
    return f"IT001E{i:08d}"


def load(store: Store, pods: int, start: dt.datetime, end: dt.datetime) -> int:
    """Fill ``measurements`` server-side; returns the rows stored."""
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO measurements (pod, start_utc, meter, minutes, withdrawn_kwh, injected_kwh, "
                "withdrawn_total_kwh, injected_total_kwh, du_id, received_at, source, revision) "
                "SELECT 'IT001E' || lpad(p::text, 8, '0'), t, 'M1', 15, round((random() * 0.5)::numeric, 3), "
                "round((random() * 0.2)::numeric, 3), 12345.678, 2345.678, 'DU-' || lpad(p::text, 6, '0'), "
                "now(), 'mqtt:condivisa/cer-bench/du/DU-' || lpad(p::text, 6, '0') || '/up', 0 "
                "FROM generate_series(0, :n - 1) AS p, "
                "generate_series(CAST(:lo AS timestamptz), CAST(:hi AS timestamptz) - interval '15 minutes', "
                "interval '15 minutes') AS t ORDER BY 1, 2"
            ),
            {"n": pods, "lo": start, "hi": end},
        )
        n = conn.execute(sa.text("SELECT count(*) FROM measurements")).scalar_one()
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE measurements")
    return int(n)


def on_disk_bytes(store: Store) -> int:
    """Bytes on disk of every partition of ``measurements`` with its indexes and TOAST."""
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
                    "WHERE inhparent = 'measurements'::regclass"
                )
            ).scalar_one()
        )


def bare_copy(dsn: str, codes: list[str], start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """Rows and bytes of the bare COPY TO STDOUT."""
    sql = (
        "COPY (SELECT pod, start_utc, withdrawn_kwh, injected_kwh FROM measurements WHERE meter = 'M1' "
        "AND pod = ANY(%s) AND start_utc >= %s AND start_utc < %s ORDER BY pod, start_utc) TO STDOUT"
    )
    rows = size = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(sql, (codes, start, end)) as copy:
            for block in copy:
                rows += bytes(block).count(b"\n")
                size += len(block)
    return rows, size


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=100, help="PODs (1000: the full benchmark)")
    ap.add_argument("--days", type=int, default=365, help="days of quarter hours per POD")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        print("PostgreSQL not reachable on 127.0.0.1:5432", file=sys.stderr)
        raise SystemExit(1) from None
    end = START + dt.timedelta(days=args.days)  # wall-clock arithmetic: midnight in Rome
    codes = [pod_code(i) for i in range(args.pods)]

    name = f"condivisa_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        with Store(url) as store:
            store.upgrade()
            store.register(pods=[(c, f"m{i}", "consumption") for i, c in enumerate(codes)])
            t = time.perf_counter()
            n = load(store, args.pods, START, end)
            t_load = time.perf_counter() - t
            print(f"PostgreSQL, partitioned measurements: {args.pods} PODs x {args.days} days = {n:,} rows")
            print(f"  load (INSERT ... SELECT generate_series + VACUUM ANALYZE): {t_load:6.1f} s")
            size_b = on_disk_bytes(store)
            print(
                f"  on disk (partitions, indexes, TOAST): {size_b / 1e6:,.0f} MB = {size_b / n:.0f} bytes per row"
            )

            dsn = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            t_copy, (rows_copy, size) = best(lambda: bare_copy(dsn, codes, START, end), args.repeat)
            t_frame, frame = best(lambda: store.measurements_frame(codes, START, end), args.repeat)
            assert rows_copy == len(frame) == n, (rows_copy, len(frame), n)
            r_copy, r_frame = n / t_copy, n / t_frame
            print(
                f"  bare COPY TO STDOUT  : {t_copy:6.2f} s {r_copy:12,.0f} rows/s ({size / 1e6:,.0f} MB of text)"
            )
            print(f"  measurements_frame   : {t_frame:6.2f} s {r_frame:12,.0f} rows/s")
            print(f"  ratio frame / COPY   : {r_frame / r_copy:.2f} (goal >= 0.5)")
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
