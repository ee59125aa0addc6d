"""Settlement of a configuration over a period: shared energy, premium, ARERA valorisation, sale, allocation.

For each settlement interval h (hour by default, quarter hour on request) and plant p:

- shared energy (TIAD Art. 1): ``E_sh,h = min(Σ_p E_inj,h,p, Σ_i E_wd,h,i)``, split among plants pro
  rata to injection (:mod:`condivisa.engines.sharing`); a CER or CEC under several primary substations
  is settled per substation, each as its own configuration (TIAD art. 1 and 3, GSE Regole operative
  CACER 2024), and ``result.configurations`` lists them;
- incentivised shared energy: ``E_sh,h,p`` of the plants eligible for the premium on that day
  (:meth:`condivisa.domain.community.Plant.premium_eligible_on`);
- premium (DM 414/2023): ``Σ_h E_inc,h,p · TIP_h,p / 1000`` with TIP from
  :func:`condivisa.engines.tariff.tip_eur_per_mwh` and the hour's zonal price;
- ARERA valorisation of every plant's shared energy (:mod:`condivisa.engines.valorisation`);
- sale (RID) of the injected energy at the hour's zonal price: ``Σ_h E_inj,h,p · Pz_h / 1000``.

Money is rounded once per month (to the cent, half to even); the period total is the sum of the months
and is split among payees in integer cents (:mod:`condivisa.engines.allocation`), so every sum is
exact. Members count only between ``joined`` (inclusive) and ``left`` (exclusive); plants from their
commissioning day.

:func:`settle` is a pipeline of named stages: :mod:`condivisa.engines.settlement_metering` (measurements to
settlement intervals), :mod:`condivisa.engines.settlement_money` (energy and money) and
:mod:`condivisa.engines.settlement_members` (members' energy, allocation inputs, the result).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from condivisa.domain.community import Community
from condivisa.engines import settlement_members as payees
from condivisa.engines import settlement_metering as metering
from condivisa.engines import settlement_money as money
from condivisa.engines.allocation import PlantFigures, allocate
from condivisa.engines.flexibility import FlexibilityFigures, MeasuredEvent, flexibility_figures
from condivisa.engines.settlement_result import SettlementResult


def settle(
    community: Community,
    measurements: pd.DataFrame,
    prices: pd.Series,
    *,
    interval: str = "hour",
    period: tuple[dt.date, dt.date] | None = None,
    fill: str | None = None,
    duplicates: Mapping[str, int] | None = None,
    events: Sequence[MeasuredEvent] = (),
) -> SettlementResult:
    """Settle a community over a period: shared energy, premium, valorisation, sale and their allocation.

    A pipeline of stages: check the table, lay it on the period's grid, pivot it onto dense
    points × intervals blocks, count (and refuse or fill) missing intervals
    (:mod:`~condivisa.engines.settlement_metering`); compute shared and incentivised energy, money per
    plant and interval, round it per month (:mod:`~condivisa.engines.settlement_money`), and allocate it
    among the payees in integer cents by the community's rules
    (:func:`~condivisa.engines.allocation.allocate`, with the inputs of
    :mod:`~condivisa.engines.settlement_members`).

    Parameters
    ----------
    community : Community
        Members (with their consumption PODs and membership dates), plants and allocation rules.
    measurements : pandas.DataFrame
        The measurements table: ``pod``, ``start`` (tz-aware), ``withdrawn_kwh``, ``injected_kwh`` (kWh),
        quarter-hour or hourly rows; ``attrs`` may hold ``interval_minutes`` and ``duplicates_dropped``.
    prices : pandas.Series
        Hourly zonal prices Pz, €/MWh, indexed by tz-aware hour start.
    interval : str, default "hour"
        Settlement interval, ``"hour"`` or ``"quarter"`` (needs quarter-hour data).
    period : tuple of datetime.date, optional
        First and last day, both included; default: the days the data spans.
    fill : str, optional
        ``None`` refuses missing intervals (:class:`~condivisa.engines.settlement_metering.MissingDataError`);
        ``"zero"`` or ``"interpolate"``
        fill them explicitly (they stay counted in ``data_quality``).
    duplicates : Mapping[str, int], optional
        POD -> exact duplicate rows dropped by the reader (default ``measurements.attrs``); only reported.
    events : sequence of MeasuredEvent, optional
        Demand-response events with the members' measured responses: their extra shared energy and
        premium are reported and ``rules.flexibility_bonus`` shares them (:mod:`condivisa.engines.flexibility`).

    Returns
    -------
    SettlementResult
        Energy (kWh) per interval, month, plant and member; money in cents per month, plant and payee.

    Raises
    ------
    condivisa.engines.settlement_metering.MeasurementError
        For unusable measurements (bad column, naive time, negative reading, off-grid row, unknown POD,
        two readings of one interval); :class:`~condivisa.engines.settlement_metering.MissingDataError` for
        gaps without ``fill``.
    condivisa.engines.settlement_money.PriceError
        When an hour of the period has no zonal price.

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1: shared energy = hourly minimum of
       injection and withdrawal; art. 8-9: valorisation and restitution of tariff components.
    .. [2] DM MASE 414/2023, annex 1: the incentive tariff TIP on incentivised shared energy.
    """
    start_ns, withdrawn_kwh, injected_kwh = metering.measurement_columns(measurements, interval, fill)
    if duplicates is None:
        duplicates = measurements.attrs.get("duplicates_dropped", {})
    grid, tidx = metering.settlement_grid(measurements, start_ns, period, interval)
    points = metering.pivot_points(community, measurements, tidx, withdrawn_kwh, injected_kwh, grid)
    del tidx, start_ns, withdrawn_kwh, injected_kwh
    quality = metering.data_quality(points, duplicates, fill, grid.step_minutes)
    intervals = metering.settlement_intervals(points, fill, interval, grid)
    del points
    energy = money.shared_energy(community, intervals, grid)
    earned = money.money_by_plant(community, prices, intervals, energy)
    months = money.monthly_totals(intervals, energy, earned)
    members = payees.member_energy(intervals, energy.shared_kwh, len(community.members), energy)
    plant_figs = payees.plant_figures(community, intervals, energy, months.plant_cents)
    member_figs = payees.member_figures(community, grid, members.consumption_in_shared_kwh)
    flex = _flexibility(community, intervals, earned, plant_figs, events)
    allocation = allocate(
        plant_figs,
        member_figs,
        community.rules,
        period_days=grid.n_days,
        flexibility_bonus_cents=flex.bonus_cents,
        shifted_kwh=flex.member_shifted_kwh,
    )
    return payees.build_result(
        community,
        grid,
        intervals,
        energy,
        earned,
        months,
        members,
        interval=interval,
        fill=fill,
        member_figs=member_figs,
        allocation=allocation,
        quality=quality,
        plant_figs=plant_figs,
        flexibility=flex,
    )


def _flexibility(
    community: Community,
    intervals: metering.Intervals,
    earned: money.Money,
    plant_figs: list[PlantFigures],
    events: Sequence[MeasuredEvent],
) -> FlexibilityFigures:
    """The events' extra shared energy and premium, and the bonus (:mod:`condivisa.engines.flexibility`)."""
    n = len(community.members)
    starts_ns = intervals.starts_ns
    step_ns = int(starts_ns[1] - starts_ns[0]) if starts_ns.size > 1 else 3_600_000_000_000
    if starts_ns.size:  # only the events of the settled period count (their kWh are the bonus's key)
        lo, hi = int(starts_ns[0]), int(starts_ns[-1]) + step_ns
        events = [e for e in events if lo <= e.start.value < hi]
    if not events:
        return FlexibilityFigures(member_shifted_kwh=np.zeros(n))
    return flexibility_figures(
        events,
        [m.id for m in community.members],
        share=community.rules.flexibility_bonus_share,
        premium_total_cents=sum(p.premium_cents for p in plant_figs),
        starts_ns=starts_ns,
        step_ns=step_ns,
        injected_kwh=intervals.injected_kwh.sum(axis=0),
        withdrawn_kwh=intervals.withdrawn_kwh.sum(axis=0),
        premium_eur=earned.premium_eur.sum(axis=0),
    )
