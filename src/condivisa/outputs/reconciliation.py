"""Reconciliation of one month: the devices' (DU) readings against the distributor's validated data, per POD
and direction, the money the difference moves, and the referente's to-do list.

Per POD ``p``, direction ``d`` and month, over its quarter hours ``t``:

    E_DU = Σ_t du_t,    E_dist = Σ_t dist_t,    Δ = E_DU − E_dist,    Δ% = 100 · Δ / E_dist      [kWh, %]

and the *drift* of the device, on the quarter hours both sides have (``C``):

    drift% = 100 · (Σ_{t∈C} du_t − Σ_{t∈C} dist_t) / Σ_{t∈C} dist_t

A device whose |drift%| exceeds :data:`DRIFT_PCT` (with at least :data:`MIN_COMMON` common quarter hours and
:data:`MIN_KWH` of energy) is listed to check. The money moved is each member's total of the month settled
on the best source (distributor first, :mod:`condivisa.store.provenance`) minus the same settled on the DU
readings alone — both settled by the same engine, so the difference is exactly what the official data change.

References
----------
.. [1] GSE, Regole operative CACER (2024): the incentive is paid on the distributor's measured data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from condivisa.domain.community import Community
from condivisa.kernel import clock
from condivisa.kernel.money import to_cents, to_euros
from condivisa.outputs.monthly import SettledMonths, month_bounds
from condivisa.outputs.sources import inputs_from_readings
from condivisa.outputs.stored import stored_readings

if TYPE_CHECKING:
    from condivisa.store.store import Store

#: a device reading more than this % off the distributor is listed to check
DRIFT_PCT = 2.0
#: the drift is judged on at least this many common quarter hours …
MIN_COMMON = 96
#: … carrying at least this much distributor energy, kWh
MIN_KWH = 1.0
_DIRECTIONS = (("withdrawal", "withdrawn_kwh"), ("injection", "injected_kwh"))


@dataclass(frozen=True)
class PodReconciliation:
    """One POD and direction in one month (module docstring)."""

    pod: str
    member: str
    direction: str
    du_kwh: float
    distributor_kwh: float
    difference_kwh: float
    difference_pct: float | None
    missing_du: int  # quarter hours the distributor has and the DU not
    missing_distributor: int  # quarter hours the DU has and the distributor not
    drift_pct: float | None
    check_device: bool

    def as_dict(self) -> dict:
        return asdict(self)


def _owner(community: Community) -> dict[str, str]:
    owner = {p.code: m.id for m in community.members for p in m.pods}
    owner.update({pl.pod: pl.owner for pl in community.plants})
    return owner


def _month_rows(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    start, end = month_bounds(month)
    when = pd.to_datetime(frame["start"])
    return frame[(when >= start) & (when < end)]


def pod_rows(
    community: Community, du: pd.DataFrame, official: pd.DataFrame, month: str
) -> list[PodReconciliation]:
    """The POD × direction lines of ``month`` for every POD with distributor data in it.

    Parameters
    ----------
    community : Community
        Who owns each POD.
    du : pandas.DataFrame
        DU readings (``pod``, ``start``, ``withdrawn_kwh``, ``injected_kwh``).
    official : pandas.DataFrame
        Current distributor values (:func:`condivisa.store.distributor.current_values`; NaN: none).
    month : str
        ``YYYY-MM``.

    Returns
    -------
    list of PodReconciliation
        Sorted by POD, withdrawal first.
    """
    du_m, off_m = _month_rows(du, month), _month_rows(official, month)
    owner = _owner(community)
    out = []
    for pod in sorted(set(off_m["pod"])):
        a = du_m[du_m["pod"] == pod].set_index("start")
        b = off_m[off_m["pod"] == pod].set_index("start")
        for direction, col in _DIRECTIONS:
            dist = b[col].dropna() if col in b else pd.Series(dtype=float)
            if dist.empty:
                continue
            mine = a[col].dropna() if col in a else pd.Series(dtype=float)
            common = mine.index.intersection(dist.index)
            out.append(_line(pod, owner.get(pod, ""), direction, mine, dist, common))
    return out


def _line(
    pod: str, member: str, direction: str, mine: pd.Series, dist: pd.Series, common: pd.Index
) -> PodReconciliation:
    e_du, e_dist = float(mine.sum()), float(dist.sum())
    c_du, c_dist = float(mine.loc[common].sum()), float(dist.loc[common].sum())
    drift = 100.0 * (c_du - c_dist) / c_dist if c_dist > 0 else None
    judged = drift is not None and len(common) >= MIN_COMMON and c_dist >= MIN_KWH
    return PodReconciliation(
        pod=pod,
        member=member,
        direction=direction,
        du_kwh=round(e_du, 3),
        distributor_kwh=round(e_dist, 3),
        difference_kwh=round(e_du - e_dist, 3),
        difference_pct=round(100.0 * (e_du - e_dist) / e_dist, 2) if e_dist > 0 else None,
        missing_du=int(len(dist.index.difference(mine.index))),
        missing_distributor=int(len(mine.index.difference(dist.index))),
        drift_pct=None if drift is None else round(drift, 2),
        check_device=bool(judged and drift is not None and abs(drift) > DRIFT_PCT),
    )


def money_moved(
    community: Community,
    du: pd.DataFrame,
    best: pd.DataFrame,
    prices: pd.Series,
    month: str,
    as_of: dt.date,
) -> dict[str, float]:
    """Per member, € of ``month`` settled on the best source minus settled on the DU readings alone.

    Both are settled by :class:`~condivisa.outputs.monthly.SettledMonths` with missing quarter hours filled
    with zero (as the dashboard does); the differences are exact in cents.
    """
    totals = []
    for frame in (best, du):
        book = SettledMonths(community, frame, prices, fill="zero", as_of=as_of)
        result = book.month(month).result if month in book.months else None
        totals.append(
            {m.id: (result.member_row(m.id)["total_eur"] if result else 0.0) for m in community.members}
        )
    return {m: to_euros(to_cents(totals[0][m]) - to_cents(totals[1][m])) for m in totals[0]}


def todo(lines: list[PodReconciliation], moved: dict[str, float], lang: str = "it") -> list[str]:
    """The referente's to-do list for the month: devices to check, gaps on either side, money moved."""
    it = lang != "en"
    items = []
    for r in lines:
        if r.check_device:
            items.append(
                f"POD {r.pod} ({r.member}), {r.direction}: il dispositivo legge {r.drift_pct:+.1f} % rispetto al "
                "distributore: farlo controllare all'installatore"
                if it
                else f"POD {r.pod} ({r.member}), {r.direction}: the device reads {r.drift_pct:+.1f} % against the "
                "distributor: have the installer check it"
            )
        if r.missing_distributor:
            items.append(
                f"POD {r.pod}, {r.direction}: {r.missing_distributor} quarti d'ora senza dati del distributore: "
                "scaricare di nuovo il mese dal portale"
                if it
                else f"POD {r.pod}, {r.direction}: {r.missing_distributor} quarter hours without distributor data: "
                "download the month again from the portal"
            )
        if r.missing_du:
            items.append(
                f"POD {r.pod}, {r.direction}: {r.missing_du} quarti d'ora mancanti dal dispositivo (contano i dati "
                "del distributore)"
                if it
                else f"POD {r.pod}, {r.direction}: {r.missing_du} quarter hours missing from the device (the "
                "distributor's data count)"
            )
    for member, eur in sorted(moved.items()):
        if abs(eur) >= 0.01:
            items.append(
                f"{member}: i dati del distributore cambiano il mese di {eur:+.2f} €"
                if it
                else f"{member}: the distributor's data change the month by {eur:+.2f} €"
            )
    return items


def reconciliation_frame(lines: list[PodReconciliation]) -> pd.DataFrame:
    """The lines as a table (for CSV and the dashboard)."""
    cols = list(PodReconciliation.__dataclass_fields__)
    return pd.DataFrame([r.as_dict() for r in lines], columns=cols)


@dataclass(frozen=True)
class MonthReconciliation:
    """A month's reconciliation: the POD lines, each member's money moved, the to-do list and the mix."""

    month: str
    lines: list[PodReconciliation]
    money_moved_eur: dict[str, float]
    todo: list[str]
    mix: dict[str, float] | None


def reconcile_store(
    store: Store,
    community: Community,
    month: str,
    *,
    prices_csv: str | Path | None = None,
    assumed_price_eur_per_mwh: float | None = None,
    as_of: dt.date | None = None,
    lang: str = "it",
) -> MonthReconciliation:
    """Reconcile ``month`` from the store: DU readings (within their bounds) against the distributor's
    current values, and the money settled on each (module docstring)."""
    start, end = month_bounds(month)
    du, excluded, official = stored_readings(store, community, start, end)  # one read of the month
    inputs = inputs_from_readings(community, du, excluded, official, prices_csv, assumed_price_eur_per_mwh)
    when = as_of or clock.today()
    lines = pod_rows(community, du, official, month)
    moved = money_moved(community, du, inputs.measurements, inputs.prices, month, when) if lines else {}
    book = inputs.settled_months(fill="zero", as_of=when)
    return MonthReconciliation(month, lines, moved, todo(lines, moved, lang), book.source_mix(month))
