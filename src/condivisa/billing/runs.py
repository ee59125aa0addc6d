"""Billing runs: preview, final run, correction (the eegfaktura / odoo-ec model: official data in, immutable
final runs, corrections only by credit notes).

A *run* settles whole civil months (Europe/Rome) of a community on given data, rules and regulated values:
each month on its own, as the monthly statements show it (:class:`condivisa.outputs.monthly.SettledMonths`),
and every payee's money of each month becomes a line in whole cents
(:class:`~condivisa.billing.run_lines.RunLine`).

- :func:`preview` computes a run and returns it; **a preview is never stored**: it can be recomputed at any
  time, on any data, and nothing about it needs keeping (the dashboard and ``condivisa settle`` are previews
  too). Its statements say *PROVVISORIO*.
- :func:`finalize` stores a **final** run, numbered per community (1, 2, ...: final runs and corrections
  share the sequence), with the SHA-256 of its inputs (:mod:`condivisa.billing.inputs_hash`), the rules and
  the regulated values it used, in **one transaction**: a failure half-way leaves nothing. Only months
  that are over can be finalised, and a month can be in one final run only: a second ``finalize`` of it is
  refused and points to :func:`correct`.
- the yearly balance run of a closed year (``kind="yearly_balance"``, the conguaglio) is stored by
  :func:`condivisa.billing.yearly_balance.close_year_run`; :func:`correct` of it recomputes the balance.
- :func:`correct` settles the months of a final run again on the current inputs. If the fingerprint equals
  the one in force (the final run's or its latest correction's) there is nothing to correct; otherwise it
  stores a **correction** run whose lines are the credit/debit notes ``new − in force`` per payee and month
  (:mod:`condivisa.billing.credit_notes`), which add up to the cent to the difference of the totals.

A stored run is never changed: there is no function that does it, and the database refuses it
(:mod:`condivisa.store.billing_tables`). So a final run reads the same after the data change: its lines and
hash are what was stored.

References
----------
.. [1] GSE, Regole operative CACER (2024): monthly payments and the yearly balance (conguaglio).
.. [2] eegfaktura (Austria) and odoo-ec: billing runs, immutable invoices, corrections by credit notes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from condivisa.auth.rules_audit import rules_dict
from condivisa.billing import run_records
from condivisa.billing.credit_notes import credit_notes
from condivisa.billing.inputs_hash import changed_parts, inputs_digest, regulated_values
from condivisa.billing.run_common import Correction, book_of, lock_runs, run_values, whoami, window
from condivisa.billing.run_lines import RunLine, total_cents
from condivisa.billing.run_records import RunError, StoredRun, months_between
from condivisa.engines.metergrid import MeasurementError
from condivisa.engines.settlement_money import PriceError
from condivisa.kernel import clock
from condivisa.outputs.monthly import month_bounds
from condivisa.outputs.sources import SettlementInputs
from condivisa.store.store import Store


@dataclass(frozen=True)
class RunDraft:
    """A run computed but not stored: a preview, or what :func:`finalize` / :func:`correct` store."""

    community: str
    months: tuple[str, ...]
    fill: str | None
    inputs_sha256: str
    inputs: dict[str, Any]
    rules: dict[str, Any]
    tariffs: dict[str, Any]
    lines: tuple[RunLine, ...]

    @property
    def total_cents(self) -> int:
        return total_cents(self.lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "community": self.community,
            "kind": "preview",
            "months": list(self.months),
            "inputs_sha256": self.inputs_sha256,
            "inputs": self.inputs,
            "lines": [line.as_dict() for line in self.lines],
            "total_cents": self.total_cents,
        }


def parse_months(first: str, last: str | None = None) -> tuple[str, ...]:
    """The months ``first``..``last`` (``YYYY-MM``), checked."""
    for m in (first, last or first):
        month_bounds(m)  # ValueError naming the bad month
    months = months_between(first, last or first)
    if not months:
        raise RunError(f"months {first}..{last}: the last is before the first")
    return months


def preview(inputs: SettlementInputs, months: tuple[str, ...], *, fill: str | None = None) -> RunDraft:
    """Compute a run of ``months`` on ``inputs`` without storing it (see the module docstring).

    Parameters
    ----------
    inputs : SettlementInputs
        The community, its measurements (from a CSV or the store) and the hourly zonal prices (€/MWh).
    months : tuple of str
        ``YYYY-MM``, consecutive, oldest first (:func:`parse_months`).
    fill : {None, "zero", "interpolate"}
        Missing quarter hours: refused (``None``) or filled explicitly.

    Returns
    -------
    RunDraft

    Raises
    ------
    RunError
        A month has no measurements, missing quarter hours without ``fill``, or no prices.
    """
    community = inputs.community
    part, prices = window(inputs, months)
    book = book_of(inputs, months, fill)
    lines: list[RunLine] = []
    for month in months:
        if month not in book.months:
            raise RunError(f"{community.name}: no measurements in {month}")
        try:
            settled = book.month(month)
            payees = settled.payees()
        except (MeasurementError, PriceError, ValueError) as exc:
            raise RunError(f"{month}: {exc}") from exc
        if settled.empty:
            raise RunError(f"{community.name}: no measurements in {month}")
        lines += [RunLine.of(p, month) for p in payees]
    digest, parts = inputs_digest(community, part, prices, list(months), fill, inputs.events)
    return RunDraft(
        community=community.name,
        months=months,
        fill=fill,
        inputs_sha256=digest,
        inputs=parts,
        rules=rules_dict(community.rules),
        tariffs=regulated_values(community, list(months)),
        lines=tuple(lines),
    )


def finalize(
    store: Store,
    inputs: SettlementInputs,
    months: tuple[str, ...],
    *,
    fill: str | None = None,
    created_by: str | None = None,
) -> StoredRun:
    """Store the final run of ``months``: numbered, immutable, in one transaction.

    Parameters
    ----------
    store : Store
        Where runs are kept (upgraded to migration ``0910_billing_runs``).
    inputs : SettlementInputs
        The data settled (the CSV files or the store's measurements).
    months : tuple of str
        ``YYYY-MM``; every month must be over (before today, Europe/Rome).
    fill : {None, "zero", "interpolate"}
        Missing quarter hours (stored with the run and used again by :func:`correct`).
    created_by : str, optional
        Who finalises (default ``user@host``).

    Returns
    -------
    StoredRun

    Raises
    ------
    RunError
        A month is not over, already in a final run (use :func:`correct`), or cannot be settled.
    """
    today = clock.today()
    open_months = [m for m in months if month_bounds(m)[1].date() > today]
    if open_months:
        raise RunError(
            f"{', '.join(open_months)} not over yet (today is {today}): preview it, finalise later"
        )
    draft = preview(inputs, months, fill=fill)
    with store.engine.begin() as conn:
        lock_runs(conn, inputs.community)
        for run in run_records.list_runs(store, draft.community, conn):
            taken = sorted(set(run.months) & set(months))
            if run.kind == "final" and taken:
                raise RunError(
                    f"{', '.join(taken)} already in final run n. {run.number}: a final run never changes; "
                    f"post the differences with `condivisa runs correct {run.number}`"
                )
        number = run_records.next_number(conn, draft.community)
        values = run_values(draft, "final", number, created_by or whoami(), None)
        run_records.insert_run(conn, values, list(draft.lines))
    return run_records.get_run(store, draft.community, number)


def correct(
    store: Store, inputs: SettlementInputs, number: int, *, created_by: str | None = None
) -> Correction:
    """Settle final run ``number``'s months again on ``inputs`` and post the differences as a correction run.

    Parameters
    ----------
    store : Store
        Where the runs are.
    inputs : SettlementInputs
        The current data, rules and regulated values.
    number : int
        A final run (or one of its corrections: the final run it corrects is meant).
    created_by : str, optional
        Who corrects (default ``user@host``).

    Returns
    -------
    Correction
        ``run`` is ``None`` when the fingerprint equals the one in force (nothing to correct); otherwise the
        correction stored, whose lines are the credit/debit notes (none when the inputs changed but no
        payee's money did: the new fingerprint is recorded all the same).
    """
    community = inputs.community.name
    final = run_records.get_run(store, community, number)
    if final.kind == "correction":
        assert final.corrects_number is not None
        final = run_records.get_run(store, community, final.corrects_number)
    if final.kind == "yearly_balance":
        from condivisa.billing.yearly_balance import correct_year

        return correct_year(store, inputs, final, created_by=created_by)
    draft = preview(inputs, final.months, fill=final.inputs.get("fill"))
    with store.engine.begin() as conn:
        lock_runs(conn, inputs.community)
        runs = run_records.chain(store, final, conn)
        latest = runs[-1]
        changed = tuple(changed_parts(latest.inputs, draft.inputs))
        if draft.inputs_sha256 == latest.inputs_sha256:
            return Correction(
                final, None, (), f"nothing to correct: the inputs of run n. {latest.number} are unchanged"
            )
        notes = credit_notes(run_records.lines_in_force(runs), draft.lines)
        new_number = run_records.next_number(conn, community)
        values = run_values(draft, "correction", new_number, created_by or whoami(), final.id)
        run_records.insert_run(conn, values, notes)
    run = run_records.get_run(store, community, new_number)
    moved = total_cents(notes)
    what = ", ".join(changed) or "inputs"
    message = (
        f"correction n. {new_number} of run n. {final.number} ({what} changed): {len(notes)} notes, "
        f"{moved / 100:+.2f} € in total"
        if notes
        else f"correction n. {new_number} of run n. {final.number}: {what} changed but no payee's money did"
    )
    from condivisa.billing.yearly_balance import closing_run

    closing = closing_run(store, community, final.months)
    if closing is not None:
        message += (
            f"\n{closing.months[0][:4]} is closed by yearly balance run n. {closing.number}: its balance "
            f"depends on these months; recompute it with `condivisa runs correct {closing.number}`"
        )
    return Correction(final, run, changed, message)


def verify(inputs: SettlementInputs, run: StoredRun) -> RunDraft:
    """Recompute ``run``'s months on ``inputs`` and check they are the inputs it was made on.

    Raises
    ------
    RunError
        The fingerprint differs (the message names what changed and says to correct the run).
    """
    draft = preview(inputs, run.months, fill=run.inputs.get("fill"))
    if draft.inputs_sha256 != run.inputs_sha256:
        changed = ", ".join(changed_parts(run.inputs, draft.inputs)) or "inputs"
        target = run.corrects_number or run.number
        raise RunError(
            f"run n. {run.number}: the {changed} changed since it was made; "
            f"post a correction (`condivisa runs correct {target}`) and issue from it"
        )
    return draft


def run_period_days(run: StoredRun) -> tuple[dt.date, dt.date]:
    """First and last day of the run (Europe/Rome)."""
    lo = month_bounds(run.months[0])[0].date()
    hi = month_bounds(run.months[-1])[1].date() - dt.timedelta(days=1)
    return lo, hi
