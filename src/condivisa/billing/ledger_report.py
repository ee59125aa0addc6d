"""The GSE ledger against condivisa's own settlement: expected vs received, variance, overdue, provisional.

Rules implemented:

- **expected** money of a month is what the GSE itself pays the referente under the CACER contract:
  premium (tariffa incentivante, TIP) + ARERA valorisation (contributo di valorizzazione) − the GSE fees
  (DM 106/2024, the whole fee of the community's plants, which the GSE withholds), all from the month's
  settlement (:class:`~condivisa.outputs.monthly.SettledMonths`), in whole cents. The **sale** of the
  injected energy (ritiro dedicato, RID) is shown apart (``sale_cents``) and is not in ``expected_cents``:
  the GSE pays it, where RID was asked for, under each plant's own RID contract to whoever holds it, usually
  the plant's producer; with ``include_sale`` (the referente holds the RID contracts) it is expected too;
- **received** is the sum of the month's ``paid`` advances and corrections; **communicated** the sum of the
  GSE's notices; **variance** = received − expected (negative: the GSE paid less than condivisa computes);
- a month is **due** ``payment_days`` (default :data:`DEFAULT_PAYMENT_DAYS`, 60) days after its last day,
  unless an entry of the month carries the GSE's own ``due_on``; it is **overdue** when, as of ``as_of``,
  that day has passed, something is expected and nothing has been received;
- the **yearly balance** (conguaglio) of a closed year is a row of its own, period ``YYYY``: expected = the
  whole year settled at once minus the sum of its months (premium + valorisation + GSE fees of every payee,
  :meth:`SettledMonths.year_balance`), received = the ``paid`` yearly-balance entries; it is overdue only
  past a ``due_on`` the GSE communicated;
- every figure is **provisional** until the year is closed (``as_of`` in a later year), and so is a month
  not yet complete or settled with provisional values.

:func:`reconcile` is a pure function of plain inputs; :func:`ledger_view` reads them off a settlement.

References
----------
.. [1] GSE, Regole operative CACER (2024): payments on the distributor's validated measurements, monthly
   advances and the yearly balance (conguaglio).
.. [2] DM MASE 414/2023 (premium), TIAD ARERA 727/2022/R/eel (valorisation), DM MASE 106/2024 (GSE fees).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from condivisa.billing.ledger import LedgerEntry
from condivisa.domain.gse_calendar import DEFAULT_PAYMENT_DAYS, default_due_on
from condivisa.kernel import clock
from condivisa.kernel.money import to_cents, to_euros
from condivisa.outputs.monthly import SettledMonths
from condivisa.outputs.statement import Money

if TYPE_CHECKING:
    from condivisa.store.store import Store


#: days after a month's last day by which condivisa expects the GSE to have paid it (an assumption of
#: condivisa, not a GSE deadline: set it to what the GSE's contract or notices say)
@dataclass(frozen=True)
class ExpectedMonth:
    """A month's GSE money per condivisa's settlement, cents (``gse_fees_cents`` ≥ 0, withheld)."""

    month: str
    premium_cents: int
    valorisation_cents: int
    gse_fees_cents: int
    sale_cents: int
    provisional: bool = True
    #: the referente holds the plants' RID contracts: the GSE pays the sale to the community too
    sale_expected: bool = False

    @property
    def expected_cents(self) -> int:
        """premium + valorisation − GSE fees (+ the sale when :attr:`sale_expected`), cents."""
        sale = self.sale_cents if self.sale_expected else 0
        return self.premium_cents + self.valorisation_cents - self.gse_fees_cents + sale


@dataclass(frozen=True)
class LedgerRow:
    """One period of the ledger: a month (``YYYY-MM``) or a yearly balance (``YYYY``); money in cents."""

    period: str
    expected_cents: int | None
    sale_cents: int | None
    communicated_cents: int | None
    received_cents: int
    due_on: dt.date | None
    overdue: bool
    provisional: bool
    entries: tuple[LedgerEntry, ...] = field(default=())

    @property
    def kind(self) -> str:
        return "yearly_balance" if len(self.period) == 4 else "month"

    @property
    def variance_cents(self) -> int | None:
        """received − expected, cents (``None`` when condivisa has no figure for the period)."""
        return None if self.expected_cents is None else self.received_cents - self.expected_cents

    def as_dict(self) -> dict:
        eur = lambda c: None if c is None else to_euros(c)  # noqa: E731
        return {
            "period": self.period,
            "kind": self.kind,
            "expected_eur": eur(self.expected_cents),
            "sale_eur": eur(self.sale_cents),
            "communicated_eur": eur(self.communicated_cents),
            "received_eur": to_euros(self.received_cents),
            "variance_eur": eur(self.variance_cents),
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "overdue": self.overdue,
            "provisional": self.provisional,
            "entries": [e.id for e in self.entries],
        }


def reconcile(
    entries: Iterable[LedgerEntry],
    expected: Sequence[ExpectedMonth],
    as_of: dt.date,
    *,
    payment_days: int = DEFAULT_PAYMENT_DAYS,
    yearly_expected: dict[int, int] | None = None,
    closed_years: Iterable[int] = (),
) -> list[LedgerRow]:
    """The ledger's rows (see the module docstring): every month settled or recorded, then after each year
    its yearly balance when the year is closed or has a recorded balance. Pure."""
    if payment_days < 0:
        raise ValueError("payment_days must be ≥ 0")
    by_period: dict[str, list[LedgerEntry]] = {}
    for e in entries:
        by_period.setdefault(e.period, []).append(e)
    months = {x.month: x for x in expected}
    yearly = dict(yearly_expected or {})
    closed = set(closed_years)
    periods = {*months, *by_period, *(str(y) for y in yearly)}
    rows = []
    # a year sorts after its months ("2024" + "~" > "2024-12")
    for period in sorted(periods, key=lambda p: p if len(p) == 7 else p + "~"):
        mine = tuple(by_period.get(period, ()))
        paid = sum(e.amount_cents for e in mine if e.status == "paid")
        told = [e.amount_cents for e in mine if e.status == "communicated"]
        dues = [e.due_on for e in mine if e.due_on is not None]
        due: dt.date | None
        if len(period) == 7:
            exp = months.get(period)
            expected_cents = exp.expected_cents if exp else None
            sale = exp.sale_cents if exp else None
            due = max(dues) if dues else default_due_on(period, payment_days)
            provisional = int(period[:4]) not in closed or (exp.provisional if exp else True)
        else:
            expected_cents, sale = yearly.get(int(period)), None
            due = max(dues) if dues else None
            provisional = int(period) not in closed
        overdue = (
            due is not None
            and as_of > due
            and paid == 0
            and (expected_cents is None or expected_cents > 0)
            and (expected_cents is not None or bool(told))
        )
        rows.append(
            LedgerRow(
                period=period,
                expected_cents=expected_cents,
                sale_cents=sale,
                communicated_cents=sum(told) if told else None,
                received_cents=paid,
                due_on=due,
                overdue=overdue,
                provisional=provisional,
                entries=mine,
            )
        )
    return rows


def expected_months(settled: SettledMonths, *, include_sale: bool = False) -> list[ExpectedMonth]:
    """Per settled month: premium, valorisation, the GSE fees and the sale from the settlement, cents;
    ``include_sale``: the referente holds the RID contracts, so the sale is expected from the GSE too."""
    out = []
    for month in settled.months:
        ms = settled.month(month)
        if ms.result is None:
            continue
        totals = ms.result.totals
        provisional = not ms.complete or ms.result.provisional or not settled.year_closed(int(month[:4]))
        out.append(
            ExpectedMonth(
                month=month,
                premium_cents=to_cents(totals["premium_eur"]),
                valorisation_cents=to_cents(totals["valorisation_eur"]),
                gse_fees_cents=to_cents(ms.result.gse_fees_dict()["total_eur"]),
                sale_cents=to_cents(totals["sale_eur"]),
                provisional=provisional,
                sale_expected=include_sale,
            )
        )
    return out


def expected_yearly_balance(settled: SettledMonths, year: int, *, include_sale: bool = False) -> int | None:
    """The community's yearly balance of a closed year, cents: premium + valorisation + GSE fees of every
    payee's balance (the whole year settled at once minus the sum of its months; with ``include_sale`` the
    sale's too, e.g. the RID top-up); ``None`` while open."""
    payees: set[str] = set()
    for month in settled.months:
        if month.startswith(f"{year:04d}-"):
            payees.update(p.id for p in settled.month(month).payees())
    if not payees or not settled.year_closed(year):
        return None
    balances = [settled.year_balance(year, p) for p in sorted(payees)]
    if any(b is None for b in balances):
        return None
    total = Money.sum(b for b in balances if b is not None)
    sale = to_cents(total.sale_eur) if include_sale else 0
    return (
        to_cents(total.premium_eur) + to_cents(total.valorisation_eur) + to_cents(total.gse_fees_eur) + sale
    )


def ledger_view(
    entries: Iterable[LedgerEntry],
    settled: SettledMonths,
    as_of: dt.date | None = None,
    *,
    payment_days: int = DEFAULT_PAYMENT_DAYS,
    year: int | None = None,
    include_sale: bool = False,
) -> list[LedgerRow]:
    """The ledger's rows for ``entries`` against ``settled`` (of ``year`` only, when given), as of ``as_of``
    (default: today, :mod:`condivisa.kernel.clock`)."""
    entries = [e for e in entries if year is None or e.year == year]
    months = expected_months(settled, include_sale=include_sale)
    expected = [x for x in months if year is None or int(x.month[:4]) == year]
    years = {int(x.month[:4]) for x in expected} | {e.year for e in entries}
    closed = {y for y in years if settled.year_closed(y)}
    yearly = {
        y: c
        for y in closed
        if (c := expected_yearly_balance(settled, y, include_sale=include_sale)) is not None
    }
    return reconcile(
        entries,
        expected,
        as_of or clock.today(),
        payment_days=payment_days,
        yearly_expected=yearly,
        closed_years=closed,
    )


def ledger_totals(rows: Sequence[LedgerRow]) -> dict[str, int]:
    """Sums of the rows, cents: expected, sale, received, variance (over the rows with an expected figure)."""
    return {
        "expected_cents": sum(r.expected_cents or 0 for r in rows),
        "sale_cents": sum(r.sale_cents or 0 for r in rows),
        "received_cents": sum(r.received_cents for r in rows),
        "variance_cents": sum(r.variance_cents or 0 for r in rows),
        "overdue": sum(r.overdue for r in rows),
    }


#: the reference of the GSE payment the demo records
DEMO_REFERENCE = "DEMO-GSE-0001"


def record_demo_payment(store: Store, settled: SettledMonths, today: dt.date | None = None) -> int | None:
    """The demo's one GSE payment: a paid advance for the first settled month, the expected amount rounded
    down to the euro (the GSE's advances rarely match to the cent), paid today, reference
    :data:`DEMO_REFERENCE`. Returns the entry's id (``None``: nothing settled yet); recording it again, on
    any day, changes nothing."""
    from condivisa.billing.ledger import LedgerError, list_entries, make_entry, record_entry

    today = today or clock.today()
    expected = [x for x in expected_months(settled) if x.expected_cents > 0]
    if not expected:
        return None
    first = expected[0]
    community = settled.community.name
    for e in list_entries(store, community):
        if e.reference == DEMO_REFERENCE:
            return e.id
    entry = make_entry(
        community,
        kind="advance",
        month=first.month,
        amount=f"{first.expected_cents // 100}.00",
        paid_on=max(today, dt.date.fromisoformat(first.month + "-01")),
        reference=DEMO_REFERENCE,
        note="demo: a simulated GSE payment",
        today=max(today, dt.date.fromisoformat(first.month + "-01")),
    )
    try:
        return record_entry(store, entry, actor="demo").entry_id
    except LedgerError:
        return None
