"""Energy indicators of a community or a member over a period, and where spare production lies in the day.

Definitions (one interval h is an hour unless said otherwise; sums run over the period):

- shared energy of the configuration (TIAD art. 1): ``shared_h = min(Σ_plants injected_h, Σ_consumers
  withdrawn_h)`` (:func:`condivisa.engines.sharing.shared_energy_kwh`); a member's part is pro rata to
  withdrawal in the same interval (:func:`condivisa.engines.sharing.withdrawal_share`);
- **sharing %** = 100 · Σ shared / Σ injected — of the energy the plants fed into the grid, the part the
  members consumed in the same hour;
- **self-sufficiency %** = 100 · Σ shared / Σ withdrawn — of the members' grid consumption, the part covered
  by the community's plants in the same hour;
- **self-consumption %** = 100 · (Σ produced − Σ injected + Σ shared) / Σ produced — of what the plants
  produced, the part used behind the meter or shared. Chain-2 M1 meters on plant-only PODs give no separate
  production, so without ``produced`` it equals sharing %;
- **member share %** = 100 · Σ shared_i / Σ withdrawn_i;
- **spare production** ``max(0, injected_h − withdrawn_h)``: energy the plants put on the grid that nobody in
  the community used; a load moved into those hours raises shared energy (and the premium) one for one. The
  typical day is the mean spare energy per local hour of day over the last days (persistence forecast), and
  the best windows to shift a load to are the non-overlapping windows with the most spare energy.

A ratio whose denominator is 0 is ``nan`` (undefined), never 0 %.

References
----------
.. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1: shared energy per hour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from condivisa.kernel.timegrid import ROME


def _ratio_pct(numerator: float, denominator: float) -> float:
    """100 · numerator / denominator, ``nan`` when the denominator is not positive."""
    return float(100.0 * numerator / denominator) if denominator > 0 else float("nan")


def sharing_pct(shared_kwh: ArrayLike, injected_kwh: ArrayLike) -> float:
    """Sharing %: the part of the injected energy that was shared.

    ``sharing % = 100 · Σ shared / Σ injected``.

    Parameters
    ----------
    shared_kwh : array_like
        Shared energy, kWh (per interval or already summed).
    injected_kwh : array_like
        Injected energy, kWh.

    Returns
    -------
    float
        Percentage 0–100; ``nan`` when nothing was injected.
    """
    return _ratio_pct(float(np.sum(shared_kwh)), float(np.sum(injected_kwh)))


def self_sufficiency_pct(shared_kwh: ArrayLike, withdrawn_kwh: ArrayLike) -> float:
    """Self-sufficiency %: the part of the withdrawn energy covered by shared energy.

    ``self-sufficiency % = 100 · Σ shared / Σ withdrawn``.

    Parameters
    ----------
    shared_kwh : array_like
        Shared energy, kWh (per interval or already summed).
    withdrawn_kwh : array_like
        Withdrawn energy, kWh.

    Returns
    -------
    float
        Percentage 0–100; ``nan`` when nothing was withdrawn.
    """
    return _ratio_pct(float(np.sum(shared_kwh)), float(np.sum(withdrawn_kwh)))


def self_consumption_pct(
    shared_kwh: ArrayLike, injected_kwh: ArrayLike, produced_kwh: ArrayLike | None = None
) -> float:
    """Self-consumption %: the part of the production used behind the meter or shared.

    ``self-consumption % = 100 · (Σ produced − Σ injected + Σ shared) / Σ produced``.

    Parameters
    ----------
    shared_kwh : array_like
        Shared energy, kWh.
    injected_kwh : array_like
        Injected energy, kWh.
    produced_kwh : array_like, optional
        Produced energy, kWh; default the injected energy (plants on their own POD), which makes the
        result equal to :func:`sharing_pct`.

    Returns
    -------
    float
        Percentage 0–100; ``nan`` when nothing was produced.

    Raises
    ------
    ValueError
        When more energy was injected than produced.
    """
    injected = float(np.sum(injected_kwh))
    produced = injected if produced_kwh is None else float(np.sum(produced_kwh))
    if injected > produced + 1e-9:
        raise ValueError(f"injected energy {injected:.3f} kWh exceeds produced energy {produced:.3f} kWh")
    return _ratio_pct(produced - injected + float(np.sum(shared_kwh)), produced)


def member_share_pct(member_shared_kwh: ArrayLike, member_withdrawn_kwh: ArrayLike) -> float:
    """Member share %: the part of a member's withdrawal that was shared.

    ``member share % = 100 · Σ shared_i / Σ withdrawn_i``, with ``shared_i`` the member's part of the
    shared energy (pro rata to withdrawal in each interval).

    Parameters
    ----------
    member_shared_kwh : array_like
        The member's part of the shared energy, kWh.
    member_withdrawn_kwh : array_like
        The member's withdrawn energy, kWh.

    Returns
    -------
    float
        Percentage 0–100; ``nan`` when the member withdrew nothing.
    """
    return _ratio_pct(float(np.sum(member_shared_kwh)), float(np.sum(member_withdrawn_kwh)))


def spare_production_kwh(injected_kwh: ArrayLike, withdrawn_kwh: ArrayLike) -> np.ndarray:
    """Spare production per interval: injection nobody in the community used.

    ``spare_h = max(0, injected_h − withdrawn_h)``.

    Parameters
    ----------
    injected_kwh : array_like
        The community's injection per interval, kWh.
    withdrawn_kwh : array_like
        The community's withdrawal per interval, kWh.

    Returns
    -------
    numpy.ndarray
        Spare energy per interval, kWh, ≥ 0.
    """
    return np.maximum(0.0, np.asarray(injected_kwh, dtype=float) - np.asarray(withdrawn_kwh, dtype=float))


def typical_day_kwh(series: pd.Series, days: int = 7) -> pd.Series:
    """The mean of an hourly series per local hour of day over its last days: a persistence forecast.

    ``typical_k`` = the mean of ``series_h`` over the hours h of local hour k (Europe/Rome) in the last
    ``days`` civil days.

    Parameters
    ----------
    series : pandas.Series
        Hourly values (e.g. spare production, kWh), tz-aware index.
    days : int, default 7
        Number of civil days, counted back from the last one in ``series``.

    Returns
    -------
    pandas.Series
        24 values indexed by local hour 0–23 (``hour``); hours never seen (e.g. the skipped DST hour) are 0.
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
    """``hours`` consecutive hours from local hour ``start_hour``, and their spare energy, kWh."""

    start_hour: int
    hours: int
    spare_kwh: float

    @property
    def label(self) -> str:
        """``HH:00–HH:00``, local time."""
        return f"{self.start_hour:02d}:00–{(self.start_hour + self.hours) % 24:02d}:00"


def best_hours_to_shift(
    spare_by_hour_kwh: ArrayLike, duration_h: int = 2, n: int = 3, min_spare_kwh: float = 1e-6
) -> list[ShiftWindow]:
    """The best non-overlapping windows of ``duration_h`` hours within one day to move a load to.

    A window's value is the spare energy over its hours, ``V_i = Σ_{k=i}^{i+duration_h−1} spare_k``.
    Windows are taken greedily by value (ties: earlier first), skipping those that overlap a chosen one or
    are worth less than ``min_spare_kwh``.

    Parameters
    ----------
    spare_by_hour_kwh : array_like
        24 values, local hours 0–23, kWh (e.g. :func:`typical_day_kwh` of :func:`spare_production_kwh`).
    duration_h : int, default 2
        Window length, hours (1–24).
    n : int, default 3
        At most this many windows.
    min_spare_kwh : float, default 1e-6
        Windows worth less are not advised, kWh.

    Returns
    -------
    list of ShiftWindow
        Sorted by spare energy, largest first.

    Raises
    ------
    ValueError
        When ``spare_by_hour_kwh`` does not have 24 values or ``duration_h`` is outside 1–24.
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
