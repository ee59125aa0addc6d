"""Benchmark: importing a year of quarter hours for N PODs from e-distribuzione portal exports into PostgreSQL
(issue #16), against a bare ``COPY`` of the same rows into a table of the same shape, measured in the same
run on the same server.

Target: the import (parse every file, check, store versions, one transaction) at least 0.5x the rate of the
bare COPY. Prints both rates and the ratio; no assertion.

Run: ``.venv/bin/python bench/import_distributor.py [pods] [--database URL]`` (default 1,000 PODs, a year,
35 million quarter hours; a fresh database is created on the local PostgreSQL and dropped afterwards).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from condivisa.formats.distributor import write_portal_export
from condivisa.ingest.distributor import import_files
from condivisa.kernel.timegrid import quarter_hours
from condivisa.store.store import Store

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _exports(folder: Path, n_pods: int, index: pd.DatetimeIndex) -> list[tuple[str, Path]]:
    rng = np.random.default_rng(16)
    base = pd.Series(np.round(rng.uniform(0.0, 0.4, len(index)), 3), index=index)
    out = []
    for k in range(n_pods):
        pod = f"IT001E{k:08d}"
        path = folder / f"{pod}.csv"
        write_portal_export((base * (0.5 + (k % 10) / 10)).round(3), path)
        out.append((pod, path))
    return out


def _bare_copy(url: str, pods: list[str], index: pd.DatetimeIndex, energy: np.ndarray) -> float:
    """COPY the same rows (pod, direction, start, kWh, version, current, flag, file) into a table made like
    ``distributor_readings`` (same columns, keys and indexes): the text is built before the clock starts, so
    only COPY and the database's own index upkeep are timed."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE bare (LIKE distributor_readings INCLUDING ALL)"))
    stamps = np.char.add(
        np.datetime_as_string(index.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[s]")), "+00"
    )
    blocks = []
    for k, pod in enumerate(pods):
        scaled = (energy * (0.5 + (k % 10) / 10)).round(3).astype(str)
        blocks.append(
            "".join(
                f"{pod}\twithdrawal\t{t}\t{e}\t1\tt\t\\N\t{k + 1}\n"
                for t, e in zip(stamps, scaled, strict=True)
            )
        )
    t0 = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        with (
            raw.cursor() as cur,
            cur.copy(
                "COPY bare (pod, direction, start_utc, energy_kwh, version, current, flag, file_id) FROM STDIN"
            ) as copy,
        ):
            for block in blocks:
                copy.write(block)
    seconds = time.perf_counter() - t0
    engine.dispose()
    return seconds


def main(n_pods: int, admin: str) -> None:
    index = quarter_hours(dt.date(2024, 1, 1), dt.date(2025, 1, 1))
    name = f"condivisa_bench_{uuid.uuid4().hex[:8]}"
    admin_engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        with tempfile.TemporaryDirectory() as tmp:
            files = _exports(Path(tmp), n_pods, index)
            rows = n_pods * len(index)
            energy = np.round(np.random.default_rng(16).uniform(0.0, 0.4, len(index)), 3)
            store = Store(url)
            store.upgrade()
            with store.engine.begin() as conn:  # register the PODs (a file about an unknown POD is refused)
                conn.execute(
                    sa.text("INSERT INTO pods (code, kind, registered_at) VALUES (:c, 'consumption', now())"),
                    [{"c": p} for p, _ in files],
                )
            bare = _bare_copy(url, [p for p, _ in files], index, energy)
            known = store.known_pods()
            now = dt.datetime.now(dt.UTC)
            t0 = time.perf_counter()
            for (
                pod,
                path,
            ) in files:  # one import per file, as the referente runs them (each its own transaction)
                import_files(
                    store,
                    [path],
                    known_pods=known,
                    pod=pod,
                    direction="withdrawal",
                    imported_by="bench",
                    now=now,
                )
            ours = time.perf_counter() - t0
            store.close()
        print(f"{n_pods} PODs x {len(index)} quarter hours = {rows:,} rows")
        print(f"bare COPY            {bare:8.1f} s  {rows / bare:12,.0f} rows/s")
        print(
            f"import-distributor   {ours:8.1f} s  {rows / ours:12,.0f} rows/s (parse, check, versions, store)"
        )
        print(f"ratio (import rate / COPY rate) = {bare / ours:.2f}  (goal >= 0.5)")
    finally:
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pods", nargs="?", type=int, default=1000)
    parser.add_argument("--database", default=ADMIN, help="an admin URL of the PostgreSQL server")
    args = parser.parse_args()
    main(args.pods, args.database)
