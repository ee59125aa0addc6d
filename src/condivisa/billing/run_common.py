"""What every kind of billing run shares: who creates it, the window of the inputs it reads, the months
settled one by one, the per-community lock, and what a correction reports. Used by :mod:`condivisa.billing.runs`
(final runs and their corrections) and :mod:`condivisa.billing.yearly_balance` (the yearly balance runs).
"""

from __future__ import annotations

import getpass
import socket
import zlib
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd
import sqlalchemy as sa

from condivisa import __version__
from condivisa.billing.run_records import StoredRun
from condivisa.domain.community import Community
from condivisa.kernel import clock
from condivisa.outputs.monthly import SettledMonths, month_bounds
from condivisa.outputs.sources import SettlementInputs


@dataclass(frozen=True)
class Correction:
    """What :func:`correct` did: ``run`` is the correction stored, ``None`` when there was nothing to correct."""

    final: StoredRun
    run: StoredRun | None
    changed: tuple[str, ...]
    message: str


def whoami() -> str:
    """``user@host`` of whoever runs the command (a run's ``created_by`` by default)."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "?"
    return f"{user}@{socket.gethostname()}"[:128]


def window(inputs: SettlementInputs, months: tuple[str, ...]) -> tuple[pd.DataFrame, pd.Series]:
    lo, hi = month_bounds(months[0])[0], month_bounds(months[-1])[1]
    m = inputs.measurements
    part = m[(m["start"] >= lo) & (m["start"] < hi)].reset_index(drop=True) if len(m) else m
    p = inputs.prices
    prices = p[(p.index >= lo) & (p.index < hi)] if len(p) else p
    return part, prices


def book_of(inputs: SettlementInputs, months: tuple[str, ...], fill: str | None) -> SettledMonths:
    """The run's months settled one by one, on the run's rows only (the monthly statements' figures)."""
    part, prices = window(inputs, months)
    as_of = month_bounds(months[-1])[1].date()
    return SettledMonths(inputs.community, part, prices, fill=fill, as_of=as_of, events=inputs.events)


def lock_runs(conn: sa.Connection, community: Community) -> None:
    """Serialise the runs of one community: PostgreSQL advisory lock (SQLite: BEGIN IMMEDIATE already)."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"condivisa-billing:{community.name}".encode())
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


class Draft(Protocol):
    """What a computed run (final, correction or yearly balance) carries into its stored row."""

    @property
    def community(self) -> str: ...
    @property
    def months(self) -> tuple[str, ...]: ...
    @property
    def inputs_sha256(self) -> str: ...
    @property
    def inputs(self) -> dict[str, Any]: ...
    @property
    def rules(self) -> dict[str, Any]: ...
    @property
    def tariffs(self) -> dict[str, Any]: ...


def run_values(draft: Draft, kind: str, number: int, by: str, corrects: int | None) -> dict[str, Any]:
    """The ``billing_runs`` row of ``draft``: numbered, stamped now (:mod:`condivisa.kernel.clock`)."""
    return {
        "community": draft.community,
        "number": number,
        "kind": kind,
        "period_start": draft.months[0],
        "period_end": draft.months[-1],
        "created_at": clock.now(),
        "created_by": by,
        "inputs_sha256": draft.inputs_sha256,
        "inputs": draft.inputs,
        "rules": draft.rules,
        "tariffs": draft.tariffs,
        "corrects_run_id": corrects,
        "condivisa_version": __version__,
    }
