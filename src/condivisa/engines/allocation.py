"""Allocation of the settled money among the payees, by the community's rules (regolamento di riparto).

All money is handled in integer euro cents, so the allocations add up *exactly* to the totals.

Rounding rule (largest remainder, Hamilton): to split ``T`` cents by weights ``w_i``, each payee first
gets ``floor(T · w_i / Σw)`` cents; the cents left over go one each to the payees with the largest
fractional parts, ties to the payee listed first. Splits are nested: the premium is split first into
the producers' / community's / consumers' parts, then each part among its payees.

Rules implemented (issue #2 §3; ``Rules`` in :mod:`condivisa.domain.community`):

- premium: ``producers`` part to the plants' owners pro rata to the premium each plant earned;
  ``community`` part to the community; ``consumers`` part among consumer members by ``uniform``
  (equal, pro rata to days of membership), ``consumption`` (TP_i = TP · Cons_i / Cons_tot, with
  Cons_i the member's withdrawal in the intervals with shared energy) or ``millesimi`` (times days of
  membership);
- later (non-founder) members whose consumption in shared intervals is below the yearly minimum (pro
  rata to their days of membership in the period) get no consumers' part: it returns to the pool, i.e.
  goes to the other consumers by the same key;
- enterprise cap (GSE technical rules, Feb 2024): the premium earned on a plant's incentivised shared
  energy above 55 % of its injected energy (45 % with a PNRR grant), ``R``, may not go to ``enterprise``
  members. Enterprises may receive at most ``P − R`` in total; when the rules give them more, each
  enterprise's premium is scaled down pro rata and the excess goes to the non-enterprise consumer
  members by the consumers' key (to the community when there is none);
- sale (RID): each plant's sale to its owner (``producers``) or all to the community;
- valorisation: to consumers pro rata to Cons_i (``consumers``), to the owners pro rata to each plant's
  valorisation (``producers``) or to the community;
- fees of later members: the annual fee pro rata to the days of membership in the period, plus the
  exit penalty when the member left inside the period; collected by the community, never more than the
  member receives (so no payee ends negative; ``fees_due`` keeps what was owed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from condivisa.domain.community import Beneficiary, ConsumersBy, MemberCategory, Rules

COMMUNITY = "community"


def split_cents(total_cents: int, weights: ArrayLike) -> np.ndarray:
    """Split ``total_cents`` by ``weights`` with the largest-remainder rule; the parts sum to the total.

    Raises ``ValueError`` for negative input, or for a non-zero total with all weights zero.
    """
    w = np.asarray(weights, dtype=float).ravel()
    total_cents = int(total_cents)
    if total_cents < 0 or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError(f"cannot split {total_cents} cents by weights {w}")
    out = np.zeros(w.size, dtype=np.int64)
    if total_cents == 0:
        return out
    s = w.sum()
    if s <= 0:
        raise ValueError(f"no weight to split {total_cents} cents among {w.size} payees")
    ideal = total_cents * (w / s)
    out[:] = np.floor(ideal)
    rest = total_cents - int(out.sum())
    frac = ideal - out
    order = np.lexsort((np.arange(w.size), -frac))  # largest fraction first, ties: first listed
    if rest > 0:
        out[order[:rest]] += 1
    elif rest < 0:  # float noise pushed a floor one over; take back from the smallest fractions
        out[order[::-1][:-rest]] -= 1
    return out


@dataclass(frozen=True)
class PlantFigures:
    """A plant's settled figures over the period (money already in cents)."""

    id: str
    owner: str
    premium_cents: int
    sale_cents: int
    valorisation_cents: int
    incentivised_kwh: float = 0.0
    injected_eligible_kwh: float = 0.0
    cap_share: float = 0.55


@dataclass(frozen=True)
class MemberFigures:
    """A member's figures over the period."""

    id: str
    category: MemberCategory = MemberCategory.PRIVATE
    founder: bool = True
    millesimi: float = 0.0
    consumption_in_shared_kwh: float = 0.0
    active_days: float = 0.0
    left_in_period: bool = False
    has_consumption: bool = True


@dataclass
class Allocation:
    """Cents per payee (member ids, then ``community``, then external producers)."""

    payees: list[str]
    premium: dict[str, int]
    valorisation: dict[str, int]
    sale: dict[str, int]
    fees: dict[str, int]  # > 0 paid by a member, < 0 received by the community
    fees_due: dict[str, int] = field(default_factory=dict)
    enterprise_cap: dict[str, int] = field(default_factory=dict)
    below_minimum: list[str] = field(default_factory=list)

    def total(self, payee: str) -> int:
        return self.premium[payee] + self.valorisation[payee] + self.sale[payee] - self.fees[payee]


def restricted_premium_cents(plants: list[PlantFigures]) -> int:
    """R: premium earned on incentivised shared energy above cap_share × injected energy, cents.

    Per plant ``R_p = premium_p · max(0, E_sh,p − s_p · E_inj,p) / E_sh,p`` (the premium is taken as
    earned evenly over the plant's shared energy). R is rounded *up* to the cent, so rounding never
    takes a cent from the non-enterprise members.
    """
    r = 0.0
    for p in plants:
        if p.incentivised_kwh > 0:
            excess = max(0.0, p.incentivised_kwh - p.cap_share * p.injected_eligible_kwh)
            r += p.premium_cents * excess / p.incentivised_kwh
    return int(np.ceil(r - 1e-9))


def _consumer_weights(
    members: list[MemberFigures], rules: Rules, period_days: float, min_kwh: float
) -> tuple[np.ndarray, list[str]]:
    """Consumers' key per member and the later members below the yearly minimum."""
    w = np.zeros(len(members))
    below: list[str] = []
    for i, m in enumerate(members):
        if not m.has_consumption or m.active_days <= 0:
            continue
        if not m.founder and min_kwh > 0 and m.consumption_in_shared_kwh < min_kwh * m.active_days / 365.0:
            below.append(m.id)
            continue
        if rules.consumers_by is ConsumersBy.UNIFORM:
            w[i] = m.active_days / period_days
        elif rules.consumers_by is ConsumersBy.MILLESIMI:
            w[i] = m.millesimi * m.active_days / period_days
        else:
            w[i] = m.consumption_in_shared_kwh
    return w, below


def allocate(
    plants: list[PlantFigures],
    members: list[MemberFigures],
    rules: Rules,
    *,
    period_days: float,
) -> Allocation:
    """Split the period's premium, valorisation and sale among members, community and external producers."""
    member_ids = [m.id for m in members]
    externals = sorted({p.owner for p in plants} - set(member_ids) - {COMMUNITY})
    payees = member_ids + [COMMUNITY] + externals
    pos = {p: i for i, p in enumerate(payees)}
    n = len(payees)
    prem = np.zeros(n, dtype=np.int64)
    val = np.zeros(n, dtype=np.int64)
    sale = np.zeros(n, dtype=np.int64)
    community = pos[COMMUNITY]
    owners = np.array([pos[p.owner] for p in plants], dtype=np.int64)

    def to_owners(cents_by_plant: np.ndarray, into: np.ndarray) -> None:
        np.add.at(into, owners, cents_by_plant)

    def split_or_community(total: int, weights: np.ndarray, rows: np.ndarray, into: np.ndarray) -> None:
        if total == 0:
            return
        if weights.sum() <= 0:
            into[community] += total
            return
        np.add.at(into, rows, split_cents(total, weights))

    member_rows = np.arange(len(members))
    cons_w, below = _consumer_weights(members, rules, period_days, rules.min_shared_consumption_kwh_per_year)
    shared_w = np.array([m.consumption_in_shared_kwh if m.active_days > 0 else 0.0 for m in members])

    # premium: producers / community / consumers parts, then each part among its payees
    plant_premium = np.array([p.premium_cents for p in plants], dtype=np.int64)
    premium_total = int(plant_premium.sum())
    parts = (
        split_cents(
            premium_total, [rules.premium_producers, rules.premium_community, rules.premium_consumers]
        )
        if premium_total
        else np.zeros(3, dtype=np.int64)
    )
    if parts[0]:
        to_owners(split_cents(int(parts[0]), plant_premium), prem)
    prem[community] += parts[1]
    split_or_community(int(parts[2]), cons_w, member_rows, prem)

    # enterprise cap: enterprises receive at most P - R in total
    cap: dict[str, int] = {}
    if rules.enterprise_cap and premium_total:
        r = min(restricted_premium_cents(plants), premium_total)
        is_ent = np.array(
            [m.category is MemberCategory.ENTERPRISE for m in members] + [False] * (n - len(members))
        )
        ent_rows = np.flatnonzero(is_ent)
        before = int(prem[ent_rows].sum())
        allowed = premium_total - r
        moved = max(0, before - allowed)
        if moved:
            prem[ent_rows] = split_cents(allowed, prem[ent_rows]) if allowed else 0
            non_ent = np.array([not is_ent[i] for i in member_rows])
            split_or_community(moved, cons_w * non_ent, member_rows, prem)
        cap = {
            "restricted_cents": r,
            "allowed_cents": allowed,
            "enterprise_before_cents": before,
            "enterprise_after_cents": int(prem[ent_rows].sum()),
            "moved_cents": moved,
        }

    # sale (RID)
    plant_sale = np.array([p.sale_cents for p in plants], dtype=np.int64)
    if rules.sale is Beneficiary.PRODUCERS:
        to_owners(plant_sale, sale)
    elif rules.sale is Beneficiary.CONSUMERS:
        split_or_community(int(plant_sale.sum()), shared_w, member_rows, sale)
    else:
        sale[community] += int(plant_sale.sum())

    # ARERA valorisation
    plant_val = np.array([p.valorisation_cents for p in plants], dtype=np.int64)
    if rules.valorisation is Beneficiary.CONSUMERS:
        split_or_community(int(plant_val.sum()), shared_w, member_rows, val)
    elif rules.valorisation is Beneficiary.PRODUCERS:
        to_owners(plant_val, val)
    else:
        val[community] += int(plant_val.sum())

    # fees of later members, collected by the community, never beyond what the member receives
    fees = np.zeros(n, dtype=np.int64)
    due: dict[str, int] = {}
    for i, m in enumerate(members):
        if m.founder or m.active_days <= 0:
            continue
        owed = int(round(rules.annual_fee_eur * 100 * m.active_days / 365.0))
        if m.left_in_period:
            owed += int(round(rules.exit_penalty_eur * 100))
        if owed:
            due[m.id] = owed
            fees[i] = min(owed, int(prem[i] + val[i] + sale[i]))
    fees[community] = -int(fees.sum())

    def as_dict(a: np.ndarray) -> dict[str, int]:
        return {p: int(a[i]) for i, p in enumerate(payees)}

    return Allocation(payees, as_dict(prem), as_dict(val), as_dict(sale), as_dict(fees), due, cap, below)
