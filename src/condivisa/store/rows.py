"""Measurement rows through the driver's own cursor, on the caller's transaction: the stored rows around some
readings, the insert of new ones, the upsert of device activity. Whether a reading is new, a duplicate or a
revision is decided by :mod:`condivisa.store.writer` and :mod:`condivisa.store.batch`, not here.

Idempotence: ``INSERT ... ON CONFLICT DO NOTHING`` on (pod, start_utc, meter), on SQLite and PostgreSQL alike,
so two workers racing on the same quarter hour never store it twice; :func:`insert_rows` returns the keys it
actually inserted, and the caller classifies the others again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPICursor

from condivisa.kernel.timegrid import UTC
from condivisa.store import checks

if TYPE_CHECKING:
    import psycopg

#: ``(pod, start, meter)``: the key of a measurement
Key = tuple[str, dt.datetime, str]


class IncomingReading(Protocol):
    """What the store needs of a reading to write it (a :class:`condivisa.formats.urbandataset.types.Reading`,
    a row of a measurements table, ...): one quarter hour of one POD and meter with an aware ``start``; an
    hourly row also has ``minutes = 60`` (read if present, else 15)."""

    @property
    def pod(self) -> str: ...
    @property
    def start(self) -> dt.datetime: ...
    @property
    def meter(self) -> str: ...
    @property
    def withdrawn_kwh(self) -> float: ...
    @property
    def injected_kwh(self) -> float: ...
    @property
    def withdrawn_total_kwh(self) -> float | None: ...
    @property
    def injected_total_kwh(self) -> float | None: ...
    @property
    def du_id(self) -> str | None: ...


#: one new measurement for :func:`insert_rows`: ``(reading, source, received_at, flags)``
NewRow = tuple[IncomingReading, str, dt.datetime, Sequence[checks.Flag] | None]


class StoredRow(NamedTuple):
    """What classification and cross-checks need of a stored measurement (not ``flags``, ``received_at``,
    ``source``, ``du_id``: only a revision needs them, and it reads its row whole)."""

    id: int
    pod: str
    start_utc: dt.datetime
    meter: str
    withdrawn_kwh: float
    injected_kwh: float
    withdrawn_total_kwh: float | None
    injected_total_kwh: float | None
    revision: int


def _cursor(conn: Connection) -> DBAPICursor:
    """A cursor of the driver's connection under ``conn`` (the transaction's own)."""
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:  # only once the connection was invalidated: nothing can be read or written on it
        raise sa.exc.ResourceClosedError("the database connection was invalidated")
    return dbapi.cursor()


def _pg_cursor(conn: Connection) -> psycopg.Cursor:
    """:func:`_cursor` on PostgreSQL, whose driver is psycopg 3 (``postgresql+psycopg``, see
    :func:`condivisa.store.store.database_url`): COPY, binary parameters, ``prepare=``."""
    return cast("psycopg.Cursor", _cursor(conn))


# ---------------------------------------------------------------------------------------------- read

_SELECT = (
    "SELECT id, pod, start_utc, meter, withdrawn_kwh, injected_kwh, withdrawn_total_kwh, injected_total_kwh, revision "
    "FROM measurements WHERE "
)
#: PODs per SQLite query (its limit of bound variables is 32,766)
_SQLITE_PODS = 30_000


def stored_rows(
    conn: Connection,
    readings: Sequence[IncomingReading],
    pad: dt.timedelta,
    *,
    before: dt.timedelta | None = None,
    pods: Sequence[str] | None = None,
) -> list[StoredRow]:
    """Stored rows of the readings' PODs (or of ``pods``) from ``before`` (default ``pad``) before the first
    to ``pad`` after the last quarter hour of ``readings``, read through the driver's own cursor on the
    transaction's connection (no per-row ORM work)."""
    codes = sorted(pods if pods is not None else {r.pod for r in readings})
    if not codes:
        return []
    lo = min(r.start for r in readings) - (pad if before is None else before)
    hi = max(r.start for r in readings) + pad
    if conn.dialect.name == "postgresql":
        with _pg_cursor(conn) as pg:
            # never prepared: PostgreSQL's generic plan for "= ANY($1)" scans the time range of every POD (6x
            # slower)
            pg.execute(
                _SELECT + "pod = ANY(%s) AND start_utc >= %s AND start_utc <= %s",
                (codes, lo, hi),
                prepare=False,
                binary=True,
            )
            return [StoredRow(i, p, s.astimezone(UTC), *rest) for i, p, s, *rest in pg.fetchall()]
    stamp, parse = _sqlite_stamps(), _sqlite_parser()
    cur = _cursor(conn)
    try:
        out = []
        for k in range(0, len(codes), _SQLITE_PODS):
            chunk = codes[k : k + _SQLITE_PODS]
            cur.execute(
                _SELECT + f"pod IN ({', '.join('?' * len(chunk))}) AND start_utc >= ? AND start_utc <= ?",
                (*chunk, stamp(lo), stamp(hi)),
            )
            out += [StoredRow(i, p, parse(s), *rest) for i, p, s, *rest in cur.fetchall()]
        return out
    finally:
        cur.close()


# ---------------------------------------------------------------------------------------------- insert


def insert_rows(conn: Connection, rows: Sequence[NewRow]) -> set[Key]:
    """Insert ``(reading, source, received_at, flags)`` rows as new measurements, skipping keys already stored
    (``ON CONFLICT DO NOTHING``); returns the keys ``(pod, start, meter)`` actually inserted."""
    if not rows:
        return set()
    for r, _, received_at, _ in rows:
        if r.start.tzinfo is None or received_at.tzinfo is None:
            raise ValueError(f"naive datetime in {r!r}: condivisa stores aware timestamps only")
    if conn.dialect.name == "postgresql":
        return _pg_insert(conn, rows)
    return _sqlite_insert(conn, rows)


def _flag_codes(flags: Sequence[checks.Flag] | None) -> str | None:
    return json.dumps([f.code for f in flags]) if flags else None


def _pg_insert(conn: Connection, rows: Sequence[NewRow]) -> set[Key]:
    """COPY into a temporary table (psycopg writes rows in C), then one INSERT ... SELECT with RETURNING, all
    on the transaction's own connection; the returned keys are fetched in one go."""
    with _pg_cursor(conn) as cur:
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
                        _flag_codes(fl),
                    )
                )
        cur.execute(_PG_INSERT)
        done = {(pod, start.astimezone(UTC), meter) for pod, start, meter in cur.fetchall()}
        cur.execute("DELETE FROM _condivisa_incoming")
        return done


def _sqlite_insert(conn: Connection, rows: Sequence[NewRow]) -> set[Key]:
    """A plain executemany of tuples (SQLAlchemy's per-row parameter processing costs more than SQLite).

    The caller read the keys in this transaction, which began IMMEDIATE (the write lock is held from its
    start), so a conflict is not expected; should one happen all the same, the rows stored are told apart
    from the ones already there by their reception time and source (a message's own)."""
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
            _flag_codes(fl),
        )
        for r, source, received_at, fl in rows
    ]
    inserted = conn.exec_driver_sql(_SQLITE_INSERT, params).rowcount
    if inserted == len(rows):
        return {(r.pod, r.start, r.meter) for r, *_ in rows}
    cur = _cursor(conn)
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


def _sqlite_stamps() -> Callable[[dt.datetime], str]:
    """``stamp(aware datetime)`` -> the UTC text SQLAlchemy's SQLite DATETIME stores (``YYYY-MM-DD
    hh:mm:ss.ffffff``), memoised (a batch has few distinct instants)."""
    memo: dict[dt.datetime, str] = {}

    def stamp(t: dt.datetime) -> str:
        s = memo.get(t)
        if s is None:
            if t.tzinfo is None:
                raise ValueError(f"naive datetime {t!r}: condivisa stores aware timestamps only")
            s = memo[t] = t.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return s

    return stamp


def _sqlite_parser() -> Callable[[str], dt.datetime]:
    """``parse(text)`` -> aware UTC datetime of a stored SQLite timestamp, memoised."""
    memo: dict[str, dt.datetime] = {}

    def parse(text: str) -> dt.datetime:
        t = memo.get(text)
        if t is None:
            t = memo[text] = dt.datetime.fromisoformat(text).replace(tzinfo=UTC)
        return t

    return parse


# ---------------------------------------------------------------------------------------------- activity

#: per DU: ``(pod of its latest quarter hour, that quarter hour, latest reception, readings)``
_Activity = tuple[str, dt.datetime, dt.datetime, int]


def _activity(messages: Sequence[tuple[Sequence[IncomingReading], dt.datetime]]) -> dict[str, _Activity]:
    """What :func:`touch_activity` writes for each DU of ``messages`` (module docstring of its rules)."""
    latest: dict[str, _Activity] = {}
    for readings, received_at in messages:
        mine: dict[str, tuple[str, dt.datetime, int]] = {}  # DU -> (pod, latest start, readings)
        for r in readings:
            if not r.du_id:
                continue
            cur = mine.get(r.du_id)
            if cur is None:
                mine[r.du_id] = (r.pod, r.start, 1)
            else:
                pod, start = (r.pod, r.start) if r.start > cur[1] else (cur[0], cur[1])
                mine[r.du_id] = (pod, start, cur[2] + 1)
        for du, (pod, start, n) in mine.items():
            acc = latest.get(du)
            if acc is None:
                latest[du] = (pod, start, received_at, n)
            else:
                pod, start = (pod, start) if start >= acc[1] else (acc[0], acc[1])
                latest[du] = (pod, start, max(acc[2], received_at), acc[3] + n)
    return latest


def touch_activity(
    conn: Connection, messages: Sequence[tuple[Sequence[IncomingReading], dt.datetime]]
) -> None:
    """Upsert device_activity for the DUs of accepted messages ``(readings, received_at)``, in order: latest
    reception, latest quarter hour and its POD (a replayed old message moves neither back; within a message
    the first line of the latest quarter wins, across messages the later message), readings count. One
    statement for all the messages gives the rows that one upsert per message would."""
    latest = _activity(messages)
    if not latest:
        return
    rows = sorted(latest.items())
    if conn.dialect.name == "postgresql":
        # binary parameters: psycopg's text dump of arrays escapes every element (slower than the upsert)
        with _pg_cursor(conn) as cur:
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
