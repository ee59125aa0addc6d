"""Community and member indicators shown on the dashboard and in the reports (pure pandas/numpy).

The energies come from the settlement result (:mod:`condivisa.outputs.monthly`); this module only holds the
formulas. Definitions (one interval h is an hour unless said otherwise; sums run over the period shown):

- shared energy of the configuration (TIAD, ARERA 727/2022, Art. 1):
  ``shared_h = min(Σ_plants injected_h, Σ_consumers withdrawn_h)`` — computed by the settlement engine;
- a member's part of the shared energy, pro rata to withdrawal in the same hour (the same key as the
  ``consumption`` premium rule, ``Cons_i`` counted in hours with shared energy):
  ``shared_i,h = shared_h · withdrawn_i,h / Σ_j withdrawn_j,h``;
- **sharing %** = 100 · Σ shared / Σ injected — of the energy the plants fed into the grid, the part the
  members consumed in the same hour;
- **self-sufficiency %** = 100 · Σ shared / Σ withdrawn — of the members' grid consumption, the part covered
  by the community's plants in the same hour;
- **self-consumption %** = 100 · (Σ produced − Σ injected + Σ shared) / Σ produced — of what the plants
  produced, the part used behind the meter or shared. Chain-2 M1 meters on plant-only PODs give no separate
  production, so without ``produced`` it equals sharing %;
- **member share %** = 100 · Σ shared_i / Σ withdrawn_i;
- **best hours to shift load**: the spare production ``max(0, injected_h − withdrawn_h)`` is energy the
  plants put on the grid that nobody in the community used; a load moved into those hours raises shared
  energy (and the premium) one for one. The typical day is the mean spare energy per local hour of day over
  the last days (persistence forecast); a forecast series, where one exists, can be ranked the same way.

A ratio whose denominator is 0 is reported as ``nan`` (shown "—"), never as 0 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from condivisa.kernel.timegrid import ROME


def _ratio_pct(numerator: float, denominator: float) -> float:
    return float(100.0 * numerator / denominator) if denominator > 0 else float("nan")


def sharing_pct(shared_kwh: ArrayLike, injected_kwh: ArrayLike) -> float:
    """Sharing % = 100 · Σ shared / Σ injected (``nan`` when nothing was injected)."""
    return _ratio_pct(float(np.sum(shared_kwh)), float(np.sum(injected_kwh)))


def self_sufficiency_pct(shared_kwh: ArrayLike, withdrawn_kwh: ArrayLike) -> float:
    """Self-sufficiency % = 100 · Σ shared / Σ withdrawn (``nan`` when nothing was withdrawn)."""
    return _ratio_pct(float(np.sum(shared_kwh)), float(np.sum(withdrawn_kwh)))


def self_consumption_pct(
    shared_kwh: ArrayLike, injected_kwh: ArrayLike, produced_kwh: ArrayLike | None = None
) -> float:
    """Self-consumption % = 100 · (Σ produced − Σ injected + Σ shared) / Σ produced.

    ``produced_kwh`` defaults to the injected energy (plants on their own POD), which makes it equal to
    :func:`sharing_pct`. Raises ``ValueError`` if more was injected than produced.
    """
    injected = float(np.sum(injected_kwh))
    produced = injected if produced_kwh is None else float(np.sum(produced_kwh))
    if injected > produced + 1e-9:
        raise ValueError(f"injected energy {injected:.3f} kWh exceeds produced energy {produced:.3f} kWh")
    return _ratio_pct(produced - injected + float(np.sum(shared_kwh)), produced)


def spare_production_kwh(injected_kwh: ArrayLike, withdrawn_kwh: ArrayLike) -> np.ndarray:
    """Spare production per interval = max(0, injected − withdrawn): injection nobody in the community used."""
    return np.maximum(0.0, np.asarray(injected_kwh, dtype=float) - np.asarray(withdrawn_kwh, dtype=float))


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
        member_share_pct=_ratio_pct(ms, mw),
    )


def typical_day_kwh(series: pd.Series, days: int = 7) -> pd.Series:
    """Mean of ``series`` (tz-aware hourly index) per local hour of day 0-23 over its last ``days`` days.

    Hours never seen (e.g. the skipped DST hour) are 0. The persistence forecast of the coming days.
    """
    if series.empty:
        return pd.Series(0.0, index=pd.RangeIndex(24, name="hour"))
    local = series.tz_convert(ROME)
    last_day = local.index.max().normalize()
    recent = local[local.index >= last_day - pd.Timedelta(days=days - 1)]
    profile = recent.groupby(recent.index.hour).mean()
    return profile.reindex(range(24), fill_value=0.0).rename_axis("hour")


@dataclass(frozen=True)
class ShiftWindow:
    """A window of ``hours`` consecutive hours starting at local hour ``start_hour``."""

    start_hour: int
    hours: int
    spare_kwh: float

    @property
    def label(self) -> str:
        return f"{self.start_hour:02d}:00–{(self.start_hour + self.hours) % 24:02d}:00"


def best_hours_to_shift(
    spare_by_hour_kwh: ArrayLike, duration_h: int = 2, n: int = 3, min_spare_kwh: float = 1e-6
) -> list[ShiftWindow]:
    """The ``n`` best non-overlapping windows of ``duration_h`` hours within one day to move a load to.

    ``spare_by_hour_kwh`` has 24 values (local hours 0..23, e.g. :func:`typical_day_kwh` of the spare
    production). Window value = Σ spare over its hours; windows are taken greedily by value (ties: earlier
    first), skipping those overlapping a chosen one or worth less than ``min_spare_kwh``. Sorted by value.
    """
    spare = np.asarray(spare_by_hour_kwh, dtype=float)
    if spare.shape != (24,):
        raise ValueError(f"expected 24 hourly values, got shape {spare.shape}")
    if not 1 <= duration_h <= 24:
        raise ValueError(f"duration_h must be within 1-24, got {duration_h}")
    sums = np.convolve(spare, np.ones(duration_h), mode="valid")  # window starting at hour i
    order = sorted(range(len(sums)), key=lambda i: (-sums[i], i))
    taken = np.zeros(24, dtype=bool)
    chosen: list[ShiftWindow] = []
    for i in order:
        if len(chosen) >= n or sums[i] < min_spare_kwh:
            break
        if taken[i : i + duration_h].any():
            continue
        taken[i : i + duration_h] = True
        chosen.append(ShiftWindow(start_hour=i, hours=duration_h, spare_kwh=float(sums[i])))
    return chosen
