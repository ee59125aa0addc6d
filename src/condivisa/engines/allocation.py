"""Allocation of the settled money among the payees, by the community's rules (regolamento di riparto).

All money is handled in integer euro cents, so the allocations add up *exactly* to the totals.

Rounding rule (largest remainder, Hamilton): to split ``T`` cents by weights ``w_i``, each payee first
gets ``floor(T · w_i / Σw)`` cents; the cents left over go one each to the payees with the largest
fractional parts, ties to the payee listed first. Splits are nested: the premium is split first into
the producers' / community's / consumers' parts, then each part among its payees.

Rules implemented (the community's regolamento, ``Rules`` in :mod:`condivisa.domain.community`):

- premium: ``producers`` part to the plants' owners pro rata to the premium each plant earned;
  ``community`` part to the community; ``consumers`` part among consumer members by ``uniform``
  (equal, pro rata to days of membership), ``consumption`` (TP_i = TP · Cons_i / Cons_tot, with
  Cons_i the member's withdrawal in the intervals with shared energy) or ``millesimi`` (times days of
  membership);
- later (non-founder) members whose consumption in shared intervals is below the yearly minimum (pro
  rata to their days of membership in the period) get no consumers' part: it returns to the pool, i.e.
  goes to the other consumers by the same key;
- flexibility bonus (``rules.flexibility_bonus.share``, :mod:`condivisa.engines.flexibility`): ``B`` cents
  taken off the premium before its three parts, to the members who shifted consumption into the events'
  windows, pro rata to their kWh shifted;
- premium above the threshold (GSE, Regole operative CACER 2024; :mod:`condivisa.engines.gse_threshold`):
  ``R``, computed on the two sets of plants (premium only, 55 %; premium and PNRR grant, 45 %) from each
  set's ratio shared / injected over the period, may not go to enterprises of any size (``sme`` and
  ``enterprise``). Enterprises may receive at most ``P − R`` in total; when the rules give them more, each
  enterprise's premium is scaled down pro rata and the excess goes to the non-enterprise consumer members
  by the consumers' key, or to the ``social_fund`` payee (``rules.threshold_surplus_to``; to the social
  fund also when no non-enterprise consumer has a weight). A period shorter than the year is provisional:
  the yearly close (:mod:`condivisa.engines.yearly_close`) decides on the year's ratios;
- sale (RID): each plant's sale to its owner (``producers``) or all to the community;
- valorisation: to consumers pro rata to Cons_i (``consumers``), to the owners pro rata to each plant's
  valorisation (``producers``) or to the community;
- fees of later members: the annual fee pro rata to the days of membership in the period, plus the
  exit penalty when the member left early (before ``joined + min_years``) inside the period; collected by
  the community, never more than the member receives (so no payee ends negative; ``fees_due`` keeps what
  was owed); the minimum shared consumption is yearly, so a month's figure is provisional;
- GSE fees (DM 106/2024, :mod:`condivisa.engines.gse_fees`): each plant's fee for the period, off the
  community account (``rules.gse_fees: community``) or off the plant's owner (``producers``), never more
  than the bearer receives (the rest is reported as ``gse_fees_uncovered``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from condivisa.domain.community import (
    Beneficiary,
    ConsumersBy,
    GseFeesBorneBy,
    MemberCategory,
    Rules,
    ThresholdSurplusTo,
)
from condivisa.engines.gse_fees import charge_gse_fees
from condivisa.engines.gse_threshold import ThresholdSet, surplus_cents, threshold_sets

COMMUNITY = "community"
SOCIAL_FUND = "social_fund"


def split_cents(total_cents: int, weights: ArrayLike) -> np.ndarray:
    """Split an amount of cents by weights with the largest-remainder (Hamilton) rule.

    Each part first gets ``floor(T · w_i / Σw)`` cents; the cents left over go one each to the largest
    fractional parts, ties to the part listed first. The parts add up exactly to ``T``, each within one
    cent of its exact share.

    Parameters
    ----------
    total_cents : int
        The amount ``T`` to split, cents, ≥ 0.
    weights : array_like
        The weights ``w_i`` (any unit: €, kWh, days), ≥ 0 and finite.

    Returns
    -------
    numpy.ndarray
        int64 cents per weight, summing to ``total_cents``.

    Raises
    ------
    ValueError
        For negative input, non-finite weights, or a non-zero total with all weights zero.
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
    gse_fee_cents: int = 0
    fee_year_fraction: float = 0.0  # Σ 1/days_in_year over the days the plant carries GSE fees


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
    early_exit: bool = True  # the exit (if any) is before joined + min_years: the penalty applies


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
    gse_fees: dict[str, int] = field(default_factory=dict)  # ≥ 0, taken off the payee
    gse_fees_uncovered_cents: int = 0
    threshold_sets: list[ThresholdSet] = field(default_factory=list)
    #: the part of ``premium`` that is the flexibility bonus, cents per member who shifted
    flexibility_bonus: dict[str, int] = field(default_factory=dict)

    def total(self, payee: str) -> int:
        """Net cents ``payee`` receives: premium + valorisation + sale − fees − GSE fees."""
        a, b = self.premium[payee] + self.valorisation[payee], self.sale[payee] - self.fees[payee]
        return a + b - self.gse_fees.get(payee, 0)


def restricted_premium_cents(plants: list[PlantFigures]) -> int:
    """The premium that may not go to enterprises: ``R``, cents, on the period's two sets of plants.

    ``R = Σ_s P_s · (r_s − t_s) / r_s`` over the sets with ``r_s > t_s``
    (:func:`condivisa.engines.gse_threshold.threshold_sets`), rounded *up* to the cent, so rounding never
    takes a cent from the non-enterprise members.

    Parameters
    ----------
    plants : list of PlantFigures
        Each plant's premium (cents), incentivised and eligible injected energy (kWh) and threshold.

    Returns
    -------
    int
        ``R``, cents.

    References
    ----------
    .. [1] GSE, Regole operative CACER (2024): the premium above 55 % (45 % with a capital grant) of the
       set's shared / injected ratio goes to the consumers other than enterprises, or to social purposes.
    """
    return surplus_cents(threshold_sets(plants))


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


def _split_or_community(
    total: int, weights: np.ndarray, rows: np.ndarray, into: np.ndarray, community: int
) -> None:
    """Add ``total`` cents to ``into[rows]`` by ``weights``; all to the community when no weight is > 0."""
    if total == 0:
        return
    if weights.sum() <= 0:
        into[community] += total
        return
    np.add.at(into, rows, split_cents(total, weights))


def _premium_cents(
    plants: list[PlantFigures],
    rules: Rules,
    cons_w: np.ndarray,
    owners: np.ndarray,
    n: int,
    community: int,
    bonus: np.ndarray,
) -> np.ndarray:
    """The premium per payee: the flexibility ``bonus`` (cents per member), then, of the rest, the
    producers' part to the owners by plant premium, community's part, consumers' part by the consumers'
    key."""
    prem = np.zeros(n, dtype=np.int64)
    prem[: bonus.size] += bonus
    plant_premium = np.array([p.premium_cents for p in plants], dtype=np.int64)
    premium_total = int(plant_premium.sum()) - int(bonus.sum())
    parts = (
        split_cents(
            premium_total, [rules.premium_producers, rules.premium_community, rules.premium_consumers]
        )
        if premium_total
        else np.zeros(3, dtype=np.int64)
    )
    if parts[0]:
        np.add.at(prem, owners, split_cents(int(parts[0]), plant_premium))
    prem[community] += parts[1]
    _split_or_community(int(parts[2]), cons_w, np.arange(len(cons_w)), prem, community)
    return prem


def _enterprise_cap(
    plants: list[PlantFigures],
    members: list[MemberFigures],
    prem: np.ndarray,
    cons_w: np.ndarray,
    surplus_row: int | None,
    community: int,
) -> dict[str, int]:
    """Cap the enterprises' (``sme`` and ``enterprise``) premium at ``P − R`` in place; the excess goes to
    the other consumers by ``cons_w`` (to the community when none has a weight), or all to ``surplus_row``
    (the social fund) when given."""
    premium_total = sum(p.premium_cents for p in plants)
    member_rows = np.arange(len(members))
    r = min(restricted_premium_cents(plants), premium_total)
    is_ent = np.array([m.category.is_enterprise for m in members] + [False] * (len(prem) - len(members)))
    ent_rows = np.flatnonzero(is_ent)
    before = int(prem[ent_rows].sum())
    allowed = premium_total - r
    moved = max(0, before - allowed)
    if moved:
        prem[ent_rows] = split_cents(allowed, prem[ent_rows]) if allowed else 0
        if surplus_row is not None:
            prem[surplus_row] += moved
        else:
            non_ent = ~is_ent[: len(members)]
            _split_or_community(moved, cons_w * non_ent, member_rows, prem, community)
    return {
        "restricted_cents": r,
        "allowed_cents": allowed,
        "enterprise_before_cents": before,
        "enterprise_after_cents": int(prem[ent_rows].sum()),
        "moved_cents": moved,
    }


def _to_beneficiary(
    beneficiary: Beneficiary,
    cents_by_plant: np.ndarray,
    owners: np.ndarray,
    shared_w: np.ndarray,
    n: int,
    community: int,
) -> np.ndarray:
    """Sale or valorisation per payee: to the plants' owners, to the consumers by ``shared_w``, or to the
    community."""
    out = np.zeros(n, dtype=np.int64)
    if beneficiary is Beneficiary.PRODUCERS:
        np.add.at(out, owners, cents_by_plant)
    elif beneficiary is Beneficiary.CONSUMERS:
        _split_or_community(int(cents_by_plant.sum()), shared_w, np.arange(len(shared_w)), out, community)
    else:
        out[community] += int(cents_by_plant.sum())
    return out


def _later_member_fees(
    members: list[MemberFigures], rules: Rules, received: np.ndarray, community: int
) -> tuple[np.ndarray, dict[str, int]]:
    """Fees collected per payee (> 0 paid, the community's < 0 received) and the fees due per member."""
    fees = np.zeros(len(received), dtype=np.int64)
    due: dict[str, int] = {}
    for i, m in enumerate(members):
        if m.founder or m.active_days <= 0:
            continue
        owed = int(round(rules.annual_fee_eur * 100 * m.active_days / 365.0))
        if m.left_in_period and m.early_exit:
            owed += int(round(rules.exit_penalty_eur * 100))
        if owed:
            due[m.id] = owed
            fees[i] = min(owed, int(received[i]))
    fees[community] = -int(fees.sum())
    return fees, due


def allocate(
    plants: list[PlantFigures],
    members: list[MemberFigures],
    rules: Rules,
    *,
    period_days: float,
    flexibility_bonus_cents: int = 0,
    shifted_kwh: ArrayLike | None = None,
) -> Allocation:
    """Split the period's premium, valorisation and sale among members, community and external producers.

    The rules of the module docstring, in order: the premium's producers / community / consumers parts,
    the threshold rule on enterprises, the sale (RID) and the ARERA valorisation by their beneficiaries,
    the later members' fees (collected by the community, never more than the member receives), then the
    GSE fees off their bearer (never more than it receives).

    Parameters
    ----------
    plants : list of PlantFigures
        Each plant's owner and money (cents), and the energies of the enterprise cap (kWh).
    members : list of MemberFigures
        Each member's category, founder flag, millesimi, consumption in shared intervals ``Cons_i`` (kWh)
        and days of membership in the period.
    rules : Rules
        The community's regolamento di riparto.
    period_days : float
        Days in the period (the ``uniform`` and ``millesimi`` keys are pro rata to days of membership).
    flexibility_bonus_cents : int, default 0
        ``B``, the flexibility bonus (:func:`condivisa.engines.flexibility.flexibility_figures`), at most
        the period's premium.
    shifted_kwh : array_like, optional
        kWh each member shifted into the events' windows (the bonus's key), in the order of ``members``.

    Returns
    -------
    Allocation
        Cents per payee (members, ``community``, ``social_fund`` when the rules name it, then external
        producers) of premium, valorisation, sale, fees and GSE fees; the fees due, the threshold rule's
        figures and sets, and the later members below the minimum.

    References
    ----------
    .. [1] GSE, Regole operative CACER (2024): the premium above the threshold, per set of plants.
    .. [2] DM MASE 106/2024: the GSE fees of the CACER incentive.
    """
    member_ids = [m.id for m in members]
    externals = sorted({p.owner for p in plants} - set(member_ids) - {COMMUNITY, SOCIAL_FUND})
    to_fund = rules.threshold_surplus_to is ThresholdSurplusTo.SOCIAL_FUND
    payees = member_ids + [COMMUNITY] + ([SOCIAL_FUND] if to_fund else []) + externals
    pos = {p: i for i, p in enumerate(payees)}
    n, community = len(payees), pos[COMMUNITY]
    owners = np.array([pos[p.owner] for p in plants], dtype=np.int64)
    cons_w, below = _consumer_weights(members, rules, period_days, rules.min_shared_consumption_kwh_per_year)
    shared_w = np.array([m.consumption_in_shared_kwh if m.active_days > 0 else 0.0 for m in members])

    bonus = np.zeros(len(members), dtype=np.int64)
    weights = np.zeros(len(members)) if shifted_kwh is None else np.asarray(shifted_kwh, dtype=float)
    if flexibility_bonus_cents > 0 and weights.sum() > 0:
        bonus = split_cents(min(flexibility_bonus_cents, sum(p.premium_cents for p in plants)), weights)
    prem = _premium_cents(plants, rules, cons_w, owners, n, community, bonus)
    cap: dict[str, int] = {}
    premium_total = sum(p.premium_cents for p in plants)
    if rules.enterprise_cap and premium_total:
        cap = _enterprise_cap(plants, members, prem, cons_w, pos.get(SOCIAL_FUND), community)
    plant_sale = np.array([p.sale_cents for p in plants], dtype=np.int64)
    sale = _to_beneficiary(rules.sale, plant_sale, owners, shared_w, n, community)
    plant_val = np.array([p.valorisation_cents for p in plants], dtype=np.int64)
    val = _to_beneficiary(rules.valorisation, plant_val, owners, shared_w, n, community)
    fees, due = _later_member_fees(members, rules, prem + val + sale, community)
    by_owner = rules.gse_fees is GseFeesBorneBy.PRODUCERS
    bearers = owners if by_owner else np.full(len(plants), community, dtype=np.int64)
    plant_fees = np.array([p.gse_fee_cents for p in plants], dtype=np.int64)
    gse, uncovered = charge_gse_fees(plant_fees, bearers, prem + val + sale - fees)

    def as_dict(a: np.ndarray) -> dict[str, int]:
        return {p: int(a[i]) for i, p in enumerate(payees)}

    return Allocation(
        payees,
        as_dict(prem),
        as_dict(val),
        as_dict(sale),
        as_dict(fees),
        due,
        cap,
        below,
        gse_fees=as_dict(gse),
        gse_fees_uncovered_cents=uncovered,
        threshold_sets=threshold_sets(plants),
        flexibility_bonus={m.id: int(c) for m, c in zip(members, bonus, strict=True) if c},
    )
