"""The energy and money stages of a settlement: what the settled intervals share and earn, and who gets it.

:func:`condivisa.engines.settlement.settle` runs them in this order, on the intervals of
:mod:`condivisa.engines.settlement_metering`:

1. :func:`shared_energy` — shared and incentivised energy per plant and interval (TIAD art. 1);
2. :func:`money_by_plant` — premium, ARERA valorisation and sale per plant and interval, € (unrounded);
3. :func:`monthly_totals` — months, energy per month and money rounded once per month, in cents;
4. :func:`member_energy` — each member's withdrawal, consumption in shared intervals and shared energy;
5. :func:`plant_figures` / :func:`member_figures` — the inputs of
   :func:`condivisa.engines.allocation.allocate`;
6. :func:`build_result` — the :class:`~condivisa.engines.settlement_result.SettlementResult`.

Energies are kWh, prices €/MWh, money € (per interval, unrounded) or integer cents (per month and payee).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from condivisa.domain.community import Community, Voltage
from condivisa.engines import metergrid as mg
from condivisa.engines.allocation import Allocation, MemberFigures, PlantFigures, split_cents
from condivisa.engines.settlement_metering import Grid, Intervals
from condivisa.engines.settlement_result import SettlementResult
from condivisa.engines.sharing import shared_energy_kwh, split_by_injection, withdrawal_share
from condivisa.engines.tariff import tip_eur_per_mwh
from condivisa.engines.valorisation import valorisation_by_plant_eur, yearly_values
from condivisa.kernel.timegrid import ROME


class PriceError(ValueError):
    """A settlement hour has no zonal price."""


@dataclass(frozen=True)
class Energy:
    """Shared energy (intervals) and its split among plants (plants × intervals), kWh."""

    shared_kwh: np.ndarray
    shared_by_plant_kwh: np.ndarray
    eligible: np.ndarray  # plants × intervals: the plant earns the premium that day
    incentivised_by_plant_kwh: np.ndarray


@dataclass(frozen=True)
class Money:
    """Money per plant and interval, € (unrounded), and the zonal price of each interval, €/MWh."""

    zonal_price_eur_per_mwh: np.ndarray
    premium_eur: np.ndarray
    valorisation_eur: np.ndarray
    sale_eur: np.ndarray

    def by_component(self) -> dict[str, np.ndarray]:
        """``premium``, ``valorisation``, ``sale`` (plants × intervals, €), in that order."""
        return {"premium": self.premium_eur, "valorisation": self.valorisation_eur, "sale": self.sale_eur}


@dataclass(frozen=True)
class Months:
    """The civil months of the period and their totals."""

    labels: list[str]  # ``YYYY-MM``
    bounds: np.ndarray  # index of each month's first interval
    energy_kwh: dict[str, np.ndarray]  # one value per month
    cents: dict[str, np.ndarray]  # premium / valorisation / sale, one value per month
    plant_cents: dict[str, np.ndarray]  # premium / valorisation / sale, one value per plant


@dataclass(frozen=True)
class MemberEnergy:
    """Per member over the period, kWh."""

    withdrawn_kwh: np.ndarray
    consumption_in_shared_kwh: np.ndarray
    shared_kwh: np.ndarray


def _cents(eur: np.ndarray) -> np.ndarray:
    """Round euro amounts to integer cents (half to even)."""
    return np.rint(np.asarray(eur, dtype=float) * 100.0).astype(np.int64)


def _day_index(ns: np.ndarray, first_day: dt.date) -> np.ndarray:
    """Index of the civil day (Europe/Rome) of each instant, from ``first_day``."""
    local = pd.DatetimeIndex(ns).tz_localize("UTC").tz_convert(ROME)
    days = (local.normalize().tz_localize(None) - pd.Timestamp(first_day)).days
    return np.asarray(days, dtype=np.int64)


def _prices_at(prices: pd.Series, hour_ns: np.ndarray) -> np.ndarray:
    """Zonal price of each interval's hour; raise naming the first hour without a price."""
    idx = mg.utc_ns(prices.index)
    if pd.Index(idx).has_duplicates:
        raise PriceError("prices: an hour appears twice")
    got = pd.Series(prices.to_numpy(dtype=float), index=idx).reindex(hour_ns).to_numpy()
    found = np.isfinite(got)
    if not np.all(found):
        miss = np.unique(hour_ns[~found])
        first = pd.Timestamp(int(miss[0]), tz="UTC").tz_convert(ROME)
        raise PriceError(
            f"no zonal price for the hour starting {first.isoformat()} ({miss.size} hour(s) missing)"
        )
    return got


def shared_energy(community: Community, intervals: Intervals, grid: Grid) -> Energy:
    """Shared energy per interval, its split among plants, and the part that earns the premium.

    ``E_sh,h = min(Σ_p E_inj,h,p, Σ_i E_wd,h,i)``, split among plants pro rata to injection
    (:func:`condivisa.engines.sharing.split_by_injection`); a plant's shared energy is incentivised on the
    days it is eligible for the premium (:meth:`condivisa.domain.community.Plant.premium_eligible_on`).

    Parameters
    ----------
    community : Community
        The plants and the community's constitution day.
    intervals : Intervals
        Withdrawal and injection per point and interval, kWh (:func:`settlement_intervals`).
    grid : Grid
        The period's days.

    Returns
    -------
    Energy
        ``shared_kwh`` (intervals), ``shared_by_plant_kwh`` and ``incentivised_by_plant_kwh`` (plants ×
        intervals, kWh) and the eligibility mask (plants × intervals).

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1: shared energy is, for each hour,
       the minimum of the energy injected and the energy withdrawn by the configuration's points.
    .. [2] DM MASE 414/2023, art. 3: plants eligible for the incentive tariff.
    """
    inj = intervals.injected_kwh
    shared = shared_energy_kwh(inj.sum(axis=0), intervals.withdrawn_kwh.sum(axis=0))
    shared_p = split_by_injection(shared, inj)
    day = _day_index(intervals.starts_ns, grid.first_day)
    first_day, n_days = grid.first_day, grid.n_days
    eligible_day = np.array(
        [
            [
                pl.premium_eligible_on(first_day + dt.timedelta(days=d), community.constituted)
                for d in range(n_days)
            ]
            for pl in community.plants
        ],
        dtype=bool,
    ).reshape(len(community.plants), n_days)
    eligible = eligible_day[:, day]
    return Energy(shared, shared_p, eligible, shared_p * eligible)


def money_by_plant(community: Community, prices: pd.Series, intervals: Intervals, energy: Energy) -> Money:
    """Premium, ARERA valorisation and sale of each plant in each interval, € (unrounded).

    - premium: ``E_inc,h,p · TIP_h,p / 1000`` with ``TIP_h,p`` from
      :func:`condivisa.engines.tariff.tip_eur_per_mwh` at the hour's zonal price;
    - valorisation of every plant's shared energy, eligible or not
      (:func:`condivisa.engines.valorisation.valorisation_by_plant_eur`, the civil year's values);
    - sale of the injected energy at the hour's zonal price: ``E_inj,h,p · Pz_h / 1000``.

    Parameters
    ----------
    community : Community
        Plants (power, source, grant, voltage), zone, configuration and tariff overrides.
    prices : pandas.Series
        Hourly zonal prices Pz, €/MWh, indexed by tz-aware hour start.
    intervals : Intervals
        Injection per plant and interval, kWh, and the intervals' starts.
    energy : Energy
        Shared and incentivised energy per plant and interval, kWh (:func:`shared_energy`).

    Returns
    -------
    Money
        ``premium_eur``, ``valorisation_eur``, ``sale_eur`` (plants × intervals, €) and the zonal price
        of each interval, €/MWh.

    Raises
    ------
    PriceError
        When an hour of the period has no zonal price, or one appears twice.

    References
    ----------
    .. [1] DM MASE 414/2023, annex 1: the incentive tariff TIP, €/MWh, on incentivised shared energy.
    .. [2] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 8-9: valorisation and restitution of
       the tariff components not due on shared energy.
    .. [3] ARERA, delibera 280/07: the GSE's dedicated withdrawal (ritiro dedicato, RID) at the zonal
       price.
    """
    starts_ns = intervals.starts_ns
    price = _prices_at(prices, starts_ns - starts_ns % mg.HOUR_NS)
    n_plants = len(community.plants)
    tip = np.array(
        [
            tip_eur_per_mwh(price, pl.power_kw, community.zone, pl.is_pv, pl.grant_fraction)
            for pl in community.plants
        ]
    ).reshape(n_plants, -1)
    values = yearly_values(np.asarray(intervals.starts.year), community.tariff_overrides)
    val_p = valorisation_by_plant_eur(
        energy.shared_by_plant_kwh,
        price,
        same_building=community.configuration.same_building,
        plant_is_mt=[pl.voltage is Voltage.MT for pl in community.plants],
        **values,
    )
    return Money(
        zonal_price_eur_per_mwh=price,
        premium_eur=energy.incentivised_by_plant_kwh * tip / 1000.0,
        valorisation_eur=val_p,
        sale_eur=intervals.injected_kwh * price / 1000.0,
    )


def monthly_totals(intervals: Intervals, energy: Energy, money: Money) -> Months:
    """The period's civil months, energy per month, and money rounded once per month and split by plant.

    A month is a contiguous run of intervals of one civil month (Europe/Rome). Each money component is
    summed over the plants and the month and rounded to the cent (half to even); the period's total of a
    component is the sum of its months, split among plants pro rata to their unrounded money with the
    largest-remainder rule (:func:`condivisa.engines.allocation.split_cents`), so every sum is exact.

    Parameters
    ----------
    intervals : Intervals
        Withdrawal and injection per point and interval, kWh, and the intervals' starts.
    energy : Energy
        Shared and incentivised energy, kWh (:func:`shared_energy`).
    money : Money
        Money per plant and interval, € (:func:`money_by_plant`).

    Returns
    -------
    Months
        Labels ``YYYY-MM``, each month's first interval, energy per month (kWh: injected, withdrawn,
        shared, incentivised shared), cents per month and cents per plant of each money component.

    References
    ----------
    .. [1] GSE, Regole operative CACER (2024): monthly settlement of the configuration's shared energy.
    """
    local = intervals.starts
    month_key = np.asarray(local.year) * 100 + np.asarray(local.month)
    bounds = np.flatnonzero(np.r_[True, month_key[1:] != month_key[:-1]])
    labels = [f"{k // 100:04d}-{k % 100:02d}" for k in month_key[bounds]]

    def by_month(a: np.ndarray) -> np.ndarray:
        return np.add.reduceat(a, bounds, axis=-1) if a.shape[-1] else np.zeros(a.shape[:-1] + (0,))

    energy_kwh = {
        "injected_kwh": by_month(intervals.injected_kwh.sum(axis=0)),
        "withdrawn_kwh": by_month(intervals.withdrawn_kwh.sum(axis=0)),
        "shared_kwh": by_month(energy.shared_kwh),
        "incentivised_shared_kwh": by_month(energy.incentivised_by_plant_kwh.sum(axis=0)),
    }
    money_p = money.by_component()
    n_plants = intervals.injected_kwh.shape[0]
    month_cents = {k: _cents(by_month(v.sum(axis=0))) for k, v in money_p.items()}
    plant_cents = {
        k: split_cents(int(month_cents[k].sum()), v.sum(axis=1))
        if v.size and month_cents[k].sum()
        else np.zeros(n_plants, np.int64)
        for k, v in money_p.items()
    }
    return Months(labels, bounds, energy_kwh, month_cents, plant_cents)


def member_energy(intervals: Intervals, shared_kwh: np.ndarray, n_members: int) -> MemberEnergy:
    """Each member's withdrawal, consumption in intervals with shared energy, and part of the shared energy.

    ``Cons_i = Σ_h E_wd,h,i · [E_sh,h > 0]`` (the ``consumption`` key of the premium) and
    ``E_sh,i = Σ_h E_wd,h,i · E_sh,h / Σ_j E_wd,h,j`` (:func:`condivisa.engines.sharing.withdrawal_share`),
    summed over the member's consumption PODs.

    Parameters
    ----------
    intervals : Intervals
        Withdrawal per consumption POD and interval, kWh, and each POD's member.
    shared_kwh : numpy.ndarray
        Shared energy per interval, kWh (:func:`shared_energy`).
    n_members : int
        Number of members (members without consumption PODs get zeros).

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

    return MemberEnergy(
        withdrawn_kwh=per_member(w.sum(axis=1)),
        consumption_in_shared_kwh=per_member(w @ has_shared),
        shared_kwh=per_member(w @ withdrawal_share(shared_kwh, w)),
    )


def plant_figures(
    community: Community, intervals: Intervals, energy: Energy, plant_cents: Mapping[str, np.ndarray]
) -> list[PlantFigures]:
    """Each plant's settled money (cents) and the energies of the enterprise cap.

    Parameters
    ----------
    community : Community
        The plants (owner, enterprise cap share).
    intervals : Intervals
        Injection per plant and interval, kWh.
    energy : Energy
        Incentivised energy and eligibility per plant and interval (:func:`shared_energy`).
    plant_cents : Mapping[str, numpy.ndarray]
        Premium, valorisation and sale per plant, cents (:func:`monthly_totals`).

    Returns
    -------
    list of PlantFigures
        One per plant, in the community's order; ``injected_eligible_kwh`` counts the injection of the
        days the plant earns the premium.

    References
    ----------
    .. [1] GSE, Regole operative CACER (2024): the premium on shared energy above 55 % (45 % with a
       capital grant) of a plant's injected energy may not go to enterprises.
    """
    inj, incent_p, eligible = intervals.injected_kwh, energy.incentivised_by_plant_kwh, energy.eligible
    return [
        PlantFigures(
            id=pl.id,
            owner=pl.owner,
            premium_cents=int(plant_cents["premium"][k]),
            sale_cents=int(plant_cents["sale"][k]),
            valorisation_cents=int(plant_cents["valorisation"][k]),
            incentivised_kwh=float(incent_p[k].sum()),
            injected_eligible_kwh=float((inj[k] * eligible[k]).sum()),
            cap_share=pl.enterprise_cap_share,
        )
        for k, pl in enumerate(community.plants)
    ]


def member_figures(
    community: Community, grid: Grid, consumption_in_shared_kwh: np.ndarray
) -> list[MemberFigures]:
    """Each member's allocation inputs: category, days of membership in the period, ``Cons_i``.

    A member counts from ``joined`` (inclusive) to ``left`` (exclusive); ``left_in_period`` makes a later
    member owe the exit penalty.

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
            )
        )
    return figures


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
    quality: list[dict[str, str | int]],
) -> SettlementResult:
    """Gather the stages' output into a :class:`~condivisa.engines.settlement_result.SettlementResult`.

    Parameters
    ----------
    community : Community
        The settled community.
    grid : Grid
        The period and the data's interval (:func:`settlement_grid`).
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
    quality : list of dict
        :func:`data_quality`.

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
        allocation=allocation,
        data_quality=quality,
        consumption_rows=intervals.withdrawn_kwh,
        consumption_row_member=intervals.consumption_member,
        shared_kwh=energy.shared_kwh,
        injected_kwh=intervals.injected_kwh.sum(axis=0),
        incentivised_kwh=energy.incentivised_by_plant_kwh.sum(axis=0),
        zonal_price_eur_per_mwh=money.zonal_price_eur_per_mwh,
        month_bounds=months.bounds,
    )
