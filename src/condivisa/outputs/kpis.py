"""The indicator tiles of the dashboard and the reports, from a settlement's totals.

The formulas live in :mod:`condivisa.engines.indicators`; this module only gathers, for one period, the
figures the tiles show. The energies are the settlement result's own totals
(:mod:`condivisa.outputs.monthly`), so the tiles agree with the tables. A ratio whose denominator is 0 is
``nan`` (shown "—"), never 0 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from condivisa.engines.indicators import (
    member_share_pct,
    self_consumption_pct,
    self_sufficiency_pct,
    sharing_pct,
)


@dataclass(frozen=True)
class Kpis:
    """The indicators of one period; percentages are ``nan`` when undefined."""

    injected_kwh: float
    withdrawn_kwh: float
    shared_kwh: float
    sharing_pct: float
    self_consumption_pct: float
    self_sufficiency_pct: float
    member_withdrawn_kwh: float = 0.0
    member_shared_kwh: float = 0.0
    member_share_pct: float = float("nan")

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def kpis_from_totals(totals: Mapping[str, float], member: Mapping[str, float] | None = None) -> Kpis:
    """The :class:`Kpis` of a settlement: the community's ``totals`` (``injected_kwh``, ``withdrawn_kwh``,
    ``shared_kwh``) and, for a member, their ``withdrawn_kwh`` and ``shared_kwh`` — the very figures of the
    settlement result, so the tiles agree with the tables."""
    inj, wd, sh = (float(totals.get(c, 0.0) or 0.0) for c in ("injected_kwh", "withdrawn_kwh", "shared_kwh"))
    mw = float(member.get("withdrawn_kwh", 0.0) or 0.0) if member else 0.0
    ms = float(member.get("shared_kwh", 0.0) or 0.0) if member else 0.0
    return Kpis(
        injected_kwh=inj,
        withdrawn_kwh=wd,
        shared_kwh=sh,
        sharing_pct=sharing_pct(sh, inj),
        self_consumption_pct=self_consumption_pct(sh, inj),
        self_sufficiency_pct=self_sufficiency_pct(sh, wd),
        member_withdrawn_kwh=mw,
        member_shared_kwh=ms,
        member_share_pct=member_share_pct(ms, mw),
    )
