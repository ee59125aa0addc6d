"""The yearly balance run (conguaglio): the run that brings a closed year's final runs to the yearly close.

The GSE pays monthly advances and, once the year is over, re-computes it with the yearly rules (the premium
above the threshold for enterprises, the later members' minimum shared consumption, the GSE fees:
:mod:`condivisa.engines.yearly_close`). The months' final runs (:mod:`condivisa.billing.runs`) hold the
monthly figures; :func:`close_year_run` stores one more immutable run, of kind ``yearly_balance``, whose lines
are per payee

    ``yearly close − Σ lines in force of the year's months`` (final runs and their corrections),

every money kind on its own, in whole cents, zero lines left out. So the year's lines in force (its months'
runs, their corrections and the yearly balance run) add up, per payee and kind, to the yearly close exactly.
A yearly balance line has ``month`` = ``YYYY`` (the year, as the GSE ledger's yearly-balance period), not a
month.

Rules:

- the year must be over (today, Europe/Rome, in a later year);
- every month of the year with measurements must be in a final run ("finalize 2024-03 first"), and the
  current inputs of every such run must be the ones in force (its fingerprint or its latest correction's):
  otherwise the months must be corrected first (``condivisa runs correct N``), so that the balance is only
  the yearly rules, never a data change in disguise;
- a year is closed once: a second close is refused and points to ``condivisa runs correct N``;
- the yearly close is :func:`~condivisa.engines.yearly_close.close_year` of the months, each settled on its own
  on its final run's data and fill (as ``condivisa settle --year`` closes it).

A later correction of a month of a closed year (``runs correct`` of the month's final run) changes the
months' lines in force, and so what the yearly balance must be: ``runs correct`` then says that the year is
closed by run n. N, and ``condivisa runs correct N`` (on the yearly balance run) recomputes the balance on the
current inputs and posts the difference as a correction of the yearly balance run (credit/debit notes, month
``YYYY``). Its fingerprint covers the year's data, rules and regulated values *and* the months' lines in
force, so a month's correction alone is enough for the yearly run to need correcting.

References
----------
.. [1] GSE, Regole operative CACER (2024): monthly advances and the yearly balance (conguaglio).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from condivisa.auth.rules_audit import rules_dict
from condivisa.billing import run_records
from condivisa.billing.credit_notes import credit_notes
from condivisa.billing.inputs_hash import (
    canonical,
    changed_parts,
    inputs_digest,
    regulated_values,
    sha256_text,
)
from condivisa.billing.run_common import Correction, book_of, lock_runs, run_values, whoami, window
from condivisa.billing.run_lines import PARTS, RunLine, per_payee, total_cents
from condivisa.billing.run_records import RunError, StoredRun
from condivisa.engines.settlement_result import SettlementResult
from condivisa.engines.yearly_close import COMPONENTS, YearlyClose, close_year, payee_cents
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.sources import SettlementInputs
from condivisa.store.store import Store

YEARLY = "yearly_balance"


def year_of(run: StoredRun) -> int:
    """The year a yearly balance run closes."""
    return int(run.months[0][:4])


def is_yearly(store: Store, run: StoredRun) -> bool:
    """``run`` is a yearly balance run or a correction of one."""
    if run.kind == YEARLY:
        return True
    if run.kind == "correction" and run.corrects_number is not None:
        return run_records.get_run(store, run.community, run.corrects_number).kind == YEARLY
    return False


def year_months(inputs: SettlementInputs, year: int) -> tuple[str, ...]:
    """The months of ``year`` with measurements (Europe/Rome), oldest first."""
    m = inputs.measurements
    if not len(m):
        return ()
    local = m["start"].dt.tz_convert(ROME)
    inside = local[local.dt.year == year]
    return tuple(sorted({f"{year:04d}-{mm:02d}" for mm in inside.dt.month.unique()}))


def yearly_runs(runs: list[StoredRun], year: int) -> list[StoredRun]:
    """The yearly balance runs of ``year`` among ``runs`` (at most one)."""
    return [r for r in runs if r.kind == YEARLY and r.months[0].startswith(f"{year:04d}-")]


def closing_run(store: Store, community: str, months: tuple[str, ...]) -> StoredRun | None:
    """The yearly balance run closing a year of ``months``, if any (for the messages of ``runs correct``)."""
    runs = run_records.list_runs(store, community)
    for year in sorted({int(m[:4]) for m in months}):
        found = yearly_runs(runs, year)
        if found:
            return found[0]
    return None


@dataclass(frozen=True)
class YearDraft:
    """A yearly balance computed but not stored (what :func:`close_year_run` and :func:`correct_year` store)."""

    community: str
    year: int
    months: tuple[str, ...]
    fill: str | None
    inputs_sha256: str
    inputs: dict[str, Any]
    rules: dict[str, Any]
    tariffs: dict[str, Any]
    lines: tuple[RunLine, ...]
    close: YearlyClose
    in_force: tuple[RunLine, ...]  # the months' lines in force, per payee and month
    month_runs: tuple[int, ...]  # the final runs and corrections they come from
    last_number: int  # the highest run number when drafted (a run stored meanwhile invalidates the draft)

    @property
    def total_cents(self) -> int:
        return total_cents(self.lines)


def _kind(inputs: SettlementInputs, payee: str, kinds: dict[str, str]) -> str:
    if payee in kinds:
        return kinds[payee]
    if payee in {m.id for m in inputs.community.members}:
        return "member"
    return payee if payee in ("community", "social_fund") else "external"


def draft_year(
    store: Store, inputs: SettlementInputs, year: int, conn: sa.Connection | None = None
) -> YearDraft:
    """The yearly balance of ``year`` on ``inputs`` and the stored runs (see the module docstring).

    Raises
    ------
    RunError
        The year is not over, a month of it has no final run, or a month's inputs changed since its run.
    """

    community = inputs.community
    today = clock.today()
    if today < dt.date(year + 1, 1, 1):
        raise RunError(f"{year} is not over yet (today is {today}): close it from {year + 1}-01-01")
    runs = run_records.list_runs(store, community.name, conn)
    prefix = f"{year:04d}-"
    finals = [r for r in runs if r.kind == "final" and any(m.startswith(prefix) for m in r.months)]
    covered = {m: r for r in finals for m in r.months if m.startswith(prefix)}
    months = tuple(sorted(set(year_months(inputs, year)) | set(covered)))
    if not months:
        raise RunError(f"{community.name}: no measurements and no final run in {year}: nothing to close")
    missing = [m for m in months if m not in covered]
    if missing:
        raise RunError(
            f"{', '.join(missing)} of {year} not in a final run: finalize {missing[0]} first "
            f"(`condivisa runs finalize --month {missing[0]}`), then close the year"
        )
    results: dict[str, SettlementResult] = {}
    in_force: list[RunLine] = []
    numbers: list[int] = []
    kinds: dict[str, str] = {}
    fills: set[str | None] = set()
    for final in finals:
        chain = [final] + [r for r in runs if r.corrects_run_id == final.id]
        latest = chain[-1]
        fill = final.inputs.get("fill")
        part, prices = window(inputs, final.months)
        digest, parts = inputs_digest(community, part, prices, list(final.months), fill, inputs.events)
        if digest != latest.inputs_sha256:
            what = ", ".join(changed_parts(latest.inputs, parts)) or "inputs"
            raise RunError(
                f"run n. {final.number} ({final.months[0]}..{final.months[-1]}): the {what} changed since run "
                f"n. {latest.number}; correct it first (`condivisa runs correct {final.number}`), "
                "then close the year"
            )
        book = book_of(inputs, final.months, fill)
        for m in final.months:
            if m.startswith(prefix):
                settled = book.month(m)
                if settled.result is not None:
                    results[m] = settled.result
                kinds.update({p.id: p.kind for p in settled.payees()})
        in_force += [x for x in run_records.lines_in_force(chain) if x.month.startswith(prefix)]
        numbers += [r.number for r in chain]
        fills.add(fill)
    close = close_year([results[m] for m in months if m in results])
    label = f"{year:04d}"
    had = {pid: replace(x, month=label) for pid, x in per_payee(in_force).items()}
    lines = []
    for p in close.payees:
        closed = RunLine(
            p.id,
            _kind(inputs, p.id, kinds),
            label,
            **{part: payee_cents(close.closed, p.id)[c] for part, c in zip(PARTS, COMPONENTS)},
        )
        before = had.pop(p.id, None)
        balance = closed.minus(before) if before is not None else closed
        if not balance.is_zero:
            lines.append(balance)
    for gone in had.values():  # in force but not in the close: brought to zero
        zero = RunLine(gone.payee_id, gone.kind, label)
        if not gone.is_zero:
            lines.append(zero.minus(gone))
    fill = next(iter(fills)) if len(fills) == 1 else "mixed"
    part, prices = window(inputs, months)
    _, parts = inputs_digest(community, part, prices, list(months), fill, inputs.events)
    parts.update(
        kind=YEARLY,
        year=year,
        month_runs=sorted(numbers),
        month_fills={m: covered[m].inputs.get("fill") for m in months},
        months_in_force_sha256=sha256_text(canonical([x.as_dict() for x in in_force])),
    )
    return YearDraft(
        community=community.name,
        year=year,
        months=months,
        fill=fill,
        inputs_sha256=sha256_text(canonical(parts)),
        inputs=parts,
        rules=rules_dict(community.rules),
        tariffs=regulated_values(community, list(months)),
        lines=tuple(lines),
        close=close,
        in_force=tuple(in_force),
        month_runs=tuple(sorted(numbers)),
        last_number=max((r.number for r in runs), default=0),
    )


def _unchanged(conn: sa.Connection, draft: YearDraft) -> None:
    if run_records.next_number(conn, draft.community) - 1 != draft.last_number:
        raise RunError(f"{draft.community}: a run was stored while closing {draft.year}; close it again")


def close_year_run(
    store: Store, inputs: SettlementInputs, year: int, *, created_by: str | None = None
) -> StoredRun:
    """Store the yearly balance run of ``year``: numbered, immutable, in one transaction.

    Raises
    ------
    RunError
        The year is not over, a month has no final run or changed inputs, or the year is already closed.
    """

    existing = yearly_runs(run_records.list_runs(store, inputs.community.name), year)
    if existing:
        n = existing[0].number
        raise RunError(
            f"{year} already closed by yearly balance run n. {n}: a stored run never changes; "
            f"recompute it with `condivisa runs correct {n}`"
        )
    draft = draft_year(store, inputs, year)
    with store.engine.begin() as conn:
        lock_runs(conn, inputs.community)
        if yearly_runs(run_records.list_runs(store, draft.community, conn), year):
            raise RunError(f"{year} was closed meanwhile (see `condivisa runs list`)")
        _unchanged(conn, draft)
        number = run_records.next_number(conn, draft.community)
        values = run_values(draft, YEARLY, number, created_by or whoami(), None)
        run_records.insert_run(conn, values, list(draft.lines))
    return run_records.get_run(store, draft.community, number)


def correct_year(store: Store, inputs: SettlementInputs, run: StoredRun, *, created_by: str | None = None):
    """Recompute the yearly balance run ``run`` on the current inputs and runs; post the difference as a
    correction of it (:class:`condivisa.billing.run_common.Correction`; ``run`` ``None``: nothing to correct)."""

    draft = draft_year(store, inputs, year_of(run))
    with store.engine.begin() as conn:
        lock_runs(conn, inputs.community)
        _unchanged(conn, draft)
        chain = run_records.chain(store, run, conn)
        latest = chain[-1]
        if draft.inputs_sha256 == latest.inputs_sha256:
            return Correction(
                run,
                None,
                (),
                f"nothing to correct: the inputs and the months' runs of yearly balance run n. {latest.number} "
                "are unchanged",
            )
        changed = tuple(changed_parts(latest.inputs, draft.inputs))
        if latest.inputs.get("months_in_force_sha256") != draft.inputs.get("months_in_force_sha256"):
            changed += ("months' runs",)
        notes = credit_notes(run_records.lines_in_force(chain), draft.lines)
        number = run_records.next_number(conn, draft.community)
        values = run_values(draft, "correction", number, created_by or whoami(), run.id)
        run_records.insert_run(conn, values, notes)
    stored = run_records.get_run(store, draft.community, number)
    what = ", ".join(changed) or "inputs"
    message = (
        f"correction n. {number} of yearly balance run n. {run.number} ({what} changed): {len(notes)} notes, "
        f"{total_cents(notes) / 100:+.2f} € in total"
        if notes
        else f"correction n. {number} of yearly balance run n. {run.number}: {what} changed but no payee's "
        "balance did"
    )
    return Correction(run, stored, changed, message)
