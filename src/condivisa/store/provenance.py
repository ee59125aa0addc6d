"""The best source of every quarter hour for the money, and the mix a month was settled on.

For each POD, quarter hour and direction (withdrawal, injection) the settlement takes:

1. ``distributor`` — the distributor's current validated value, when one was imported (the GSE pays on
   these);
2. ``du`` — else the chain-2 device's reading (the near-real-time views always show the DU data);
3. ``estimate`` — else nothing is measured: the settlement's explicit fill (zero on the dashboard, or an
   interpolation) stands in, and the month says how many.

The mix of a month is the share of its quarter-hour values (PODs × quarter hours × two directions) from each
source, e.g. "giugno: 97 % dati del distributore, 3 % dispositivi".

References
----------
.. [1] GSE, Regole operative CACER (2024): the incentive is computed on the measured data the distributor
   sends the GSE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from condivisa.kernel.timegrid import ROME

SOURCES = ("distributor", "du", "estimate")
_DIRECTIONS = (("withdrawn_kwh", "withdrawn_source"), ("injected_kwh", "injected_source"))


def best_source(du: pd.DataFrame, distributor: pd.DataFrame) -> pd.DataFrame:
    """The measurements table the settlement reads, each value from its best source.

    Parameters
    ----------
    du : pandas.DataFrame
        DU readings: ``pod``, ``start`` (aware), ``withdrawn_kwh``, ``injected_kwh``.
    distributor : pandas.DataFrame
        Current distributor values (:func:`condivisa.store.distributor.current_values`), NaN where a
        direction has none.

    Returns
    -------
    pandas.DataFrame
        ``pod``, ``start``, ``withdrawn_kwh``, ``injected_kwh``, ``withdrawn_source``, ``injected_source``
        (``"distributor"`` or ``"du"``), one row per POD and quarter hour present in either input, sorted.
        ``attrs`` keep the DU frame's.
    """
    if distributor.empty:
        out = du.copy()
        for _, src in _DIRECTIONS:
            out[src] = "du"
        return out
    d = distributor[["pod", "start", "withdrawn_kwh", "injected_kwh"]]
    merged = du.merge(d, on=["pod", "start"], how="outer", suffixes=("_du", "_dist"))
    out = merged[["pod", "start"]].copy()
    for col, src in _DIRECTIONS:
        dist = merged[f"{col}_dist"].to_numpy(dtype=float)
        mine = merged[f"{col}_du"].to_numpy(dtype=float)
        use_dist = ~np.isnan(dist)
        out[col] = np.where(use_dist, dist, mine)
        out[src] = np.where(use_dist, "distributor", "du")
    # a POD with a distributor curve for one direction only and no DU row: the other direction is unknown
    out = out.dropna(subset=["withdrawn_kwh", "injected_kwh"], how="all")
    for col, src in _DIRECTIONS:
        missing = out[col].isna()
        out.loc[missing, src] = "estimate"
        out[col] = out[col].fillna(0.0)
    out = out.sort_values(["pod", "start"], ignore_index=True)
    out.attrs.update(du.attrs)
    return out


def monthly_mix(
    frame: pd.DataFrame, expected_values: dict[str, int] | None = None
) -> dict[str, dict[str, float]]:
    """Per month (``YYYY-MM``, Europe/Rome), the percentage of the quarter-hour values from each source.

    Parameters
    ----------
    frame : pandas.DataFrame
        :func:`best_source`'s output.
    expected_values : dict, optional
        Per month, how many values the month should have (PODs × its quarter hours × 2); the ones absent
        from ``frame`` count as ``estimate`` (the settlement fills them).

    Returns
    -------
    dict
        ``{"2024-06": {"distributor": 97.0, "du": 3.0, "estimate": 0.0}, ...}``, percentages to 0.1.
    """
    if frame.empty:
        return {}
    month = pd.DatetimeIndex(frame["start"]).tz_convert(ROME).strftime("%Y-%m")
    counts: dict[str, dict[str, int]] = {}
    for _, src in _DIRECTIONS:
        table = pd.crosstab(month, frame[src].to_numpy())
        for m, row in table.iterrows():
            slot = counts.setdefault(str(m), dict.fromkeys(SOURCES, 0))
            for s, n in row.items():
                slot[str(s)] += int(n)
    out = {}
    for m, slot in sorted(counts.items()):
        total = sum(slot.values())
        if expected_values and m in expected_values and expected_values[m] > total:
            slot["estimate"] += expected_values[m] - total
            total = expected_values[m]
        out[m] = {s: round(100.0 * slot[s] / total, 1) for s in SOURCES}
    return out


def mix_text(mix: dict[str, float], lang: str = "it") -> str:
    """One month's mix in words: ``97 % dati del distributore, 3 % dispositivi``."""
    words = {
        "it": {"distributor": "dati del distributore", "du": "dispositivi", "estimate": "stimati"},
        "en": {"distributor": "distributor data", "du": "devices", "estimate": "estimated"},
    }[lang if lang in ("it", "en") else "it"]
    parts = [f"{mix[s]:g} % {words[s]}" for s in SOURCES if mix.get(s, 0) > 0]
    return ", ".join(parts)
