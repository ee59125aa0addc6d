"""The result of a settlement: ``result.json`` (:meth:`SettlementResult.to_dict`), each payee's figures
(:meth:`SettlementResult.member_row`, :meth:`SettlementResult.payee_money`) and interval series for charts.
Pure data, no I/O. A member's statement is built from these figures in :mod:`condivisa.outputs.statement`.

Energies are reported in kWh rounded to the Wh (3 decimals); money in euro with 2 decimals, converted
from the exact integer cents of :mod:`condivisa.engines.allocation`.

Sign convention (one for every output): each money figure is what the payee **receives**. Fees are paid by
later members, so a member's ``fees_eur`` is ≤ 0 and the community account's ``fees_eur`` is the same amount
received (≥ 0); for every payee ``total_eur = premium_eur + valorisation_eur + sale_eur + fees_eur``, and the
``fees_eur`` column adds up to zero over all payees. The GSE fees (DM 106/2024) leave the configuration:
``result.json``'s ``gse_fees.by_payee_eur`` (≤ 0) is what the GSE keeps off each payee that bears them, and
``total_eur`` is net of it: ``total_eur = premium_eur + valorisation_eur + sale_eur + fees_eur + gse fees``.

A period that is not a whole calendar year is *provisional* for the rules the GSE decides on the year
(the premium above the threshold, the later members' minimum shared consumption): ``to_dict()`` says so;
the yearly close is :mod:`condivisa.engines.yearly_close`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from condivisa.domain.community import Community
from condivisa.engines.allocation import COMMUNITY, SOCIAL_FUND, Allocation, MemberFigures, PlantFigures
from condivisa.engines.flexibility import FlexibilityFigures
from condivisa.kernel.money import to_euros

ROUNDING_RULE = (
    "Money is rounded to the cent once per month (half to even); the period total is the sum of the months. "
    "Totals are split among payees in whole cents by the largest-remainder rule (floor each share, give the "
    "leftover cents to the largest fractional parts, ties to the payee listed first), so every column adds up "
    "exactly to its total."
)


def _kwh(x: float) -> float:
    return round(float(x), 3)


@dataclass(frozen=True)
class ConfigurationResult:
    """The totals of one configuration (the points under one primary substation), as the GSE settles it
    (TIAD, ARERA 727/2022, art. 1 and 3; GSE, Regole operative CACER 2024). Energies kWh, money cents."""

    substation: str
    plants: tuple[str, ...]
    injected_kwh: float
    withdrawn_kwh: float
    shared_kwh: float
    incentivised_kwh: float
    premium_cents: int
    valorisation_cents: int
    sale_cents: int
    threshold_surplus_cents: int

    def to_dict(self) -> dict[str, Any]:
        """``result.json``'s entry under ``configurations``."""
        return {
            "primary_substation": self.substation,
            "plants": list(self.plants),
            "injected_kwh": _kwh(self.injected_kwh),
            "withdrawn_kwh": _kwh(self.withdrawn_kwh),
            "shared_kwh": _kwh(self.shared_kwh),
            "incentivised_shared_kwh": _kwh(self.incentivised_kwh),
            "premium_eur": to_euros(self.premium_cents),
            "valorisation_eur": to_euros(self.valorisation_cents),
            "sale_eur": to_euros(self.sale_cents),
            "threshold_surplus_eur": to_euros(self.threshold_surplus_cents),
        }


@dataclass
class SettlementResult:
    """Everything one settlement computed; see :func:`condivisa.engines.settlement.settle`."""

    community: Community
    first_day: dt.date
    last_day: dt.date
    interval: str
    data_interval_minutes: int
    fill: str | None
    starts: pd.DatetimeIndex  # settlement interval starts, Europe/Rome
    months: list[str]
    monthly_energy_kwh: dict[str, np.ndarray]
    monthly_cents: dict[str, np.ndarray]  # premium / valorisation / sale, one value per month
    plant_cents: dict[str, np.ndarray]
    plant_injected_kwh: np.ndarray
    plant_shared_kwh: np.ndarray
    plant_incentivised_kwh: np.ndarray
    member_withdrawn_kwh: np.ndarray
    member_consumption_in_shared_kwh: np.ndarray
    member_shared_kwh: np.ndarray
    member_figures: list[MemberFigures]
    allocation: Allocation
    data_quality: list[dict[str, Any]]
    consumption_rows: np.ndarray  # consumption PODs × intervals, kWh
    consumption_row_member: np.ndarray  # member index of each consumption row
    shared_kwh: np.ndarray
    injected_kwh: np.ndarray
    incentivised_kwh: np.ndarray
    zonal_price_eur_per_mwh: np.ndarray
    month_bounds: np.ndarray
    #: why the figures are provisional: a year missing from the table of regulated values (named, with the
    #: ``tariffs:`` override to set), a RID top-up not yet due (:mod:`condivisa.engines.settlement_sale`)
    provisional_reasons: tuple[str, ...] = ()
    #: one entry per primary substation, each settled as its own configuration; ``totals`` is their sum
    configurations: list[ConfigurationResult] = field(default_factory=list)
    #: the demand-response events of the period: extra shared energy and premium, the bonus
    flexibility: FlexibilityFigures = field(default_factory=FlexibilityFigures)

    @property
    def provisional(self) -> bool:
        """The figures may still change: some regulated value of the period is not sourced, or a yearly
        top-up is pending (see :attr:`provisional_reasons`)."""
        return bool(self.provisional_reasons)

    plant_figures: list[PlantFigures] = field(default_factory=list)

    # ---- totals -------------------------------------------------------------------------------
    def _energy_row(self, sl: slice | int) -> dict[str, float]:
        return {k: _kwh(np.sum(v[sl])) for k, v in self.monthly_energy_kwh.items()}

    def _money_row(self, sl: slice | int) -> dict[str, float]:
        return {f"{k}_eur": to_euros(np.sum(v[sl])) for k, v in self.monthly_cents.items()}

    @property
    def totals(self) -> dict[str, float]:
        return {**self._energy_row(slice(None)), **self._money_row(slice(None))}

    def month_rows(self) -> list[dict[str, Any]]:
        return [{"month": m, **self._energy_row(i), **self._money_row(i)} for i, m in enumerate(self.months)]

    # ---- payees -------------------------------------------------------------------------------
    def payee_money(self, payee: str) -> dict[str, float]:
        """What ``payee`` (a member id, ``community``, ``social_fund`` or an external producer) receives, €:
        premium, valorisation, sale, fees (paid: negative), the GSE fees the payee bears
        (:meth:`gse_fees_eur`, ≤ 0) and their total: the lines add up to ``total_eur`` to the cent."""
        a = self.allocation
        return {
            "premium_eur": to_euros(a.premium[payee]),
            "valorisation_eur": to_euros(a.valorisation[payee]),
            "sale_eur": to_euros(a.sale[payee]),
            "fees_eur": to_euros(-a.fees[payee]),
            "gse_fees_eur": self.gse_fees_eur(payee),
            "total_eur": to_euros(a.total(payee)),
        }

    def gse_fees_eur(self, payee: str) -> float:
        """The GSE fees (DM 106/2024) kept off ``payee``, € (≤ 0; ``total_eur`` is net of them)."""
        return to_euros(-self.allocation.gse_fees.get(payee, 0))

    @property
    def whole_year(self) -> bool:
        """The period is one whole calendar year (1 January to 31 December)."""
        return (self.first_day.month, self.first_day.day, self.last_day.month, self.last_day.day) == (
            1,
            1,
            12,
            31,
        ) and self.first_day.year == self.last_day.year

    def gse_fees_dict(self) -> dict[str, Any]:
        """``result.json``'s ``gse_fees``: per plant, who bears them, what was taken and what is left."""
        a = self.allocation
        fees = {p.id: p.gse_fee_cents for p in self.plant_figures}
        return {
            "borne_by": self.community.rules.gse_fees.value,
            "plants": [{"id": pid, "gse_fee_eur": to_euros(c)} for pid, c in fees.items()],
            "total_eur": to_euros(sum(fees.values())),
            "taken_eur": to_euros(sum(a.gse_fees.values())),
            "uncovered_eur": to_euros(a.gse_fees_uncovered_cents),
            "by_payee_eur": {p: self.gse_fees_eur(p) for p in a.payees if a.gse_fees.get(p, 0)},
            "rule": "DM 106/2024: none up to 3 kW, 15 EUR/year up to 20 kW, 15 EUR/year + 1 EUR per kW "
            "above 20 kW; pro rata to the days the plant earns the incentive",
        }

    def threshold_dict(self) -> dict[str, Any]:
        """``result.json``'s ``threshold``: the premium above the threshold on each set of plants."""
        return {
            "provisional": not self.whole_year,
            "basis": "the period's ratios" if not self.whole_year else "the year's ratios",
            "surplus_to": self.community.rules.threshold_surplus_to.value,
            "sets": [s.as_dict() for s in self.allocation.threshold_sets],
        }

    def _owned_injection_kwh(self, owner: str) -> float:
        return float(
            sum(self.plant_injected_kwh[k] for k, p in enumerate(self.community.plants) if p.owner == owner)
        )

    @property
    def external_payees(self) -> list[str]:
        """The payees that are neither members nor the community account (external producers), in order."""
        member_ids = {m.id for m in self.community.members}
        return [
            p for p in self.allocation.payees if p not in member_ids and p not in (COMMUNITY, SOCIAL_FUND)
        ]

    def fees_due_eur(self, member_id: str) -> float | None:
        """The fees a later member owed (annual fee, exit penalty), €, before the cap at what the member
        receives; ``None`` when none were due."""
        due = self.allocation.fees_due
        return to_euros(due[member_id]) if member_id in due else None

    def _member_row(self, i: int) -> dict[str, Any]:
        m = self.community.members[i]
        return {
            "id": m.id,
            "name": m.name,
            "category": m.category.value,
            "founder": m.founder,
            "withdrawn_kwh": _kwh(self.member_withdrawn_kwh[i]),
            "injected_kwh": _kwh(self._owned_injection_kwh(m.id)),
            "consumption_in_shared_kwh": _kwh(self.member_consumption_in_shared_kwh[i]),
            "shared_kwh": _kwh(self.member_shared_kwh[i]),
            **self.payee_money(m.id),
        }

    def member_row(self, member_id: str) -> dict[str, Any]:
        """The member's entry of ``result.json``'s ``members``: who, energy (kWh) and money (€)."""
        return self._member_row(self._member_index(member_id))

    def member_rows(self) -> list[dict[str, Any]]:
        return [self._member_row(i) for i in range(len(self.community.members))]

    def plant_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "id": p.id,
                "owner": p.owner,
                "power_kw": p.power_kw,
                "injected_kwh": _kwh(self.plant_injected_kwh[k]),
                "shared_kwh": _kwh(self.plant_shared_kwh[k]),
                "incentivised_shared_kwh": _kwh(self.plant_incentivised_kwh[k]),
                "premium_eur": to_euros(self.plant_cents["premium"][k]),
                "valorisation_eur": to_euros(self.plant_cents["valorisation"][k]),
                "sale_eur": to_euros(self.plant_cents["sale"][k]),
            }
            for k, p in enumerate(self.community.plants)
        ]

    def to_dict(self) -> dict[str, Any]:
        """The ``result.json`` document."""
        a = self.allocation
        community_money = self.payee_money(COMMUNITY)
        externals = [{"id": p, **self.payee_money(p)} for p in self.external_payees]
        return {
            "community": self.community.name,
            "configuration": self.community.configuration.value,
            "period": {
                "from": self.first_day.isoformat(),
                "to": self.last_day.isoformat(),
                "interval": self.interval,
            },
            "totals": self.totals,
            "configurations": [c.to_dict() for c in self.configurations],
            "months": self.month_rows(),
            "plants": self.plant_rows(),
            "members": self.member_rows(),
            "community_account": community_money,
            "external_producers": externals,
            **({"social_fund": self.payee_money(SOCIAL_FUND)} if SOCIAL_FUND in a.premium else {}),
            "enterprise_cap": {k.replace("_cents", "_eur"): to_euros(v) for k, v in a.enterprise_cap.items()},
            "threshold": self.threshold_dict(),
            "gse_fees": self.gse_fees_dict(),
            "later_members": {
                "below_minimum_shared_consumption": list(a.below_minimum),
                "fees_due_eur": {k: to_euros(v) for k, v in a.fees_due.items()},
                "minimum_provisional": not self.whole_year,
            },
            **({"flexibility": self.flexibility_dict()} if self.flexibility.events else {}),
            "data_quality": {
                "data_interval_minutes": self.data_interval_minutes,
                "fill": self.fill,
                "pods": self.data_quality,
            },
            "rounding": ROUNDING_RULE,
            "provisional": self.provisional,
            "provisional_reasons": list(self.provisional_reasons),
        }

    def flexibility_dict(self) -> dict[str, Any]:
        """The demand-response events of the period (:mod:`condivisa.engines.flexibility`): per event the
        kWh each member shifted, the extra consumption and shared energy (kWh) and the extra premium (€);
        the period's extra premium and the bonus, € in total and per member (part of their premium)."""
        f = self.flexibility
        return {
            "events": [
                {
                    "id": e.event_id,
                    "from": e.start.isoformat(),
                    "to": e.end.isoformat(),
                    "shifted_kwh": {m: _kwh(v) for m, v in e.shifted_kwh.items()},
                    "extra_consumption_kwh": _kwh(e.extra_consumption_kwh),
                    "extra_shared_kwh": _kwh(e.extra_shared_kwh),
                    "extra_premium_eur": round(e.extra_premium_eur, 4),
                }
                for e in f.events
            ],
            "extra_shared_kwh": _kwh(f.extra_shared_kwh),
            "extra_premium_eur": to_euros(f.extra_premium_cents),
            "bonus_eur": to_euros(f.bonus_cents),
            "bonus_share": self.community.rules.flexibility_bonus_share,
            "bonus_by_member_eur": {m: to_euros(c) for m, c in self.allocation.flexibility_bonus.items()},
        }

    # ---- one member ---------------------------------------------------------------------------
    def _member_index(self, member_id: str) -> int:
        for i, m in enumerate(self.community.members):
            if m.id == member_id:
                return i
        raise KeyError(f"no member {member_id!r} in {self.community.name}")

    def member_series(self, member_id: str) -> pd.DataFrame:
        """Per interval: the member's withdrawal and attributed shared energy, and the community's figures."""
        i = self._member_index(member_id)
        wd = self.consumption_rows[self.consumption_row_member == i].sum(axis=0)
        frame = self.intervals()
        wd_tot = frame["withdrawn_kwh"].to_numpy()
        frame.insert(
            0,
            "member_shared_kwh",
            np.divide(wd * frame["shared_kwh"].to_numpy(), wd_tot, out=np.zeros_like(wd), where=wd_tot > 0),
        )
        frame.insert(0, "member_withdrawn_kwh", wd)
        return frame

    def intervals(self) -> pd.DataFrame:
        """The community's settlement intervals (Europe/Rome starts): energy and zonal price."""
        return pd.DataFrame(
            {
                "injected_kwh": self.injected_kwh,
                "withdrawn_kwh": self.consumption_rows.sum(axis=0),
                "shared_kwh": self.shared_kwh,
                "incentivised_shared_kwh": self.incentivised_kwh,
                "zonal_price_eur_per_mwh": self.zonal_price_eur_per_mwh,
            },
            index=self.starts.rename("start"),
        )
