"""Regulated values that change over time, kept in one table and overridable per community.

Sources (see ``docs/tariffs.md``):
- Premium tariff classes, DM 414/2023 ("decreto CACER"), Annex 1: base and cap by plant power;
  geographic correction FC_zone for photovoltaic plants (+4 Centre, +10 North, €/MWh).
- ARERA valorisation of autoconsumed energy, TIAD (ARERA 727/2022/R/eel), Art. 8-9:
  transmission tariff component TRAS_E, BTAU distribution component, avoided-loss coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Zone(StrEnum):
    """Geographic zone for the PV correction of the premium tariff (DM 414/2023)."""

    NORTH = "north"
    CENTRE = "centre"
    SOUTH = "south"


#: FC_zone, €/MWh, applied to photovoltaic plants only (DM 414/2023, Annex 1).
PV_ZONE_CORRECTION_EUR_PER_MWH: dict[Zone, float] = {Zone.NORTH: 10.0, Zone.CENTRE: 4.0, Zone.SOUTH: 0.0}


@dataclass(frozen=True)
class PremiumClass:
    """One power class of the premium tariff: applies to plants with power <= ``max_power_kw``."""

    max_power_kw: float
    base_eur_per_mwh: float
    cap_eur_per_mwh: float


#: DM 414/2023 power classes, in ascending order of power.
PREMIUM_CLASSES: tuple[PremiumClass, ...] = (
    PremiumClass(200.0, 80.0, 120.0),
    PremiumClass(600.0, 70.0, 110.0),
    PremiumClass(float("inf"), 60.0, 100.0),
)

#: Zonal-price pivot of the variable part, €/MWh: variable = max(0, 180 - Pz).
PREMIUM_PIVOT_EUR_PER_MWH = 180.0
#: Maximum PNRR capital grant fraction, and the F it gives (DM 414/2023, Art. 6/7).
MAX_GRANT_FRACTION = 0.4
MAX_GRANT_REDUCTION_F = 0.5
#: Years of premium from a plant's commissioning.
PREMIUM_YEARS = 20
#: Earliest commissioning date of an eligible plant (D.Lgs. 199/2021 entry into force).
PREMIUM_EARLIEST_COMMISSIONING = "2021-12-16"
#: Share of shared energy above which the premium may not go to enterprises (GSE rules, Feb 2024),
#: and the lower share for plants with a PNRR grant.
ENTERPRISE_CAP_SHARE = 0.55
ENTERPRISE_CAP_SHARE_WITH_GRANT = 0.45


@dataclass(frozen=True)
class ValorisationValues:
    """ARERA valorisation parameters for one year (TIAD, ARERA 727/2022)."""

    tras_e_eur_per_mwh: float
    btau_eur_per_mwh: float
    loss_factor_bt: float
    loss_factor_mt: float


#: Yearly values; a year missing here uses the latest year before it.
VALORISATION_BY_YEAR: dict[int, ValorisationValues] = {
    2024: ValorisationValues(
        tras_e_eur_per_mwh=10.57, btau_eur_per_mwh=0.65, loss_factor_bt=0.026, loss_factor_mt=0.012
    ),
}


def valorisation_values(year: int, overrides: dict | None = None) -> ValorisationValues:
    """Values in force in ``year``: the table's entry for the latest year <= ``year`` (or the earliest),
    with ``overrides`` (field name -> value, e.g. from ``community.yaml``'s ``tariffs:``) applied."""
    years = sorted(VALORISATION_BY_YEAR)
    usable = [y for y in years if y <= year] or [years[0]]
    values = VALORISATION_BY_YEAR[usable[-1]]
    if overrides:
        unknown = set(overrides) - set(values.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown tariff override(s): {', '.join(sorted(unknown))}")
        values = replace(values, **{k: float(v) for k, v in overrides.items()})
    return values


def premium_class(power_kw: float) -> PremiumClass:
    """The DM 414/2023 class of a plant of ``power_kw`` kW."""
    for cls in PREMIUM_CLASSES:
        if power_kw <= cls.max_power_kw:
            return cls
    return PREMIUM_CLASSES[-1]
