"""The member-side stages of a settlement: who gets what the settled intervals share and earn.

:func:`condivisa.engines.settlement.settle` runs them after the energy and money stages of
:mod:`condivisa.engines.settlement_money`:

4. :func:`member_energy` — each member's withdrawal, consumption in shared intervals and shared energy;
5. :func:`plant_figures` / :func:`member_figures` — the inputs of
   :func:`condivisa.engines.allocation.allocate`;
6. :func:`build_result` — the :class:`~condivisa.engines.settlement_result.SettlementResult`.

Energies are kWh, money integer cents (per month, plant and payee).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from condivisa.domain.community import Community
from condivisa.engines.allocation import Allocation, MemberFigures, PlantFigures
from condivisa.engines.flexibility import FlexibilityFigures
from condivisa.engines.gse_fees import period_fee_cents, year_fraction
from condivisa.engines.gse_threshold import surplus_cents, threshold_sets
from condivisa.engines.settlement_metering import Grid, Intervals
from condivisa.engines.settlement_money import Energy, Money, Months, substation_groups
from condivisa.engines.settlement_result import ConfigurationResult, SettlementResult
from condivisa.engines.sharing import withdrawal_share


@dataclass(frozen=True)
class MemberEnergy:
    """Per member over the period, kWh."""

    withdrawn_kwh: np.ndarray
    consumption_in_shared_kwh: np.ndarray
    shared_kwh: np.ndarray


@dataclass(frozen=True)
class PlantFiguresIn(PlantFigures):
    """A plant's figures with its configuration (primary substation), when a community has several: the
    threshold sets are then built per configuration (:func:`condivisa.engines.gse_threshold.threshold_sets`)."""

    configuration: str = ""


def member_energy(
    intervals: Intervals, shared_kwh: np.ndarray, n_members: int, energy: Energy | None = None
) -> MemberEnergy:
    """Each member's withdrawal, consumption in intervals with shared energy, and part of the shared energy.

    ``Cons_i = Σ_h E_wd,h,i · [E_sh,h > 0]`` (the ``consumption`` key of the premium) and
    ``E_sh,i = Σ_h E_wd,h,i · E_sh,h / Σ_j E_wd,h,j`` (:func:`condivisa.engines.sharing.withdrawal_share`),
    summed over the member's consumption PODs.

    Parameters
    ----------
    intervals : Intervals
        Withdrawal per consumption POD and interval, kWh, and each POD's member.
    shared_kwh : numpy.ndarray
        Shared energy per interval, kWh (:func:`~condivisa.engines.settlement_money.shared_energy`).
    n_members : int
        Number of members (members without consumption PODs get zeros).
    energy : Energy, optional
        With several configurations (``energy.groups``), a POD's part and ``[E_sh,h > 0]`` are taken on its
        own configuration's shared energy and withdrawal (TIAD art. 1 and 3).

    Returns
    -------
    MemberEnergy
        ``withdrawn_kwh``, ``consumption_in_shared_kwh`` and ``shared_kwh`` per member, kWh.

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1: shared energy per hour.
    """
    w, cons_member = intervals.withdrawn_kwh, intervals.consumption_member
    has_shared = (shared_kwh > 0).astype(float)

    def per_member(row_values: np.ndarray) -> np.ndarray:
        if not cons_member.size:
            return np.zeros(n_members)
        return np.bincount(cons_member, weights=row_values, minlength=n_members)

    groups = energy.groups if energy is not None else None
    if groups is not None and groups.count > 1 and energy is not None:
        shared_g = energy.shared_by_group_kwh
        assert shared_g is not None
        in_shared = np.zeros(w.shape[0])
        part = np.zeros(w.shape[0])
        for g in range(groups.count):
            rows = np.flatnonzero(groups.point == g)
            if rows.size:
                in_shared[rows] = w[rows] @ (shared_g[g] > 0).astype(float)
                part[rows] = w[rows] @ withdrawal_share(shared_g[g], w[rows])
        return MemberEnergy(per_member(w.sum(axis=1)), per_member(in_shared), per_member(part))
    return MemberEnergy(
        withdrawn_kwh=per_member(w.sum(axis=1)),
        consumption_in_shared_kwh=per_member(w @ has_shared),
        shared_kwh=per_member(w @ withdrawal_share(shared_kwh, w)),
    )


def plant_figures(
    community: Community, intervals: Intervals, energy: Energy, plant_cents: Mapping[str, np.ndarray]
) -> list[PlantFigures]:
    """Each plant's settled money (cents), the energies of the threshold rule and its GSE fee.

    Parameters
    ----------
    community : Community
        The plants (owner, enterprise cap share).
    intervals : Intervals
        Injection per plant and interval, kWh.
    energy : Energy
        Incentivised energy and eligibility per plant and interval
        (:func:`~condivisa.engines.settlement_money.shared_energy`).
    plant_cents : Mapping[str, numpy.ndarray]
        Premium, valorisation and sale per plant, cents
        (:func:`~condivisa.engines.settlement_money.monthly_totals`).

    Returns
    -------
    list of PlantFigures
        One per plant, in the community's order; ``injected_eligible_kwh`` counts the injection of the
        days the plant earns the premium; ``gse_fee_cents`` the plant's GSE fee pro rata to those days
        (:func:`condivisa.engines.gse_fees.period_fee_cents`).

    References
    ----------
    .. [1] GSE, Regole operative CACER (2024): the premium above 55 % (45 % with a capital grant) of the
       shared / injected ratio of each set of plants may not go to enterprises.
    .. [2] DM MASE 106/2024: the GSE fees of the CACER incentive, per plant.
    """
    inj, incent_p, eligible = intervals.injected_kwh, energy.incentivised_by_plant_kwh, energy.eligible
    local_day = intervals.starts.tz_localize(None).floor("D").to_numpy()  # each interval's civil day
    fee_days = [
        {d.astype("datetime64[D]").item() for d in np.unique(local_day[np.asarray(eligible[k], dtype=bool)])}
        for k in range(len(community.plants))
    ]
    figures = [
        PlantFigures(
            id=pl.id,
            owner=pl.owner,
            premium_cents=int(plant_cents["premium"][k]),
            sale_cents=int(plant_cents["sale"][k]),
            valorisation_cents=int(plant_cents["valorisation"][k]),
            incentivised_kwh=float(incent_p[k].sum()),
            injected_eligible_kwh=float((inj[k] * eligible[k]).sum()),
            cap_share=pl.enterprise_cap_share,
            gse_fee_cents=period_fee_cents(pl.power_kw, fee_days[k]),
            fee_year_fraction=year_fraction(fee_days[k]),
        )
        for k, pl in enumerate(community.plants)
    ]
    groups = energy.groups
    if groups is None or groups.count <= 1:
        return figures
    return [
        PlantFiguresIn(**asdict(f), configuration=groups.substations[int(groups.plant[k])])
        for k, f in enumerate(figures)
    ]


def member_figures(
    community: Community, grid: Grid, consumption_in_shared_kwh: np.ndarray
) -> list[MemberFigures]:
    """Each member's allocation inputs: category, days of membership in the period, ``Cons_i``.

    A member counts from ``joined`` (inclusive) to ``left`` (exclusive); ``left_in_period`` makes a later
    member owe the exit penalty when the exit is early: before ``joined + rules.exit_min_years`` (any exit
    when ``min_years`` is not set).

    Parameters
    ----------
    community : Community
        The members.
    grid : Grid
        The period's days.
    consumption_in_shared_kwh : numpy.ndarray
        Each member's consumption in intervals with shared energy, kWh (:func:`member_energy`).

    Returns
    -------
    list of MemberFigures
        One per member, in the community's order.
    """
    first_day, end_day = grid.first_day, grid.end_day
    figures = []
    for i, m in enumerate(community.members):
        lo = max(first_day, m.joined or first_day)
        hi = min(end_day, m.left or end_day)
        figures.append(
            MemberFigures(
                id=m.id,
                category=m.category,
                founder=m.founder,
                millesimi=m.millesimi,
                consumption_in_shared_kwh=float(consumption_in_shared_kwh[i]),
                active_days=max(0, (hi - lo).days),
                left_in_period=m.left is not None and first_day < m.left <= end_day,
                has_consumption=bool(m.consumption_pods),
                early_exit=_early_exit(m.joined, m.left, community.rules.exit_min_years),
            )
        )
    return figures


def _early_exit(joined: dt.date | None, left: dt.date | None, min_years: float | None) -> bool:
    """The exit is before ``joined + min_years`` (365.25 days a year); any exit when either is unknown."""
    if left is None or joined is None or min_years is None:
        return left is not None
    return (left - joined).days < min_years * 365.25


def build_result(
    community: Community,
    grid: Grid,
    intervals: Intervals,
    energy: Energy,
    money: Money,
    months: Months,
    members: MemberEnergy,
    *,
    interval: str,
    fill: str | None,
    member_figs: list[MemberFigures],
    allocation: Allocation,
    plant_figs: list[PlantFigures] | None = None,
    quality: list[dict[str, str | int]],
    flexibility: FlexibilityFigures | None = None,
) -> SettlementResult:
    """Gather the stages' output into a :class:`~condivisa.engines.settlement_result.SettlementResult`.

    Parameters
    ----------
    community : Community
        The settled community.
    grid : Grid
        The period and the data's interval (:func:`~condivisa.engines.settlement_metering.settlement_grid`).
    intervals, energy, money, months, members
        The stages' output: energies in kWh, money in € per interval and in cents per month and plant.
    interval : str
        The settlement interval asked for, ``"hour"`` or ``"quarter"``.
    fill : str or None
        The fill asked for.
    member_figs : list of MemberFigures
        :func:`member_figures`.
    allocation : Allocation
        The money per payee, cents (:func:`condivisa.engines.allocation.allocate`).
    plant_figs : list of PlantFigures, optional
        :func:`plant_figures` (the yearly close adds them up).
    quality : list of dict
        :func:`~condivisa.engines.settlement_metering.data_quality`.
    flexibility : FlexibilityFigures, optional
        The demand-response events' figures (:mod:`condivisa.engines.flexibility`).

    Returns
    -------
    SettlementResult
        Every figure of the settlement.
    """
    return SettlementResult(
        community=community,
        first_day=grid.first_day,
        last_day=grid.last_day,
        interval=interval,
        data_interval_minutes=grid.step_minutes,
        fill=fill,
        starts=intervals.starts,
        months=months.labels,
        monthly_energy_kwh=dict(months.energy_kwh),
        monthly_cents=months.cents,
        plant_cents=months.plant_cents,
        plant_injected_kwh=intervals.injected_kwh.sum(axis=1),
        plant_shared_kwh=energy.shared_by_plant_kwh.sum(axis=1),
        plant_incentivised_kwh=energy.incentivised_by_plant_kwh.sum(axis=1),
        member_withdrawn_kwh=members.withdrawn_kwh,
        member_consumption_in_shared_kwh=members.consumption_in_shared_kwh,
        member_shared_kwh=members.shared_kwh,
        member_figures=member_figs,
        plant_figures=list(plant_figs or []),
        allocation=allocation,
        data_quality=quality,
        consumption_rows=intervals.withdrawn_kwh,
        consumption_row_member=intervals.consumption_member,
        shared_kwh=energy.shared_kwh,
        injected_kwh=intervals.injected_kwh.sum(axis=0),
        incentivised_kwh=energy.incentivised_by_plant_kwh.sum(axis=0),
        zonal_price_eur_per_mwh=money.zonal_price_eur_per_mwh,
        month_bounds=months.bounds,
        provisional_reasons=money.notices,
        configurations=configurations(community, intervals, energy, months, plant_figs or []),
        flexibility=flexibility or FlexibilityFigures(member_shifted_kwh=np.zeros(len(community.members))),
    )


def configurations(
    community: Community,
    intervals: Intervals,
    energy: Energy,
    months: Months,
    plant_figs: list[PlantFigures],
) -> list[ConfigurationResult]:
    """The totals of each configuration (primary substation) the GSE settles on its own.

    Shared energy ``Σ_h min(Σ_{p∈g} E_inj,h,p, Σ_{i∈g} E_wd,h,i)``, premium, valorisation and sale (cents,
    rounded per month and configuration) and the premium above the threshold on the configuration's own
    sets of plants (:func:`condivisa.engines.gse_threshold.threshold_sets`).

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1 and 3; GSE, Regole operative CACER
       (2024): the portion of a CER under each primary substation is settled as its own configuration.
    """
    groups = energy.groups or substation_groups(community)
    shared_g = energy.shared_by_group_kwh
    if shared_g is None:
        shared_g = energy.shared_kwh[None, :]
    gc = months.group_cents or {}
    out = []
    for g, code in enumerate(groups.substations):
        plants = np.flatnonzero(groups.plant == g)
        points = np.flatnonzero(groups.point == g)
        figs = [plant_figs[k] for k in plants if k < len(plant_figs)]

        def cents(key: str, g: int = g) -> int:
            return int(gc[key][g]) if key in gc else 0

        out.append(
            ConfigurationResult(
                substation=code,
                plants=tuple(community.plants[k].id for k in plants),
                injected_kwh=float(intervals.injected_kwh[plants].sum()),
                withdrawn_kwh=float(intervals.withdrawn_kwh[points].sum()),
                shared_kwh=float(shared_g[g].sum()),
                incentivised_kwh=float(energy.incentivised_by_plant_kwh[plants].sum()),
                premium_cents=cents("premium"),
                valorisation_cents=cents("valorisation"),
                sale_cents=cents("sale"),
                threshold_surplus_cents=surplus_cents(threshold_sets(figs)) if figs else 0,
            )
        )
    return out
