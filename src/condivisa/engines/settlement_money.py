"""The energy and money stages of a settlement: what the settled intervals share and earn.

:func:`condivisa.engines.settlement.settle` runs them in this order, on the intervals of
:mod:`condivisa.engines.settlement_metering`:

1. :func:`shared_energy` — shared and incentivised energy per plant and interval (TIAD art. 1);
2. :func:`money_by_plant` — premium, ARERA valorisation and sale per plant and interval, € (unrounded);
3. :func:`monthly_totals` — months, energy per month and money rounded once per month, in cents.

Who gets it (each member's energy, the allocation inputs and the result) follows in
:mod:`condivisa.engines.settlement_members`.

Energies are kWh, prices €/MWh, money € (per interval, unrounded) or integer cents (per month and plant).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from condivisa.domain.community import Community, SharedEnergyAttribution, Voltage
from condivisa.domain.substations import substations
from condivisa.engines import metergrid as mg
from condivisa.engines.allocation import split_cents
from condivisa.engines.settlement_metering import Grid, Intervals
from condivisa.engines.settlement_sale import sale_by_plant
from condivisa.engines.sharing import (
    group_sums,
    shared_energy_kwh,
    split_by_injection,
    split_by_seniority,
)
from condivisa.engines.tariff import tip_eur_per_mwh
from condivisa.engines.valorisation import valorisation_by_plant_eur, yearly_values_and_notices
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
    groups: Groups | None = None  # the configurations (primary substations); None: one
    shared_by_group_kwh: np.ndarray | None = None  # configurations × intervals (None: one, ``shared_kwh``)


@dataclass(frozen=True)
class Groups:
    """The configurations of a community (one per primary substation) and each point's configuration."""

    substations: tuple[str, ...]  # the substation codes, in order
    plant: np.ndarray  # configuration index of each plant row
    point: np.ndarray  # configuration index of each consumption-POD row

    @property
    def count(self) -> int:
        """Number of configurations."""
        return len(self.substations)


def substation_groups(community: Community) -> Groups:
    """Each plant's and consumption POD's configuration index, from
    :meth:`condivisa.domain.community.Community.substations` (rows in the order of the settlement blocks).

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1 and 3; GSE, Regole operative CACER
       (2024): the points of a CER or CEC under one primary substation form one configuration.
    """
    subs = substations(community)
    of_pod = {code: g for g, s in enumerate(subs.values()) for code in s.consumption_pods}
    of_plant = {pid: g for g, s in enumerate(subs.values()) for pid in s.plants}
    return Groups(
        tuple(subs),
        np.array([of_plant[pl.id] for pl in community.plants], dtype=np.int64),
        np.array([of_pod[c] for c in community.consumption_pods], dtype=np.int64),
    )


@dataclass(frozen=True)
class Money:
    """Money per plant and interval, € (unrounded), and the zonal price of each interval, €/MWh."""

    zonal_price_eur_per_mwh: np.ndarray
    premium_eur: np.ndarray
    valorisation_eur: np.ndarray
    sale_eur: np.ndarray
    notices: tuple[str, ...] = ()  # why the money is provisional (missing yearly values, pending RID top-up)

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
    group_cents: dict[str, np.ndarray] | None = None  # premium / valorisation / sale per configuration


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

    ``E_sh,h = min(Σ_p E_inj,h,p, Σ_i E_wd,h,i)``, attributed to the plants as
    ``rules.shared_energy_attribution`` says: by seniority, the oldest plant first (the GSE's practice,
    :func:`condivisa.engines.sharing.split_by_seniority` in the order of
    :meth:`condivisa.domain.community.Community.plant_seniority`), or pro rata to injection
    (:func:`condivisa.engines.sharing.split_by_injection`); a plant's shared energy is incentivised on the
    days it is eligible for the premium (:meth:`condivisa.domain.community.Plant.premium_eligible_on`:
    not over 1 MW, not existing, within its 20 years, …).

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
    .. [3] GSE, Regole operative CACER (2024): shared energy attributed to the plants by seniority.
    """
    inj = intervals.injected_kwh
    pro_rata = community.rules.shared_energy_attribution is SharedEnergyAttribution.PRO_RATA
    groups = substation_groups(community)
    shared_g: np.ndarray | None = None
    if groups.count <= 1:  # one configuration: the fast path
        shared = shared_energy_kwh(inj.sum(axis=0), intervals.withdrawn_kwh.sum(axis=0))
        if pro_rata:
            shared_p = split_by_injection(shared, inj)
        else:
            shared_p = split_by_seniority(shared, inj, community.plant_seniority())
    else:  # one configuration per primary substation (TIAD art. 1 and 3)
        inj_g = group_sums(inj, groups.plant, groups.count)
        wd_g = group_sums(intervals.withdrawn_kwh, groups.point, groups.count)
        shared_g = np.minimum(inj_g, wd_g)
        shared = shared_g.sum(axis=0)
        if pro_rata:
            shared_p = split_by_injection(shared_g, inj, groups=groups.plant)
        else:
            shared_p = split_by_seniority(shared_g, inj, community.plant_seniority(), groups=groups.plant)
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
    return Energy(shared, shared_p, eligible, shared_p * eligible, groups, shared_g)


def money_by_plant(community: Community, prices: pd.Series, intervals: Intervals, energy: Energy) -> Money:
    """Premium, ARERA valorisation and sale of each plant in each interval, € (unrounded).

    - premium: ``E_inc,h,p · TIP_h,p / 1000`` with ``TIP_h,p`` from
      :func:`condivisa.engines.tariff.tip_eur_per_mwh` at the hour's zonal price;
    - valorisation of every plant's shared energy, eligible or not
      (:func:`condivisa.engines.valorisation.valorisation_by_plant_eur`, the civil year's values);
    - sale of the injected energy at the hour's zonal price: ``E_inj,h,p · Pz_h / 1000``, or, for a plant
      with ``rid_minimum_price``, at the RID minimum price within the yearly quota with the yearly top-up
      (:func:`condivisa.engines.settlement_sale.sale_by_plant`);
    - ``notices``: why the money is provisional (a year missing from the table of regulated values, a
      RID top-up not yet due).

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
    values, notices = yearly_values_and_notices(
        np.asarray(intervals.starts.year),
        community.tariff_overrides,
        by_year=community.tariff_overrides_by_year,
        same_building=community.configuration.same_building,
    )
    sale_eur, sale_notices = sale_by_plant(community, intervals, price)
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
        sale_eur=sale_eur,
        notices=notices + sale_notices,
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
    groups = energy.groups
    if groups is not None and groups.count > 1:
        return _monthly_by_configuration(labels, bounds, energy_kwh, money_p, groups, by_month)
    month_cents = {k: _cents(by_month(v.sum(axis=0))) for k, v in money_p.items()}
    plant_cents = {
        k: split_cents(int(month_cents[k].sum()), v.sum(axis=1))
        if v.size and month_cents[k].sum()
        else np.zeros(n_plants, np.int64)
        for k, v in money_p.items()
    }
    group_cents = {k: np.array([int(v.sum())], dtype=np.int64) for k, v in month_cents.items()}
    return Months(labels, bounds, energy_kwh, month_cents, plant_cents, group_cents)


def _monthly_by_configuration(
    labels: list[str],
    bounds: np.ndarray,
    energy_kwh: dict[str, np.ndarray],
    money_p: dict[str, np.ndarray],
    groups: Groups,
    by_month: Callable[[np.ndarray], np.ndarray],
) -> Months:
    """:func:`monthly_totals` for several configurations: each one's money rounded per month on its own
    (the GSE pays each configuration), then summed; a configuration's total split among its plants.

    References
    ----------
    .. [1] GSE, Regole operative CACER (2024): each configuration is settled monthly on its own.
    """
    n_plants = groups.plant.size
    month_cents: dict[str, np.ndarray] = {}
    plant_cents: dict[str, np.ndarray] = {}
    group_cents: dict[str, np.ndarray] = {}
    for k, v in money_p.items():
        months_g = [_cents(by_month(v[groups.plant == g].sum(axis=0))) for g in range(groups.count)]
        month_cents[k] = np.sum(months_g, axis=0).astype(np.int64)
        group_cents[k] = np.array([int(m.sum()) for m in months_g], dtype=np.int64)
        cents = np.zeros(n_plants, np.int64)
        for g in range(groups.count):
            rows = np.flatnonzero(groups.plant == g)
            if rows.size and group_cents[k][g]:
                cents[rows] = split_cents(int(group_cents[k][g]), v[rows].sum(axis=1))
        plant_cents[k] = cents
    return Months(labels, bounds, energy_kwh, month_cents, plant_cents, group_cents)
