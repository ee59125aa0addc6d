"""Set-based group commit: the readings of many accepted messages written with a handful of statements.

:func:`write_batch` gives every message exactly the :class:`~condivisa.store.writer.WriteOutcome`,
rows, revisions, flags and device activity that :func:`~condivisa.store.writer.write_readings`
would give it, called message after message in the same order — but instead of two or three statements per
message it issues, for the whole batch:

1. one registry check (cached PODs and DU → POD map);
2. one ``SELECT`` of the stored rows around the batch (narrow, see below);
3. one ``INSERT ... ON CONFLICT DO NOTHING`` of all new quarter hours (``COPY`` into a staging table and
   ``INSERT ... SELECT ... RETURNING`` on PostgreSQL, an ``executemany`` on SQLite);
4. one upsert of ``device_activity``.

Cross-checks (``checks.series_flags``) are exact and sequential in meaning: message *k* is checked against
what the store would hold after messages 1 … *k−1*, inside its own window. They are run only for the
(POD, meter) series that a linear screen finds suspicious — a series whose totalizers never decrease and
whose consecutive quarter hours agree with their energies cannot flag any subset of itself, so the screen
proves the common case clean at ~1 µs a point.

The read of step 2 is *narrow*: it starts one quarter hour (not the whole window) before the batch, since a
reading is compared only with the quarter hour before it and with the nearest readings carrying totalizers
before and after it. When, for some reading, a nearest one before could lie further back (the quarter hour
before is missing or carries no totalizer), or the screen finds the series suspicious, that series' PODs are
read again over the whole window and checked exactly. In the usual case (every DU sends every quarter hour)
this reads one stored row per reading instead of four.

When two messages of the batch carry the same quarter hour (a re-send, a revision) the batch falls back to
``write_readings`` message by message, in the same transaction: the results are identical, only slower.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from sqlalchemy.engine import Connection

from condivisa.store import checks
from condivisa.store.rows import IncomingReading, Key, StoredRow, insert_rows, stored_rows, touch_activity
from condivisa.store.writer import (
    CHECK_WINDOW,
    INSERT_CHUNK,
    FlagsByKey,
    RegistryCache,
    WriteOutcome,
    _du_flags,
    _point,
    _revise,
    _same,
    message_dus,
    write_readings,
)

#: (POD, meter): one series of readings
Series = tuple[str, str]


@dataclass(frozen=True)
class BatchItem:
    """One accepted message: its readings and where/when it came from (``device_id``: the sending DU;
    ``community``: the community of its topic, a DU registered in another one is flagged)."""

    readings: Sequence[IncomingReading]
    source: str
    received_at: dt.datetime
    device_id: str | None = None
    community: str | None = None


def write_batch(
    conn: Connection, items: Sequence[BatchItem], *, registry: RegistryCache, cross_check: bool = True
) -> list[WriteOutcome]:
    """Write ``items`` in the caller's transaction ``conn``; one outcome per item, as if each had been written
    by :func:`write_readings` in turn (see the module docstring). An item naming an unregistered POD writes
    nothing and reports it in ``unknown_pods``."""
    outs = [WriteOutcome() for _ in items]
    live = _registered(conn, items, registry, outs)
    if not live:
        return outs
    if _repeats_a_quarter(items, live):  # the same quarter hour twice: message by message (identical results)
        for k in live:
            it = items[k]
            outs[k] = write_readings(
                conn,
                it.readings,
                source=it.source,
                received_at=it.received_at,
                device_id=it.device_id,
                check_pods=False,
                cross_check=cross_check,
                registry=registry,
                community=it.community,
            )
        return outs

    by_key: list[FlagsByKey] = [defaultdict(list) for _ in items]
    dus = sorted({d for k in live for d in message_dus(items[k].readings, items[k].device_id)})
    entries = registry.devices(conn, dus) if dus else {}
    registered = {d: pod for d, (pod, _) in entries.items()}
    homes = {d: c for d, (_, c) in entries.items() if c}
    for k in live:
        it = items[k]
        outs[k].add_flags(_du_flags(it.readings, it.device_id, registered, it.community, homes), by_key[k])

    pad = CHECK_WINDOW if cross_check else dt.timedelta(0)
    everything = [r for k in live for r in items[k].readings]
    rows = stored_rows(conn, everything, pad, before=min(pad, checks.QUARTER))  # narrow (module docstring)
    existing = {(row.pod, row.start_utc, row.meter): row for row in rows}
    if cross_check:

        def whole_window(pods: set[str]) -> list[StoredRow]:
            return stored_rows(conn, everything, pad, pods=sorted(pods))

        _cross_check(items, live, rows, existing, outs, by_key, pad, whole_window)
    _store(conn, items, live, existing, outs, by_key)
    return outs


def _registered(
    conn: Connection, items: Sequence[BatchItem], registry: RegistryCache, outs: list[WriteOutcome]
) -> list[int]:
    """Indexes of the items to write: not empty, every POD registered (the others' ``unknown_pods`` set)."""
    all_pods = sorted({r.pod for it in items for r in it.readings})
    unknown = set(registry.unknown_pods(conn, all_pods)) if all_pods else set()
    live: list[int] = []
    for k, it in enumerate(items):
        if not it.readings:
            continue
        bad = sorted({r.pod for r in it.readings} & unknown)
        if bad:
            outs[k].unknown_pods = bad
        else:
            live.append(k)
    return live


def _repeats_a_quarter(items: Sequence[BatchItem], live: list[int]) -> bool:
    """Two readings of the live items share a key (pod, start, meter): a re-send or a revision."""
    seen: set[Key] = set()
    repeated = False
    for k in live:
        for r in items[k].readings:
            key = (r.pod, r.start, r.meter)
            repeated |= key in seen
            seen.add(key)
    return repeated


def _store(
    conn: Connection,
    items: Sequence[BatchItem],
    live: list[int],
    existing: dict[Key, StoredRow],
    outs: list[WriteOutcome],
    by_key: list[FlagsByKey],
) -> None:
    """Count duplicates, revise changed quarter hours, upsert device activity and insert the new readings of
    the live items, in item order; a row another writer inserted meanwhile is classified against its row."""

    def known(r: IncomingReading, k: int, old: StoredRow) -> None:  # stored already: duplicate or revision
        if _same(old, r):
            outs[k].duplicates += 1
        else:
            _revise(
                conn, old, r, items[k].source, items[k].received_at, by_key[k].get((r.pod, r.start, r.meter))
            )
            outs[k].revised += 1

    new: list[tuple[IncomingReading, int]] = []  # (reading, item index)
    for k in live:
        for r in items[k].readings:
            old = existing.get((r.pod, r.start, r.meter))
            if old is None:
                new.append((r, k))
            else:
                known(r, k, old)
    touch_activity(conn, [(items[k].readings, items[k].received_at) for k in live])  # one upsert for all
    for c in range(0, len(new), INSERT_CHUNK):
        chunk = new[c : c + INSERT_CHUNK]
        done = insert_rows(
            conn,
            [
                (r, items[k].source, items[k].received_at, by_key[k].get((r.pod, r.start, r.meter)))
                for r, k in chunk
            ],
        )
        raced = []
        for r, k in chunk:
            if (r.pod, r.start, r.meter) in done:
                outs[k].stored += 1
            else:
                raced.append((r, k))
        if raced:  # another writer stored them between our read and our insert: classify against its rows
            for row in stored_rows(conn, [r for r, _ in raced], dt.timedelta(0)):
                existing[(row.pod, row.start_utc, row.meter)] = row
            for r, k in raced:
                known(r, k, existing[(r.pod, r.start, r.meter)])


def _reaches_back(
    pairs: list[tuple[int, IncomingReading]],
    pod: str,
    meter: str,
    existing: dict[Key, StoredRow],
    stored: Sequence[StoredRow],
    first: dict[int, dt.datetime],
) -> bool:
    """True when every reading of ``pairs`` (``(item, reading)`` of one series, in item order) that carries a
    totalizer has, for that totalizer, a reading carrying it in ``[first[item] − 15 min, start)`` among the
    stored rows and the readings of its own and earlier items: then the nearest one before it, within its
    item's window, is in the narrow read (module docstring)."""
    quarter = checks.QUARTER
    attrs = ("withdrawn_total_kwh", "injected_total_kwh")
    for (
        _,
        r,
    ) in pairs:  # the usual case, with no sets to build: the stored quarter hour before has the totalizers
        row = existing.get((pod, r.start - quarter, meter))
        if (
            row is None
            or (r.withdrawn_total_kwh is not None and row.withdrawn_total_kwh is None)
            or (r.injected_total_kwh is not None and row.injected_total_kwh is None)
        ):
            break
    else:
        return True
    known = {a: {x.start_utc for x in stored if getattr(x, a) is not None} for a in attrs}
    for k, group in groupby(pairs, key=itemgetter(0)):
        mine = [r for _, r in group]
        for a, starts in known.items():  # the item's own readings count for each other
            starts.update(r.start for r in mine if getattr(r, a) is not None)
        floor = first[k] - quarter
        for r in mine:
            for a, starts in known.items():
                if getattr(r, a) is None or r.start - quarter in starts:
                    continue
                if not any(floor <= s < r.start for s in starts):
                    return False
    return True


def _by_series(rows: Sequence[StoredRow]) -> dict[Series, list[StoredRow]]:
    out: dict[Series, list[StoredRow]] = defaultdict(list)
    for row in rows:
        out[(row.pod, row.meter)].append(row)
    return out


def _cross_check(
    items: Sequence[BatchItem],
    live: list[int],
    rows: list[StoredRow],
    existing: dict[Key, StoredRow],
    outs: list[WriteOutcome],
    by_key: list[FlagsByKey],
    pad: dt.timedelta,
    whole_window: Callable[[set[str]], list[StoredRow]],
) -> None:
    """Totalizer cross-checks of every live item, sequential in meaning (module docstring). ``rows`` is the
    narrow read; ``whole_window(pods)`` reads those PODs' rows over the whole window, for exact checks."""
    stored = _by_series(rows)  # (pod, meter) -> stored rows around the batch
    incoming: dict[Series, list[tuple[int, IncomingReading]]] = defaultdict(list)  # -> [(item, reading)]
    for k in live:
        for r in items[k].readings:
            incoming[(r.pod, r.meter)].append((k, r))
    span = {
        k: (min(r.start for r in items[k].readings), max(r.start for r in items[k].readings)) for k in live
    }
    suspicious = _suspicious(incoming, stored, existing, {k: lo for k, (lo, _) in span.items()})
    if not suspicious:
        return
    wide = _by_series(whole_window({pod for pod, _ in suspicious}))  # the suspicious series, whole window
    windows = {k: (lo - pad, hi + pad) for k, (lo, hi) in span.items()}
    found: dict[tuple[int, Series], list[checks.Flag]] = {}
    for group in suspicious:
        found.update(_sequential_flags(group, wide.get(group, []), incoming[group], windows))
    for k in live:
        for g in dict.fromkeys((r.pod, r.meter) for r in items[k].readings):  # series in reading order
            outs[k].add_flags([(f, g[1]) for f in found.get((k, g), ())], by_key[k])


def _suspicious(
    incoming: dict[Series, list[tuple[int, IncomingReading]]],
    stored: dict[Series, list[StoredRow]],
    existing: dict[Key, StoredRow],
    first: dict[int, dt.datetime],
) -> set[Series]:
    """The series the linear screen cannot prove clean (module docstring): a revision, totalizers that go
    back or disagree with the energies, or a reading whose nearest totalizer before may lie beyond the
    narrow read."""
    suspicious = set()
    for group, pairs in incoming.items():
        pod, meter = group
        pts = []
        keys = set()
        for _, r in pairs:
            old = existing.get((pod, r.start, meter))
            if old is not None and not _same(old, r):
                break  # a revision: the stored value and the new one differ
            keys.add(r.start)
            pts.append(
                (r.start, r.withdrawn_kwh, r.injected_kwh, r.withdrawn_total_kwh, r.injected_total_kwh)
            )
        else:
            pts += [
                (x.start_utc, x.withdrawn_kwh, x.injected_kwh, x.withdrawn_total_kwh, x.injected_total_kwh)
                for x in stored.get(group, ())
                if x.start_utc not in keys
            ]
            if checks.clean_series(pts) and _reaches_back(
                pairs, pod, meter, existing, stored.get(group, ()), first
            ):
                continue
        suspicious.add(group)
    return suspicious


def _sequential_flags(
    group: Series,
    stored: Sequence[StoredRow],
    pairs: list[tuple[int, IncomingReading]],
    windows: dict[int, tuple[dt.datetime, dt.datetime]],
) -> dict[tuple[int, Series], list[checks.Flag]]:
    """The exact flags of one series, item by item: item *k* is checked against the ``stored`` rows (whole
    window) and the readings of the items before it, within its own window."""
    pod, _meter = group
    series: dict[dt.datetime, tuple[int, checks.Point]] = {
        x.start_utc: (-1, _point(x, x.start_utc)) for x in stored
    }
    mine: dict[int, list[IncomingReading]] = defaultdict(list)
    for k, r in pairs:
        mine[k].append(r)
    found = {}
    for k in sorted(mine):  # message k sees the store as messages before it left it, in its own window
        lo, hi = windows[k]
        pts = [_point(r, r.start) for r in mine[k]]
        view = {s: p for s, (_, p) in series.items() if lo <= s <= hi}
        for p in pts:
            view[p.start] = p
        ordered = [view[s] for s in sorted(view)]
        found[(k, group)] = checks.series_flags(pod, ordered, pts)
        for p in pts:
            series[p.start] = (k, p)
    return found
