"""The demo's distributor data: for the month before today's (or, when the DUs have nothing there, today's
month up to yesterday), one portal export per POD and direction over the days the DUs covered, made from
the stored DU readings as a distributor's validated meter would see them, then imported.

Made up, and said so: each quarter hour is the DU's reading × (1 + ε), ε ~ N(0, 0.5 %) seeded, rounded to
the watt-hour as the portal writes it; one consumption POD's device reads :data:`DRIFTING_PCT` low (the
distributor sees more), so the reconciliation has a device to check; quarter hours the DU missed are in the
export (the distributor's meter has them: the DU's value is taken from the day's mean at that time).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from condivisa.domain.community import Community
from condivisa.formats.distributor import write_portal_export
from condivisa.ingest.distributor import import_files
from condivisa.kernel.timegrid import ROME, local_midnight, quarter_hours
from condivisa.store.distributor import ImportOutcome
from condivisa.store.store import Store

#: the demo's device that reads this much less than the distributor's meter, %
DRIFTING_PCT = 3.0


def export_days(store: Store, pods: list[str], today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The days to export, ``[first, end)``: the DUs' days of the month before ``today``'s, else of
    ``today``'s month before ``today``; ``None`` when the DUs sent nothing in either."""
    this_month = today.replace(day=1)
    previous = (this_month - dt.timedelta(days=1)).replace(day=1)
    for first, end in ((previous, this_month), (this_month, today)):
        if first >= end:
            continue
        frame = store.measurements_frame(pods, local_midnight(first), local_midnight(end))
        if not frame.empty:
            days = pd.DatetimeIndex(frame["start"]).tz_convert(ROME).date
            return min(days), max(days) + dt.timedelta(days=1)
    return None


def _official(
    series: pd.Series, index: pd.DatetimeIndex, rng: np.random.Generator, factor: float
) -> pd.Series:
    """The distributor's view of one POD and direction: every quarter hour of the month."""
    full = series.reindex(index)
    if full.isna().any():  # the DU missed some: the meter has them; the same time's mean stands in
        slot = index.hour * 4 + index.minute // 15
        typical = full.groupby(slot).mean()
        full = full.fillna(pd.Series(np.asarray(slot), index=index).map(typical)).fillna(0.0)
    noise = rng.normal(0.0, 0.005, len(index))
    return (full * factor * (1.0 + noise)).clip(lower=0.0).round(3)


def write_demo_exports(
    store: Store, community: Community, out_dir: Path, today: dt.date, seed: int = 42
) -> list[Path]:
    """Write the portal exports of :func:`export_days` into ``out_dir`` (``<POD>-<direction>-YYYY-MM.csv``);
    nothing when the DUs sent nothing."""
    pods = sorted(community.all_pods)
    span = export_days(store, pods, today)
    if span is None:
        return []
    first, nxt = span
    frame = store.measurements_frame(pods, local_midnight(first), local_midnight(nxt))
    out_dir.mkdir(parents=True, exist_ok=True)
    index = quarter_hours(first, nxt)
    rng = np.random.default_rng(seed)
    consumers = [p.code for m in community.members for p in m.pods]
    drifting = consumers[len(consumers) // 2] if consumers else None
    plants = {pl.pod for pl in community.plants}
    written = []
    for pod, rows in frame.groupby("pod", sort=True):
        mine = rows.set_index(pd.DatetimeIndex(rows["start"]).tz_convert(ROME))
        for direction, col in (("withdrawal", "withdrawn_kwh"), ("injection", "injected_kwh")):
            if direction == "injection" and pod not in plants and mine[col].sum() == 0:
                continue  # a consumer without production: the distributor sends no injection curve
            factor = (
                1.0 / (1.0 - DRIFTING_PCT / 100.0) if (pod == drifting and direction == "withdrawal") else 1.0
            )
            path = out_dir / f"{pod}-{direction}-{first:%Y-%m}.csv"
            write_portal_export(_official(mine[col], index, rng, factor), path)
            written.append(path)
    return written


def import_demo_exports(
    store: Store, community: Community, paths: list[Path], now: dt.datetime
) -> list[ImportOutcome]:
    """Import the exports as the referente would, one ``condivisa db import-distributor`` per file."""
    outcomes: list[ImportOutcome] = []
    for path in paths:
        pod, direction = path.name.split("-")[0], path.name.split("-")[1]
        outcomes += import_files(
            store,
            [path],
            known_pods=community.all_pods,
            pod=pod,
            direction=direction,
            imported_by="demo",
            now=now,
        )
    return outcomes
