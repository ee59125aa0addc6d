"""Demand-response events end to end (issue #19, item 3): create one, send it, take the DUs' replies, and
report what it earned.

1. :func:`create` stores the event (:mod:`condivisa.store.flex_events`) with one invitation per invited
   member's DU (or one without a DU: e-mail and dashboard only); by default every member of the community
   on the event's day is invited;
2. :func:`send` publishes the ``event`` command (:mod:`condivisa.formats.flex_messages`) on each invited
   DU's command topic, QoS 1, and e-mails each invited member who has an address;
3. each DU replies on its ``reply`` topic; the ingest worker of ``condivisa serve`` hands the reply to
   :func:`condivisa.app.replies.reply_handler`, which records it (a repeat changes nothing; an invalid one
   is refused with its reason on the DU's ``ack`` topic and kept in the dead letters);
4. after the day, the settlement measures each member's response against their baseline and values the
   extra shared energy (:mod:`condivisa.engines.flexibility`); :func:`reports` reads it back.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from condivisa.app.downlink import publish_commands
from condivisa.app.mail import Mailer
from condivisa.app.settings import Settings
from condivisa.domain.community import Community
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.events import EventReport, command_dict, event_email, event_report, invitations
from condivisa.outputs.sources import STORED_FILL, SettlementInputs
from condivisa.store import flex_events
from condivisa.store.communities import community_slug
from condivisa.store.flex_events import EventError, EventRecord  # noqa: F401 (callers catch it here)
from condivisa.store.store import Store
from condivisa.transports.mqtt.topics import TopicLayout


def topic_community(settings: Settings, community: Community, store: Store | None = None) -> str:
    """The community level of the DUs' topics: the setting ``community`` (one community served), else the
    community's slug in the catalog (:func:`condivisa.store.flex_events.events_slug`: a DU's credential is
    of that community), else the slug of its name."""
    if settings.community:
        return settings.community
    return flex_events.events_slug(store.engine, community.name) if store else community_slug(community.name)


def create(
    store: Store,
    community: Community,
    slug: str,
    *,
    start: dt.datetime,
    end: dt.datetime,
    created_by: str,
    members: list[str] | None = None,
    target_kw: float | None = None,
    target_kwh: float | None = None,
    note: str | None = None,
    event_id: str | None = None,
) -> EventRecord:
    """Store a new event of ``community`` (id default: ``ev-YYYYMMDD-HHMM`` of its local start)."""
    local = start.astimezone(ROME)
    return flex_events.create_event(
        store.engine,
        event_id=event_id or f"ev-{local:%Y%m%d-%H%M}",
        community=slug,
        starts_at=start,
        ends_at=end,
        invitations=invitations(community, local.date(), members),
        created_by=created_by,
        target_kw=target_kw,
        target_kwh=target_kwh,
        note=note,
    )


@dataclass
class SendSummary:
    """What :func:`send` did."""

    event_id: str
    du_topics: list[str] = field(default_factory=list)
    emails_sent: list[str] = field(default_factory=list)
    emails_refused: dict[str, str] = field(default_factory=dict)
    members_without_channel: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def command_payload(record: EventRecord) -> bytes:
    """The ``event`` command of ``record`` as published."""
    return json.dumps(command_dict(record), ensure_ascii=False).encode()


def send(
    store: Store,
    settings: Settings,
    community: Community,
    record: EventRecord,
    *,
    mqtt: bool = True,
    mailer: Mailer | None = None,
) -> SendSummary:
    """Send ``record`` to its invited DUs (MQTT) and members (e-mail, when ``mailer``); records what went out.

    A broker or mail server that fails is reported in ``errors`` (the other channel still goes)."""
    summary = SendSummary(record.id)
    layout = TopicLayout(topic_community(settings, community, store), settings.mqtt_topic_root)
    payload = command_payload(record)
    dus = sorted({i.du_id for i in record.invitations if i.du_id})
    if mqtt and dus:
        try:
            summary.du_topics = publish_commands(settings, {layout.cmd(du): payload for du in dus})
        except (ConnectionError, TimeoutError, OSError) as exc:
            summary.errors.append(f"MQTT: {exc}")
    by_id = {m.id: m for m in community.members}
    emailed: list[str] = []
    if mailer is not None:
        messages, owners = [], []
        for member_id in record.members:
            member = by_id.get(member_id)
            if member is None or not member.email:
                continue
            messages.append(mailer.message(member.email, *event_email(record, member.name)))
            owners.append(member_id)
        try:
            for owner, result in zip(owners, mailer.send(messages), strict=True):
                if result.accepted:
                    emailed.append(owner)
                else:
                    summary.emails_refused[owner] = result.error or "refused"
        except (ConnectionError, OSError) as exc:
            summary.errors.append(f"e-mail: {exc}")
    summary.emails_sent = emailed
    with_du = {i.member_id for i in record.invitations if i.du_id}
    summary.members_without_channel = [m for m in record.members if m not in with_du and m not in emailed]
    sent_dus = [t.split("/")[-2] for t in summary.du_topics]
    flex_events.mark_sent(store.engine, record.id, sent_dus, emailed)
    return summary


def reports(
    store: Store, inputs: SettlementInputs, slug: str, *, as_of: dt.date | None = None
) -> list[EventReport]:
    """Every event of the community ``slug``, oldest first, with what the settlement of ``inputs`` (the
    dashboard's: :data:`condivisa.outputs.sources.STORED_FILL`) measured: the figures agree to the cent."""
    book = inputs.settled_months(fill=STORED_FILL, as_of=as_of)
    return [event_report(book, r, inputs.event_problems) for r in flex_events.list_events(store.engine, slug)]
