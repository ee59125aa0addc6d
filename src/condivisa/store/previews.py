"""The ``billing_previews`` table: the runs ``condivisa settle-all`` computed, kept as previews.

A row is keyed by (community, months, SHA-256 of the inputs): :func:`insert_preview` writes it with
``INSERT … ON CONFLICT DO NOTHING``, so a task that is run twice (a retry after a worker died, a second
``settle-all`` on the same data) writes nothing the second time; new data give a new fingerprint, hence a new
row. A preview is never final: final runs are :mod:`condivisa.billing.runs`'s ``finalize``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from condivisa.store.community_tables import BillingPreview
from condivisa.store.engine import dialect_insert


def months_key(months: tuple[str, ...]) -> str:
    """``"2026-11"`` for one month, ``"2026-10..2026-11"`` for several (first..last): the ``months`` column."""
    return months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}"


def insert_preview(
    conn: sa.Connection,
    dialect: str,
    *,
    community: str,
    months: tuple[str, ...],
    inputs_sha256: str,
    total_cents: int,
    lines: list[dict[str, Any]],
    computed_at: dt.datetime,
    computed_by: str,
    batch: str | None = None,
) -> bool:
    """Write one preview unless the same (community, months, inputs) is stored already.

    Returns
    -------
    bool
        True when the row was written, False when it was there already (nothing written).
    """
    table = BillingPreview.__table__
    stmt = (
        dialect_insert(dialect)(table)
        .values(
            community=community,
            months=months_key(months),
            inputs_sha256=inputs_sha256,
            total_cents=int(total_cents),
            lines=lines,
            computed_at=computed_at,
            computed_by=computed_by[:128],
            batch=batch,
        )
        .on_conflict_do_nothing(index_elements=["community", "months", "inputs_sha256"])
        .returning(table.c.id)
    )
    return conn.execute(stmt).first() is not None


def stored_previews(engine: sa.Engine, months: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The stored previews, by community, months and time computed.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store's engine.
    months : tuple of str, optional
        Only the previews of these months: the whole range (``"2026-10..2026-11"``) or any one of them
        (a community settled month by month); default: all.

    Returns
    -------
    list of dict
        The columns of ``billing_previews``, one dict per row.
    """
    table = BillingPreview.__table__
    query = sa.select(table).order_by(table.c.community, table.c.months, table.c.computed_at, table.c.id)
    if months:
        query = query.where(table.c.months.in_({months_key(months), *months}))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
