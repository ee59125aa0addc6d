"""Premium tariff (TIP) of DM 414/2023 on arrays of hourly zonal prices.

    TIP_h = (1 − F) · { min[CAP; base + max(0; 180 − Pz_h)] + FC_zone }      [€/MWh]

base/CAP by plant power: 80/120 (P ≤ 200 kW), 70/110 (≤ 600 kW), 60/100 (> 600 kW);
FC_zone for photovoltaic plants only: +10 North, +4 Centre, 0 South;
F = 0.5 · grant_fraction / 0.4, at most 0.5 (PNRR capital grant).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from condivisa.domain.tariffs import (
    MAX_GRANT_FRACTION,
    MAX_GRANT_REDUCTION_F,
    PREMIUM_PIVOT_EUR_PER_MWH,
    PV_ZONE_CORRECTION_EUR_PER_MWH,
    Zone,
    premium_class,
)


def grant_reduction_f(grant_fraction: float) -> float:
    """Reduction factor F of the premium for a capital grant.

    ``F = min(0.5, 0.5 · grant_fraction / 0.4)``: linear from 0 (no grant) to 0.5 (a 40 % grant).

    Parameters
    ----------
    grant_fraction : float
        Capital grant (PNRR) as a share of the eligible cost, 0–0.4.

    Returns
    -------
    float
        F, dimensionless, 0–0.5.

    Raises
    ------
    ValueError
        When ``grant_fraction`` is outside 0–0.4.

    References
    ----------
    .. [1] DM MASE 414/2023, annex 1: reduction of the tariff for plants with a capital grant.
    """
    if not 0.0 <= grant_fraction <= MAX_GRANT_FRACTION:
        raise ValueError(f"grant_fraction must be within 0-{MAX_GRANT_FRACTION}, got {grant_fraction}")
    return min(MAX_GRANT_REDUCTION_F, MAX_GRANT_REDUCTION_F * grant_fraction / MAX_GRANT_FRACTION)


def zone_correction_eur_per_mwh(zone: Zone | str, is_pv: bool) -> float:
    """Zonal correction FC_zone of the premium, for photovoltaic plants only.

    ``FC_zone`` = +10 €/MWh North, +4 €/MWh Centre, 0 South; 0 for other sources.

    Parameters
    ----------
    zone : Zone or str
        Geographic zone of the plant.
    is_pv : bool
        Whether the plant is photovoltaic.

    Returns
    -------
    float
        FC_zone, €/MWh.

    References
    ----------
    .. [1] DM MASE 414/2023, annex 1: the geographic correction factor for photovoltaic plants.
    """
    return PV_ZONE_CORRECTION_EUR_PER_MWH[Zone(zone)] if is_pv else 0.0


def tip_eur_per_mwh(
    zonal_price_eur_per_mwh: ArrayLike,
    power_kw: float,
    zone: Zone | str = Zone.SOUTH,
    is_pv: bool = True,
    grant_fraction: float = 0.0,
) -> np.ndarray:
    """Hourly premium tariff TIP_h of one plant.

    ``TIP_h = (1 − F) · { min[CAP; base + max(0; 180 − Pz_h)] + FC_zone }`` with base/CAP by power
    (:func:`condivisa.domain.tariffs.premium_class`), F from :func:`grant_reduction_f` and FC_zone from
    :func:`zone_correction_eur_per_mwh`.

    Parameters
    ----------
    zonal_price_eur_per_mwh : array_like
        Zonal price Pz_h of each hour, €/MWh.
    power_kw : float
        Plant power, kW (selects base and CAP).
    zone : Zone or str, default Zone.SOUTH
        Geographic zone (FC_zone applies to PV only).
    is_pv : bool, default True
        Whether the plant is photovoltaic.
    grant_fraction : float, default 0.0
        PNRR capital grant as a share of the cost, 0–0.4.

    Returns
    -------
    numpy.ndarray
        TIP_h, €/MWh, shaped like the prices.

    References
    ----------
    .. [1] DM MASE 414/2023, annex 1: the incentive tariff on incentivised shared energy.
    """
    pz = np.asarray(zonal_price_eur_per_mwh, dtype=float)
    cls = premium_class(power_kw)
    variable = np.maximum(0.0, PREMIUM_PIVOT_EUR_PER_MWH - pz)
    tip = np.minimum(cls.cap_eur_per_mwh, cls.base_eur_per_mwh + variable)
    tip = tip + zone_correction_eur_per_mwh(zone, is_pv)
    return (1.0 - grant_reduction_f(grant_fraction)) * tip
