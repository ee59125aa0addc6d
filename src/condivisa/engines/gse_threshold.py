"""The premium above the threshold ("tariffa premio eccedentaria"), as the GSE computes it.

Per configuration and per year, on two sets of plants (GSE, Regole operative CACER 2024, conguaglio):
plants with the premium only (threshold 55 %) and plants with the premium plus a PNRR capital grant
(threshold 45 %). For each set ``s``, with ``P_s`` its premium, ``E_sh,s`` its incentivised shared energy
and ``E_inj,s`` its injection on the days it earns the premium, the ratio ``r_s = E_sh,s / E_inj,s``; when
``r_s`` is above the threshold ``t_s`` the surplus is

    ``R_s = P_s · (r_s − t_s) / r_s``

and ``R = Σ_s R_s`` (rounded *up* to the cent) may go only to consumers that are not enterprises (SMEs
included), or to social purposes. A month's figure (the month's ratios) is provisional; the yearly close
computes the final one on the year's ratios. Pure numpy; money in integer cents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from condivisa.domain.tariffs import ENTERPRISE_CAP_SHARE, ENTERPRISE_CAP_SHARE_WITH_GRANT


class _Plant(Protocol):
    @property
    def premium_cents(self) -> int: ...
    @property
    def incentivised_kwh(self) -> float: ...
    @property
    def injected_eligible_kwh(self) -> float: ...
    @property
    def cap_share(self) -> float: ...


@dataclass(frozen=True)
class ThresholdSet:
    """One set of plants of the threshold rule over the settled period."""

    name: str  # "premium_only" or "with_grant"
    threshold: float
    premium_cents: int
    shared_kwh: float
    injected_kwh: float
    configuration: str = ""  # the primary substation, when the community has several

    @property
    def ratio(self) -> float:
        """``E_sh / E_inj`` (0 without injection)."""
        return self.shared_kwh / self.injected_kwh if self.injected_kwh > 0 else 0.0

    @property
    def surplus_cents_exact(self) -> float:
        """``P · (r − t) / r`` when ``r > t``, else 0 (cents, not rounded)."""
        r = self.ratio
        if r <= self.threshold or r <= 0:
            return 0.0
        return self.premium_cents * (r - self.threshold) / r

    def as_dict(self) -> dict[str, float | str]:
        where: dict[str, float | str] = {"configuration": self.configuration} if self.configuration else {}
        return where | {
            "set": self.name,
            "threshold": self.threshold,
            "premium_eur": round(self.premium_cents / 100, 2) + 0.0,
            "shared_kwh": round(self.shared_kwh, 3),
            "injected_kwh": round(self.injected_kwh, 3),
            "ratio": round(self.ratio, 6),
            "surplus_eur": round(self.surplus_cents_exact / 100, 2) + 0.0,
        }


def threshold_sets(plants: Sequence[_Plant]) -> list[ThresholdSet]:
    """The threshold sets of every configuration: per primary substation when the plants carry several
    ``configuration`` values (the GSE's rule, per configuration), else :func:`configuration_sets`.

    Parameters
    ----------
    plants : sequence of PlantFigures
        Each plant's premium (cents), incentivised and eligible injected energy (kWh), threshold
        (``cap_share``) and, optionally, ``configuration`` (its primary substation).

    Returns
    -------
    list of ThresholdSet
        The sets of each configuration in order of first appearance, each naming its ``configuration``
        when there are several.

    References
    ----------
    .. [1] GSE, Regole operative CACER (2024): the surplus is computed per configuration; a CER under
       several primary substations is one configuration per substation (TIAD art. 1 and 3).
    """
    configs = list(dict.fromkeys(str(getattr(p, "configuration", "")) for p in plants))
    if len(configs) <= 1:
        return configuration_sets(plants)
    return [
        replace(s, configuration=c)
        for c in configs
        for s in configuration_sets([p for p in plants if getattr(p, "configuration", "") == c])
    ]


def configuration_sets(plants: Sequence[_Plant]) -> list[ThresholdSet]:
    """The two sets of plants, by their threshold (45 % with a grant, 55 % without), over the period.

    Parameters
    ----------
    plants : sequence of PlantFigures
        Each plant's premium (cents), incentivised and eligible injected energy (kWh) and threshold
        (``cap_share``).

    Returns
    -------
    list of ThresholdSet
        The premium-only set (55 %), then the set with a grant (45 %); a plant with another
        ``cap_share`` forms a set of its own.

    References
    ----------
    .. [1] GSE, Regole operative CACER (2024): the surplus is computed per configuration on the plants
       with the premium only and on the plants with premium and capital grant.
    """
    shares = sorted({p.cap_share for p in plants} | {ENTERPRISE_CAP_SHARE, ENTERPRISE_CAP_SHARE_WITH_GRANT})
    names = {ENTERPRISE_CAP_SHARE: "premium_only", ENTERPRISE_CAP_SHARE_WITH_GRANT: "with_grant"}
    out = []
    for share in sorted(shares, key=lambda s: (s != ENTERPRISE_CAP_SHARE, s)):
        members = [p for p in plants if p.cap_share == share]
        if not members and share not in names:
            continue
        out.append(
            ThresholdSet(
                name=names.get(share, f"threshold_{share:g}"),
                threshold=share,
                premium_cents=int(sum(p.premium_cents for p in members)),
                shared_kwh=float(sum(p.incentivised_kwh for p in members)),
                injected_kwh=float(sum(p.injected_eligible_kwh for p in members)),
            )
        )
    return out


def surplus_cents(sets: Sequence[ThresholdSet]) -> int:
    """``R = Σ_s R_s`` rounded up to the cent (rounding never takes a cent from the non-enterprises)."""
    return int(np.ceil(sum(s.surplus_cents_exact for s in sets) - 1e-9))
