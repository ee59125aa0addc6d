"""What people read about demand-response events (issue #19, item 3): the invitation's words, and the
report of an event after it, every figure taken from the settlement result.

The report of an event (:func:`event_report`) reads the month's settlement
(:attr:`condivisa.engines.settlement_result.SettlementResult.flexibility`): the kWh each member shifted into
the window against their baseline (:mod:`condivisa.engines.baseline`), the extra shared energy and premium
the community earned (:mod:`condivisa.engines.flexibility`), the bonus paid by ``rules.flexibility_bonus``;
and the store: who was invited and what each DU replied. Nothing is recomputed here, so the dashboard, the
CLI and the JSON agree to the cent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from condivisa.domain.community import Community
from condivisa.formats.flex_messages import EventCommand, event_command
from condivisa.kernel.money import to_euros
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.advice import active_members, member_devices
from condivisa.outputs.monthly import SettledMonths, month_of
from condivisa.store.flex_events import EventError, EventRecord

_MONTHS_IT = (
    "gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno",
    "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre",
)  # fmt: skip


def _local(t: dt.datetime) -> dt.datetime:
    return t.astimezone(ROME)


def event_text(record: EventRecord) -> dict[str, str]:
    """The invitation's sentence, Italian and English, e.g. "mercoledì 2 dicembre tra le 11:00 e le 14:00
    la comunità avrà energia in più: se puoi, usa in quelle ore lavatrice, lavastoviglie o scaldabagno"."""
    a, b = _local(record.starts_at), _local(record.ends_at)
    day_it = f"{a.day} {_MONTHS_IT[a.month - 1]}"
    day_en = f"{a.strftime('%A')} {a.day} {a.strftime('%B')}"
    target_it = f" (obiettivo: {record.target_kw:g} kW in più)" if record.target_kw else ""
    target_en = f" (target: {record.target_kw:g} kW more)" if record.target_kw else ""
    if record.target_kwh:
        target_it = f" (obiettivo: {record.target_kwh:g} kWh in più)"
        target_en = f" (target: {record.target_kwh:g} kWh more)"
    return {
        "it": f"Evento della comunità il {day_it} tra le {a:%H:%M} e le {b:%H:%M}{target_it}: se puoi, usa in "
        "quelle ore lavatrice, lavastoviglie, scaldabagno o la ricarica dell'auto.",
        "en": f"Community event on {day_en} between {a:%H:%M} and {b:%H:%M}{target_en}: if you can, run the "
        "washing machine, dishwasher, water heater or car charging in those hours.",
    }


def event_email(record: EventRecord, name: str | None) -> tuple[str, str]:
    """Subject and plain-text body of a member's invitation (Italian, then English); only their own name."""
    text = event_text(record)
    hello_it, hello_en = (f"Ciao {name},", f"Hello {name},") if name else ("Ciao,", "Hello,")
    subject = f"Evento della comunità / Community event {_local(record.starts_at):%d/%m %H:%M}"
    body = (
        f"{hello_it}\n\n{text['it']}\n\nL'energia che sposti in quelle ore diventa energia condivisa: la "
        "comunità riceve più incentivo"
        + (" e una parte va a chi ha partecipato." if record.note is None else f". {record.note}")
        + f"\n\n---\n\n{hello_en}\n\n{text['en']}\n\nEnergy you move into those hours becomes shared energy: "
        "the community earns more incentive.\n"
    )
    return subject, body


@dataclass(frozen=True)
class EventReport:
    """One event as settled (figures from the settlement result) with its invitations and replies."""

    record: EventRecord
    settled: bool
    shifted_kwh: dict[str, float] = field(default_factory=dict)
    extra_consumption_kwh: float = 0.0
    extra_shared_kwh: float = 0.0
    extra_premium_eur: float = 0.0
    month_bonus_eur: dict[str, float] = field(default_factory=dict)  # the month's bonus per member
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "id": r.id,
            "from": _local(r.starts_at).isoformat(),
            "to": _local(r.ends_at).isoformat(),
            "target_kw": r.target_kw,
            "target_kwh": r.target_kwh,
            "members_invited": r.members,
            "replies": r.replies(),
            "sent_at": r.sent_at.isoformat() if r.sent_at else None,
            "settled": self.settled,
            "shifted_kwh": self.shifted_kwh,
            "extra_consumption_kwh": self.extra_consumption_kwh,
            "extra_shared_kwh": self.extra_shared_kwh,
            "extra_premium_eur": self.extra_premium_eur,
            "month_bonus_eur": self.month_bonus_eur,
            "problems": list(self.problems),
        }


def event_report(book: SettledMonths, record: EventRecord, problems: tuple[str, ...] = ()) -> EventReport:
    """The report of ``record`` from the settlement of its month (``settled`` False while its day is not
    settled yet: then only the invitations and replies are known)."""
    mine = tuple(p for p in (problems or book.event_problems) if p.startswith(f"event {record.id}"))
    month = month_of(_local(record.starts_at).date())
    if month not in book.months or book.month(month).empty:
        return EventReport(record, False, problems=mine)
    result = book.month(month).result
    assert result is not None
    figures = next((e for e in result.flexibility.events if e.event_id == record.id), None)
    if figures is None:
        return EventReport(record, False, problems=mine)
    bonus = {m: to_euros(c) for m, c in result.allocation.flexibility_bonus.items()}
    return EventReport(
        record,
        True,
        {m: round(v, 3) for m, v in figures.shifted_kwh.items()},
        round(figures.extra_consumption_kwh, 3),
        round(figures.extra_shared_kwh, 3),
        round(figures.extra_premium_eur, 2),
        bonus,
        mine,
    )


def event_day(record: EventRecord) -> pd.Timestamp:
    return pd.Timestamp(_local(record.starts_at)).normalize()


def invitations(
    community: Community, day: dt.date, members: list[str] | None = None
) -> list[tuple[str, str]]:
    """``(member_id, du_id)`` for each invited member's DU (``""``: a member without one); ``members``
    default: every member of the community on ``day``. An unknown member id is an :class:`EventError`."""
    active = {m.id: m for m in active_members(community, day)}
    wanted = list(active) if members is None else members
    unknown = [m for m in wanted if m not in active]
    if unknown:
        raise EventError(f"not members of {community.name} on {day}: {', '.join(unknown)}")
    out = []
    for member_id in wanted:
        dus = member_devices(community, active[member_id])
        out += [(member_id, du) for du in dus] or [(member_id, "")]
    return out


def command_dict(record: EventRecord) -> dict[str, Any]:
    """The ``event`` command of ``record`` (:func:`condivisa.formats.flex_messages.event_command`), as sent
    to each invited DU by the CLI and by the dashboard."""
    command = EventCommand(
        record.id, _local(record.starts_at), _local(record.ends_at), record.action,
        record.target_kw, record.target_kwh, event_text(record),
    )  # fmt: skip
    return event_command(command)


def member_events(
    book: SettledMonths, records: list[EventRecord], member_id: str, now: dt.datetime
) -> list[dict[str, Any]]:
    """The events ``member_id`` is invited to, newest first, with only their own figures: the invitation's
    sentence while the event is ahead (or running), and once its day is settled their kWh shifted into the
    window and their flexibility bonus of that month (:func:`event_report`, the settlement's figures)."""
    out = []
    for record in sorted(records, key=lambda r: r.starts_at, reverse=True):
        if member_id not in record.members:
            continue
        upcoming = record.ends_at > now
        report = None if upcoming else event_report(book, record)
        settled = report is not None and report.settled
        out.append(
            {
                "id": record.id,
                "from": _local(record.starts_at),
                "to": _local(record.ends_at),
                "month": month_of(_local(record.starts_at).date()),
                "text": event_text(record),
                "upcoming": upcoming,
                "settled": settled,
                "shifted_kwh": report.shifted_kwh.get(member_id, 0.0) if settled else None,
                "month_bonus_eur": report.month_bonus_eur.get(member_id, 0.0) if settled else None,
            }
        )
    return out
