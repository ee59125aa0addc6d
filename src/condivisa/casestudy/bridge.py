"""From a simulated case to the platform's own inputs: a :class:`~condivisa.domain.Community` and the
measurements table (``pod``, ``start``, ``withdrawn_kwh``, ``injected_kwh``), so that a simulated year can
be settled by :func:`condivisa.engines.settlement.settle` exactly like metered data (and the case study's
figures checked against the settlement engine)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from condivisa.casestudy.casefile import Case
from condivisa.domain.community import Community
from condivisa.domain.config import community_from_dict

PLANT_POD = "IT000SIMPLANT01"


def flat_pod(k: int) -> str:
    """A made-up POD code for the k-th flat of a case (simulation only)."""
    return f"IT000SIMFLAT{k + 1:03d}"


def community_for(case: Case) -> Community:
    """The case as a community: one member per flat (one consumption POD each) and the plant, owned by
    the first flat's member on behalf of the building; TIAD configuration and premium class from the case."""
    members = [
        {
            "id": f.id,
            "category": "private",
            "founder": True,
            "pods": [{"pod": flat_pod(k), "kind": "consumption"}],
        }
        for k, f in enumerate(case.flats)
    ]
    raw = {
        "name": case.name,
        "configuration": case.configuration.value,
        "zone": "south",
        "market_zone": case.market_zone,
        "constituted": f"{case.year}-01-01",
        "members": members,
        "plants": [
            {
                "id": "pv",
                "pod": PLANT_POD,
                "owner": case.flats[0].id,
                "power_kw": case.peak_power_kw,
                "source": "pv",
                "commissioning": f"{case.year}-01-01",
                "grant_fraction": case.grant_fraction,
                "voltage": "BT",
            }
        ],
    }
    return community_from_dict(raw, check_perimeter=False)


def measurements_for(index: pd.DatetimeIndex, pv_kwh: np.ndarray, withdrawal_kwh: np.ndarray) -> pd.DataFrame:
    """The long measurements table: one row per POD and quarter hour (flats withdraw, the plant injects)."""
    n_flats, n_t = withdrawal_kwh.shape
    pods = [flat_pod(k) for k in range(n_flats)] + [PLANT_POD]
    withdrawn = np.vstack([withdrawal_kwh, np.zeros((1, n_t))])
    injected = np.vstack([np.zeros((n_flats, n_t)), np.asarray(pv_kwh, dtype=float)[None, :]])
    return pd.DataFrame(
        {
            "pod": np.repeat(pods, n_t),
            "start": np.tile(index.tz_convert("UTC"), n_flats + 1),
            "withdrawn_kwh": withdrawn.ravel(),
            "injected_kwh": injected.ravel(),
        }
    )
