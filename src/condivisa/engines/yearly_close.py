"""The yearly close (conguaglio): the year's final allocation and each payee's balance to its months.

The GSE pays monthly advances and closes each year with a balance (GSE, Regole operative CACER 2024).
Three rules are decided only on the year:

- the premium above the threshold (:mod:`condivisa.engines.gse_threshold`), on the year's shared /
  injected ratio of each set of plants (premium only, 55 %; with a PNRR grant, 45 %);
- the later members' minimum shared consumption (yearly, pro rata to days of membership);
- the GSE fees (DM 106/2024, :mod:`condivisa.engines.gse_fees`): the year's fee per plant (the sum of its
  months), and who can bear it on the year's money.

:func:`close_year` takes the year's months, each settled on its own
(:func:`condivisa.engines.settlement.settle`), adds up their plant and member figures, allocates the year
(:func:`condivisa.engines.allocation.allocate`) and returns, per payee, the *provisional* figures (the sum
of the monthly allocations), the *closed* ones and the balance ``closed − provisional``. A year with fewer
months, or months not covering 1 January to 31 December, is closed on what exists and marked
``partial``. Money in integer cents; the balances of every component add up to the difference of the
totals, exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from condivisa.engines.allocation import Allocation, MemberFigures, PlantFigures, allocate
from condivisa.engines.settlement_result import SettlementResult

COMPONENTS = ("premium", "valorisation", "sale", "fees", "gse_fees", "total")


def payee_cents(a: Allocation, payee: str) -> dict[str, int]:
    """What ``payee`` receives in ``a``, cents per component (fees and GSE fees paid: negative)."""
    if payee not in a.premium:
        return dict.fromkeys(COMPONENTS, 0)
    return {
        "premium": a.premium[payee],
        "valorisation": a.valorisation[payee],
        "sale": a.sale[payee],
        "fees": -a.fees[payee],
        "gse_fees": -a.gse_fees.get(payee, 0),
        "total": a.total(payee),
    }


@dataclass(frozen=True)
class PayeeClose:
    """One payee's year: the sum of its months, the closed figures and the balance, cents."""

    id: str
    provisional: dict[str, int]
    closed: dict[str, int]

    @property
    def balance(self) -> dict[str, int]:
        """``closed − provisional`` per component (the conguaglio), cents."""
        return {k: self.closed[k] - self.provisional[k] for k in COMPONENTS}


@dataclass(frozen=True)
class YearlyClose:
    """The close of one year (see the module docstring)."""

    year: int
    first_day: dt.date
    last_day: dt.date
    months: list[str]
    partial: bool
    closed: Allocation
    payees: list[PayeeClose]
    moved_provisional_cents: int  # Σ of the months' premium moved off enterprises
    below_minimum_provisional: dict[str, list[str]]  # month -> later members below the month's minimum
    gse_fees_provisional_cents: int

    def to_dict(self) -> dict[str, Any]:
        """``result.json``'s ``yearly_close``: euro with 2 decimals."""

        def eur(cents: dict[str, int]) -> dict[str, float]:
            return {f"{k}_eur": round(v / 100, 2) + 0.0 for k, v in cents.items()}

        cap = self.closed.enterprise_cap
        return {
            "year": self.year,
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "months": list(self.months),
            "partial_year": self.partial,
            "payees": [
                {
                    "id": p.id,
                    "provisional": eur(p.provisional),
                    "closed": eur(p.closed),
                    "balance": eur(p.balance),
                }
                for p in self.payees
            ],
            "threshold": {
                "provisional_moved_eur": round(self.moved_provisional_cents / 100, 2) + 0.0,
                "closed_moved_eur": round(cap.get("moved_cents", 0) / 100, 2) + 0.0,
                "closed_surplus_eur": round(cap.get("restricted_cents", 0) / 100, 2) + 0.0,
                "sets": [s.as_dict() for s in self.closed.threshold_sets],
            },
            "minimum_shared_consumption": {
                "provisional_below": self.below_minimum_provisional,
                "closed_below": list(self.closed.below_minimum),
            },
            "gse_fees": {
                "provisional_eur": round(self.gse_fees_provisional_cents / 100, 2) + 0.0,
                "closed_eur": round(sum(self.closed.gse_fees.values()) / 100, 2) + 0.0,
                "uncovered_eur": round(self.closed.gse_fees_uncovered_cents / 100, 2) + 0.0,
            },
        }


def _year_plants(months: Sequence[SettlementResult]) -> list[PlantFigures]:
    """Each plant's figures over the months (the GSE fee, like all money, is the sum of the months)."""
    community = months[0].community
    out = []
    for k in range(len(community.plants)):
        figs = [r.plant_figures[k] for r in months]
        fraction = sum(f.fee_year_fraction for f in figs)
        out.append(
            replace(
                figs[0],
                premium_cents=sum(f.premium_cents for f in figs),
                sale_cents=sum(f.sale_cents for f in figs),
                valorisation_cents=sum(f.valorisation_cents for f in figs),
                incentivised_kwh=float(sum(f.incentivised_kwh for f in figs)),
                injected_eligible_kwh=float(sum(f.injected_eligible_kwh for f in figs)),
                gse_fee_cents=sum(f.gse_fee_cents for f in figs),
                fee_year_fraction=fraction,
            )
        )
    return out


def _year_members(months: Sequence[SettlementResult]) -> list[MemberFigures]:
    """Each member's figures over the months: consumption in shared intervals and days of membership."""
    out = []
    for i in range(len(months[0].community.members)):
        figs = [r.member_figures[i] for r in months]
        out.append(
            replace(
                figs[0],
                consumption_in_shared_kwh=float(sum(f.consumption_in_shared_kwh for f in figs)),
                active_days=float(sum(f.active_days for f in figs)),
                left_in_period=any(f.left_in_period for f in figs),
            )
        )
    return out


def close_year(months: Sequence[SettlementResult]) -> YearlyClose:
    """Close a year on its months: the final allocation and each payee's balance (conguaglio).

    Parameters
    ----------
    months : sequence of SettlementResult
        The year's months of one community, each settled on its own, in any order; at least one.

    Returns
    -------
    YearlyClose
        Per payee: the provisional figures (sum of the months), the closed ones (the year's plant and
        member figures allocated by the community's rules) and the balance, cents; the threshold rule,
        minimum shared consumption and GSE fees, provisional and closed.

    Raises
    ------
    ValueError
        Without months, with months of different years, or with overlapping months.

    References
    ----------
    .. [1] GSE, Regole operative CACER (2024): monthly advances and the yearly balance; the premium above
       the threshold computed per configuration and per year on two sets of plants.
    .. [2] DM MASE 106/2024: the GSE fees, yearly per plant.
    """
    if not months:
        raise ValueError("close_year: no months to close")
    ordered = sorted(months, key=lambda r: r.first_day)
    years = {r.first_day.year for r in ordered} | {r.last_day.year for r in ordered}
    if len(years) != 1:
        raise ValueError(f"close_year: the months span the years {sorted(years)}")
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.first_day <= a.last_day:
            raise ValueError(f"close_year: {a.first_day}..{a.last_day} overlaps {b.first_day}..{b.last_day}")
    year = years.pop()
    rules = ordered[0].community.rules
    days = sum((r.last_day - r.first_day).days + 1 for r in ordered)
    closed = allocate(_year_plants(ordered), _year_members(ordered), rules, period_days=days)
    ids = list(dict.fromkeys([*closed.payees, *(p for r in ordered for p in r.allocation.payees)]))
    payees = [
        PayeeClose(
            pid,
            {k: sum(payee_cents(r.allocation, pid)[k] for r in ordered) for k in COMPONENTS},
            payee_cents(closed, pid),
        )
        for pid in ids
    ]
    first, last = ordered[0].first_day, ordered[-1].last_day
    return YearlyClose(
        year=year,
        first_day=first,
        last_day=last,
        months=[m for r in ordered for m in r.months],
        partial=(first, last) != (dt.date(year, 1, 1), dt.date(year, 12, 31))
        or days < (last - first).days + 1,
        closed=closed,
        payees=payees,
        moved_provisional_cents=sum(r.allocation.enterprise_cap.get("moved_cents", 0) for r in ordered),
        below_minimum_provisional={
            r.months[0]: list(r.allocation.below_minimum) for r in ordered if r.allocation.below_minimum
        },
        gse_fees_provisional_cents=sum(sum(r.allocation.gse_fees.values()) for r in ordered),
    )
