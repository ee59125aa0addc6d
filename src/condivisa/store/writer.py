"""Write one message's readings in one transaction: insert new quarter hours, count duplicates, keep
revisions (newest wins, the superseded value goes to ``measurement_revisions``), attach cross-check flags.

Idempotence: ``INSERT ... ON CONFLICT DO NOTHING`` on (pod, start_utc, meter), on SQLite and PostgreSQL
alike, so two workers racing on the same quarter hour never store it twice; a conflicting row found only at
insert time is re-read and classified again (duplicate or revision).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from condivisa.kernel.timegrid import UTC
from condivisa.store import checks
from condivisa.store.models import Device, Measurement, MeasurementRevision, Pod

#: Values closer than this (kWh) are the same value (re-sent message, different float formatting).
SAME_KWH = 1e-9
#: Existing readings this far around a message are read for the totalizer cross-checks.
CHECK_WINDOW = dt.timedelta(hours=1)
#: Rows per executemany batch.
INSERT_CHUNK = 5000


@dataclass
class WriteOutcome:
    """What one message did to the store; ``unknown_pods`` non-empty means nothing was written."""

    stored: int = 0
    duplicates: int = 0
    revised: int = 0
    flags: list[checks.Flag] = field(default_factory=list)
    unknown_pods: list[str] = field(default_factory=list)


class RegistryCache:
    """The registered PODs and the DU -> POD map, remembered for ``ttl_s`` seconds so a one-line message does
    not pay two registry queries. :meth:`Store.register` clears it; other processes' registrations are seen
    within ``ttl_s``."""

    def __init__(self, ttl_s: float = 30.0):
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._pods: set[str] = set()
            self._devices: dict[str, str | None] = {}
            self._since = time.monotonic()

    def _expire(self) -> None:
        if time.monotonic() - self._since > self.ttl_s:
            self.clear()

    def unknown_pods(self, conn: Connection, pods: Sequence[str]) -> list[str]:
        self._expire()
        missing = [p for p in pods if p not in self._pods]
        if not missing:
            return []
        found = set(conn.scalars(sa.select(Pod.code).where(Pod.code.in_(missing))))
        with self._lock:
            self._pods |= found
        return [p for p in missing if p not in found]

    def device_pods(self, conn: Connection, dus: Sequence[str]) -> dict[str, str]:
        self._expire()
        missing = [d for d in dus if d not in self._devices]
        if missing:
            rows = {
                r.du_id: r.pod
                for r in conn.execute(sa.select(Device.du_id, Device.pod).where(Device.du_id.in_(missing)))
            }
            with self._lock:
                self._devices.update({d: rows.get(d) for d in missing})
        return {d: self._devices[d] for d in dus if self._devices.get(d)}


def _same(old, r) -> bool:
    def eq(a, b):
        return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= SAME_KWH)

    return all(
        eq(getattr(old, f), getattr(r, f))
        for f in ("withdrawn_kwh", "injected_kwh", "withdrawn_total_kwh", "injected_total_kwh")
    )


def _point(x, start) -> checks.Point:
    return checks.Point(start, x.withdrawn_kwh, x.injected_kwh, x.withdrawn_total_kwh, x.injected_total_kwh)


class StoredRow(NamedTuple):
    """What classification and cross-checks need of a stored measurement (not ``flags``, ``received_at``,
    ``source``, ``du_id``: only a revision needs them, and :func:`_revise` reads its row whole)."""

    id: int
    pod: str
    start_utc: dt.datetime
    meter: str
    withdrawn_kwh: float
    injected_kwh: float
    withdrawn_total_kwh: float | None
    injected_total_kwh: float | None
    revision: int


_SELECT = (
    "SELECT id, pod, start_utc, meter, withdrawn_kwh, injected_kwh, withdrawn_total_kwh, injected_total_kwh, revision "
    "FROM measurements WHERE "
)
#: PODs per SQLite query (its limit of bound variables is 32,766)
_SQLITE_PODS = 30_000


def _existing(
    conn: Connection,
    readings: Sequence,
    pad: dt.timedelta,
    *,
    before: dt.timedelta | None = None,
    pods: Sequence[str] | None = None,
) -> list[StoredRow]:
    """Stored rows of the readings' PODs (or of ``pods``) from ``before`` (default ``pad``) before the first
    to
    ``pad`` after the last quarter hour of ``readings``, read through the driver's own cursor on the
    transaction's connection (no per-row ORM work)."""
    pods = sorted(pods if pods is not None else {r.pod for r in readings})
    if not pods:
        return []
    lo = min(r.start for r in readings) - (pad if before is None else before)
    hi = max(r.start for r in readings) + pad
    cur = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            # never prepared: PostgreSQL's generic plan for "= ANY($1)" scans the time range of every POD (6x
            # slower)
            cur.execute(
                _SELECT + "pod = ANY(%s) AND start_utc >= %s AND start_utc <= %s",
                (pods, lo, hi),
                prepare=False,
                binary=True,
            )
            return [StoredRow(i, p, s.astimezone(UTC), *rest) for i, p, s, *rest in cur.fetchall()]
        stamp, parse = _sqlite_stamps(), _sqlite_parser()
        out = []
        for k in range(0, len(pods), _SQLITE_PODS):
            chunk = pods[k : k + _SQLITE_PODS]
            cur.execute(
                _SELECT + f"pod IN ({', '.join('?' * len(chunk))}) AND start_utc >= ? AND start_utc <= ?",
                (*chunk, stamp(lo), stamp(hi)),
            )
            out += [StoredRow(i, p, parse(s), *rest) for i, p, s, *rest in cur.fetchall()]
        return out
    finally:
        cur.close()


def _du_flags(
    readings: Sequence, device_id: str | None, registered: dict[str, str]
) -> list[tuple[checks.Flag, str]]:
    """``(flag, meter)`` of the registry checks, in reading order: a DU registered to another POD; a line read
    by
    a DU other than the authenticated sender ``device_id``."""
    out = []
    for r in readings:
        if r.du_id in registered and registered[r.du_id] != r.pod:
            out.append(
                (
                    checks.Flag(
                        r.pod,
                        r.start,
                        "pod_not_registered_to_du",
                        f"DU {r.du_id} is registered to POD {registered[r.du_id]}, not {r.pod}",
                    ),
                    r.meter,
                )
            )
        if device_id and r.du_id and r.du_id != device_id:
            out.append(
                (
                    checks.Flag(
                        r.pod, r.start, "du_mismatch", f"sent by device {device_id} but read by DU {r.du_id}"
                    ),
                    r.meter,
                )
            )
    return out


def write_readings(
    conn: Connection,
    readings: Sequence,
    *,
    source: str,
    received_at: dt.datetime,
    device_id: str | None = None,
    check_pods: bool = True,
    cross_check: bool = True,
    registry: RegistryCache | None = None,
) -> WriteOutcome:
    """Store ``readings`` (objects with pod, start (aware), meter, withdrawn/injected kWh and totals, du_id)
    inside the caller's transaction ``conn``. Unknown PODs (``check_pods``) abort before any write."""
    out = WriteOutcome()
    if not readings:
        return out
    pods = sorted({r.pod for r in readings})
    registry = registry or RegistryCache(ttl_s=0.0)
    if check_pods:
        out.unknown_pods = registry.unknown_pods(conn, pods)
        if out.unknown_pods:
            return out
    flags_by_key: dict[tuple, list[checks.Flag]] = defaultdict(list)

    def flag(f: checks.Flag, meter: str) -> None:
        out.flags.append(f)
        flags_by_key[(f.pod, f.start, meter)].append(f)

    dus = sorted({r.du_id for r in readings if r.du_id})
    registered = registry.device_pods(conn, dus) if dus else {}
    for f, meter in _du_flags(readings, device_id, registered):
        flag(f, meter)

    rows = _existing(conn, readings, CHECK_WINDOW if cross_check else dt.timedelta(0))
    existing = {(row.pod, row.start_utc, row.meter): row for row in rows}
    if cross_check:
        series: dict[tuple, dict] = defaultdict(dict)
        for row in rows:
            series[(row.pod, row.meter)][row.start_utc] = _point(row, row.start_utc)
        incoming: dict[tuple, list] = defaultdict(list)
        for r in readings:
            p = _point(r, r.start)
            series[(r.pod, r.meter)][r.start] = p
            incoming[(r.pod, r.meter)].append(p)
        for (pod, meter), pts in incoming.items():
            known = series[(pod, meter)]
            if checks.clean_series(
                [
                    (p.start, p.withdrawn_kwh, p.injected_kwh, p.withdrawn_total_kwh, p.injected_total_kwh)
                    for p in known.values()
                ]
            ):
                continue  # nothing in this series can be flagged (checks.clean_series)
            ordered = [known[s] for s in sorted(known)]
            for f in checks.series_flags(pod, ordered, pts):
                flag(f, meter)

    def classify(rs: Sequence) -> list:
        new = []
        for r in rs:
            old = existing.get((r.pod, r.start, r.meter))
            if old is None:
                new.append(r)
            elif _same(old, r):
                out.duplicates += 1
            else:
                _revise(conn, old, r, source, received_at, flags_by_key.get((r.pod, r.start, r.meter)))
                out.revised += 1
        return new

    _touch_rows(conn, [(readings, received_at)])
    new = classify(readings)
    for i in range(0, len(new), INSERT_CHUNK):
        chunk = new[i : i + INSERT_CHUNK]
        done = _insert_rows(
            conn, [(r, source, received_at, flags_by_key.get((r.pod, r.start, r.meter))) for r in chunk]
        )
        out.stored += len(done)
        raced = [r for r in chunk if (r.pod, r.start, r.meter) not in done]
        if raced:  # another writer stored them between our read and our insert: classify against its rows
            for row in _existing(conn, raced, dt.timedelta(0)):
                existing[(row.pod, row.start_utc, row.meter)] = row
            classify(raced)
    return out


def _insert_rows(conn: Connection, rows: Sequence[tuple]) -> set[tuple]:
    """Insert ``(reading, source, received_at, flags)`` rows as new measurements, skipping keys already stored
    (``ON CONFLICT DO NOTHING``); returns the keys ``(pod, start, meter)`` actually inserted."""
    if not rows:
        return set()
    for r, _, received_at, _ in rows:
        if r.start.tzinfo is None or received_at.tzinfo is None:
            raise ValueError(f"naive datetime in {r!r}: condivisa stores aware timestamps only")
    if conn.dialect.name == "postgresql":
        # COPY into a temporary table (psycopg writes rows in C), then one INSERT ... SELECT with RETURNING,
        # all on the transaction's own connection; the returned keys are fetched in one go
        cur = conn.connection.dbapi_connection.cursor()
        try:
            cur.execute(_PG_STAGE)
            with cur.copy(_PG_COPY) as copy:
                for r, source, received_at, fl in rows:
                    copy.write_row(
                        (
                            r.pod,
                            r.start,
                            r.meter,
                            r.withdrawn_kwh,
                            r.injected_kwh,
                            r.withdrawn_total_kwh,
                            r.injected_total_kwh,
                            r.du_id,
                            received_at,
                            source[:200],
                            getattr(r, "minutes", 15),
                            json.dumps([f.code for f in fl]) if fl else None,
                        )
                    )
            cur.execute(_PG_INSERT)
            done = {(pod, start.astimezone(UTC), meter) for pod, start, meter in cur.fetchall()}
            cur.execute("DELETE FROM _condivisa_incoming")
            return done
        finally:
            cur.close()
    # SQLite: a plain executemany of tuples (SQLAlchemy's per-row parameter processing costs more than
    # SQLite).
    # The caller read the keys in this transaction, which began IMMEDIATE (the write lock is held from its
    # start), so a conflict is not expected; should one happen all the same, the rows stored are told apart
    # from the ones already there by their reception time and source (a message's own).
    stamp = _sqlite_stamps()
    params = [
        (
            r.pod,
            stamp(r.start),
            r.meter,
            r.withdrawn_kwh,
            r.injected_kwh,
            r.withdrawn_total_kwh,
            r.injected_total_kwh,
            r.du_id,
            stamp(received_at),
            source[:200],
            getattr(r, "minutes", 15),
            json.dumps([f.code for f in fl]) if fl else None,
        )
        for r, source, received_at, fl in rows
    ]
    done = conn.exec_driver_sql(_SQLITE_INSERT, params).rowcount
    if done == len(rows):
        return {(r.pod, r.start, r.meter) for r, *_ in rows}
    cur = conn.connection.dbapi_connection.cursor()
    try:
        mine = set()
        for (r, *_), p in zip(rows, params):
            cur.execute(
                "SELECT 1 FROM measurements WHERE pod = ? AND start_utc = ? AND meter = ? AND received_at = ? "
                "AND source = ? AND revision = 0",
                (p[0], p[1], p[2], p[8], p[9]),
            )
            if cur.fetchone() is not None:
                mine.add((r.pod, r.start, r.meter))
        return mine
    finally:
        cur.close()


_SQLITE_INSERT = (
    "INSERT INTO measurements (pod, start_utc, meter, withdrawn_kwh, injected_kwh, withdrawn_total_kwh, "
    "injected_total_kwh, du_id, received_at, source, revision, minutes, flags) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (pod, start_utc, meter) DO NOTHING"
)


def _sqlite_stamps():
    """``stamp(aware datetime)`` -> the UTC text SQLAlchemy's SQLite DATETIME stores (``YYYY-MM-DD
    hh:mm:ss.ffffff``),
    memoised (a batch has few distinct instants)."""
    memo: dict = {}

    def stamp(t: dt.datetime) -> str:
        s = memo.get(t)
        if s is None:
            if t.tzinfo is None:
                raise ValueError(f"naive datetime {t!r}: condivisa stores aware timestamps only")
            s = memo[t] = t.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return s

    return stamp


def _sqlite_parser():
    """``parse(text)`` -> aware UTC datetime of a stored SQLite timestamp, memoised."""
    memo: dict = {}

    def parse(text: str) -> dt.datetime:
        t = memo.get(text)
        if t is None:
            t = memo[text] = dt.datetime.fromisoformat(text).replace(tzinfo=UTC)
        return t

    return parse


def _touch_rows(conn: Connection, messages: Sequence[tuple]) -> None:
    """Upsert device_activity for the DUs of accepted messages ``(readings, received_at)``, in order: latest
    reception, latest quarter hour and its POD (a replayed old message moves neither back; within a message
    the first line of the latest quarter wins, across messages the later message), readings count. One
    statement for all the messages gives the rows that one upsert per message would."""
    latest: dict[str, list] = {}
    for readings, received_at in messages:
        mine: dict[str, list] = {}
        for r in readings:
            if not r.du_id:
                continue
            cur = mine.get(r.du_id)
            if cur is None:
                mine[r.du_id] = [r.pod, r.start, 1]
            else:
                cur[2] += 1
                if r.start > cur[1]:
                    cur[0], cur[1] = r.pod, r.start
        for du, (pod, start, n) in mine.items():
            acc = latest.get(du)
            if acc is None:
                latest[du] = [pod, start, received_at, n]
            else:
                if start >= acc[1]:
                    acc[0], acc[1] = pod, start
                acc[2] = max(acc[2], received_at)
                acc[3] += n
    if not latest:
        return
    rows = sorted(latest.items())
    if conn.dialect.name == "postgresql":
        cur = conn.connection.dbapi_connection.cursor()
        try:  # binary parameters: psycopg's text dump of arrays escapes every element (slower than the upsert)
            cur.execute(
                _PG_TOUCH,
                (
                    [d for d, _ in rows],
                    [v[0] for _, v in rows],
                    [v[1] for _, v in rows],
                    [v[2] for _, v in rows],
                    [v[3] for _, v in rows],
                ),
                binary=True,
            )
        finally:
            cur.close()
        return
    stamp = _sqlite_stamps()
    conn.exec_driver_sql(
        _SQLITE_TOUCH, [(du, pod, stamp(start), stamp(at), n) for du, (pod, start, at, n) in rows]
    )


_SQLITE_TOUCH = (
    "INSERT INTO device_activity AS t (du_id, pod, last_start, last_received_at, readings) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (du_id) DO UPDATE SET "
    "pod = CASE WHEN excluded.last_start >= t.last_start THEN excluded.pod ELSE t.pod END, "
    "last_start = max(t.last_start, excluded.last_start), "
    "last_received_at = max(t.last_received_at, excluded.last_received_at), "
    "readings = t.readings + excluded.readings"
)


# PostgreSQL: new rows are staged in a temporary table by COPY (emptied after each use and at commit), then
# inserted with one statement whose text never changes (parsed once per connection).
_PG_COLS = (
    "pod",
    "start_utc",
    "meter",
    "withdrawn_kwh",
    "injected_kwh",
    "withdrawn_total_kwh",
    "injected_total_kwh",
    "du_id",
    "received_at",
    "source",
    "minutes",
    "flags",
)
_PG_STAGE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS _condivisa_incoming (pod text, start_utc timestamptz, meter text, "
    "withdrawn_kwh float8, injected_kwh float8, withdrawn_total_kwh float8, injected_total_kwh float8, du_id text, "
    "received_at timestamptz, source text, minutes smallint, flags json) ON COMMIT DELETE ROWS"
)
_PG_COPY = f"COPY _condivisa_incoming ({', '.join(_PG_COLS)}) FROM STDIN"
_PG_INSERT = (
    f"INSERT INTO measurements ({', '.join(_PG_COLS)}, revision) SELECT {', '.join(_PG_COLS)}, 0 "
    "FROM _condivisa_incoming ON CONFLICT (pod, start_utc, meter) DO NOTHING RETURNING pod, start_utc, meter"
)
_PG_TOUCH = (
    "INSERT INTO device_activity AS t (du_id, pod, last_start, last_received_at, readings) SELECT * FROM unnest("
    "%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::bigint[]) "
    "ON CONFLICT (du_id) DO UPDATE SET "
    "pod = CASE WHEN excluded.last_start >= t.last_start THEN excluded.pod ELSE t.pod END, "
    "last_start = greatest(t.last_start, excluded.last_start), "
    "last_received_at = greatest(t.last_received_at, excluded.last_received_at), "
    "readings = t.readings + excluded.readings"
)


def _revise(conn: Connection, old, r, source: str, received_at: dt.datetime, flags) -> None:
    """Keep ``old`` in measurement_revisions and overwrite the measurement with ``r`` (newest wins)."""
    t = Measurement.__table__
    old = conn.execute(
        sa.select(
            t.c.id,
            t.c.pod,
            t.c.start_utc,
            t.c.meter,
            t.c.withdrawn_kwh,
            t.c.injected_kwh,
            t.c.withdrawn_total_kwh,
            t.c.injected_total_kwh,
            t.c.du_id,
            t.c.received_at,
            t.c.source,
            t.c.revision,
        ).where(t.c.id == old.id)
    ).one()
    conn.execute(
        sa.insert(MeasurementRevision.__table__).values(
            measurement_id=old.id,
            pod=old.pod,
            start_utc=old.start_utc,
            meter=old.meter,
            withdrawn_kwh=old.withdrawn_kwh,
            injected_kwh=old.injected_kwh,
            withdrawn_total_kwh=old.withdrawn_total_kwh,
            injected_total_kwh=old.injected_total_kwh,
            du_id=old.du_id,
            received_at=old.received_at,
            source=old.source,
            revision=old.revision,
            superseded_at=received_at,
        )
    )
    conn.execute(
        sa.update(t)
        .where(t.c.id == old.id)
        .values(
            withdrawn_kwh=r.withdrawn_kwh,
            injected_kwh=r.injected_kwh,
            withdrawn_total_kwh=r.withdrawn_total_kwh,
            injected_total_kwh=r.injected_total_kwh,
            du_id=r.du_id,
            received_at=received_at,
            source=source[:200],
            revision=old.revision + 1,
            flags=[f.code for f in flags] if flags else None,
        )
    )
