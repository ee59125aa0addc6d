"""Shared energy of a configuration (TIAD, ARERA 727/2022, Art. 1: "energia condivisa").

For each interval h: shared_h = min(Σ_plants injected_h, Σ_consumers withdrawn_h).
With several plants, shared_h is split among plants pro rata to their injection, so each
plant's share earns its own tariff: shared_h,p = shared_h · injected_h,p / Σ injected_h.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def shared_energy_kwh(injected_kwh: ArrayLike, withdrawn_kwh: ArrayLike) -> np.ndarray:
    """shared_h = min(Σ injected_h, Σ withdrawn_h), kWh.

    ``injected_kwh`` and ``withdrawn_kwh`` are 1-D (already summed, one value per interval) or
    2-D (points × intervals, summed here over axis 0).
    """
    inj = np.asarray(injected_kwh, dtype=float)
    wd = np.asarray(withdrawn_kwh, dtype=float)
    if inj.ndim == 2:
        inj = inj.sum(axis=0)
    if wd.ndim == 2:
        wd = wd.sum(axis=0)
    return np.minimum(inj, wd)


def split_by_injection(shared_kwh: ArrayLike, injected_by_plant_kwh: ArrayLike) -> np.ndarray:
    """Split each interval's shared energy among plants pro rata to injection (plants × intervals).

    Intervals where no plant injects get zero for every plant.
    """
    shared = np.asarray(shared_kwh, dtype=float)
    inj = np.atleast_2d(np.asarray(injected_by_plant_kwh, dtype=float))
    total = inj.sum(axis=0)
    ratio = np.divide(shared, total, out=np.zeros_like(shared), where=total > 0)
    return inj * ratio
