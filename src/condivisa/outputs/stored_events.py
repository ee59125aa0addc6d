"""The community's demand-response events measured on its settlement inputs (issue #19): each invited
member's response against their baseline (:func:`condivisa.engines.flexibility.measure_events`), read
from the store with the days the baseline looks back on.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from condivisa.domain.community import Community
from condivisa.engines.baseline import BaselineMethod
from condivisa.engines.flexibility import EventWindow, MeasuredEvent, measure_events
from condivisa.kernel import clock
from condivisa.kernel.timegrid import local_midnight
from condivisa.outputs.stored import stored_measurements
from condivisa.store.flex_events import community_events

if TYPE_CHECKING:
    from condivisa.store.store import Store


def measured_events(
    store: Store, community: Community, measurements: pd.DataFrame, first_day: dt.date | None = None
) -> tuple[tuple[MeasuredEvent, ...], tuple[str, ...]]:
    """The community's demand-response events of the store measured on ``measurements``
    (:func:`condivisa.engines.flexibility.measure_events`), and the problems found; only the events over by
    now (:mod:`condivisa.kernel.clock`) are measured; when the measurements
    start at ``first_day``, the baseline's days before it are read too (for the baseline only: they are
    not settled)."""
    records = community_events(store.engine, community.name)
    now = pd.Timestamp(clock.now())
    windows = [  # an event not over yet has no response to measure
        EventWindow(r.id, pd.Timestamp(r.starts_at), pd.Timestamp(r.ends_at), tuple(r.members))
        for r in records
        if pd.Timestamp(r.ends_at) <= now
    ]
    if first_day is not None:
        windows = [w for w in windows if w.start >= local_midnight(first_day)]
    if not windows:
        return (), ()
    if first_day is not None:
        lookback = first_day - dt.timedelta(days=BaselineMethod().lookback_days)
        earlier = stored_measurements(store, community, local_midnight(lookback), local_midnight(first_day))
        measurements = (
            pd.concat([earlier, measurements], ignore_index=True) if not earlier.empty else measurements
        )
    events, problems = measure_events(community, measurements, windows)
    return tuple(events), tuple(problems)
