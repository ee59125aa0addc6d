"""A billing run's lines: one payee's money of one month, in whole cents.

A line is what the payee receives (fees paid are negative; the GSE fees, DM 106/2024, are what the GSE keeps
off whoever bears them), exactly as the monthly statement of :mod:`condivisa.outputs.statement` shows it, but
in integer cents so that sums and differences are exact: ``total_cents`` is always the sum of the other five.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from condivisa.kernel.money import to_cents, to_euros
from condivisa.outputs.statement import MONEY_KEYS, Money, PayeeLine

#: the money parts of a line, cents (``total_cents`` is their sum)
PARTS = ("premium_cents", "valorisation_cents", "sale_cents", "fees_cents", "gse_fees_cents")


@dataclass(frozen=True)
class RunLine:
    """One payee's money of one month, whole cents.

    Attributes
    ----------
    payee_id : str
        A member id, ``community``, ``social_fund`` or an external producer's id.
    kind : str
        ``member``, ``community``, ``social_fund`` or ``external``.
    month : str
        ``YYYY-MM`` (Europe/Rome civil month).
    premium_cents, valorisation_cents, sale_cents, fees_cents, gse_fees_cents : int
        The money by kind, cents.
    """

    payee_id: str
    kind: str
    month: str
    premium_cents: int = 0
    valorisation_cents: int = 0
    sale_cents: int = 0
    fees_cents: int = 0
    gse_fees_cents: int = 0

    @property
    def total_cents(self) -> int:
        return sum(getattr(self, p) for p in PARTS)

    @property
    def key(self) -> tuple[str, str]:
        return self.payee_id, self.month

    @property
    def is_zero(self) -> bool:
        return not any(getattr(self, p) for p in PARTS)

    @classmethod
    def of(cls, payee: PayeeLine, month: str) -> RunLine:
        """The line of a settled payee (:class:`~condivisa.outputs.statement.PayeeLine`, € with 2 decimals)."""
        m = payee.money
        line = cls(
            payee.id,
            payee.kind,
            month,
            **{p: to_cents(getattr(m, k)) for p, k in zip(PARTS, MONEY_KEYS)},
        )
        if line.total_cents != to_cents(m.total_eur):
            raise ValueError(f"{payee.id} {month}: money lines do not add up to the total ({m})")
        return line

    def money(self) -> Money:
        """The line in € (2 decimals)."""
        cents = [getattr(self, p) for p in PARTS] + [self.total_cents]
        return Money(**{k: to_euros(c) for k, c in zip(MONEY_KEYS, cents)})

    def plus(self, other: RunLine) -> RunLine:
        return replace(self, **{p: getattr(self, p) + getattr(other, p) for p in PARTS})

    def minus(self, other: RunLine) -> RunLine:
        return replace(self, **{p: getattr(self, p) - getattr(other, p) for p in PARTS})

    def as_dict(self) -> dict[str, object]:
        return {
            "payee": self.payee_id,
            "kind": self.kind,
            "month": self.month,
            **{p: getattr(self, p) for p in PARTS},
            "total_cents": self.total_cents,
        }


def combine(lines: Iterable[RunLine]) -> dict[tuple[str, str], RunLine]:
    """The lines summed per (payee, month), in first-seen order."""
    out: dict[tuple[str, str], RunLine] = {}
    for line in lines:
        out[line.key] = out[line.key].plus(line) if line.key in out else line
    return out


def per_payee(lines: Iterable[RunLine]) -> dict[str, RunLine]:
    """The lines summed per payee over their months (``month`` of the result: the first month seen)."""
    out: dict[str, RunLine] = {}
    for line in lines:
        out[line.payee_id] = out[line.payee_id].plus(line) if line.payee_id in out else line
    return out


def total_cents(lines: Iterable[RunLine]) -> int:
    return sum(line.total_cents for line in lines)
