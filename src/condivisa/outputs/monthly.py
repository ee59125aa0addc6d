"""The settled months of a community: what the dashboard and the reports show.

Given the community, the measurements table and the hourly zonal prices, :class:`SettledMonths` settles each
civil month (Europe/Rome) on its own with :func:`condivisa.engines.settlement.settle` — the only place money is
computed — and keeps the hourly flows of :func:`condivisa.outputs.kpis.hourly_flows` for the charts.
Results are cached per month; nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from condivisa.domain import Community
from condivisa.outputs.kpis import hourly_flows
from condivisa.timegrid import ROME

MONEY_KEYS = ("premium_eur", "valorisation_eur", "sale_eur", "fees_eur", "total_eur")
ENERGY_KEYS = ("withdrawn_kwh", "injected_kwh", "shared_kwh", "incentivised_shared_kwh")


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Local midnight of the first day of ``month`` (``YYYY-MM``) and of the next month, Europe/Rome."""
    try:
        first = dt.date.fromisoformat(month + "-01")
    except ValueError:
        raise ValueError(f"month: {month!r} is not YYYY-MM") from None
    nxt = dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return pd.Timestamp(first, tz=ROME), pd.Timestamp(nxt, tz=ROME)


def _entries(value: Any, key: str) -> list[dict]:
    """A list of dicts from a list, or from a mapping keyed by ``key`` (both shapes are accepted)."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [{key: k, **(v if isinstance(v, Mapping) else {"value": v})} for k, v in value.items()]
    return [dict(v) for v in value]


def result_members(result: Mapping) -> dict[str, dict]:
    """Member id -> the member's entry of a settlement result document."""
    return {str(e["id"]): e for e in _entries(result.get("members"), "id")}


def result_totals(result: Mapping) -> dict:
    totals = result.get("totals") or {}
    return dict(totals)


def engine_settle(fill: str | None = None) -> Callable[..., dict]:
    """``settle(community, measurements, prices, fill=fill).to_dict()`` of the settlement engine."""

    def run(community, measurements, prices):
        from condivisa.engines.settlement import settle

        return settle(community, measurements, prices, fill=fill).to_dict()

    return run


class SettledMonths:
    """Per-month settlement results and hourly flows of one community.

    ``settle_fn(community, measurements, prices) -> dict`` defaults to the settlement engine's
    ``settle(..., fill=fill).to_dict()``; ``fill=None`` makes a month with missing intervals an error
    (the engine's rule), ``"zero"``/``"interpolate"`` fill them explicitly (the gaps stay in ``data_quality``).
    ``settle_until`` (e.g. today's local midnight) leaves the day in progress out of the money, so its future
    quarter hours are not counted as missing; the charts still show it.
    """

    def __init__(self, community: Community, measurements: pd.DataFrame, prices: pd.Series,
                 settle_fn: Callable[..., dict] | None = None, fill: str | None = None,
                 settle_until: pd.Timestamp | None = None) -> None:
        self.community = community
        m = measurements.copy()
        if not m.empty:
            m["start"] = pd.to_datetime(m["start"])
            if m["start"].dt.tz is None:
                raise ValueError("measurements 'start' must be time-zone aware")
        self.measurements = m
        self.prices = prices
        self.settle_until = settle_until
        self._months: list[str] | None = None
        self._settle = settle_fn or engine_settle(fill)
        self.result = lru_cache(maxsize=64)(self._result)  # type: ignore[method-assign]
        self._flows = lru_cache(maxsize=256)(self._flows_uncached)

    @property
    def months(self) -> list[str]:
        """The months with measurements, ``YYYY-MM``, oldest first."""
        if self._months is None:
            if self.measurements.empty:
                self._months = []
            else:
                local = self.measurements["start"].dt.tz_convert(ROME)
                codes = np.unique(local.dt.year.to_numpy() * 100 + local.dt.month.to_numpy())
                self._months = [f"{c // 100:04d}-{c % 100:02d}" for c in codes]
        return list(self._months)

    @property
    def latest_month(self) -> str | None:
        return self.months[-1] if self.months else None

    def _slice(self, month: str) -> tuple[pd.DataFrame, pd.Series]:
        lo, hi = month_bounds(month)
        m = self.measurements
        part = m[(m["start"] >= lo) & (m["start"] < hi)] if not m.empty else m
        p = self.prices
        prices = p[(p.index >= lo.floor("h")) & (p.index < hi)] if len(p) else p
        return part.reset_index(drop=True), prices

    def _result(self, month: str) -> dict:
        part, prices = self._slice(month)
        if self.settle_until is not None and not part.empty:
            part = part[part["start"] < self.settle_until].reset_index(drop=True)
        if part.empty:
            if month not in self.months:
                raise KeyError(month)
            return {"totals": {}, "months": [], "members": [], "data_quality": {}}  # only the day in progress
        return self._settle(self.community, part, prices)

    def _flows_uncached(self, month: str, member_id: str | None) -> pd.DataFrame:
        part, _ = self._slice(month)
        c = self.community
        pods = c.member(member_id).consumption_pods if member_id else ()
        return hourly_flows(part, c.consumption_pods, c.plant_pods, pods)

    def flows(self, month: str, member_id: str | None = None) -> pd.DataFrame:
        """Hourly flows of ``month`` (member columns filled for ``member_id``)."""
        return self._flows(month, member_id)

    def member_entry(self, month: str, member_id: str) -> dict:
        """The member's entry of the month's settlement (zeros if the member is not in it)."""
        entry = result_members(self.result(month)).get(member_id)
        return dict(entry) if entry else {"id": member_id, **{k: 0.0 for k in MONEY_KEYS}}

    def member_months(self, member_id: str, year: int | None = None) -> list[dict]:
        """Per month: the member's money (from the settlement) and energy (withdrawn and shared part, kWh)."""
        out = []
        for month in self.months:
            if year is not None and not month.startswith(f"{year:04d}-"):
                continue
            e = self.member_entry(month, member_id)
            f = self.flows(month, member_id)
            out.append({"month": month, **{k: float(e.get(k, 0.0) or 0.0) for k in MONEY_KEYS},
                        "withdrawn_kwh": float(e.get("withdrawn_kwh", f["member_withdrawn_kwh"].sum())),
                        "shared_kwh": float(e.get("shared_kwh", f["member_shared_kwh"].sum()))})
        return out

    def community_months(self, year: int | None = None) -> list[dict]:
        """Per month: the community totals of the month's settlement."""
        out = []
        for month in self.months:
            if year is not None and not month.startswith(f"{year:04d}-"):
                continue
            totals = result_totals(self.result(month))
            out.append({"month": month, **{k: float(totals.get(k, 0.0) or 0.0) for k in ENERGY_KEYS + MONEY_KEYS if k in totals}})
        return out


def sum_money(rows: list[dict]) -> dict[str, float]:
    """Column sums of the money keys of ``rows`` (rounded to the cent)."""
    return {k: round(sum(float(r.get(k, 0.0) or 0.0) for r in rows), 2) for k in MONEY_KEYS}


def flat_prices(measurements: pd.DataFrame, price_eur_per_mwh: float) -> pd.Series:
    """A flat hourly zonal price over the hours the measurements span (for when no price file is loaded;
    the dashboard says so). Indexed by hour start, Europe/Rome."""
    if measurements.empty:
        index = pd.DatetimeIndex([], tz=ROME)
    else:
        start = pd.to_datetime(measurements["start"]).dt.tz_convert("UTC")
        index = pd.date_range(start.min().floor("h"), start.max().floor("h"), freq="h").tz_convert(ROME)
    return pd.Series(float(price_eur_per_mwh), index=index, name="zonal_price_eur_per_mwh")
