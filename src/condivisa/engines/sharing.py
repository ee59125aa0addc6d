"""Shared energy of a configuration (TIAD, ARERA 727/2022, Art. 1: "energia condivisa") and its split.

For each interval h: shared_h = min(Σ plants injected_h, Σ consumers withdrawn_h).
With several plants, shared_h is attributed to the plants so that each plant's part earns its own
tariff, in one of two ways:

- by seniority (the GSE's practice, GSE Regole operative CACER 2024): the oldest plant is matched first
  against the withdrawal, then the next: ``shared_h,p = clip(shared_h − Σ_{q older than p} injected_h,q,
  0, injected_h,p)`` (:func:`split_by_seniority`);
- pro rata to injection: ``shared_h,p = shared_h · injected_h,p / Σ injected_h``
  (:func:`split_by_injection`).

A member's part of the shared energy is pro rata to withdrawal in the same interval:
shared_h,i = shared_h · withdrawn_h,i / Σ withdrawn_h.

A CER or CEC under several primary substations is several configurations for the GSE (TIAD art. 1 and 3;
GSE Regole operative CACER 2024): each point carries a group index (its substation), shared energy is
taken per group (:func:`group_sums`, then ``np.minimum``), and the split among plants stays inside the
group (``groups=`` of :func:`split_by_injection` and :func:`split_by_seniority`).
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


def group_sums(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``values`` (points × intervals) by group: one row per group (groups × intervals).

    A one-hot matrix product, ``onehot(group) @ values``, so the intervals stay vectorised.

    Parameters
    ----------
    values : numpy.ndarray
        Points × intervals, e.g. kWh.
    group : numpy.ndarray of int
        The group (primary substation) of each row, ``0 … n_groups − 1``.
    n_groups : int
        Number of groups.

    Returns
    -------
    numpy.ndarray
        Groups × intervals.

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1 and 3: the points under one primary
       substation form one configuration.
    """
    v = np.atleast_2d(np.asarray(values, dtype=float))
    onehot = np.zeros((n_groups, v.shape[0]))
    onehot[np.asarray(group, dtype=np.int64), np.arange(v.shape[0])] = 1.0
    return onehot @ v


def split_by_injection(
    shared_kwh: ArrayLike, injected_by_plant_kwh: ArrayLike, groups: ArrayLike | None = None
) -> np.ndarray:
    """Split each interval's shared energy among plants pro rata to their injection.

    ``shared_h,p = shared_h · injected_h,p / Σ_q injected_h,q``; intervals where no plant injects give
    zero to every plant. Each plant's part then earns that plant's tariff.

    Parameters
    ----------
    shared_kwh : array_like
        Shared energy per interval, kWh (:func:`shared_energy_kwh`).
    injected_by_plant_kwh : array_like
        Injection, plants × intervals, kWh (1-D: one plant).
    groups : array_like of int, optional
        Each plant's group (primary substation); then ``shared_kwh`` is groups × intervals and each
        group's shared energy is split among its own plants only.

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
    if groups is not None:
        g = np.asarray(groups, dtype=np.int64)
        shared = np.atleast_2d(shared)
        total_g = group_sums(inj, g, shared.shape[0])
        ratio_g = np.divide(shared, total_g, out=np.zeros_like(shared), where=total_g > 0)
        return inj * ratio_g[g]
    total = inj.sum(axis=0)
    ratio = np.divide(shared, total, out=np.zeros_like(shared), where=total > 0)
    return inj * ratio


def split_by_seniority(
    shared_kwh: ArrayLike,
    injected_by_plant_kwh: ArrayLike,
    seniority: ArrayLike,
    groups: ArrayLike | None = None,
) -> np.ndarray:
    """Attribute each interval's shared energy to the plants by seniority: the oldest plant first.

    With the plants sorted oldest first (``seniority``), the injection of the plants older than ``p`` is
    ``C_h,p = Σ_{q before p} injected_h,q`` and ``shared_h,p = clip(shared_h − C_h,p, 0, injected_h,p)``:
    a plant is matched only once every older plant's injection is used up. Each interval's parts sum to
    ``min(shared_h, Σ_p injected_h,p)`` and no plant gets more than it injected. Computed as a running
    remainder, one vectorised step per plant (``shared_h,p = min(R_h, injected_h,p)``, ``R_h −= shared_h,p``):
    the same numbers as the cumulative sum, without a plants × intervals ``cumsum`` (slow along axis 0).

    Parameters
    ----------
    shared_kwh : array_like
        Shared energy per interval, kWh (:func:`shared_energy_kwh`).
    injected_by_plant_kwh : array_like
        Injection, plants × intervals, kWh (1-D: one plant).
    seniority : array_like of int
        Row indices of the plants, oldest first (a permutation of ``0 … n_plants − 1``).
    groups : array_like of int, optional
        Each plant's group (primary substation); then ``shared_kwh`` is groups × intervals and a plant is
        matched only against its own group's shared energy (the remainder is kept per group).

    Returns
    -------
    numpy.ndarray
        Shared energy per plant and interval (plants × intervals, in the input's plant order), kWh.

    Raises
    ------
    ValueError
        When ``seniority`` is not a permutation of the plant rows.

    References
    ----------
    .. [1] GSE, Regole operative CACER (2024), as implemented in RSE's CACER simulator: each hour's
       shared energy goes to the plants in order of entry into service.
    .. [2] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 1: shared energy per hour.

    Examples
    --------
    An hour with 10 kWh shared, plant 0 (younger) injecting 8 and plant 1 (older) 6: plant 1 gets its 6,
    plant 0 the remaining 4 (pro rata would give 5.71 and 4.29).

    >>> split_by_seniority([10.0], [[8.0], [6.0]], [1, 0]).ravel().tolist()
    [4.0, 6.0]
    """
    shared = np.asarray(shared_kwh, dtype=float)
    inj = np.atleast_2d(np.asarray(injected_by_plant_kwh, dtype=float))
    order = np.asarray(seniority, dtype=np.int64)
    if order.shape != (inj.shape[0],) or not np.array_equal(np.sort(order), np.arange(inj.shape[0])):
        raise ValueError(f"seniority must be a permutation of the {inj.shape[0]} plant rows, got {order}")
    out = np.empty_like(inj)
    if groups is not None:
        g = np.asarray(groups, dtype=np.int64)
        left_g = np.array(np.atleast_2d(shared), dtype=float)  # per group and interval
        for k in order:
            np.minimum(left_g[g[k]], inj[k], out=out[k])
            left_g[g[k]] -= out[k]
        return out
    left = np.array(shared, dtype=float)  # shared energy not yet attributed, per interval
    for k in order:  # oldest first; each step is vectorised over the intervals
        np.minimum(left, inj[k], out=out[k])
        left -= out[k]
    return out


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
