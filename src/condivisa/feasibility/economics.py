"""20-year economics of each plant owner and of the community, from the settled reference year.

Year 1 is the settled year (:mod:`condivisa.feasibility.settle_year`). Later years fade with the modules:
production ``E_y = E_1 · (1 − d)^(y−1)`` (:func:`condivisa.engines.finance.degradation_factors`), shared
energy recomputed hour by hour on the same withdrawals ``S_y = Σ_h min((1 − d)^(y−1) · I_h, W_h)``, and

    sale_y         = sale_1 · (1 − d)^(y−1)
    premium_y      = premium_1 · S_y / S_1      (0 after the premium's 20 years, DM 414/2023 art. 4)
    valorisation_y = valorisation_1 · S_y / S_1
    CF_0 = −cost · (1 − grant),   CF_y = sale_y + premium_y + valorisation_y − GSE fees − maintenance

with NPV, discounted payback and IRR from :mod:`condivisa.engines.finance`. Prices, rules and the
members stay those of the reference year.

A plant owner's income is its *producer's* money by the proposed rules: the sale (RID) and the ARERA
valorisation when the rules give them to the producers, and the producers' part of the premium
(``rules.premium.producers``), split among owners pro rata to each plant's premium with
:func:`condivisa.engines.allocation.split_cents` as the allocation does (never more than the premium the
owner actually receives, so the enterprise cap is respected), less the GSE fees when the producers bear
them. What the owner also receives as a consumer member is reported beside it, not counted in the plant's
NPV. The community as a whole counts every payee's money (members, community account, external producers)
against every plant's cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from condivisa.domain.community import Beneficiary, GseFeesBorneBy
from condivisa.domain.tariffs import PREMIUM_YEARS
from condivisa.engines.allocation import split_cents
from condivisa.engines.finance import degradation_factors, dpbt_years, irr, npv_eur
from condivisa.engines.settlement_result import SettlementResult
from condivisa.feasibility.plan_file import Plan, PlannedPlant
from condivisa.kernel.money import to_euros


def _r2(x: float) -> float:
    return round(float(x), 2) + 0.0


@dataclass
class Investment:
    """The economics of one owner (or of the whole community): year-1 lines and the horizon's figures, €."""

    who: str
    plants: list[str]
    cost_eur: float
    grant_eur: float
    maintenance_eur_per_year: float
    premium_eur: float
    valorisation_eur: float
    sale_eur: float
    gse_fees_eur: float  # ≤ 0
    cash_flows_eur: np.ndarray
    discount_rate: float
    as_consumer_eur: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def investment_eur(self) -> float:
        return self.cost_eur - self.grant_eur

    @property
    def year1_income_eur(self) -> float:
        """Year 1's net income: the money lines less maintenance, €."""
        return float(self.cash_flows_eur[1])

    @property
    def npv_eur(self) -> float:
        return npv_eur(self.cash_flows_eur, self.discount_rate)

    @property
    def payback_years(self) -> float | None:
        return dpbt_years(self.cash_flows_eur, self.discount_rate)

    @property
    def irr(self) -> float | None:
        return irr(self.cash_flows_eur) if self.investment_eur > 0 else None

    def to_dict(self) -> dict[str, Any]:
        pb, rate = self.payback_years, self.irr
        return {
            "owner": self.who,
            "plants": self.plants,
            "cost_eur": _r2(self.cost_eur),
            "grant_eur": _r2(self.grant_eur),
            "investment_eur": _r2(self.investment_eur),
            "maintenance_eur_per_year": _r2(self.maintenance_eur_per_year),
            "year1_premium_eur": _r2(self.premium_eur),
            "year1_valorisation_eur": _r2(self.valorisation_eur),
            "year1_sale_eur": _r2(self.sale_eur),
            "year1_gse_fees_eur": _r2(self.gse_fees_eur),
            "year1_net_income_eur": _r2(self.year1_income_eur),
            "npv_eur": _r2(self.npv_eur),
            "payback_years": None if pb is None else round(pb, 2),
            "irr": None if rate is None else round(rate, 4),
            **({} if self.as_consumer_eur is None else {"year1_as_consumer_eur": _r2(self.as_consumer_eur)}),
            "cash_flows_eur": [_r2(x) for x in self.cash_flows_eur],
        }


def shared_factors(injected_kwh: np.ndarray, withdrawn_kwh: np.ndarray, fade: np.ndarray) -> np.ndarray:
    """``S_y / S_1`` with ``S_y = Σ_h min(fade_y · I_h, W_h)`` (hourly injection and withdrawal, kWh)."""
    shared = np.array([np.minimum(f * injected_kwh, withdrawn_kwh).sum() for f in fade])
    return np.divide(shared, shared[0], out=np.ones_like(shared), where=shared[0] > 0)


def maintenance_eur(plan: Plan, plant: PlannedPlant) -> float:
    """A plant's yearly maintenance: its own figure, else ``kwp · economics.maintenance_eur_per_kwp_year``."""
    if plant.maintenance_eur_per_year is not None:
        return plant.maintenance_eur_per_year
    return plant.kwp * plan.economics.maintenance_eur_per_kwp_year


def _flows(
    investment: float,
    premium: float,
    valorisation: float,
    sale: float,
    fixed: float,
    fade: np.ndarray,
    s: np.ndarray,
) -> np.ndarray:
    years = np.arange(1, len(fade) + 1)
    prem = np.where(years <= PREMIUM_YEARS, premium * s, 0.0)
    income = prem + valorisation * s + sale * fade + fixed
    return np.concatenate([[-investment], income])


def producer_premium_cents(result: SettlementResult) -> dict[str, int]:
    """The producers' part of the premium per owner, cents: ``split_cents(P, shares)[0]`` split by each
    plant's premium (the allocation's own rule), capped at what the owner receives."""
    rules = result.community.rules
    plant_premium = np.asarray(result.plant_cents["premium"], dtype=np.int64)
    total = int(plant_premium.sum())
    out: dict[str, int] = {}
    if total == 0:
        return out
    part = int(
        split_cents(total, [rules.premium_producers, rules.premium_community, rules.premium_consumers])[0]
    )
    by_plant = split_cents(part, plant_premium) if part else np.zeros(len(plant_premium), dtype=np.int64)
    for k, p in enumerate(result.community.plants):
        out[p.owner] = out.get(p.owner, 0) + int(by_plant[k])
    return {o: min(c, result.allocation.premium[o]) for o, c in out.items()}


def owner_economics(
    plan: Plan, result: SettlementResult, injected_h: np.ndarray, withdrawn_h: np.ndarray
) -> list[Investment]:
    """Each plant owner's 20-year economics (module docstring); ``injected_h``/``withdrawn_h`` are the
    community's hourly injection and withdrawal, kWh."""
    eco = plan.economics
    fade = degradation_factors(eco.horizon_years, eco.degradation_per_year)
    s = shared_factors(injected_h, withdrawn_h, fade)
    rules = result.community.rules
    prem = producer_premium_cents(result)
    owners = list(dict.fromkeys(p.owner for p in plan.plants))
    index = {p.id: k for k, p in enumerate(result.community.plants)}
    member_ids = {m.id for m in result.community.members}
    out = []
    for owner in owners:
        plants = [p for p in plan.plants if p.owner == owner]
        rows = [index[p.id] for p in plants]
        sale = (
            sum(int(result.plant_cents["sale"][k]) for k in rows)
            if rules.sale is Beneficiary.PRODUCERS
            else 0
        )
        val = (
            sum(int(result.plant_cents["valorisation"][k]) for k in rows)
            if rules.valorisation is Beneficiary.PRODUCERS
            else 0
        )
        gse = result.allocation.gse_fees.get(owner, 0) if rules.gse_fees is GseFeesBorneBy.PRODUCERS else 0
        cost = sum(p.cost_eur for p in plants)
        grant = sum(p.cost_eur * p.grant_fraction for p in plants)
        maint = sum(maintenance_eur(plan, p) for p in plants)
        premium_eur, val_eur, sale_eur = to_euros(prem.get(owner, 0)), to_euros(val), to_euros(sale)
        gse_eur = -to_euros(gse)
        flows = _flows(cost - grant, premium_eur, val_eur, sale_eur, gse_eur - maint, fade, s)
        total = to_euros(result.allocation.total(owner)) if owner in result.allocation.payees else 0.0
        producer = premium_eur + val_eur + sale_eur + gse_eur
        consumer = round(total - producer, 2) if owner in member_ids else None
        out.append(
            Investment(
                owner,
                [p.id for p in plants],
                cost,
                grant,
                maint,
                premium_eur,
                val_eur,
                sale_eur,
                gse_eur,
                flows,
                eco.discount_rate,
                consumer,
            )
        )
    return out


def community_economics(
    plan: Plan, result: SettlementResult, injected_h: np.ndarray, withdrawn_h: np.ndarray
) -> Investment:
    """The community as a whole: every plant's cost and maintenance against every payee's money."""
    eco = plan.economics
    fade = degradation_factors(eco.horizon_years, eco.degradation_per_year)
    s = shared_factors(injected_h, withdrawn_h, fade)
    totals = result.totals
    gse = -to_euros(sum(result.allocation.gse_fees.values()))
    cost = sum(p.cost_eur for p in plan.plants)
    grant = sum(p.cost_eur * p.grant_fraction for p in plan.plants)
    maint = sum(maintenance_eur(plan, p) for p in plan.plants)
    flows = _flows(
        cost - grant,
        totals["premium_eur"],
        totals["valorisation_eur"],
        totals["sale_eur"],
        gse - maint,
        fade,
        s,
    )
    return Investment(
        "community (all members and producers)",
        [p.id for p in plan.plants],
        cost,
        grant,
        maint,
        totals["premium_eur"],
        totals["valorisation_eur"],
        totals["sale_eur"],
        gse,
        flows,
        eco.discount_rate,
    )
