"""Alembic environment: uses the connection ``Store.upgrade()`` passes in ``config.attributes``, or the URL
given with ``-x url=...`` / ``CONDIVISA_DATABASE_URL`` when run from the ``alembic`` command."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

import condivisa.store.auth_tables  # noqa: F401 — its tables join Base.metadata by being imported
import condivisa.store.community_tables  # noqa: F401 — the communities' tables, likewise
import condivisa.store.flex_tables  # noqa: F401 — events, invitations, ranking opt-ins, likewise
from condivisa.store.models import Base

target_metadata = Base.metadata
config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("CONDIVISA_DATABASE_URL")
    if not url:
        raise SystemExit("give the database with -x url=... or CONDIVISA_DATABASE_URL")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported; run `condivisa db upgrade`")
run_migrations_online()
