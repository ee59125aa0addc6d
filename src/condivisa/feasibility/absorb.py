"""How many more consumers of a kind would absorb the surplus, and what the community earns if they join.

Definition. With the community's hourly injection ``I_h`` and withdrawal ``W_h`` (kWh) and ``c_h`` the
hourly withdrawal of one candidate of the kind (from its bills, :mod:`condivisa.feasibility.loads`), n
more such consumers give the shared energy (TIAD art. 1, hour by hour)

    S(n) = Σ_h min(I_h, W_h + n · c_h)

which never decreases with n (each term is non-decreasing) and is concave (each term is). The surplus is
*absorbed* at the smallest n with ``S(n) ≥ τ · Σ_h I_h``, τ the plan's ``absorption.target_sharing``
(default 0.95: 95 % of the production shared), found by bisection on the integers 0 … ``max_added``
(``None`` when even ``max_added`` does not reach it: part of the production falls in hours when this kind
withdraws nothing, e.g. an office's Sundays). The curve S(n)/ΣI is reported for the plot, with the
ceiling ``lim_{n→∞} S(n) = Σ_{h: c_h>0} I_h + Σ_{h: c_h=0} min(I_h, W_h)`` divided by ``Σ_h I_h``.

Money. The community with the n newcomers (later members, ``founder: false``, of the candidate's
category) is settled again (:mod:`condivisa.feasibility.settle_year`): the extra yearly income is the
change of every payee's money together (premium + valorisation + sale − GSE fees), and each newcomer's
money is what the proposed rules give them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from condivisa.engines.settlement_result import SettlementResult
from condivisa.feasibility.plan_file import Consumer
from condivisa.kernel.money import to_euros


def shared_with_added_kwh(
    injected_h: np.ndarray, withdrawn_h: np.ndarray, candidate_h: np.ndarray, n: int
) -> float:
    """``S(n) = Σ_h min(I_h, W_h + n · c_h)``, kWh."""
    return float(np.minimum(injected_h, withdrawn_h + n * candidate_h).sum())


def consumers_needed(
    injected_h: np.ndarray, withdrawn_h: np.ndarray, candidate_h: np.ndarray, target: float, max_added: int
) -> int | None:
    """The smallest n in 0 … ``max_added`` with ``S(n) ≥ target · Σ_h I_h`` (bisection: S is monotone), or
    ``None`` when ``S(max_added)`` falls short."""
    goal = target * float(injected_h.sum()) - 1e-9
    if shared_with_added_kwh(injected_h, withdrawn_h, candidate_h, 0) >= goal:
        return 0
    if shared_with_added_kwh(injected_h, withdrawn_h, candidate_h, max_added) < goal:
        return None
    lo, hi = 0, max_added  # S(lo) < goal <= S(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if shared_with_added_kwh(injected_h, withdrawn_h, candidate_h, mid) >= goal:
            hi = mid
        else:
            lo = mid
    return hi


def curve(
    injected_h: np.ndarray, withdrawn_h: np.ndarray, candidate_h: np.ndarray, n_max: int, points: int = 41
) -> list[tuple[int, float]]:
    """``(n, S(n) / Σ I)`` on up to ``points`` integers 0 … ``n_max`` (the absorption curve)."""
    produced = float(injected_h.sum())
    ns = sorted({int(round(x)) for x in np.linspace(0, n_max, points)})
    return [
        (n, shared_with_added_kwh(injected_h, withdrawn_h, candidate_h, n) / produced if produced else 0.0)
        for n in ns
    ]


@dataclass
class Absorption:
    """The answer for one kind of candidate."""

    kind: str
    category: str
    yearly_kwh: float
    target_sharing: float
    needed: int | None
    max_added: int
    sharing_before: float
    sharing_after: float
    ceiling_sharing: float
    shared_before_kwh: float
    shared_after_kwh: float
    marginal_kwh: float | None  # what the n-th newcomer adds to the shared energy
    extra_income_eur: float | None = None  # the community's, per year
    newcomer_eur: float | None = None  # each newcomer's money per year (the mean over them)
    existing_change_eur: float | None = None  # the change of the existing members' money together
    curve: list[tuple[int, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "category": self.category,
            "yearly_kwh": round(self.yearly_kwh, 1),
            "target_sharing": self.target_sharing,
            "needed": self.needed,
            "max_added": self.max_added,
            "sharing_before": round(self.sharing_before, 4),
            "sharing_after": round(self.sharing_after, 4),
            "ceiling_sharing": round(self.ceiling_sharing, 4),
            "shared_before_kwh": round(self.shared_before_kwh, 1),
            "shared_after_kwh": round(self.shared_after_kwh, 1),
            "marginal_kwh": None if self.marginal_kwh is None else round(self.marginal_kwh, 1),
            "extra_income_eur": self.extra_income_eur,
            "newcomer_eur": self.newcomer_eur,
            "existing_change_eur": self.existing_change_eur,
            "curve": [{"added": n, "sharing": round(s, 4)} for n, s in self.curve],
        }


def payees_total_eur(result: SettlementResult) -> float:
    """Every payee's money together, €: ``Σ_p total_p`` (premium + valorisation + sale − GSE fees)."""
    return to_euros(sum(result.allocation.total(p) for p in result.allocation.payees))


def absorb(
    candidate: Consumer,
    candidate_h: np.ndarray,
    injected_h: np.ndarray,
    withdrawn_h: np.ndarray,
    *,
    target: float,
    max_added: int,
    base: SettlementResult,
    settle_with: Callable[[int], SettlementResult],
    existing_ids: list[str],
) -> Absorption:
    """The absorption answer for one kind (module docstring); ``settle_with(n)`` settles the community with n
    newcomers of the kind appended after the existing members."""
    produced = float(injected_h.sum())
    needed = consumers_needed(injected_h, withdrawn_h, candidate_h, target, max_added)
    n = max_added if needed is None else needed
    s0 = shared_with_added_kwh(injected_h, withdrawn_h, candidate_h, 0)
    sn = shared_with_added_kwh(injected_h, withdrawn_h, candidate_h, n)
    ceiling = float(
        injected_h[candidate_h > 0].sum() + np.minimum(injected_h, withdrawn_h)[candidate_h <= 0].sum()
    )
    out = Absorption(
        kind=candidate.id,
        category=candidate.category.value,
        yearly_kwh=candidate.yearly_kwh,
        target_sharing=target,
        needed=needed,
        max_added=max_added,
        sharing_before=s0 / produced if produced else 0.0,
        sharing_after=sn / produced if produced else 0.0,
        ceiling_sharing=ceiling / produced if produced else 0.0,
        shared_before_kwh=s0,
        shared_after_kwh=sn,
        marginal_kwh=None
        if n == 0
        else sn - shared_with_added_kwh(injected_h, withdrawn_h, candidate_h, n - 1),
        curve=curve(
            injected_h, withdrawn_h, candidate_h, max(2 * n, 10) if needed is not None else max_added
        ),
    )
    if n == 0:
        out.extra_income_eur, out.existing_change_eur = 0.0, 0.0
        return out
    after = settle_with(n)
    out.extra_income_eur = round(payees_total_eur(after) - payees_total_eur(base), 2)
    new_ids = [m.id for m in after.community.members[len(existing_ids) :]]
    out.newcomer_eur = round(sum(to_euros(after.allocation.total(i)) for i in new_ids) / len(new_ids), 2)
    out.existing_change_eur = round(
        sum(to_euros(after.allocation.total(i) - base.allocation.total(i)) for i in existing_ids), 2
    )
    return out
