"""The feasibility study of a plan, stage by stage (:data:`STAGES`; ``progress(name)`` after each).

1. members' loads (:mod:`~condivisa.feasibility.loads`), 2. plants' production
(:mod:`~condivisa.feasibility.production`), 3. zonal prices of the market zone, 4. the reference year
settled hour by hour with the proposed rules (:mod:`~condivisa.feasibility.settle_year`), 5. 20-year
economics per owner and for the community (:mod:`~condivisa.feasibility.economics`), 6. absorption of the
surplus by each kind of candidate (:mod:`~condivisa.feasibility.absorb`), 7. with ``--add-member``, the
study with the newcomer (:mod:`~condivisa.feasibility.join`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from condivisa.engines.settlement_result import SettlementResult
from condivisa.feasibility.absorb import Absorption, absorb
from condivisa.feasibility.economics import Investment, community_economics, owner_economics
from condivisa.feasibility.join import Join, check_total
from condivisa.feasibility.loads import consumer_kwh, members_kwh
from condivisa.feasibility.plan_file import Consumer, Plan
from condivisa.feasibility.production import plants_kwh
from condivisa.feasibility.settle_year import MemberSpec, settle_year, to_hours, zonal_prices
from condivisa.kernel.timegrid import year_quarter_hours

STAGES = (
    "members' loads",
    "plants' production",
    "zonal prices",
    "settlement",
    "economics",
    "absorption",
    "newcomer",
)


@dataclass
class Study:
    """Everything the study computed; :mod:`condivisa.feasibility.summary` turns it into files."""

    plan: Plan
    index: pd.DatetimeIndex  # the year's quarter hours, Europe/Rome
    members: list[MemberSpec]
    member_of: list[Consumer]
    withdrawal_kwh: np.ndarray  # members × quarter hours
    production_kwh: np.ndarray  # plants × quarter hours
    prices: pd.Series
    result: SettlementResult
    owners: list[Investment] = field(default_factory=list)
    community: Investment | None = None
    absorption: list[Absorption] = field(default_factory=list)
    join: Join | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def shared_kwh_quarter(self) -> np.ndarray:
        """Shared energy laid on quarter hours for the plots: ``min(Σ injection, Σ withdrawal)`` per quarter
        hour (the settlement itself is hourly)."""
        return np.minimum(self.production_kwh.sum(axis=0), self.withdrawal_kwh.sum(axis=0))


def _specs(ids: list[str], of: list[Consumer]) -> list[MemberSpec]:
    return [MemberSpec(i, c.category, c.founder, c.name) for i, c in zip(ids, of)]


def run_study(
    plan: Plan, progress: Callable[[str], None] = lambda stage: None, newcomer: Consumer | None = None
) -> Study:
    """Run every stage of :data:`STAGES` on ``plan``; ``newcomer`` adds stage 7 (``--add-member``).

    Parameters
    ----------
    plan : Plan
        The plan (:func:`condivisa.feasibility.plan_file.load_plan`).
    progress : callable
        Told the name of each finished stage.
    newcomer : Consumer, optional
        One prospective member (:func:`condivisa.feasibility.plan_file.load_newcomer`).

    Returns
    -------
    Study
    """
    index = year_quarter_hours(plan.year)
    ids, of, withdrawal, notes = members_kwh(plan.members, index, plan.region)
    progress(STAGES[0])
    production, plant_notes = plants_kwh(plan, index)
    notes += plant_notes
    progress(STAGES[1])
    prices = zonal_prices(plan)
    progress(STAGES[2])
    members = _specs(ids, of)
    result = settle_year(plan, members, index, withdrawal, production, prices)
    check_total(result)
    notes += list(result.provisional_reasons) + list(result.community.warnings)
    progress(STAGES[3])
    study = Study(plan, index, members, of, withdrawal, production, prices, result, notes=notes)
    inj_h, wd_h = to_hours(production.sum(axis=0)), to_hours(withdrawal.sum(axis=0))
    study.owners = owner_economics(plan, result, inj_h, wd_h)
    study.community = community_economics(plan, result, inj_h, wd_h)
    progress(STAGES[4])
    for cand in plan.candidates:
        profile, note = consumer_kwh(cand, index, plan.region)
        study.notes.append(f"candidate {cand.id}: {note}")

        def settle_with(n: int, cand: Consumer = cand, profile: np.ndarray = profile) -> SettlementResult:
            added = [MemberSpec(f"{cand.id}-new-{k + 1}", cand.category, False) for k in range(n)]
            rows = np.vstack([withdrawal, np.broadcast_to(profile, (n, profile.size))])
            return settle_year(plan, members + added, index, rows, production, prices)

        study.absorption.append(
            absorb(
                cand,
                to_hours(profile),
                inj_h,
                wd_h,
                target=plan.target_sharing,
                max_added=plan.max_added,
                base=result,
                settle_with=settle_with,
                existing_ids=ids,
            )
        )
    progress(STAGES[5])
    if newcomer is not None:
        if newcomer.id in ids:
            raise ValueError(f"--add-member: {newcomer.id!r} is already a member of the plan")
        profile, note = consumer_kwh(newcomer, index, plan.region)
        study.notes.append(f"newcomer {newcomer.id}: {note}")
        spec = MemberSpec(newcomer.id, newcomer.category, newcomer.founder, newcomer.name)
        after = settle_year(
            plan, members + [spec], index, np.vstack([withdrawal, profile]), production, prices
        )
        check_total(after)
        study.join = Join(newcomer, result, after)
    progress(STAGES[6])
    return study
