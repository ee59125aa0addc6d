"""The SQLAlchemy engine of a store URL, and the per-dialect statements the store needs.

SQLite runs in WAL mode with ``synchronous=FULL`` so a committed transaction survives a power cut, and every
transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers wait for each other (busy timeout) instead
of failing upgrading a read lock mid-transaction; a reader asks for ``DEFERRED`` (readers never wait for
writers in WAL mode). PostgreSQL connections are checked before use (``pool_pre_ping``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert


def open_engine(url: str, *, echo: bool = False, busy_timeout_s: float = 60.0) -> sa.Engine:
    """The engine of ``url`` (``sqlite:///...`` or ``postgresql+psycopg://...``), configured as the module
    docstring says; a SQLite file's folder is created. ``ValueError`` for any other database."""
    u = sa.engine.make_url(url)
    dialect = u.get_backend_name()
    if dialect == "postgresql":
        return sa.create_engine(url, echo=echo, pool_pre_ping=True)
    if dialect != "sqlite":
        raise ValueError(f"database URL {url!r}: only sqlite:/// and postgresql:// are supported")
    kwargs: dict[str, Any] = {"connect_args": {"timeout": busy_timeout_s}}
    if u.database in (None, "", ":memory:"):
        kwargs["poolclass"] = sa.pool.StaticPool
        kwargs["connect_args"]["check_same_thread"] = False
    else:
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, echo=echo, **kwargs)
    event.listen(engine, "connect", lambda dbapi, rec: _sqlite_connect(dbapi, rec, busy_timeout_s))
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def dialect_insert(dialect: str) -> Callable[[sa.Table], PostgresInsert | SqliteInsert]:
    """The dialect's ``INSERT`` with ``ON CONFLICT`` (``on_conflict_do_update``, ``excluded``), imported when
    first needed (the PostgreSQL dialect takes a while to import)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgres_insert

        return postgres_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _sqlite_connect(
    dbapi_connection: sqlite3.Connection, _record: object, busy_timeout_s: float = 60.0
) -> None:
    """WAL + synchronous=FULL (durable commits), busy timeout; let SQLAlchemy's 'begin' event open transactions."""
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    """Open transactions ourselves (pysqlite's own handling is off): IMMEDIATE unless the connection asked
    for DEFERRED (:meth:`condivisa.store.store.Store.read`), so a writer never fails upgrading a read lock
    mid-transaction."""
    conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('sqlite_begin', 'IMMEDIATE')}")
