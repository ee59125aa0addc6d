"""Which database the access tables live in: a :class:`~condivisa.store.store.Store`, an ``Engine`` or a URL.

Rules implemented:
- every access function accepts any of the three and works on the SQLAlchemy engine behind it;
- times read back from the auth tables are aware UTC (SQLite drops the offset of what was stored UTC).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from condivisa.kernel.timegrid import UTC
from condivisa.store.store import Store

#: a database: a :class:`Store`, its SQLAlchemy ``Engine``, or a database URL
Database = Store | sa.Engine | str


def engine_of(store: Database) -> sa.Engine:
    """The SQLAlchemy engine behind ``store`` (a ``Store``, an ``Engine`` or a database URL)."""
    if isinstance(store, sa.Engine):
        return store
    if isinstance(store, str):
        return sa.create_engine(store)
    if isinstance(store, Store):
        return store.engine
    raise TypeError(f"cannot find a SQLAlchemy engine in {type(store).__name__}")


def aware_utc(stored: dt.datetime) -> dt.datetime:
    """A time read back from the auth tables, aware UTC (SQLite drops the offset of what was stored UTC)."""
    return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)
