"""What the store holds of a community for its settlement: the DU readings the money may use (within
their POD's bound), the readings left out, and the distributor's current values (the sources of
:mod:`condivisa.outputs.sources` and of the events' baselines, :mod:`condivisa.outputs.stored_events`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from condivisa.domain.community import Community
from condivisa.domain.plausibility import pod_bounds
from condivisa.store.checks import above_bounds, interval_minutes, plausible_revisions
from condivisa.store.distributor import current_values
from condivisa.store.provenance import best_source

if TYPE_CHECKING:
    from condivisa.store.store import Store


def within_bounds(
    store: Store, community: Community, measurements: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored measurements the money may use, and the readings left out of it.

    A reading above its POD's bound (:func:`condivisa.store.checks.above_bounds`) is dropped; the newest
    superseded value of its quarter hour within the bound (:func:`condivisa.store.checks.plausible_revisions`)
    takes its place when there is one.

    Parameters
    ----------
    store : condivisa.store.store.Store
        The store (its revisions are read only when a reading is above its bound).
    community : Community
        The PODs' contract powers and plants.
    measurements : pandas.DataFrame
        The stored measurements table.

    Returns
    -------
    measurements : pandas.DataFrame
        The table without the readings above their bound (earlier plausible values in their place).
    excluded : pandas.DataFrame
        The readings left out (:data:`~condivisa.store.checks.ABOVE_COLUMNS` and ``replaced``).
    """
    bounds = pod_bounds(community)
    mask, rows = above_bounds(measurements, bounds)
    if not mask.any():
        return measurements, rows.assign(replaced=pd.Series(dtype=bool))
    minutes = interval_minutes(measurements)
    pods = sorted(set(rows["pod"].astype(str)))
    revisions = pd.concat([store.revisions(pod) for pod in pods], ignore_index=True)
    earlier = plausible_revisions(revisions, rows, bounds, minutes)
    kept = measurements.loc[~mask]
    if len(earlier):
        kept = pd.concat([kept, earlier.astype({"withdrawn_kwh": float, "injected_kwh": float})])
        kept = kept.sort_values(["pod", "start"], kind="stable")
    replaced = (
        set(zip(earlier["pod"], pd.to_datetime(earlier["start"]).dt.tz_convert("UTC")))
        if len(earlier)
        else set()
    )
    rows["replaced"] = [
        (p, s) in replaced for p, s in zip(rows["pod"], pd.to_datetime(rows["start"]).dt.tz_convert("UTC"))
    ]
    return kept.reset_index(drop=True), rows


def stored_readings(
    store: Store, community: Community, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What the store holds of the community in ``[start, end)``: the DU readings within their bounds
    (:func:`within_bounds`), the readings left out, and the distributor's current values
    (:func:`condivisa.store.distributor.current_values`)."""
    pods = sorted(community.all_pods)
    du, excluded = within_bounds(store, community, store.measurements_frame(pods, start, end))
    with store.read() as conn:
        official = current_values(conn, pods, start, end)
    return du, excluded, official


def stored_measurements(
    store: Store, community: Community, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> pd.DataFrame:
    """The measurements table the settlement of ``[start, end)`` reads: the readings of
    :func:`stored_readings`, each value from its best source
    (:func:`condivisa.store.provenance.best_source`), without the source columns."""
    du, _, official = stored_readings(store, community, start, end)
    return best_source(du, official).drop(columns=["withdrawn_source", "injected_source"])
