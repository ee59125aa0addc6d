"""Settlement of a configuration over a period: shared energy, premium, ARERA valorisation, sale, allocation.

For each settlement interval h (hour by default, quarter hour on request) and plant p:

- shared energy (TIAD Art. 1): ``E_sh,h = min(Σ_p E_inj,h,p, Σ_i E_wd,h,i)``, split among plants pro
  rata to injection (:mod:`condivisa.engines.sharing`);
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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from condivisa.domain.community import Community, Voltage
from condivisa.engines import metergrid as mg
from condivisa.engines.allocation import MemberFigures, PlantFigures, allocate, split_cents
from condivisa.engines.settlement_result import SettlementResult
from condivisa.engines.sharing import shared_energy_kwh, split_by_injection
from condivisa.engines.tariff import tip_eur_per_mwh
from condivisa.engines.valorisation import valorisation_by_plant_eur, yearly_values
from condivisa.kernel.timegrid import ROME, local_midnight

__all__ = ["settle", "SettlementResult", "MeasurementError", "MissingDataError", "PriceError"]

MeasurementError = mg.MeasurementError
COLUMNS = ("pod", "start", "withdrawn_kwh", "injected_kwh")


class MissingDataError(mg.MeasurementError):
    """Expected intervals have no reading and no ``fill`` was asked for."""


class PriceError(ValueError):
    """A settlement hour has no zonal price."""


def _cents(eur: np.ndarray) -> np.ndarray:
    """Round euro amounts to integer cents (half to even)."""
    return np.rint(np.asarray(eur, dtype=float) * 100.0).astype(np.int64)


def _day_index(ns: np.ndarray, t0_ns: int, first_day: dt.date) -> np.ndarray:
    """Index of the civil day (Europe/Rome) of each instant, from ``first_day``."""
    local = pd.DatetimeIndex(ns).tz_localize("UTC").tz_convert(ROME)
    days = (local.normalize().tz_localize(None) - pd.Timestamp(first_day)).days
    return np.asarray(days, dtype=np.int64)


def _window_idx(day: dt.date | None, t0_ns: int, step_ns: int, n: int, default: int) -> int:
    """Data-grid index of local midnight of ``day`` (``default`` when None), clipped to 0..n."""
    if day is None:
        return default
    ns = local_midnight(day).tz_convert("UTC").as_unit("ns").value
    return int(np.clip(-((t0_ns - ns) // step_ns), 0, n))


def _period_from_data(start_ns: np.ndarray) -> tuple[dt.date, dt.date]:
    if start_ns.size == 0:
        raise MeasurementError("no measurements to settle")
    lo, hi = pd.Timestamp(int(start_ns.min()), tz="UTC"), pd.Timestamp(int(start_ns.max()), tz="UTC")
    return lo.tz_convert(ROME).date(), hi.tz_convert(ROME).date()


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


def settle(
    community: Community,
    measurements: pd.DataFrame,
    prices: pd.Series,
    *,
    interval: str = "hour",
    period: tuple[dt.date, dt.date] | None = None,
    fill: str | None = None,
    duplicates: Mapping[str, int] | None = None,
) -> SettlementResult:
    """Settle ``community`` over ``period`` (first day, last day, both included; default: the data's days).

    ``measurements`` is the measurements table (quarter-hour or hourly rows); ``prices`` the hourly zonal
    prices, €/MWh, indexed by tz-aware hour start. ``interval`` is ``"hour"`` or ``"quarter"``. Missing
    intervals raise :class:`MissingDataError` unless ``fill`` is ``"zero"`` or ``"interpolate"``.
    ``duplicates`` (POD -> exact duplicate rows dropped by the reader; default ``measurements.attrs``)
    is only reported.
    """
    if interval not in ("hour", "quarter"):
        raise ValueError(f"interval must be hour or quarter, got {interval!r}")
    if fill not in (None, "zero", "interpolate"):
        raise ValueError(f"fill must be zero or interpolate, got {fill!r}")
    missing_cols = [c for c in COLUMNS if c not in measurements.columns]
    if missing_cols:
        raise MeasurementError(f"measurements: missing column(s) {', '.join(missing_cols)}")
    if duplicates is None:
        duplicates = measurements.attrs.get("duplicates_dropped", {})
    start_ns = mg.utc_ns(measurements["start"])
    wd_all = measurements["withdrawn_kwh"].to_numpy(dtype=float)
    inj_all = measurements["injected_kwh"].to_numpy(dtype=float)
    for name, col in (("withdrawn_kwh", wd_all), ("injected_kwh", inj_all)):
        if not np.all(col >= 0):  # also catches NaN
            i = np.flatnonzero(~(col >= 0))[0]
            raise MeasurementError(
                f"row {i}: pod {measurements['pod'].iloc[i]!r} {name} = {col[i]} (must be a number >= 0)"
            )

    first_day, last_day = period or _period_from_data(start_ns)
    if last_day < first_day:
        raise ValueError(f"period: {last_day} is before {first_day}")
    end_day = last_day + dt.timedelta(days=1)
    t0 = int(local_midnight(first_day).tz_convert("UTC").as_unit("ns").value)
    t1 = int(local_midnight(end_day).tz_convert("UTC").as_unit("ns").value)

    # quarter-hour index of every row (one pass), grid check, and the data's own interval
    tidx, off = np.divmod(start_ns - t0, mg.QUARTER_NS)
    if np.any(off):
        i = np.flatnonzero(off)[0]
        raise MeasurementError(
            f"row {i}: start {measurements['start'].iloc[i]} is not on the quarter-hour grid"
        )
    del off
    step_min = int(measurements.attrs.get("interval_minutes") or (15 if np.any(tidx & 3) else 60))
    if step_min == 60:
        if np.any(tidx & 3):
            i = np.flatnonzero(tidx & 3)[0]
            raise MeasurementError(
                f"row {i}: start {measurements['start'].iloc[i]} is not on the hourly grid"
            )
        tidx >>= 2
    if interval == "quarter" and step_min != 15:
        raise MeasurementError("a quarter-hour settlement needs quarter-hour measurements; these are hourly")
    step_ns = step_min * 60 * 10**9
    n = (t1 - t0) // step_ns

    # one code per POD of the community: consumption PODs first (member order), then plants, then the rest
    cons_pods = community.consumption_pods
    plant_pods = community.plant_pods
    if len(set(plant_pods)) != len(plant_pods):
        raise ValueError("two plants share one POD: their injection cannot be told apart")
    pods = tuple(dict.fromkeys(cons_pods + plant_pods + tuple(sorted(community.all_pods))))
    codes = mg.point_codes(measurements["pod"], pods)
    code_of = {p: i for i, p in enumerate(pods)}
    wv, wp, iv, ip = mg.pivot(
        codes,
        tidx,
        wd_all,
        inj_all,
        n=n,
        n_consumers=len(cons_pods),
        plant_codes=np.array([code_of[p] for p in plant_pods], dtype=np.int64),
        pods=pods,
        t0_ns=t0,
        step_ns=step_ns,
    )
    del codes, tidx

    owner_of = community.pod_owner()
    member_pos = {m.id: i for i, m in enumerate(community.members)}
    cons_member = np.array([member_pos[owner_of[p]] for p in cons_pods], dtype=np.int64)
    win_first = np.array(
        [_window_idx(community.members[k].joined, t0, step_ns, n, 0) for k in cons_member], dtype=np.int64
    )
    win_end = np.array(
        [_window_idx(community.members[k].left, t0, step_ns, n, n) for k in cons_member], dtype=np.int64
    )
    w_dense = mg.Dense(wv, wp, win_first, win_end)
    p_first = np.array(
        [_window_idx(p.commissioning, t0, step_ns, n, 0) for p in community.plants], dtype=np.int64
    )
    i_dense = mg.Dense(iv, ip, p_first, np.full(len(plant_pods), n, dtype=np.int64))

    quality = []
    for names, dense in ((cons_pods, w_dense), (plant_pods, i_dense)):
        for r, (exp, miss) in enumerate(zip(dense.expected_count, dense.missing_count)):
            quality.append(
                {
                    "pod": names[r],
                    "expected_intervals": int(exp),
                    "missing_intervals": int(miss),
                    "duplicate_rows_dropped": int(duplicates.get(names[r], 0)),
                    "filled_intervals": int(miss) if fill else 0,
                }
            )
    if fill is None and any(q["missing_intervals"] for q in quality):
        bad = [q for q in quality if q["missing_intervals"]]
        listed = ", ".join(f"{q['pod']} ({q['missing_intervals']})" for q in bad[:5])
        raise MissingDataError(
            f"missing {'quarter hours' if step_min == 15 else 'hours'} for {len(bad)} POD(s): {listed}"
            f"{' …' if len(bad) > 5 else ''}; settle with fill 'zero' or 'interpolate' to fill them explicitly"
        )
    w = mg.fill_missing(w_dense, fill, cons_pods)
    inj = mg.fill_missing(i_dense, fill, plant_pods)
    del w_dense, i_dense, wv, wp, iv, ip
    if interval == "hour":
        w, inj = mg.to_hours(w, step_min), mg.to_hours(inj, step_min)
        step_ns = mg.HOUR_NS
    starts_ns = t0 + np.arange(w.shape[1], dtype=np.int64) * step_ns

    # shared energy, eligibility, prices, money per plant and interval
    shared = shared_energy_kwh(inj.sum(axis=0), w.sum(axis=0))
    shared_p = split_by_injection(shared, inj)
    day = _day_index(starts_ns, t0, first_day)
    n_days = (end_day - first_day).days
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
    incent_p = shared_p * eligible
    price = _prices_at(prices, starts_ns - starts_ns % mg.HOUR_NS)
    tip = np.array(
        [
            tip_eur_per_mwh(price, pl.power_kw, community.zone, pl.is_pv, pl.grant_fraction)
            for pl in community.plants
        ]
    ).reshape(len(community.plants), -1)
    premium_p = incent_p * tip / 1000.0
    sale_p = inj * price / 1000.0
    local = pd.DatetimeIndex(starts_ns).tz_localize("UTC").tz_convert(ROME)
    years = np.asarray(local.year)
    values = yearly_values(years, community.tariff_overrides)
    val_p = valorisation_by_plant_eur(
        shared_p,
        price,
        same_building=community.configuration.same_building,
        plant_is_mt=[pl.voltage is Voltage.MT for pl in community.plants],
        **values,
    )

    # months (contiguous runs of intervals), money rounded per month
    month_key = years * 100 + np.asarray(local.month)
    bounds = np.flatnonzero(np.r_[True, month_key[1:] != month_key[:-1]])
    months = [f"{k // 100:04d}-{k % 100:02d}" for k in month_key[bounds]]

    def by_month(a: np.ndarray) -> np.ndarray:
        return np.add.reduceat(a, bounds, axis=-1) if a.shape[-1] else np.zeros(a.shape[:-1] + (0,))

    monthly = {
        "injected_kwh": by_month(inj.sum(axis=0)),
        "withdrawn_kwh": by_month(w.sum(axis=0)),
        "shared_kwh": by_month(shared),
        "incentivised_shared_kwh": by_month(incent_p.sum(axis=0)),
    }
    money_p = {"premium": premium_p, "valorisation": val_p, "sale": sale_p}
    month_cents = {k: _cents(by_month(v.sum(axis=0))) for k, v in money_p.items()}
    plant_cents = {
        k: split_cents(int(month_cents[k].sum()), v.sum(axis=1))
        if v.size and month_cents[k].sum()
        else np.zeros(len(community.plants), np.int64)
        for k, v in money_p.items()
    }

    # members: consumption and consumption in intervals with shared energy
    has_shared = (shared > 0).astype(float)
    wd_tot = w.sum(axis=0)
    ratio = np.divide(shared, wd_tot, out=np.zeros_like(shared), where=wd_tot > 0)
    n_m = len(community.members)

    def per_member(row_values: np.ndarray) -> np.ndarray:
        return (
            np.bincount(cons_member, weights=row_values, minlength=n_m) if cons_member.size else np.zeros(n_m)
        )

    member_wd = per_member(w.sum(axis=1))
    member_cons_shared = per_member(w @ has_shared)
    member_shared = per_member(w @ ratio)
    plant_figs = [
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
    member_figs = []
    for i, m in enumerate(community.members):
        lo = max(first_day, m.joined or first_day)
        hi = min(end_day, m.left or end_day)
        member_figs.append(
            MemberFigures(
                id=m.id,
                category=m.category,
                founder=m.founder,
                millesimi=m.millesimi,
                consumption_in_shared_kwh=float(member_cons_shared[i]),
                active_days=max(0, (hi - lo).days),
                left_in_period=m.left is not None and first_day < m.left <= end_day,
                has_consumption=bool(m.consumption_pods),
            )
        )
    allocation = allocate(plant_figs, member_figs, community.rules, period_days=n_days)

    return SettlementResult(
        community=community,
        first_day=first_day,
        last_day=last_day,
        interval=interval,
        data_interval_minutes=step_min,
        fill=fill,
        starts=local,
        months=months,
        monthly_energy_kwh={k: v for k, v in monthly.items()},
        monthly_cents=month_cents,
        plant_cents=plant_cents,
        plant_injected_kwh=inj.sum(axis=1),
        plant_shared_kwh=shared_p.sum(axis=1),
        plant_incentivised_kwh=incent_p.sum(axis=1),
        member_withdrawn_kwh=member_wd,
        member_consumption_in_shared_kwh=member_cons_shared,
        member_shared_kwh=member_shared,
        member_figures=member_figs,
        allocation=allocation,
        data_quality=quality,
        consumption_rows=w,
        consumption_row_member=cons_member,
        shared_kwh=shared,
        injected_kwh=inj.sum(axis=0),
        incentivised_kwh=incent_p.sum(axis=0),
        zonal_price_eur_per_mwh=price,
        month_bounds=bounds,
    )
