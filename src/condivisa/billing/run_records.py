"""Stored billing runs: read them, and write a new one in the caller's transaction.

The only write is :func:`insert_run`, called by :func:`condivisa.billing.runs.finalize` and
:func:`~condivisa.billing.runs.correct` inside one transaction; nothing here updates or deletes a run (the
database's triggers refuse it anyway: :mod:`condivisa.store.billing_tables`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from condivisa.billing.run_lines import PARTS, RunLine, combine
from condivisa.store.billing_tables import BillingRun, BillingRunLine
from condivisa.store.store import Store

#: the one state of a stored run: issued (whether it was corrected is told by the corrections pointing to it)
ISSUED = "issued"


class RunError(ValueError):
    """A run cannot be made or found (the message says why and what to do)."""


@dataclass(frozen=True)
class StoredRun:
    """A final run, a yearly balance run or a correction of one, as stored (immutable)."""

    id: int
    community: str
    number: int
    kind: str
    months: tuple[str, ...]
    created_at: dt.datetime
    created_by: str
    inputs_sha256: str
    inputs: dict[str, Any]
    rules: dict[str, Any]
    tariffs: dict[str, Any]
    corrects_run_id: int | None
    corrects_number: int | None
    status: str
    condivisa_version: str
    lines: tuple[RunLine, ...]

    @property
    def final(self) -> bool:
        """Stored runs are all final (immutable): a final run or a correction of one."""
        return True

    @property
    def label(self) -> str:
        if self.kind == "yearly_balance":
            year, span = self.months[0][:4], f"{self.months[0]}..{self.months[-1]}"
            return f"n. {self.number} (yearly balance {year}, {span})"
        what = "final" if self.kind == "final" else f"correction of n. {self.corrects_number}"
        return f"n. {self.number} ({what}, {self.months[0]}..{self.months[-1]})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "community": self.community,
            "kind": self.kind,
            "months": list(self.months),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "inputs_sha256": self.inputs_sha256,
            "inputs": self.inputs,
            "rules": self.rules,
            "tariffs": self.tariffs,
            "corrects": self.corrects_number,
            "status": self.status,
            "condivisa_version": self.condivisa_version,
            "lines": [line.as_dict() for line in self.lines],
            "total_cents": sum(line.total_cents for line in self.lines),
        }


@dataclass(frozen=True)
class RunHeader:
    """A stored run without its lines, inputs, rules and tariffs (what a list of runs shows)."""

    id: int
    number: int
    kind: str
    months: tuple[str, ...]
    created_at: dt.datetime
    created_by: str
    corrects_run_id: int | None
    corrects_number: int | None


def run_headers(store: Store, community: str) -> list[RunHeader]:
    """Every stored run of ``community`` by number, without lines: **one** query (the dashboard's list)."""
    t = BillingRun.__table__
    cols = (t.c.id, t.c.number, t.c.kind, t.c.period_start, t.c.period_end, t.c.created_at, t.c.created_by)
    q = sa.select(*cols, t.c.corrects_run_id).where(t.c.community == community).order_by(t.c.number)
    with store.read() as conn:
        rows = conn.execute(q).all()
    numbers = {int(r.id): int(r.number) for r in rows}
    return [
        RunHeader(
            id=int(r.id),
            number=int(r.number),
            kind=r.kind,
            months=months_between(r.period_start, r.period_end),
            created_at=r.created_at,
            created_by=r.created_by,
            corrects_run_id=r.corrects_run_id,
            corrects_number=numbers.get(int(r.corrects_run_id)) if r.corrects_run_id is not None else None,
        )
        for r in rows
    ]


def months_between(first: str, last: str) -> tuple[str, ...]:
    """The months ``first``..``last`` (``YYYY-MM``, both included)."""
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return tuple(out)


def _lines(conn: sa.Connection, run_id: int) -> tuple[RunLine, ...]:
    t = BillingRunLine.__table__
    rows = conn.execute(sa.select(t).where(t.c.run_id == run_id).order_by(t.c.id)).all()
    return tuple(RunLine(r.payee_id, r.kind, r.month, **{p: int(getattr(r, p)) for p in PARTS}) for r in rows)


def _run(conn: sa.Connection, row: sa.Row) -> StoredRun:
    t = BillingRun.__table__
    corrects = None
    if row.corrects_run_id is not None:
        corrects = conn.execute(sa.select(t.c.number).where(t.c.id == row.corrects_run_id)).scalar_one()
    return StoredRun(
        id=int(row.id),
        community=row.community,
        number=int(row.number),
        kind=row.kind,
        months=months_between(row.period_start, row.period_end),
        created_at=row.created_at,
        created_by=row.created_by,
        inputs_sha256=row.inputs_sha256,
        inputs=row.inputs,
        rules=row.rules,
        tariffs=row.tariffs,
        corrects_run_id=row.corrects_run_id,
        corrects_number=corrects,
        status=row.status,
        condivisa_version=row.condivisa_version,
        lines=_lines(conn, int(row.id)),
    )


def list_runs(store: Store, community: str, conn: sa.Connection | None = None) -> list[StoredRun]:
    """Every stored run of ``community``, by number."""
    t = BillingRun.__table__
    q = sa.select(t).where(t.c.community == community).order_by(t.c.number)
    if conn is not None:
        return [_run(conn, r) for r in conn.execute(q).all()]
    with store.read() as c:
        return [_run(c, r) for r in c.execute(q).all()]


def get_run(store: Store, community: str, number: int, conn: sa.Connection | None = None) -> StoredRun:
    """Run ``number`` of ``community``; :class:`RunError` when there is none."""
    t = BillingRun.__table__
    q = sa.select(t).where(t.c.community == community, t.c.number == number)
    with store.read() if conn is None else _borrowed(conn) as c:
        row = c.execute(q).first()
        if row is None:
            raise RunError(f"{community}: no billing run n. {number} (see `condivisa runs list`)")
        return _run(c, row)


class _borrowed:
    """The caller's connection as a context manager that does not close it."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sa.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None


def chain(store: Store, final: StoredRun, conn: sa.Connection | None = None) -> list[StoredRun]:
    """The final run ``final`` and its corrections, by number."""
    return [final] + [r for r in list_runs(store, final.community, conn) if r.corrects_run_id == final.id]


def lines_in_force(runs: list[StoredRun]) -> list[RunLine]:
    """The lines of a final run plus its corrections, summed per payee and month."""
    return list(combine(line for r in runs for line in r.lines).values())


def next_number(conn: sa.Connection, community: str) -> int:
    t = BillingRun.__table__
    current = conn.execute(sa.select(sa.func.max(t.c.number)).where(t.c.community == community)).scalar()
    return int(current or 0) + 1


def insert_line(conn: sa.Connection, run_id: int, line: RunLine) -> None:
    """One line of a run being written (module-level so that a test can make it fail mid-run)."""
    conn.execute(
        sa.insert(BillingRunLine.__table__).values(
            run_id=run_id,
            payee_id=line.payee_id,
            kind=line.kind,
            month=line.month,
            total_cents=line.total_cents,
            **{p: getattr(line, p) for p in PARTS},
        )
    )


def insert_run(conn: sa.Connection, values: dict[str, Any], lines: list[RunLine]) -> int:
    """Write a run and its lines in the caller's transaction; returns its id."""
    t = BillingRun.__table__
    run_id = conn.execute(
        sa.insert(t).values(**values, status=ISSUED, line_count=len(lines)).returning(t.c.id)
    ).scalar_one()
    for line in lines:
        insert_line(conn, int(run_id), line)
    return int(run_id)
