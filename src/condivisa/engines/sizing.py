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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One year of the heuristic for every battery size at once (batteries = flats × sizes).

    The PV surplus share ``(PV − Σ load)⁺ / n`` is the same for every size, so all K sizes run in one
    :func:`condivisa.engines.storage.heuristic_dispatch` call; shared energy is then
    ``min(PV_t, Σ_flats withdrawal_t)`` per size.

    Parameters
    ----------
    pv_kwh : numpy.ndarray
        PV production per interval, (T,), kWh.
    loads_kwh : numpy.ndarray
        The n flats' loads, (n, T), kWh.
    contract_kw : numpy.ndarray
        Contract power per flat, (n,), kW.
    capacities_kwh : array_like
        The K battery sizes per flat, kWh.
    spec : BatterySpec
        SoC window, efficiencies and inverter.
    price_eur_per_kwh : numpy.ndarray
        Retail price per interval, €/kWh (not used here; kept for the callers' symmetry).
    pv_factor : float, default 1.0
        Scale of the PV (degradation of the year).
    capacity_factor : float, default 1.0
        Scale of the capacities (fade of the year).

    Returns
    -------
    shared_kwh : numpy.ndarray
        (K, T), kWh.
    withdrawal_kwh : numpy.ndarray
        (K, n, T), kWh.
    soc_kwh : numpy.ndarray
        (K, n, T), kWh.

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1: shared energy per hour.
    """
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
    """Production, shared energy and the flats' purchases for every size and year of the horizon.

    Year y has PV × (1 − d_pv)^(y−1) and capacity × (1 − fade)^(y−1); :func:`simulate_sizes` runs for
    the sample years (always the first and the last) and the others are interpolated linearly.

    Parameters
    ----------
    pv_kwh : array_like
        Year-1 PV production per interval, (T,), kWh.
    loads_kwh : array_like
        The flats' loads, (n, T), kWh.
    contract_kw : array_like
        Contract power per flat, kW.
    capacities_kwh : array_like
        The K battery sizes per flat, kWh.
    spec : BatterySpec
        SoC window, efficiencies and inverter.
    price_eur_per_kwh : array_like
        Retail price per interval, €/kWh.
    horizon_years : int
        N, years.
    pv_degradation_per_year, battery_fade_per_year : float
        Yearly losses, within [0, 1).
    sample_years : tuple of int, default (1, 5, 10, 15, 20)
        Years actually simulated.

    Returns
    -------
    YearlyPhysics
        (K, N) production and shared energy (kWh) and purchases (€).
    """
    pv = np.asarray(pv_kwh, dtype=float)
    loads = np.atleast_2d(np.asarray(loads_kwh, dtype=float))
    contract = np.broadcast_to(np.asarray(contract_kw, dtype=float), (loads.shape[0],))
    price = np.broadcast_to(np.asarray(price_eur_per_kwh, dtype=float), pv.shape)
    caps = np.asarray(capacities_kwh, dtype=float)
    years = np.arange(1, horizon_years + 1)
    samples = sorted({y for y in sample_years if 1 <= y <= horizon_years} | {1, horizon_years})
    shared_rows: list[np.ndarray] = []
    purchase_rows: list[np.ndarray] = []
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
        shared_rows.append(shared.sum(axis=1))
        purchase_rows.append((withdrawal.sum(axis=1) * price).sum(axis=1))
    shared_s, purchase_s = np.array(shared_rows).T, np.array(purchase_rows).T  # (K, samples)
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
    """Cost of one flat's battery kit: the least-squares line through the quoted options.

    ``cost = intercept + slope · capacity`` fitted to the options (a single option: proportional to
    capacity); 0 for capacity 0.

    Parameters
    ----------
    capacity_kwh : array_like
        Capacities to price, kWh.
    option_capacities_kwh : array_like
        Capacities of the quoted options, kWh.
    option_costs_eur : array_like
        Their costs, €.

    Returns
    -------
    numpy.ndarray
        Kit cost per capacity, €.
    """
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
        """The row, floats rounded to 3 decimals."""
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
    """The sizing table: one row per battery size.

    Year-1 sharing % (``100 · shared / production``) and premium, investment (PV + kits with VAT), NPV
    and DPBT over the horizon (:mod:`condivisa.engines.finance`); the flats' purchases count relative to
    the no-battery row.

    Parameters
    ----------
    physics : YearlyPhysics
        :func:`yearly_physics`; its first size must be 0 kWh (the base case).
    n_flats : int
        Number of flats (kits).
    pv_investment_eur : float
        The PV plant's investment, €.
    kit_cost_per_flat_eur : array_like
        Kit cost per size, €, before VAT.
    vat_storage_pct : float
        VAT on the kits, %.
    zonal_price_eur_per_mwh, premium_eur_per_mwh, valorisation_eur_per_mwh : float
        Sale price, premium tariff and valorisation, €/MWh.
    maintenance_eur_per_year : float
        Yearly maintenance, €.
    discount_rate : float
        Yearly discount rate.

    Returns
    -------
    list of SizingRow
        One per size, in the order of ``physics``.

    Raises
    ------
    ValueError
        When the first size is not 0 kWh.
    """
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
