"""Storage sizing: yearly physics over the horizon for several battery sizes at once, and the sweep
(capacity per flat 0–10 kWh → sharing %, premium, cost, NPV).

All sizes run in **one** vectorised heuristic call (batteries = flats × sizes; the PV surplus share
(PV − building load)/n is the same for every size). Over the horizon, year y has PV × (1 − d_pv)^(y−1)
and capacity × (1 − fade)^(y−1); the heuristic is run for a few sample years (default 1, 5, 10, 15, 20)
and shared energy and purchases are interpolated linearly in between (they vary smoothly with the
slow degradation; the interpolation error is far below the uncertainty of the inputs).

Kit cost of an arbitrary size: the straight line through the case's quoted options
(e.g. 3 kWh → 2,157 €, 5 kWh → 3,051 €: 447 €/kWh + 816 €), zero for no battery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from condivisa.engines import finance
from condivisa.engines.sharing import shared_energy_kwh
from condivisa.engines.storage import BatterySpec, charge_allowance_kwh, heuristic_dispatch

DEFAULT_SAMPLE_YEARS = (1, 5, 10, 15, 20)


@dataclass
class YearlyPhysics:
    """Per size (rows) and year 1…N (columns): production, shared energy (kWh), purchases (€)."""

    capacities_kwh: np.ndarray
    production_kwh: np.ndarray
    shared_kwh: np.ndarray
    purchase_eur: np.ndarray


def simulate_sizes(
    pv_kwh: np.ndarray,
    loads_kwh: np.ndarray,
    contract_kw: np.ndarray,
    capacities_kwh: ArrayLike,
    spec: BatterySpec,
    price_eur_per_kwh: np.ndarray,
    pv_factor: float = 1.0,
    capacity_factor: float = 1.0,
):
    """One year, every size at once. Returns (shared_kwh (K, T), withdrawal_kwh (K, n, T), soc (K, n, T))."""
    caps = np.asarray(capacities_kwh, dtype=float)
    n, n_t = loads_kwh.shape
    k = len(caps)
    pv = pv_kwh * pv_factor
    allowance = charge_allowance_kwh(pv, loads_kwh)
    tiled = np.broadcast_to(loads_kwh, (k, n, n_t)).reshape(k * n, n_t)
    result = heuristic_dispatch(
        tiled, allowance, np.repeat(caps * capacity_factor, n), np.tile(contract_kw, k), spec=spec
    )
    withdrawal = result.withdrawal_kwh.reshape(k, n, n_t)
    shared = np.array([shared_energy_kwh(pv, flats) for flats in withdrawal])  # flats × T per size
    return shared, withdrawal, result.soc_kwh.reshape(k, n, n_t)


def yearly_physics(
    pv_kwh: ArrayLike,
    loads_kwh: ArrayLike,
    contract_kw: ArrayLike,
    capacities_kwh: ArrayLike,
    spec: BatterySpec,
    price_eur_per_kwh: ArrayLike,
    *,
    horizon_years: int,
    pv_degradation_per_year: float,
    battery_fade_per_year: float,
    sample_years: tuple[int, ...] = DEFAULT_SAMPLE_YEARS,
) -> YearlyPhysics:
    """Production, shared energy and the flats' purchases for every size and year (see module docstring)."""
    pv = np.asarray(pv_kwh, dtype=float)
    loads = np.atleast_2d(np.asarray(loads_kwh, dtype=float))
    contract = np.broadcast_to(np.asarray(contract_kw, dtype=float), (loads.shape[0],))
    price = np.broadcast_to(np.asarray(price_eur_per_kwh, dtype=float), pv.shape)
    caps = np.asarray(capacities_kwh, dtype=float)
    years = np.arange(1, horizon_years + 1)
    samples = sorted({y for y in sample_years if 1 <= y <= horizon_years} | {1, horizon_years})
    shared_s, purchase_s = [], []
    for y in samples:
        shared, withdrawal, _ = simulate_sizes(
            pv,
            loads,
            contract,
            caps,
            spec,
            price,
            pv_factor=(1 - pv_degradation_per_year) ** (y - 1),
            capacity_factor=(1 - battery_fade_per_year) ** (y - 1),
        )
        shared_s.append(shared.sum(axis=1))
        purchase_s.append((withdrawal.sum(axis=1) * price).sum(axis=1))
    shared_s, purchase_s = np.array(shared_s).T, np.array(purchase_s).T  # (K, samples)
    interp = lambda table: np.array([np.interp(years, samples, row) for row in table])  # noqa: E731
    production = pv.sum() * finance.degradation_factors(horizon_years, pv_degradation_per_year)
    return YearlyPhysics(
        caps,
        np.broadcast_to(production, (len(caps), horizon_years)).copy(),
        interp(shared_s),
        interp(purchase_s),
    )


def kit_cost_eur(
    capacity_kwh: ArrayLike, option_capacities_kwh: ArrayLike, option_costs_eur: ArrayLike
) -> np.ndarray:
    """Cost of one flat's kit: the least-squares line through the quoted options (a single option:
    proportional to capacity); 0 for capacity 0."""
    caps = np.asarray(option_capacities_kwh, dtype=float)
    costs = np.asarray(option_costs_eur, dtype=float)
    c = np.asarray(capacity_kwh, dtype=float)
    if len(caps) >= 2:
        slope, intercept = np.polyfit(caps, costs, 1)
    else:
        slope, intercept = costs[0] / caps[0], 0.0
    return np.where(c > 0, intercept + slope * c, 0.0)


@dataclass
class SizingRow:
    capacity_kwh_per_flat: float
    sharing_pct: float
    premium_eur_year1: float
    investment_eur: float
    npv_eur: float
    dpbt_years: float | None

    def to_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def sizing_sweep(
    physics: YearlyPhysics,
    *,
    n_flats: int,
    pv_investment_eur: float,
    kit_cost_per_flat_eur: ArrayLike,
    vat_storage_pct: float,
    zonal_price_eur_per_mwh: float,
    premium_eur_per_mwh: float,
    valorisation_eur_per_mwh: float,
    maintenance_eur_per_year: float,
    discount_rate: float,
) -> list[SizingRow]:
    """One row per size: year-1 sharing % and premium, investment (PV + kits with VAT), NPV and DPBT over
    the horizon; purchases are counted relative to the no-battery row (which must be size 0)."""
    if physics.capacities_kwh[0] != 0:
        raise ValueError("the first size of the sweep must be 0 kWh (the base case)")
    kit = np.asarray(kit_cost_per_flat_eur, dtype=float)
    rows = []
    for i, cap in enumerate(physics.capacities_kwh):
        investment = pv_investment_eur + n_flats * float(kit[i]) * (1 + vat_storage_pct / 100.0)
        flows = finance.yearly_cash_flows(
            investment,
            physics.production_kwh[i],
            physics.shared_kwh[i],
            zonal_price_eur_per_mwh=zonal_price_eur_per_mwh,
            premium_eur_per_mwh=premium_eur_per_mwh,
            valorisation_eur_per_mwh=valorisation_eur_per_mwh,
            maintenance_eur_per_year=maintenance_eur_per_year,
            extra_purchase_eur=physics.purchase_eur[i] - physics.purchase_eur[0],
        )
        rows.append(
            SizingRow(
                float(cap),
                float(100 * physics.shared_kwh[i, 0] / physics.production_kwh[i, 0]),
                float(flows.premium_eur[0]),
                investment,
                finance.npv_eur(flows.net_eur, discount_rate),
                finance.dpbt_years(flows.net_eur, discount_rate),
            )
        )
    return rows
