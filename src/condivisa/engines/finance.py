"""Multi-year economics: yearly cash flows, NPV, discounted payback (DPBT), IRR, ideal investment.

Cash flows are yearly, year 0 the investment (negative), years 1…N the net income

    CF_y = sale_y + premium_y + valorisation_y − maintenance − extra_purchase_y
    sale_y         = E_prod,y · Pz / 1000                 (energy sold to the GSE at the zonal price)
    premium_y      = E_shared,y · TIP / 1000               (DM 414/2023 premium tariff)
    valorisation_y = E_shared,y · v / 1000                 (ARERA restitution, € per MWh shared)
    extra_purchase = energy the flats buy because of the batteries (charging) minus what they no longer
                     buy (discharging), at their retail price: zero for the base case.

with E_prod,y = E_prod,1 · (1 − d_pv)^(y−1) (PV degradation; battery fade enters through E_shared,y).

    NPV  = Σ_{y=0..N} CF_y / (1 + r)^y
    D_y  = Σ_{k=0..y} CF_k / (1 + r)^k                    (cumulative discounted cash flow)
    DPBT = (y − 1) + (−D_{y−1}) / (D_y − D_{y−1})         for the first y with D_y ≥ 0
           (linear interpolation inside the year of payback: fractional years; None if never)
    IRR  = r such that NPV(r) = 0, by Brent's method (``scipy.optimize.brentq``) on [−0.99, 10];
           None when NPV has no sign change there (e.g. the investment never pays back).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

IRR_BRACKET = (-0.99, 10.0)


def discount_factors(n_years: int, discount_rate: float) -> np.ndarray:
    """Discount factors ``1 / (1 + r)^y`` for y = 0 … n_years.

    Parameters
    ----------
    n_years : int
        Last year N.
    discount_rate : float
        Yearly discount rate r (0.04 for 4 %), > −1.

    Returns
    -------
    numpy.ndarray
        N + 1 factors, dimensionless; year 0 is 1.

    Raises
    ------
    ValueError
        When ``discount_rate`` ≤ −1.
    """
    if discount_rate <= -1:
        raise ValueError(f"discount_rate must be > -1, got {discount_rate}")
    return (1.0 + discount_rate) ** -np.arange(n_years + 1, dtype=float)


def npv_eur(cash_flows_eur: ArrayLike, discount_rate: float) -> float:
    """Net present value ``NPV = Σ_y CF_y / (1 + r)^y``, CF_0 at year 0 (undiscounted).

    Parameters
    ----------
    cash_flows_eur : array_like
        CF_0 … CF_N, €.
    discount_rate : float
        Yearly discount rate r.

    Returns
    -------
    float
        NPV, €.
    """
    cf = np.asarray(cash_flows_eur, dtype=float)
    return float(np.sum(cf * discount_factors(len(cf) - 1, discount_rate)))


def cumulative_discounted_eur(cash_flows_eur: ArrayLike, discount_rate: float) -> np.ndarray:
    """Cumulative discounted cash flow ``D_y = Σ_{k ≤ y} CF_k / (1 + r)^k`` for y = 0 … N.

    Parameters
    ----------
    cash_flows_eur : array_like
        CF_0 … CF_N, €.
    discount_rate : float
        Yearly discount rate r.

    Returns
    -------
    numpy.ndarray
        D_0 … D_N, €.
    """
    cf = np.asarray(cash_flows_eur, dtype=float)
    return np.cumsum(cf * discount_factors(len(cf) - 1, discount_rate))


def dpbt_years(cash_flows_eur: ArrayLike, discount_rate: float) -> float | None:
    """Discounted payback time, fractional years.

    ``DPBT = (y − 1) + (−D_{y−1}) / (D_y − D_{y−1})`` for the first y with ``D_y ≥ 0``
    (:func:`cumulative_discounted_eur`; linear interpolation inside the year of payback).

    Parameters
    ----------
    cash_flows_eur : array_like
        CF_0 … CF_N, €.
    discount_rate : float
        Yearly discount rate r.

    Returns
    -------
    float or None
        DPBT, years; 0 when CF_0 ≥ 0; ``None`` when D never reaches 0 within the horizon.
    """
    d = cumulative_discounted_eur(cash_flows_eur, discount_rate)
    if d[0] >= 0:
        return 0.0
    reached = np.flatnonzero(d >= 0)
    if len(reached) == 0:
        return None
    y = int(reached[0])
    return float(y - 1 + (-d[y - 1]) / (d[y] - d[y - 1]))


def irr(cash_flows_eur: ArrayLike) -> float | None:
    """Internal rate of return: the r with ``NPV(r) = 0``.

    Found by Brent's method (``scipy.optimize.brentq``) on r ∈ [−0.99, 10].

    Parameters
    ----------
    cash_flows_eur : array_like
        CF_0 … CF_N, €.

    Returns
    -------
    float or None
        IRR, per year (0.05 for 5 %); ``None`` when NPV does not change sign on the bracket (e.g. the
        investment never pays back).

    References
    ----------
    .. [1] R. P. Brent, *Algorithms for Minimization without Derivatives*, Prentice-Hall, 1973, ch. 4.
    """
    cf = np.asarray(cash_flows_eur, dtype=float)
    lo, hi = IRR_BRACKET
    f_lo, f_hi = npv_eur(cf, lo), npv_eur(cf, hi)
    if f_lo == 0:
        return lo
    if np.sign(f_lo) == np.sign(f_hi):
        return None
    return float(brentq(lambda r: npv_eur(cf, r), lo, hi, xtol=1e-12, rtol=1e-12, maxiter=200))


def degradation_factors(n_years: int, rate_per_year: float) -> np.ndarray:
    """Yearly degradation factors ``(1 − rate)^(y − 1)`` for y = 1 … n_years.

    Year 1 is at nameplate; the loss compounds afterwards.

    Parameters
    ----------
    n_years : int
        Number of years N.
    rate_per_year : float
        Yearly loss (0.005 for 0.5 %/year), within [0, 1).

    Returns
    -------
    numpy.ndarray
        N factors, dimensionless.

    Raises
    ------
    ValueError
        When ``rate_per_year`` is outside [0, 1).
    """
    if not 0 <= rate_per_year < 1:
        raise ValueError(f"rate_per_year must be within [0, 1), got {rate_per_year}")
    return (1.0 - rate_per_year) ** np.arange(n_years, dtype=float)


@dataclass
class CashFlows:
    """Yearly items (years 1…N) and the net series CF_0…CF_N, €."""

    investment_eur: float
    sale_eur: np.ndarray
    premium_eur: np.ndarray
    valorisation_eur: np.ndarray
    maintenance_eur: np.ndarray
    extra_purchase_eur: np.ndarray

    @property
    def income_eur(self) -> np.ndarray:
        """Net yearly income, years 1…N."""
        return (
            self.sale_eur
            + self.premium_eur
            + self.valorisation_eur
            - self.maintenance_eur
            - self.extra_purchase_eur
        )

    @property
    def net_eur(self) -> np.ndarray:
        """CF_0 = −investment, CF_y = income_y."""
        return np.concatenate([[-self.investment_eur], self.income_eur])

    @property
    def sharing_income_share(self) -> float:
        """(premium + valorisation) / (sale + premium + valorisation) over the horizon."""
        sharing = float(np.sum(self.premium_eur + self.valorisation_eur))
        gross = sharing + float(np.sum(self.sale_eur))
        return sharing / gross if gross > 0 else 0.0


def yearly_cash_flows(
    investment_eur: float,
    production_kwh: ArrayLike,
    shared_kwh: ArrayLike,
    *,
    zonal_price_eur_per_mwh: float,
    premium_eur_per_mwh: float,
    valorisation_eur_per_mwh: float,
    maintenance_eur_per_year: float,
    extra_purchase_eur: ArrayLike = 0.0,
) -> CashFlows:
    """The yearly cash-flow items from yearly energies.

    ``sale_y = E_prod,y · Pz / 1000``, ``premium_y = E_sh,y · TIP / 1000``,
    ``valorisation_y = E_sh,y · v / 1000``, plus the maintenance and the extra purchases.

    Parameters
    ----------
    investment_eur : float
        Investment at year 0, €.
    production_kwh : array_like
        Energy produced (and injected) in years 1…N, kWh, already degraded by the caller (e.g. with
        :func:`degradation_factors`).
    shared_kwh : array_like
        Shared energy in years 1…N, kWh (≤ production).
    zonal_price_eur_per_mwh : float
        Sale price Pz, €/MWh.
    premium_eur_per_mwh : float
        Premium tariff TIP, €/MWh.
    valorisation_eur_per_mwh : float
        ARERA valorisation v, €/MWh.
    maintenance_eur_per_year : float
        Yearly maintenance, €.
    extra_purchase_eur : array_like, default 0.0
        The flats' extra purchases because of the batteries, € per year (scalar or N values).

    Returns
    -------
    CashFlows
        The yearly items, € (years 1…N), and the net series CF_0…CF_N.

    Raises
    ------
    ValueError
        For arrays of different lengths, or a year whose shared energy exceeds its production.

    References
    ----------
    .. [1] DM MASE 414/2023, annex 1: the incentive tariff TIP on shared energy.
    .. [2] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 8-9: the valorisation of shared energy.
    """
    production = np.asarray(production_kwh, dtype=float)
    shared = np.asarray(shared_kwh, dtype=float)
    if production.shape != shared.shape or production.ndim != 1:
        raise ValueError(
            f"production_kwh and shared_kwh must be 1-D of equal length, got {production.shape}, {shared.shape}"
        )
    if (shared > production + 1e-9).any():
        y = int(np.flatnonzero(shared > production + 1e-9)[0]) + 1
        raise ValueError(
            f"year {y}: shared energy {shared[y - 1]:.1f} kWh exceeds production {production[y - 1]:.1f} kWh"
        )
    n = len(production)
    return CashFlows(
        investment_eur=float(investment_eur),
        sale_eur=production * zonal_price_eur_per_mwh / 1000.0,
        premium_eur=shared * premium_eur_per_mwh / 1000.0,
        valorisation_eur=shared * valorisation_eur_per_mwh / 1000.0,
        maintenance_eur=np.full(n, float(maintenance_eur_per_year)),
        extra_purchase_eur=np.broadcast_to(np.asarray(extra_purchase_eur, dtype=float), (n,)).copy(),
    )


def investment_for_payback_eur(
    income_eur: ArrayLike, discount_rate: float, target_dpbt_years: float
) -> float:
    """The investment whose discounted payback time is the target.

    With ``C_y`` the cumulative discounted income and the target ``y − 1 + f``,
    ``I = C_{y−1} + f · (C_y − C_{y−1})``: the inverse of the interpolated DPBT of :func:`dpbt_years`
    (exact when the incomes are positive).

    Parameters
    ----------
    income_eur : array_like
        Net income of years 1…N, €.
    discount_rate : float
        Yearly discount rate r.
    target_dpbt_years : float
        The wanted payback time, years, within 0–N.

    Returns
    -------
    float
        The investment I, €.

    Raises
    ------
    ValueError
        When the target is outside 0–N.
    """
    income = np.asarray(income_eur, dtype=float)
    if not 0 <= target_dpbt_years <= len(income):
        raise ValueError(f"target_dpbt_years must be within 0-{len(income)}, got {target_dpbt_years}")
    c = np.concatenate([[0.0], np.cumsum(income * discount_factors(len(income), discount_rate)[1:])])
    y = min(int(np.floor(target_dpbt_years)) + 1, len(income))
    f = target_dpbt_years - (y - 1)
    return float(c[y - 1] + f * (c[y] - c[y - 1]))


@dataclass(frozen=True)
class Economics:
    """The economics row of one case under one price scenario."""

    case: str
    scenario: str
    investment_eur: float
    npv_eur: float
    dpbt_years: float | None
    irr: float | None
    sharing_income_share: float

    def to_dict(self) -> dict:
        """The row, rounded (cents, 3 decimals of years, 5 of the IRR)."""
        return {
            "case": self.case,
            "scenario": self.scenario,
            "investment_eur": round(self.investment_eur, 2),
            "npv_eur": round(self.npv_eur, 2),
            "dpbt_years": None if self.dpbt_years is None else round(self.dpbt_years, 3),
            "irr": None if self.irr is None else round(self.irr, 5),
            "sharing_income_share": round(self.sharing_income_share, 4),
        }


def evaluate(case: str, scenario: str, flows: CashFlows, discount_rate: float) -> Economics:
    """NPV, DPBT and IRR of one set of cash flows.

    Parameters
    ----------
    case, scenario : str
        Names of the case and of the price scenario.
    flows : CashFlows
        The yearly items (:func:`yearly_cash_flows`).
    discount_rate : float
        Yearly discount rate r.

    Returns
    -------
    Economics
        Investment and NPV (€), DPBT (years), IRR (per year) and the share of the income that comes from
        sharing (premium and valorisation).
    """
    net = flows.net_eur
    return Economics(
        case,
        scenario,
        flows.investment_eur,
        npv_eur(net, discount_rate),
        dpbt_years(net, discount_rate),
        irr(net),
        flows.sharing_income_share,
    )
