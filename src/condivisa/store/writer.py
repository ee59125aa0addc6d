"""Write one message's readings in one transaction: insert new quarter hours, count duplicates, keep
revisions (newest wins, the superseded value goes to ``measurement_revisions``), attach cross-check flags.

The rows themselves are read and written by :mod:`condivisa.store.rows` (``INSERT ... ON CONFLICT DO
NOTHING``); a conflicting row found only at insert time (another writer stored it meanwhile) is re-read and
classified again (duplicate or revision).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from condivisa.store import checks
from condivisa.store.models import Device, Measurement, MeasurementRevision, Pod
from condivisa.store.rows import IncomingReading, Key, StoredRow, insert_rows, stored_rows, touch_activity

#: Values closer than this (kWh) are the same value (re-sent message, different float formatting).
SAME_KWH = 1e-9
#: Existing readings this far around a message are read for the totalizer cross-checks.
CHECK_WINDOW = dt.timedelta(hours=1)
#: Rows per executemany batch.
INSERT_CHUNK = 5000

#: the flags of each reading, by its key (a revision or a new row stores their codes)
FlagsByKey = dict[Key, list[checks.Flag]]


@dataclass
class WriteOutcome:
    """What one message did to the store; ``unknown_pods`` non-empty means nothing was written."""

    stored: int = 0
    duplicates: int = 0
    revised: int = 0
    flags: list[checks.Flag] = field(default_factory=list)
    unknown_pods: list[str] = field(default_factory=list)

    def add_flags(self, found: Sequence[tuple[checks.Flag, str]], by_key: FlagsByKey) -> None:
        """Record ``(flag, meter)`` pairs, in order, here and under their reading's key in ``by_key``."""
        for f, meter in found:
            self.flags.append(f)
            by_key[(f.pod, f.start, meter)].append(f)


class RegistryCache:
    """The registered PODs and the DU -> (POD, community) map, remembered for ``ttl_s`` seconds so a one-line
    message does not pay two registry queries. :meth:`Store.register` clears it; other processes'
    registrations are seen within ``ttl_s``."""

    def __init__(self, ttl_s: float = 30.0):
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._pods: set[str] = set()
            self._devices: dict[str, tuple[str, str | None] | None] = {}
            self._since = time.monotonic()

    def _expire(self) -> None:
        if time.monotonic() - self._since > self.ttl_s:
            self.clear()

    def unknown_pods(self, conn: Connection, pods: Sequence[str]) -> list[str]:
        self._expire()
        missing = [p for p in pods if p not in self._pods]
        if not missing:
            return []
        found = set(conn.scalars(sa.select(Pod.code).where(Pod.code.in_(missing))))
        with self._lock:
            self._pods |= found
        return [p for p in missing if p not in found]

    def devices(self, conn: Connection, dus: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """DU -> (the POD it is registered to, its community or None), for the registered ones among
        ``dus``."""
        self._expire()
        missing = [d for d in dus if d not in self._devices]
        if missing:
            q = sa.select(Device.du_id, Device.pod, Device.community).where(Device.du_id.in_(missing))
            rows = {r.du_id: (r.pod, r.community) for r in conn.execute(q) if r.pod}
            with self._lock:
                self._devices.update({d: rows.get(d) for d in missing})
        found = {d: self._devices.get(d) for d in dus}
        return {d: entry for d, entry in found.items() if entry}

    def device_pods(self, conn: Connection, dus: Sequence[str]) -> dict[str, str]:
        """DU -> the POD it is registered to, for the registered ones among ``dus``."""
        return {d: pod for d, (pod, _) in self.devices(conn, dus).items()}

    def device_communities(self, conn: Connection, dus: Sequence[str]) -> dict[str, str]:
        """DU -> the community it is registered in, for the registered ones among ``dus`` that have one."""
        return {d: c for d, (_, c) in self.devices(conn, dus).items() if c}


def _same(old: StoredRow, r: IncomingReading) -> bool:
    def eq(a: float | None, b: float | None) -> bool:
        return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= SAME_KWH)

    return all(
        eq(getattr(old, f), getattr(r, f))
        for f in ("withdrawn_kwh", "injected_kwh", "withdrawn_total_kwh", "injected_total_kwh")
    )


def _point(x: StoredRow | IncomingReading, start: dt.datetime) -> checks.Point:
    return checks.Point(start, x.withdrawn_kwh, x.injected_kwh, x.withdrawn_total_kwh, x.injected_total_kwh)


def _du_flags(
    readings: Sequence[IncomingReading],
    device_id: str | None,
    registered: dict[str, str],
    community: str | None = None,
    communities: dict[str, str] | None = None,
) -> list[tuple[checks.Flag, str]]:
    """``(flag, meter)`` of the registry checks, in reading order: a DU registered to another POD; a line read
    by a DU other than the authenticated sender ``device_id``; a DU (the line's, else the sender) registered
    in a community other than ``community``, the one the message came from (``communities``: DU ->
    community)."""
    out = []
    for r in readings:
        if r.du_id in registered and registered[r.du_id] != r.pod:
            out.append(
                (
                    checks.Flag(
                        r.pod,
                        r.start,
                        "pod_not_registered_to_du",
                        f"DU {r.du_id} is registered to POD {registered[r.du_id]}, not {r.pod}",
                    ),
                    r.meter,
                )
            )
        if device_id and r.du_id and r.du_id != device_id:
            out.append(
                (
                    checks.Flag(
                        r.pod, r.start, "du_mismatch", f"sent by device {device_id} but read by DU {r.du_id}"
                    ),
                    r.meter,
                )
            )
        du = r.du_id or device_id
        home = communities.get(du) if communities and du else None
        if community and home and home != community:
            out.append(
                (
                    checks.Flag(
                        r.pod,
                        r.start,
                        "du_other_community",
                        other_community_reason(du or "", home, community),
                    ),
                    r.meter,
                )
            )
    return out


def other_community_reason(du_id: str, registered_in: str, community: str) -> str:
    """Why a message of DU ``du_id`` on ``community``'s topics is refused (strict) or flagged."""
    return f"DU {du_id} is registered in community {registered_in!r}, not {community!r}"


def message_dus(readings: Sequence[IncomingReading], device_id: str | None) -> list[str]:
    """The DUs a message names (its lines' DUs, and the sender), sorted."""
    return sorted({r.du_id for r in readings if r.du_id} | ({device_id} if device_id else set()))


def _series_flags(
    rows: Sequence[StoredRow], readings: Sequence[IncomingReading]
) -> list[tuple[checks.Flag, str]]:
    """``(flag, meter)`` of the totalizer cross-checks of ``readings`` against the stored ``rows`` around them,
    series by series (POD and meter, in reading order)."""
    series: dict[tuple[str, str], dict[dt.datetime, checks.Point]] = defaultdict(dict)
    for row in rows:
        series[(row.pod, row.meter)][row.start_utc] = _point(row, row.start_utc)
    incoming: dict[tuple[str, str], list[checks.Point]] = defaultdict(list)
    for r in readings:
        p = _point(r, r.start)
        series[(r.pod, r.meter)][r.start] = p
        incoming[(r.pod, r.meter)].append(p)
    out: list[tuple[checks.Flag, str]] = []
    for (pod, meter), pts in incoming.items():
        known = series[(pod, meter)]
        if checks.clean_series(
            [
                (p.start, p.withdrawn_kwh, p.injected_kwh, p.withdrawn_total_kwh, p.injected_total_kwh)
                for p in known.values()
            ]
        ):
            continue  # nothing in this series can be flagged (checks.clean_series)
        ordered = [known[s] for s in sorted(known)]
        out += [(f, meter) for f in checks.series_flags(pod, ordered, pts)]
    return out


def write_readings(
    conn: Connection,
    readings: Sequence[IncomingReading],
    *,
    source: str,
    received_at: dt.datetime,
    device_id: str | None = None,
    check_pods: bool = True,
    cross_check: bool = True,
    registry: RegistryCache | None = None,
    community: str | None = None,
) -> WriteOutcome:
    """Store ``readings`` (pod, aware start, meter, withdrawn/injected kWh and totals, du_id) inside the
    caller's transaction ``conn``. Unknown PODs (``check_pods``) abort before any write. ``community``: the
    one the message came from (a DU registered in another one is flagged)."""
    out = WriteOutcome()
    if not readings:
        return out
    registry = registry or RegistryCache(ttl_s=0.0)
    if check_pods:
        out.unknown_pods = registry.unknown_pods(conn, sorted({r.pod for r in readings}))
        if out.unknown_pods:
            return out
    # flags: the registry's, then the cross-checks' against the stored rows around the message
    by_key: FlagsByKey = defaultdict(list)
    dus = message_dus(readings, device_id if community else None)
    entries = registry.devices(conn, dus) if dus else {}
    registered = {d: pod for d, (pod, _) in entries.items()}
    homes = {d: c for d, (_, c) in entries.items() if c}
    out.add_flags(_du_flags(readings, device_id, registered, community, homes), by_key)
    rows = stored_rows(conn, readings, CHECK_WINDOW if cross_check else dt.timedelta(0))
    if cross_check:
        out.add_flags(_series_flags(rows, readings), by_key)
    existing = {(row.pod, row.start_utc, row.meter): row for row in rows}

    def classify(rs: Sequence[IncomingReading]) -> list[IncomingReading]:
        """The new ones among ``rs``; the others counted as duplicates or revised."""
        new = []
        for r in rs:
            old = existing.get((r.pod, r.start, r.meter))
            if old is None:
                new.append(r)
            elif _same(old, r):
                out.duplicates += 1
            else:
                _revise(conn, old, r, source, received_at, by_key.get((r.pod, r.start, r.meter)))
                out.revised += 1
        return new

    touch_activity(conn, [(readings, received_at)])
    new = classify(readings)
    for i in range(0, len(new), INSERT_CHUNK):
        chunk = new[i : i + INSERT_CHUNK]
        done = insert_rows(
            conn, [(r, source, received_at, by_key.get((r.pod, r.start, r.meter))) for r in chunk]
        )
        out.stored += len(done)
        raced = [r for r in chunk if (r.pod, r.start, r.meter) not in done]
        if raced:  # another writer stored them between our read and our insert: classify against its rows
            for row in stored_rows(conn, raced, dt.timedelta(0)):
                existing[(row.pod, row.start_utc, row.meter)] = row
            classify(raced)
    return out


def _revise(
    conn: Connection,
    old: StoredRow,
    r: IncomingReading,
    source: str,
    received_at: dt.datetime,
    flags: Sequence[checks.Flag] | None,
) -> None:
    """Keep ``old`` in measurement_revisions and overwrite the measurement with ``r`` (newest wins)."""
    t = Measurement.__table__
    stored = conn.execute(
        sa.select(
            t.c.id,
            t.c.pod,
            t.c.start_utc,
            t.c.meter,
            t.c.withdrawn_kwh,
            t.c.injected_kwh,
            t.c.withdrawn_total_kwh,
            t.c.injected_total_kwh,
            t.c.du_id,
            t.c.received_at,
            t.c.source,
            t.c.revision,
        ).where(t.c.id == old.id, t.c.start_utc == old.start_utc)  # the time prunes PostgreSQL's partitions
    ).one()
    conn.execute(
        sa.insert(MeasurementRevision.__table__).values(
            measurement_id=stored.id,
            pod=stored.pod,
            start_utc=stored.start_utc,
            meter=stored.meter,
            withdrawn_kwh=stored.withdrawn_kwh,
            injected_kwh=stored.injected_kwh,
            withdrawn_total_kwh=stored.withdrawn_total_kwh,
            injected_total_kwh=stored.injected_total_kwh,
            du_id=stored.du_id,
            received_at=stored.received_at,
            source=stored.source,
            revision=stored.revision,
            superseded_at=received_at,
        )
    )
    conn.execute(
        sa.update(t)
        .where(t.c.id == stored.id, t.c.start_utc == old.start_utc)
        .values(
            withdrawn_kwh=r.withdrawn_kwh,
            injected_kwh=r.injected_kwh,
            withdrawn_total_kwh=r.withdrawn_total_kwh,
            injected_total_kwh=r.injected_total_kwh,
            du_id=r.du_id,
            received_at=received_at,
            source=source[:200],
            revision=stored.revision + 1,
            flags=[f.code for f in flags] if flags else None,
        )
    )
