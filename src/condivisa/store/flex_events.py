"""Demand-response events in the store (issue #19, item 3): the events of a community, who was invited,
and what each DU replied.

An event asks the invited members to consume more in ``[starts_at, ends_at)``: the window is aligned to
the quarter hour, lies on one civil day (Europe/Rome), and may not overlap another event of the same
community (each event's response is measured on its own baseline, :mod:`condivisa.engines.baseline`,
whose similar days leave out the days of the others). A reply is idempotent: the first ``accepted`` or
``declined`` of a DU is kept with its time, a repeated one changes nothing, a reply for an unknown event
or a DU not invited is refused with the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa

from condivisa.formats.flex_messages import EVENT_ACTIONS, REPLY_STATUSES
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME
from condivisa.store.communities import community_slug
from condivisa.store.community_tables import CommunityRow
from condivisa.store.flex_tables import FlexEvent, FlexInvitation

_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class EventError(ValueError):
    """An event cannot be created, or a reply cannot be recorded; the text says why."""


@dataclass(frozen=True)
class Invitation:
    member_id: str
    du_id: str  # "" for a member without a DU
    sent_at: dt.datetime | None
    reply_status: str | None
    replied_at: dt.datetime | None


@dataclass(frozen=True)
class EventRecord:
    """An event and its invitations (times UTC)."""

    id: str
    community: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    action: str
    target_kw: float | None
    target_kwh: float | None
    note: str | None
    created_at: dt.datetime
    created_by: str
    sent_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    invitations: tuple[Invitation, ...] = ()

    @property
    def members(self) -> list[str]:
        return sorted({i.member_id for i in self.invitations})

    def replies(self) -> dict[str, int]:
        """How many DUs accepted, declined, or have not replied."""
        out = {"accepted": 0, "declined": 0, "no reply": 0}
        for i in self.invitations:
            if i.du_id:
                out[i.reply_status or "no reply"] += 1
        return out


def _utc(t: dt.datetime) -> dt.datetime:
    if t.tzinfo is None:
        raise EventError(f"{t.isoformat()}: a time needs its time zone")
    return t.astimezone(dt.UTC)


def _check_window(starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise EventError("the event's start and end need a time zone")
    if ends_at <= starts_at:
        raise EventError("the event must end after it starts")
    for t in (starts_at, ends_at):
        if t.minute % 15 or t.second or t.microsecond:
            raise EventError(f"{t.isoformat()}: events start and end on the quarter hour")
    if starts_at.astimezone(ROME).date() != (ends_at - dt.timedelta(minutes=1)).astimezone(ROME).date():
        raise EventError("an event lies on one day (Europe/Rome)")


def create_event(
    engine: sa.Engine,
    *,
    event_id: str,
    community: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    invitations: list[tuple[str, str]],
    created_by: str,
    target_kw: float | None = None,
    target_kwh: float | None = None,
    note: str | None = None,
    action: str = "consume",
) -> EventRecord:
    """Store a new event with its invitations ``(member_id, du_id)`` (``du_id`` "" for a member without a
    DU); :class:`EventError` for a bad id or window, an overlap with another event, no one invited."""
    if not _ID.fullmatch(event_id):
        raise EventError(f"event id {event_id!r}: 1-64 letters, digits, '.', '_' or '-'")
    if action not in EVENT_ACTIONS:
        raise EventError(f"action {action!r}: one of {', '.join(EVENT_ACTIONS)}")
    _check_window(starts_at, ends_at)
    if not invitations:
        raise EventError("invite at least one member")
    for value, name in ((target_kw, "target_kw"), (target_kwh, "target_kwh")):
        if value is not None and not value > 0:
            raise EventError(f"{name} must be > 0")
    lo, hi = _utc(starts_at), _utc(ends_at)
    now = clock.now()
    with engine.begin() as conn:
        if conn.execute(sa.select(FlexEvent.id).where(FlexEvent.id == event_id)).first():
            raise EventError(f"an event {event_id!r} exists already")
        clash = conn.execute(
            sa.select(FlexEvent.id).where(
                FlexEvent.community == community,
                FlexEvent.cancelled_at.is_(None),
                FlexEvent.starts_at < hi,
                FlexEvent.ends_at > lo,
            )
        ).first()
        if clash:
            raise EventError(f"the window overlaps event {clash[0]!r}: cancel it or pick other hours")
        conn.execute(
            sa.insert(FlexEvent).values(
                id=event_id, community=community, starts_at=lo, ends_at=hi, action=action,
                target_kw=target_kw, target_kwh=target_kwh, note=note, created_at=now, created_by=created_by,
            )
        )  # fmt: skip
        rows = [{"event_id": event_id, "member_id": m, "du_id": d} for m, d in sorted(set(invitations))]
        conn.execute(sa.insert(FlexInvitation), rows)
    return get_event(engine, event_id)


def _invitations(conn: sa.Connection, event_id: str) -> tuple[Invitation, ...]:
    rows = conn.execute(
        sa.select(FlexInvitation)
        .where(FlexInvitation.event_id == event_id)
        .order_by(FlexInvitation.member_id, FlexInvitation.du_id)
    ).mappings()
    return tuple(
        Invitation(r["member_id"], r["du_id"], r["sent_at"], r["reply_status"], r["replied_at"]) for r in rows
    )


def _record(conn: sa.Connection, row: sa.RowMapping) -> EventRecord:
    fields = {k: row[k] for k in EventRecord.__dataclass_fields__ if k != "invitations"}
    return EventRecord(**fields, invitations=_invitations(conn, row["id"]))


def get_event(engine: sa.Engine, event_id: str, community: str | None = None) -> EventRecord:
    """The event ``event_id`` (of ``community`` when given); :class:`EventError` if there is none."""
    with engine.connect() as conn:
        q = sa.select(FlexEvent.__table__).where(FlexEvent.id == event_id)
        if community is not None:
            q = q.where(FlexEvent.community == community)
        row = conn.execute(q).mappings().first()
        if row is None:
            raise EventError(f"no event {event_id!r}")
        return _record(conn, row)


def list_events(
    engine: sa.Engine,
    community: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    include_cancelled: bool = False,
) -> list[EventRecord]:
    """The community's events overlapping ``[since, until)`` (both optional), oldest first."""
    q = sa.select(FlexEvent.__table__).where(FlexEvent.community == community)
    if since is not None:
        q = q.where(FlexEvent.ends_at > _utc(since))
    if until is not None:
        q = q.where(FlexEvent.starts_at < _utc(until))
    if not include_cancelled:
        q = q.where(FlexEvent.cancelled_at.is_(None))
    with engine.connect() as conn:
        return [_record(conn, r) for r in conn.execute(q.order_by(FlexEvent.starts_at)).mappings()]


def mark_sent(engine: sa.Engine, event_id: str, du_ids: list[str], members: list[str]) -> None:
    """Record that the event's command went to ``du_ids`` and its e-mail / page to ``members``."""
    now = clock.now()
    with engine.begin() as conn:
        conn.execute(sa.update(FlexEvent).where(FlexEvent.id == event_id).values(sent_at=now))
        inv = FlexInvitation.__table__
        if du_ids:
            conn.execute(
                sa.update(inv).where(inv.c.event_id == event_id, inv.c.du_id.in_(du_ids)).values(sent_at=now)
            )
        if members:
            conn.execute(
                sa.update(inv)
                .where(inv.c.event_id == event_id, inv.c.du_id == "", inv.c.member_id.in_(members))
                .values(sent_at=now)
            )


def cancel_event(engine: sa.Engine, event_id: str, community: str) -> EventRecord:
    """Cancel an event (kept, never deleted: its invitations and replies stay)."""
    get_event(engine, event_id, community)
    with engine.begin() as conn:
        conn.execute(
            sa.update(FlexEvent)
            .where(FlexEvent.id == event_id, FlexEvent.cancelled_at.is_(None))
            .values(cancelled_at=clock.now())
        )
    return get_event(engine, event_id)


def record_reply(
    engine: sa.Engine,
    *,
    community: str,
    du_id: str,
    event_id: str,
    status: str,
    at: dt.datetime | None = None,
) -> bool:
    """Record a DU's reply to an event; True when it was new, False for a repeat (idempotent).

    Raises :class:`EventError` when there is no such event, the DU was not invited to it, or the status is
    unknown. Only an invited DU may answer: DU ids are unique on the platform and the broker lets a DU
    publish only its own ``reply`` topic, so a DU of another community cannot answer (``community``, the
    topic's, is named in the error)."""
    if status not in REPLY_STATUSES:
        raise EventError(f"status {status!r}: one of {', '.join(REPLY_STATUSES)}")
    inv = FlexInvitation.__table__
    with engine.begin() as conn:
        known = conn.execute(sa.select(FlexEvent.id).where(FlexEvent.id == event_id)).first()
        if known is None:
            raise EventError(f"no event {event_id!r} in community {community!r}")
        row = conn.execute(
            sa.select(inv.c.id, inv.c.reply_status).where(inv.c.event_id == event_id, inv.c.du_id == du_id)
        ).first()
        if row is None:
            raise EventError(f"DU {du_id!r} was not invited to event {event_id!r}")
        if row.reply_status is not None:
            return False
        conn.execute(
            sa.update(inv)
            .where(inv.c.id == row.id, inv.c.reply_status.is_(None))
            .values(reply_status=status, replied_at=_utc(at) if at is not None else clock.now())
        )
    return True


def events_slug(engine: sa.Engine, community_name: str) -> str:
    """The key of a community's events: its slug in the catalog (what ``serve``, the dashboard and the
    settlement use), else the slug of its name."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(CommunityRow.slug).where(CommunityRow.name == community_name)).first()
    return str(row[0]) if row else community_slug(community_name)


def community_events(engine: sa.Engine, community_name: str) -> list[EventRecord]:
    """The events (not cancelled) of the community named ``community_name`` (:func:`events_slug`): what
    the settlement measures."""
    return list_events(engine, events_slug(engine, community_name))


def events_marker(engine: sa.Engine, community_name: str) -> tuple:
    """Changes whenever an event of the community is created or cancelled (the dashboard's cache key: the
    settlement measures the events)."""
    slug = events_slug(engine, community_name)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(
                sa.func.count(), sa.func.max(FlexEvent.created_at), sa.func.max(FlexEvent.cancelled_at)
            ).where(FlexEvent.community == slug)
        ).one()
    return tuple(row)
