"""The sale of injected energy to the GSE (ritiro dedicato, RID), with the minimum guaranteed prices.

ARERA delibera 280/07 (Allegato A) and its updates: the GSE buys the injected energy at the hour's zonal
price Pz. For an eligible plant that asked for them, the GSE applies instead the **minimum guaranteed
price** Pmin (prezzo minimo garantito, set yearly by ARERA by source) to the energy within the yearly quota
(the first 1,500 MWh injected in the civil year for photovoltaic plants), and at the end of each year
**tops up** (conguaglio) to the zonal prices when these would have paid more for the same energy:

- monthly advance::

      A_h = Pmin · E_q,h / 1000 + Pz_h · (E_inj,h − E_q,h) / 1000                               [€]

  with ``E_q,h`` the part of the hour's injection still within the year's quota (in time order);

- yearly top-up, added at the last interval of a civil year the period covers in full::

      T_y = max(0, Σ_h∈y (Pz_h − Pmin) · E_q,h) / 1000                                          [€]

So over a year the producer receives ``max(Σ Pmin·E_q, Σ Pz·E_q)`` for the energy within the quota, plus
the zonal price beyond it: the higher of the two *yearly* totals, not the higher price hour by hour. When
the period does not cover the whole year, the top-up so far is reported (``pending_top_up_eur``) and the
settlement is provisional.

Energies in kWh, prices €/MWh, money €. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class RidSale:
    """The RID sale of each plant in each interval and the yearly top-ups.

    ``sale_eur`` (plants × intervals, €) is the monthly advance plus, at the last interval of each closed
    year, that year's top-up; ``top_up_eur`` (plants × intervals, €) is the top-up part alone;
    ``within_quota_kwh`` (plants × intervals) the energy paid at the minimum price;
    ``pending_top_up_eur`` maps (plant index, year) of the years not closed in the period to the top-up
    accrued so far, €.
    """

    sale_eur: np.ndarray
    top_up_eur: np.ndarray
    within_quota_kwh: np.ndarray
    pending_top_up_eur: dict[tuple[int, int], float]


def within_quota_kwh(
    injected_kwh: ArrayLike, quota_kwh: ArrayLike, before_kwh: ArrayLike = 0.0
) -> np.ndarray:
    """The part of each interval's injection within a yearly quota, in time order.

    ``E_q,h = clip(Q − (B + Σ_{k<h} E_k), 0, E_h)``: the quota ``Q`` counts the injection from the year's
    start, ``B`` being what was injected in the year before the first interval given.

    Parameters
    ----------
    injected_kwh : array_like
        Injection per plant and interval of one civil year, in time order (plants × intervals), kWh.
    quota_kwh : array_like
        The yearly quota per plant (broadcast against plants), kWh; ``inf`` for none.
    before_kwh : array_like, default 0.0
        Injection per plant earlier in the same year, before the first interval, kWh.

    Returns
    -------
    numpy.ndarray
        Energy within the quota per plant and interval, kWh (0 ≤ E_q,h ≤ E_h, Σ_h E_q,h ≤ Q).

    References
    ----------
    .. [1] ARERA, delibera 280/07, Allegato A, art. 7 and Tabella 1: minimum prices for the first
       quantities injected in the civil year.
    """
    inj = np.atleast_2d(np.asarray(injected_kwh, dtype=float))
    quota = np.asarray(quota_kwh, dtype=float).reshape(-1, 1)
    before = np.asarray(before_kwh, dtype=float).reshape(-1, 1)
    done_before = before + np.cumsum(inj, axis=1) - inj
    return np.clip(quota - done_before, 0.0, inj)


def rid_sale(
    injected_kwh: ArrayLike,
    zonal_price_eur_per_mwh: ArrayLike,
    years: ArrayLike,
    minimum_eur_per_mwh: ArrayLike,
    quota_kwh: ArrayLike,
    *,
    closed_years: frozenset[int] | set[int] = frozenset(),
    injected_before_kwh: ArrayLike = 0.0,
) -> RidSale:
    """The RID sale per plant and interval: minimum prices within the yearly quota, yearly top-up.

    Parameters
    ----------
    injected_kwh : array_like
        Injection per plant and interval, in time order (plants × intervals), kWh.
    zonal_price_eur_per_mwh : array_like
        Zonal price Pz of each interval, €/MWh.
    years : array_like
        Civil year (Europe/Rome) of each interval.
    minimum_eur_per_mwh : array_like
        Minimum price Pmin per plant and interval (plants × intervals, or broadcastable), €/MWh; ``nan``
        where the plant has no minimum price (sold at the zonal price).
    quota_kwh : array_like
        Yearly quota per plant and interval (as ``minimum_eur_per_mwh``), kWh; read at each year's first
        interval.
    closed_years : set of int, optional
        The years the period covers in full: their top-up is added at their last interval.
    injected_before_kwh : array_like, default 0.0
        Per plant, injection in the first year before the first interval, kWh (counts toward the quota).

    Returns
    -------
    RidSale
        Sale and top-up per plant and interval (€), energy within the quota (kWh), pending top-ups (€).

    References
    ----------
    .. [1] ARERA, delibera 280/07 (Allegato A), art. 7: minimum guaranteed prices, and the yearly
       top-up to the hourly zonal prices when these are higher over the year (GSE, "Ritiro dedicato:
       regolazione economica del servizio").
    """
    inj = np.atleast_2d(np.asarray(injected_kwh, dtype=float))
    n_plants, n = inj.shape
    pz = np.broadcast_to(np.asarray(zonal_price_eur_per_mwh, dtype=float), (n,))
    yr = np.broadcast_to(np.asarray(years, dtype=int), (n,))
    pmin = np.broadcast_to(np.asarray(minimum_eur_per_mwh, dtype=float), (n_plants, n))
    quota = np.broadcast_to(np.asarray(quota_kwh, dtype=float), (n_plants, n))
    has_min = np.isfinite(pmin)
    within = np.zeros_like(inj)
    top_up = np.zeros_like(inj)
    pending: dict[tuple[int, int], float] = {}
    bounds = np.flatnonzero(np.r_[True, yr[1:] != yr[:-1]]) if n else np.zeros(0, int)
    for j, lo in enumerate(bounds):
        hi = int(bounds[j + 1]) if j + 1 < len(bounds) else n
        before = injected_before_kwh if j == 0 else 0.0
        q = np.where(has_min[:, lo], quota[:, lo], 0.0)
        within[:, lo:hi] = within_quota_kwh(inj[:, lo:hi], q, before)
        gain = np.where(has_min[:, lo:hi], (pz[lo:hi] - pmin[:, lo:hi]) * within[:, lo:hi], 0.0)
        year_top_up = np.maximum(gain.sum(axis=1), 0.0) / 1000.0
        if int(yr[lo]) in closed_years:
            top_up[:, hi - 1] = year_top_up
        else:
            for p in np.flatnonzero(year_top_up > 0):
                pending[(int(p), int(yr[lo]))] = float(year_top_up[p])
    price_within = np.where(has_min, pmin, pz)
    advance = (within * price_within + (inj - within) * pz) / 1000.0
    return RidSale(advance + top_up, top_up, within, pending)
