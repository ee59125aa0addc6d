"""Shared energy of a configuration (TIAD, ARERA 727/2022, Art. 1: "energia condivisa") and its split.

For each interval h: shared_h = min(Σ plants injected_h, Σ consumers withdrawn_h).
With several plants, shared_h is split among plants pro rata to their injection, so each
plant's share earns its own tariff: shared_h,p = shared_h · injected_h,p / Σ injected_h.
A member's part of the shared energy is pro rata to withdrawal in the same interval:
shared_h,i = shared_h · withdrawn_h,i / Σ withdrawn_h.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def shared_energy_kwh(injected_kwh: ArrayLike, withdrawn_kwh: ArrayLike) -> np.ndarray:
    """Shared energy of each interval: the minimum of injection and withdrawal.

    ``shared_h = min(Σ_p injected_h,p, Σ_i withdrawn_h,i)``.

    Parameters
    ----------
    injected_kwh : array_like
        Injection, kWh: 1-D (already summed, one value per interval) or 2-D (points × intervals,
        summed here over axis 0).
    withdrawn_kwh : array_like
        Withdrawal, kWh, shaped like ``injected_kwh`` (1-D or 2-D independently).

    Returns
    -------
    numpy.ndarray
        Shared energy per interval, kWh.

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1: shared energy is, for each hour,
       the minimum of the energy injected and the energy withdrawn by the configuration's points.
    """
    inj = np.asarray(injected_kwh, dtype=float)
    wd = np.asarray(withdrawn_kwh, dtype=float)
    if inj.ndim == 2:
        inj = inj.sum(axis=0)
    if wd.ndim == 2:
        wd = wd.sum(axis=0)
    return np.minimum(inj, wd)


def split_by_injection(shared_kwh: ArrayLike, injected_by_plant_kwh: ArrayLike) -> np.ndarray:
    """Split each interval's shared energy among plants pro rata to their injection.

    ``shared_h,p = shared_h · injected_h,p / Σ_q injected_h,q``; intervals where no plant injects give
    zero to every plant. Each plant's part then earns that plant's tariff.

    Parameters
    ----------
    shared_kwh : array_like
        Shared energy per interval, kWh (:func:`shared_energy_kwh`).
    injected_by_plant_kwh : array_like
        Injection, plants × intervals, kWh (1-D: one plant).

    Returns
    -------
    numpy.ndarray
        Shared energy per plant and interval (plants × intervals), kWh; each column sums to ``shared_h``
        where anything was injected.

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1: shared energy per hour.
    """
    shared = np.asarray(shared_kwh, dtype=float)
    inj = np.atleast_2d(np.asarray(injected_by_plant_kwh, dtype=float))
    total = inj.sum(axis=0)
    ratio = np.divide(shared, total, out=np.zeros_like(shared), where=total > 0)
    return inj * ratio


def withdrawal_share(shared_kwh: ArrayLike, withdrawn_kwh: ArrayLike) -> np.ndarray:
    """Shared energy per kWh withdrawn in each interval: the key of a member's part of the shared energy.

    ``r_h = shared_h / Σ_i withdrawn_h,i`` (0 where nothing is withdrawn), so a member's part is
    ``shared_h,i = withdrawn_h,i · r_h`` and over a period ``Σ_h withdrawn_h,i · r_h`` (``w @ r``, without
    a points × intervals temporary).

    Parameters
    ----------
    shared_kwh : array_like
        Shared energy per interval, kWh (:func:`shared_energy_kwh`).
    withdrawn_kwh : array_like
        Withdrawal, kWh: 1-D (summed over the points) or 2-D (points × intervals, summed here over axis 0).

    Returns
    -------
    numpy.ndarray
        ``r_h`` per interval, kWh shared per kWh withdrawn (0 to 1).

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1: shared energy per hour.
    """
    shared = np.asarray(shared_kwh, dtype=float)
    wd = np.asarray(withdrawn_kwh, dtype=float)
    if wd.ndim == 2:
        wd = wd.sum(axis=0)
    return np.divide(shared, wd, out=np.zeros_like(shared), where=wd > 0)
