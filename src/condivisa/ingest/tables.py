"""``ingest_frame``: a measurements table (a CSV import) into the store, with the idempotence of messages.

Rules implemented:
- every POD of the table must be registered (:meth:`condivisa.store.store.Store.register_devices`); an
  unknown one refuses the whole table, naming it, before anything is written;
- a POD's rows are hourly data (stored with ``minutes = 60``) when every start is on the hour and
  consecutive starts are at least an hour apart, else quarter hours (:func:`interval_minutes`);
- rows are stored like the readings of a message (new ones stored, identical ones counted as duplicates,
  changed ones revised; :meth:`condivisa.store.store.Store.ingest_records`), without the cross-checks of
  totalizers and DUs a table does not have, one transaction per ``chunk_rows`` rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from condivisa.ingest.pipeline import IngestResult
from condivisa.kernel import clock
from condivisa.kernel.timegrid import UTC
from condivisa.store.store import Store


@dataclass(frozen=True)
class TableRow:
    """One row of a measurements table (CSV import): no totalizers, no DU."""

    pod: str
    start: dt.datetime
    withdrawn_kwh: float
    injected_kwh: float
    minutes: int = 15
    meter: str = "M1"
    du_id: str | None = None
    withdrawn_total_kwh: float | None = None
    injected_total_kwh: float | None = None


def interval_minutes(frame: pd.DataFrame) -> list[int]:
    """Per row, 60 when the row's POD is hourly data (every start on the hour, consecutive starts >= 1 h
    apart), else 15. Hourly rows are stored with ``minutes = 60``."""
    starts = pd.to_datetime(frame["start"], utc=True)
    hourly: dict[str, bool] = {}
    for pod, s in starts.groupby(frame["pod"].to_numpy()):
        s = s.sort_values()
        on_hour = bool(((s.dt.minute == 0) & (s.dt.second == 0)).all())
        gaps = s.diff().dropna()
        hourly[pod] = on_hour and len(s) > 1 and bool((gaps >= pd.Timedelta(hours=1)).all())
    return [60 if hourly[p] else 15 for p in frame["pod"]]


def ingest_frame(
    store: Store,
    frame: pd.DataFrame,
    *,
    source: str,
    received_at: dt.datetime | None = None,
    chunk_rows: int = 5000,
) -> IngestResult:
    """Store a measurements table (``pod, start, withdrawn_kwh, injected_kwh``, e.g. from
    :func:`condivisa.formats.csv_io.read_measurements`) with the same idempotence and revisions as messages,
    one transaction per ``chunk_rows`` rows. PODs must be registered: an unknown one raises ``ValueError``
    naming it, before anything is written."""
    missing = sorted(set(frame["pod"].astype(str)) - store.known_pods())
    if missing:
        raise ValueError(
            f"POD(s) not registered in the store: {', '.join(missing[:10])}"
            f"{' ...' if len(missing) > 10 else ''} (register the community first: condivisa db register)"
        )
    received_at = received_at or clock.now()
    minutes = interval_minutes(frame)
    rows = [
        TableRow(str(p), s.to_pydatetime().astimezone(UTC), float(w), float(i), m)
        for p, s, w, i, m in zip(
            frame["pod"], frame["start"], frame["withdrawn_kwh"], frame["injected_kwh"], minutes
        )
    ]
    result = IngestResult(accepted=True, readings=len(rows))
    for k in range(0, len(rows), chunk_rows):
        out = store.ingest_records(
            rows[k : k + chunk_rows], source=source, received_at=received_at, cross_check=False
        )
        result.stored += out.stored
        result.duplicates += out.duplicates
        result.revised += out.revised
    return result
