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
    """F = min(0.5, 0.5 · grant_fraction / 0.4) (DM 414/2023, reduction for capital grants)."""
    if not 0.0 <= grant_fraction <= MAX_GRANT_FRACTION:
        raise ValueError(f"grant_fraction must be within 0-{MAX_GRANT_FRACTION}, got {grant_fraction}")
    return min(MAX_GRANT_REDUCTION_F, MAX_GRANT_REDUCTION_F * grant_fraction / MAX_GRANT_FRACTION)


def zone_correction_eur_per_mwh(zone: Zone | str, is_pv: bool) -> float:
    """FC_zone: +10 €/MWh North, +4 Centre, 0 South, for photovoltaic plants only."""
    return PV_ZONE_CORRECTION_EUR_PER_MWH[Zone(zone)] if is_pv else 0.0


def tip_eur_per_mwh(
    zonal_price_eur_per_mwh: ArrayLike,
    power_kw: float,
    zone: Zone | str = Zone.SOUTH,
    is_pv: bool = True,
    grant_fraction: float = 0.0,
) -> np.ndarray:
    """Hourly premium tariff TIP_h in €/MWh for one plant (DM 414/2023, Annex 1).

    Parameters
    ----------
    zonal_price_eur_per_mwh : array of Pz_h, €/MWh
    power_kw : plant power, kW (selects base and CAP)
    zone : geographic zone (FC_zone applies to PV only)
    is_pv : whether the plant is photovoltaic
    grant_fraction : PNRR capital grant as a share of cost, 0-0.4

    Returns
    -------
    numpy array of TIP_h, €/MWh, same shape as the prices.
    """
    pz = np.asarray(zonal_price_eur_per_mwh, dtype=float)
    cls = premium_class(power_kw)
    variable = np.maximum(0.0, PREMIUM_PIVOT_EUR_PER_MWH - pz)
    tip = np.minimum(cls.cap_eur_per_mwh, cls.base_eur_per_mwh + variable)
    tip = tip + zone_correction_eur_per_mwh(zone, is_pv)
    return (1.0 - grant_reduction_f(grant_fraction)) * tip
