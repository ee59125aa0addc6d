"""What is distributed: what the GSE actually paid, split by the final run's keys.

The final run says what each payee *should* get. The GSE's payment for the period may differ from what the
run expects (a month settled by the GSE on other data, hours it did not recognise, an advance, a withheld
amount, rounding). The members must share what was actually paid, to the cent, by the keys of the run.

Which money the GSE payment covers
-----------------------------------
The CACER contribution the GSE pays the community's referente covers the **premium (tariffa incentivante,
TIP)** and the **ARERA valorisation** of the shared energy, net of the **GSE fees** (DM 106/2024), which the
GSE keeps. So the amount expected from the GSE is Σ (premium + valorisation + GSE fees) over every payee
(the GSE fees are negative).

The **sale** of the injected energy under Ritiro Dedicato (RID) is also paid by the GSE, but under another
contract (the RID convention of each plant, usually held by the producer, paid on its own schedule): it is
*not* part of the CACER payment. It is distributed as settled, unless the RID payment is given too
(``rid_paid_cents``), in which case it is split by the run's sale keys in the same way. The members' fees
are money between the members and the community: never scaled.

How a difference is split
-------------------------
With ``D = paid − expected``, each payee gets its expected part plus a share of ``D`` proportional to its
premium + valorisation (its share of the GSE's money), in whole cents by the largest-remainder rule
(:func:`condivisa.engines.allocation.split_cents`): the parts add up exactly to what was paid, and each is
within one cent of ``expected_i + D · w_i / Σw``. A shortfall is borne, and an excess shared, pro rata;
the GSE fees stay as settled. Within a payee, its share of ``D`` is split between premium and valorisation
pro rata too. If no payee has premium or valorisation (``Σw = 0``), ``D`` goes to the community account.

References
----------
.. [1] GSE, Regole operative CACER (2024): the contribution (TIP and valorisation) paid to the referente.
.. [2] DM 106/2024: the GSE fees, withheld from the contribution.
.. [3] ARERA delibera 280/07 (RID): the GSE buys the injected energy under its own convention.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from condivisa.billing.ledger import LedgerEntry
from condivisa.billing.run_lines import RunLine, per_payee
from condivisa.engines.allocation import COMMUNITY, split_cents

RULE = (
    "The GSE's CACER payment covers premium + valorisation net of the GSE fees; the difference from the "
    "expected amount is split pro rata to each payee's premium + valorisation (largest remainder, cents). "
    "The RID sale is split the same way only when its payment is given; fees are never scaled."
)


@dataclass(frozen=True)
class Distribution:
    """The run's lines per payee (summed over months) with what was paid distributed.

    Attributes
    ----------
    paid_cents, expected_cents : int
        The GSE's CACER payment and what the run expects (premium + valorisation + GSE fees).
    rid_paid_cents, rid_expected_cents : int or None
        The same for the RID sale, when its payment is given.
    lines : tuple of RunLine
        Per payee: the money after distribution (``month``: the run's first month).
    expected : tuple of RunLine
        Per payee: the run's money before distribution.
    """

    paid_cents: int
    expected_cents: int
    rid_paid_cents: int | None
    rid_expected_cents: int | None
    lines: tuple[RunLine, ...]
    expected: tuple[RunLine, ...]
    rule: str = RULE

    @property
    def difference_cents(self) -> int:
        return self.paid_cents - self.expected_cents

    def as_dict(self) -> dict[str, object]:
        before = {line.payee_id: line for line in self.expected}
        return {
            "paid_cents": self.paid_cents,
            "expected_cents": self.expected_cents,
            "difference_cents": self.difference_cents,
            "rid_paid_cents": self.rid_paid_cents,
            "rid_expected_cents": self.rid_expected_cents,
            "rule": self.rule,
            "payees": [
                {**line.as_dict(), "expected_total_cents": before[line.payee_id].total_cents}
                for line in self.lines
            ],
        }


def gse_cents(line: RunLine) -> int:
    """What the GSE's CACER payment brings this payee: premium + valorisation + GSE fees (≤ 0), cents."""
    return line.premium_cents + line.valorisation_cents + line.gse_fees_cents


def split_signed(amount_cents: int, weights: Iterable[float]) -> np.ndarray:
    """:func:`~condivisa.engines.allocation.split_cents` of a positive or negative amount (the sign kept)."""
    parts = split_cents(abs(int(amount_cents)), list(weights))
    return parts if amount_cents >= 0 else -parts


def _spread(lines: list[RunLine], amount: int, weights: list[int], kinds: tuple[str, ...]) -> list[RunLine]:
    """Add ``amount`` cents to ``lines`` pro rata to ``weights``; each payee's share split over ``kinds``."""
    if amount == 0:
        return lines
    if sum(weights) <= 0:
        who = next((i for i, line in enumerate(lines) if line.payee_id == COMMUNITY), 0)
        weights = [int(i == who) for i in range(len(lines))]
    shares = split_signed(amount, weights)
    out = []
    for line, share in zip(lines, shares):
        inner = [max(getattr(line, k), 0) for k in kinds]
        inner = inner if sum(inner) > 0 else [1] + [0] * (len(kinds) - 1)
        cuts = split_signed(int(share), inner)
        out.append(replace(line, **{k: getattr(line, k) + int(c) for k, c in zip(kinds, cuts)}))
    return out


def distribute(
    lines: Iterable[RunLine],
    paid_cents: int,
    rid_paid_cents: int | None = None,
    keys: Iterable[RunLine] | None = None,
) -> Distribution:
    """Split what the GSE paid by the run's keys (see the module docstring).

    Parameters
    ----------
    lines : iterable of RunLine
        The lines in force of a final run (the run plus its corrections), any number of months.
    paid_cents : int
        What the GSE paid for the run's months under the CACER service, cents (net of its fees).
    rid_paid_cents : int, optional
        What the GSE paid under RID for the same months, cents; default: the sale as settled.
    keys : iterable of RunLine, optional
        The lines whose premium + valorisation (and sale) are the keys, when they are not ``lines``
        themselves: a yearly balance run (``lines``, which may be negative) is split by the year's closed
        figures (every line in force of the year). Every payee of ``keys`` gets a line (zero if it has none).

    Returns
    -------
    Distribution

    Raises
    ------
    ValueError
        A payee has negative premium, valorisation or sale in force (a weight cannot be negative).
    """
    by_payee = per_payee(lines)
    key_lines = per_payee(keys) if keys is not None else by_payee
    for pid, key in key_lines.items():
        by_payee.setdefault(pid, RunLine(pid, key.kind, key.month))
    expected = list(by_payee.values())
    for line in key_lines.values():
        if min(line.premium_cents, line.valorisation_cents, line.sale_cents) < 0:
            raise ValueError(
                f"{line.payee_id}: negative premium, valorisation or sale in force: cannot be a key"
            )
    zero = RunLine("", "member", "")
    key_of = [key_lines.get(line.payee_id, zero) for line in expected]
    gse_expected = sum(gse_cents(line) for line in expected)
    weights = [k.premium_cents + k.valorisation_cents for k in key_of]
    out = _spread(expected, int(paid_cents) - gse_expected, weights, ("premium_cents", "valorisation_cents"))
    rid_expected = None
    if rid_paid_cents is not None:
        rid_expected = sum(line.sale_cents for line in expected)
        out = _spread(
            out, int(rid_paid_cents) - rid_expected, [k.sale_cents for k in key_of], ("sale_cents",)
        )
    return Distribution(
        int(paid_cents), gse_expected, rid_paid_cents, rid_expected, tuple(out), tuple(expected)
    )


def ledger_paid_cents(entries: Iterable[LedgerEntry], first_month: str, last_month: str) -> int | None:
    """What the GSE paid for the months ``first_month`` … ``last_month`` (``YYYY-MM``) by the ledger: the
    paid advances and corrections of those months, cents; ``None`` when none is recorded.

    References
    ----------
    .. [1] :mod:`condivisa.billing.ledger`: the referente records each payment the GSE made.
    """
    paid = [
        e.amount_cents
        for e in entries
        if e.status == "paid"
        and e.kind in ("advance", "correction")
        and first_month <= e.period <= last_month
    ]
    return sum(paid) if paid else None


def ledger_yearly_paid_cents(entries: Iterable[LedgerEntry], year: int) -> int | None:
    """What the GSE paid as the yearly balance (conguaglio) of ``year`` by the ledger: its paid
    ``yearly_balance`` entries (period ``YYYY``), cents; ``None`` when none is recorded."""
    paid = [
        e.amount_cents
        for e in entries
        if e.status == "paid" and e.kind == "yearly_balance" and e.period == f"{year:04d}"
    ]
    return sum(paid) if paid else None
