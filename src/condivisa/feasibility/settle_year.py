"""From a plan's simulated year to the settlement engine's inputs, and the year settled.

The plan becomes a :class:`~condivisa.domain.community.Community` (one consumption POD per member, one
production POD per plant, made-up POD codes, the plan's rules and tariffs) built by
:func:`condivisa.domain.config.community_from_dict`, and the simulated quarter hours become the long
measurements table (``pod``, ``start``, ``withdrawn_kwh``, ``injected_kwh``), summed to hours. The whole
civil year is then settled in one call of :func:`condivisa.engines.settlement.settle`, hour by hour as the
GSE does: the engine rounds the money once per month and sums the months, and the yearly rules (the premium
above the threshold, the later members' minimum) are applied on the whole year. Every money figure of the
study comes from this result.

The community is constituted on 1 January of the reference year; a plant without ``commissioning`` is
commissioned that day, and every plant is built for the community (``built_for_community: true``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from condivisa.domain.community import Community, MemberCategory
from condivisa.domain.config import community_from_dict
from condivisa.domain.municipalities import zone_of_region
from condivisa.engines.settlement import settle
from condivisa.engines.settlement_result import SettlementResult
from condivisa.feasibility.plan_file import Plan
from condivisa.formats.gme_prices import load_gme_2023, read_gme_download


@dataclass(frozen=True)
class MemberSpec:
    """A member of the simulated community: id, category and whether it is a founder."""

    id: str
    category: MemberCategory
    founder: bool = True
    name: str | None = None


def member_pod(k: int) -> str:
    """The made-up consumption POD of the k-th member (simulation only)."""
    return f"IT000E{k + 1:08d}"


def plant_pod(k: int) -> str:
    """The made-up production POD of the k-th plant (simulation only)."""
    return f"IT000E9{k + 1:07d}"


def zonal_prices(plan: Plan) -> pd.Series:
    """Hourly zonal prices of the plan's market zone, €/MWh: the shipped GME 2023 prices, or ``prices_file``."""
    if plan.prices_file is not None:
        return read_gme_download(plan.prices_file, plan.market_zone)
    return load_gme_2023(zone=plan.market_zone)


def community_for(plan: Plan, members: list[MemberSpec]) -> Community:
    """The plan as a community with ``members`` (each with one consumption POD) and the plan's plants."""
    start = dt.date(plan.year, 1, 1)
    raw = {
        "name": plan.name,
        "configuration": plan.configuration,
        "zone": zone_of_region(plan.region).value,
        "market_zone": plan.market_zone,
        "constituted": start.isoformat(),
        "members": [
            {
                "id": m.id,
                "category": m.category.value,
                "founder": m.founder,
                "joined": start.isoformat(),
                "pods": [{"pod": member_pod(k), "kind": "consumption"}],
                **({"name": m.name} if m.name else {}),
            }
            for k, m in enumerate(members)
        ],
        "plants": [
            {
                "id": p.id,
                "pod": plant_pod(k),
                "owner": p.owner,
                "power_kw": p.kwp,
                "source": "pv",
                "commissioning": (p.commissioning or start).isoformat(),
                "grant_fraction": p.grant_fraction,
                "voltage": p.voltage,
                "built_for_community": True,
            }
            for k, p in enumerate(plan.plants)
        ],
        "rules": plan.rules,
        "tariffs": plan.tariffs or None,
        "external_producers": list(plan.external_producers) or None,
    }
    return community_from_dict(raw, check_perimeter=False)


def to_hours(quarter_kwh: np.ndarray) -> np.ndarray:
    """Quarter hours to hours (the last axis): ``E_h = Σ of its 4 quarter hours`` (a UTC-aligned grid)."""
    q = np.asarray(quarter_kwh, dtype=float)
    return q.reshape(*q.shape[:-1], q.shape[-1] // 4, 4).sum(axis=-1)


def measurements(
    index: pd.DatetimeIndex, withdrawal_kwh: np.ndarray, production_kwh: np.ndarray
) -> pd.DataFrame:
    """The long hourly measurements table: members withdraw, plants inject (kWh per hour)."""
    hours_utc = index[::4].tz_convert("UTC")
    wd, inj = to_hours(withdrawal_kwh), to_hours(production_kwh)
    n_m, n_p, n_h = wd.shape[0], inj.shape[0], wd.shape[1]
    pods = [member_pod(k) for k in range(n_m)] + [plant_pod(k) for k in range(n_p)]
    return pd.DataFrame(
        {
            "pod": np.repeat(pods, n_h),
            "start": np.tile(hours_utc, n_m + n_p),
            "withdrawn_kwh": np.vstack([wd, np.zeros((n_p, n_h))]).ravel(),
            "injected_kwh": np.vstack([np.zeros((n_m, n_h)), inj]).ravel(),
        }
    )


def settle_year(
    plan: Plan,
    members: list[MemberSpec],
    index: pd.DatetimeIndex,
    withdrawal_kwh: np.ndarray,
    production_kwh: np.ndarray,
    prices: pd.Series,
) -> SettlementResult:
    """Settle the reference year of ``members`` (their withdrawals, members × quarter hours, kWh) and the
    plan's plants (production, plants × quarter hours, kWh) at the hourly zonal ``prices`` (€/MWh), hour by
    hour, with :func:`condivisa.engines.settlement.settle`."""
    if withdrawal_kwh.shape[0] != len(members):
        raise ValueError(f"{withdrawal_kwh.shape[0]} withdrawal rows for {len(members)} members")
    community = community_for(plan, members)
    frame = measurements(index, withdrawal_kwh, production_kwh)
    return settle(community, frame, prices, interval="hour")
