"""One person joining: the study with and without the newcomer (``condivisa feasibility … --add-member``).

The community is settled twice on the same year, prices and rules (:mod:`condivisa.feasibility.settle_year`):
as planned, and with the newcomer appended (a later member unless its file says ``founder: true``, so the
proposed ``later_members`` fees apply). The answer: the change of production shared, of the sharing % and
of the community's income; for each existing member and the community account the money before, after and
the difference; and the newcomer's own money line by line. Every figure is a payee's ``total_eur`` of the
settlement result, so the newcomer's money plus everybody else's equals the settled total to the cent
(:func:`check_total`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from condivisa.engines.settlement_result import SettlementResult
from condivisa.feasibility.absorb import payees_total_eur
from condivisa.feasibility.plan_file import Consumer
from condivisa.kernel.money import to_euros


@dataclass
class Join:
    """The effect of one newcomer on the community."""

    newcomer: Consumer
    before: SettlementResult
    after: SettlementResult

    def _sharing(self, r: SettlementResult) -> float:
        t = r.totals
        return t["shared_kwh"] / t["injected_kwh"] if t["injected_kwh"] else 0.0

    def payee_rows(self) -> list[dict[str, Any]]:
        """Per existing payee (members, community account, social fund, external producers): € before, after
        and the change."""
        rows = []
        for p in self.before.allocation.payees:
            b, a = self.before.allocation.total(p), self.after.allocation.total(p)
            rows.append(
                {
                    "payee": p,
                    "before_eur": to_euros(b),
                    "after_eur": to_euros(a),
                    "change_eur": to_euros(a - b),
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        tb, ta = self.before.totals, self.after.totals
        return {
            "newcomer": {
                "id": self.newcomer.id,
                "category": self.newcomer.category.value,
                "founder": self.newcomer.founder,
                "yearly_kwh": round(self.newcomer.yearly_kwh, 1),
                **self.after.member_row(self.newcomer.id),
            },
            "shared_kwh_before": tb["shared_kwh"],
            "shared_kwh_after": ta["shared_kwh"],
            "sharing_before": round(self._sharing(self.before), 4),
            "sharing_after": round(self._sharing(self.after), 4),
            "community_income_before_eur": payees_total_eur(self.before),
            "community_income_after_eur": payees_total_eur(self.after),
            "community_income_change_eur": round(
                payees_total_eur(self.after) - payees_total_eur(self.before), 2
            ),
            "payees": self.payee_rows(),
        }


def check_total(result: SettlementResult) -> None:
    """Every payee's ``total_eur`` adds up to premium + valorisation + sale − the GSE fees taken, to the cent.

    Raises
    ------
    AssertionError
        When the cents do not add up (a bug: the allocation is exact by construction).
    """
    a = result.allocation
    cents = sum(int(result.monthly_cents[k].sum()) for k in ("premium", "valorisation", "sale"))
    assert sum(a.total(p) for p in a.payees) == cents - sum(a.gse_fees.values()), "payees do not add up"
