"""A member's yearly summary: what they received in a civil year, by kind, for their own records.

The summary adds up, in whole cents, every line of the stored runs (final runs and their corrections:
credit notes add, debit notes subtract) whose month is in the year, per member and kind: premium (TIP),
ARERA valorisation, sale of energy (RID), fees (paid: negative), GSE fees (DM 106/2024, kept by the GSE:
negative), and the total. It is the money of the *final* runs: months without a final run are not in it
(``months`` lists the ones that are), and previews never count.

Once the year is closed (``condivisa runs close-year``), the lines of its yearly balance run and of the
corrections of it (month ``YYYY``) are in the summary too, on their own as ``balance`` (CSV:
``yearly_balance_eur``, the balance's total) and in ``line``, which is then the year's money as closed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from condivisa.billing.run_lines import PARTS, RunLine
from condivisa.billing.run_records import list_runs
from condivisa.domain.community import Community
from condivisa.formats.csv_safe import safe_row
from condivisa.kernel.money import to_euros
from condivisa.store.store import Store

CSV_COLUMNS = (
    "member",
    "name",
    "year",
    "premium_eur",
    "valorisation_eur",
    "sale_eur",
    "fees_eur",
    "gse_fees_eur",
    "total_eur",
    "yearly_balance_eur",
    "months",
    "runs",
)


@dataclass(frozen=True)
class YearlySummary:
    """One payee's year: the sums by kind (cents, the yearly balance included), the yearly balance alone,
    the months covered and the runs that count."""

    member_id: str
    name: str
    year: int
    line: RunLine
    months: tuple[str, ...]
    runs: tuple[int, ...]
    balance: RunLine | None = None  # the yearly balance lines (month ``YYYY``), None while not closed

    def as_dict(self) -> dict[str, object]:
        money = self.line.money().as_dict()
        return {
            "member": self.member_id,
            "name": self.name,
            "year": self.year,
            **money,
            "yearly_balance": self.balance.money().as_dict() if self.balance is not None else None,
            "months": list(self.months),
            "runs": list(self.runs),
        }


def yearly_summary(
    store: Store, community: Community, year: int, member_id: str | None = None
) -> list[YearlySummary]:
    """Per member (or only ``member_id``): the year's money from the stored runs, by kind.

    Parameters
    ----------
    store : Store
        Where the runs are.
    community : Community
        Whose members (in ``community.yaml`` order).
    year : int
        The civil year.
    member_id : str, optional
        One member (``KeyError`` if there is none).

    Returns
    -------
    list of YearlySummary
    """
    members = [community.member(member_id)] if member_id else list(community.members)
    totals = {m.id: RunLine(m.id, "member", f"{year:04d}") for m in members}
    months: dict[str, set[str]] = {m.id: set() for m in members}
    runs: dict[str, set[int]] = {m.id: set() for m in members}
    balance: dict[str, RunLine] = {}
    stored = list_runs(store, community.name)
    closed = any(r.kind == "yearly_balance" and r.months[0].startswith(f"{year:04d}-") for r in stored)
    for run in stored:
        for line in run.lines:
            if line.payee_id not in totals:
                continue
            if line.month.startswith(f"{year:04d}-"):
                months[line.payee_id].add(line.month)
            elif line.month == f"{year:04d}":  # a yearly balance line (or a correction of one)
                b = balance.get(line.payee_id)
                balance[line.payee_id] = b.plus(line) if b is not None else line
            else:
                continue
            totals[line.payee_id] = totals[line.payee_id].plus(line)
            runs[line.payee_id].add(run.number)
    return [
        YearlySummary(
            m.id,
            m.name or m.id,
            year,
            totals[m.id],
            tuple(sorted(months[m.id])),
            tuple(sorted(runs[m.id])),
            balance.get(m.id, RunLine(m.id, "member", f"{year:04d}")) if closed else None,
        )
        for m in members
    ]


def summary_csv(rows: list[YearlySummary]) -> str:
    """The summaries as CSV (:data:`CSV_COLUMNS`; € with 2 decimals; text cells neutralised for spreadsheets)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        cents = [getattr(r.line, p) for p in PARTS] + [r.line.total_cents]
        w.writerow(
            safe_row(
                [r.member_id, r.name, str(r.year)]
                + [f"{to_euros(c):.2f}" for c in cents]
                + [f"{to_euros(r.balance.total_cents):.2f}" if r.balance is not None else ""]
                + [" ".join(r.months), " ".join(str(n) for n in r.runs)]
            )
        )
    return out.getvalue()
