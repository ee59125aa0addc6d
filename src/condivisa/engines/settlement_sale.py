"""The sale stage of a settlement: each plant's RID sale with its yearly values, and why it is provisional.

:func:`sale_by_plant` prices each plant's injection at the zonal price, or, for a plant with
``rid_minimum_price: true``, with the minimum guaranteed price of its source and year within the yearly quota
and the yearly top-up (:mod:`condivisa.engines.rid`). The minimum prices and quotas are yearly regulated
values (:func:`condivisa.domain.tariffs.resolve_yearly`): a year missing from the table is provisional and
says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from condivisa.domain.community import Community
from condivisa.domain.tariffs import resolve_yearly, rid_minimum_key, rid_quota_key, rid_source
from condivisa.engines.rid import rid_sale
from condivisa.engines.settlement_metering import Intervals


def closed_years(starts: pd.DatetimeIndex) -> frozenset[int]:
    """The civil years whose every interval lies in ``starts`` (Europe/Rome, in time order, one step apart):
    the first interval of the year starts at 1 January 00:00 and the last one ends at the next year."""
    if len(starts) == 0:
        return frozenset()
    step = starts[1] - starts[0] if len(starts) > 1 else pd.Timedelta(hours=1)
    years = np.asarray(starts.year)
    out = set()
    for year in np.unique(years):
        sel = np.flatnonzero(years == year)
        first, last = starts[sel[0]], starts[sel[-1]]
        if (first.month, first.day, first.hour, first.minute) == (1, 1, 0, 0) and (last + step).year > year:
            out.add(int(year))
    return frozenset(out)


def sale_by_plant(
    community: Community, intervals: Intervals, price_eur_per_mwh: np.ndarray
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The sale of each plant's injection in each interval, €, and the notices that make it provisional.

    Plants without ``rid_minimum_price``: ``E_inj,h · Pz_h / 1000``. Plants with it: the minimum price of
    their source and year within the yearly quota and the yearly top-up to the zonal prices
    (:func:`condivisa.engines.rid.rid_sale`). Notices: a year whose minimum price is not in the table
    (the latest earlier year's is used, or none), a year not covered in full (its top-up is pending), and
    a period starting after 1 January for a plant that could already have used its quota.

    Parameters
    ----------
    community : Community
        Plants (``rid_minimum_price``, source, power) and tariff overrides (``tariffs:``).
    intervals : Intervals
        Injection per plant and interval, kWh, and the intervals' starts (Europe/Rome).
    price_eur_per_mwh : numpy.ndarray
        Zonal price of each interval, €/MWh.

    Returns
    -------
    sale_eur : numpy.ndarray
        Sale per plant and interval (plants × intervals), €.
    notices : tuple of str
        Why the sale is provisional (Italian, for the referente); empty when it is final.

    References
    ----------
    .. [1] ARERA, delibera 280/07 (Allegato A), art. 7 and the yearly updates of the minimum prices; GSE,
       "Ritiro dedicato: regolazione economica del servizio" (monthly minimum prices, yearly top-up).
    """
    inj = intervals.injected_kwh
    flagged = [k for k, pl in enumerate(community.plants) if pl.rid_minimum_price]
    if not flagged:
        return inj * price_eur_per_mwh / 1000.0, ()
    starts = intervals.starts
    years = np.asarray(starts.year, dtype=int)
    pmin = np.full(inj.shape, np.nan)
    quota = np.full(inj.shape, np.inf)
    notices: list[str] = []
    every = community.tariff_overrides
    by_year = community.tariff_overrides_by_year
    for year in np.unique(years):
        sel = years == year
        sources = sorted({rid_source(community.plants[k].source, community.plants[k].is_pv) for k in flagged})
        keys = [key for s in sources for key in (rid_minimum_key(s), rid_quota_key(s))]
        resolved = resolve_yearly(int(year), keys, every, by_year)
        notices.extend(f"prezzi minimi RID: {n}" for n in resolved.notices)
        for k in flagged:
            pl = community.plants[k]
            s = rid_source(pl.source, pl.is_pv)
            minimum, q_mwh = resolved.values[rid_minimum_key(s)], resolved.values[rid_quota_key(s)]
            if minimum is not None:
                pmin[k, sel] = minimum
                quota[k, sel] = np.inf if q_mwh is None else q_mwh * 1000.0
    closed = closed_years(starts)
    sale = rid_sale(inj, price_eur_per_mwh, years, pmin, quota, closed_years=closed)
    for (k, year), eur in sorted(sale.pending_top_up_eur.items()):
        notices.append(
            f"vendita RID di {community.plants[k].id} nel {year}: conguaglio annuale ai prezzi zonali "
            f"finora +{eur:,.2f} € (il GSE lo paga a fine anno; compare quando il periodo copre tutto il {year})"
        )
    if len(starts):
        first = starts[0]
        if (first.month, first.day, first.hour) != (1, 1, 0):
            hours_before = (first - first.replace(month=1, day=1, hour=0, minute=0)).total_seconds() / 3600
            for k in flagged:
                pl = community.plants[k]
                q = quota[k, 0]
                max_kw = min(pl.power_kw, pl.injection_limit_kw or pl.power_kw)
                if np.isfinite(q) and max_kw * hours_before > q - float(sale.within_quota_kwh[k].sum()):
                    notices.append(
                        f"vendita RID di {pl.id}: la quota annua a prezzo minimo ({q / 1000:,.0f} MWh) è "
                        f"contata dal {first.date().isoformat()}, non dal 1° gennaio: l'energia immessa prima "
                        "del periodo non è nota"
                    )
    return sale.sale_eur, tuple(notices)
