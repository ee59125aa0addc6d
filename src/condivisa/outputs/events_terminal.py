"""The terminal's view of demand-response events (``condivisa events``, issue #19): an event's window,
status and replies, what went out when it was sent, and its report (the figures of
:class:`condivisa.outputs.events.EventReport`, from the settlement result: nothing is computed here).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from condivisa.kernel.timegrid import ROME

if TYPE_CHECKING:  # light at import: ``condivisa --help`` imports every command module
    from condivisa.domain.community import Community
    from condivisa.outputs.events import EventReport
    from condivisa.store.flex_events import EventRecord


def _local(t: dt.datetime) -> dt.datetime:
    return t.astimezone(ROME)


def window_text(record: EventRecord) -> str:
    a, b = _local(record.starts_at), _local(record.ends_at)
    return f"{a:%Y-%m-%d %H:%M}–{b:%H:%M} ({a:%z})"


def status_text(record: EventRecord) -> str:
    if record.cancelled_at is not None:
        return f"cancelled {_local(record.cancelled_at):%Y-%m-%d %H:%M}"
    if record.sent_at is not None:
        return f"sent {_local(record.sent_at):%Y-%m-%d %H:%M}"
    return "not sent"


def target_text(record: EventRecord) -> str:
    if record.target_kwh:
        return f"{record.target_kwh:g} kWh"
    if record.target_kw:
        return f"{record.target_kw:g} kW"
    return ""


def _iso(t: dt.datetime | None) -> str | None:
    return _local(t).isoformat() if t is not None else None


def record_dict(record: EventRecord) -> dict[str, Any]:
    """An event with its invitations as JSON (times Europe/Rome, with their offset)."""
    return {
        "id": record.id,
        "community": record.community,
        "from": _iso(record.starts_at),
        "to": _iso(record.ends_at),
        "action": record.action,
        "target_kw": record.target_kw,
        "target_kwh": record.target_kwh,
        "note": record.note,
        "created_at": _iso(record.created_at),
        "created_by": record.created_by,
        "sent_at": _iso(record.sent_at),
        "cancelled_at": _iso(record.cancelled_at),
        "members_invited": record.members,
        "replies": record.replies(),
        "invitations": [
            {
                "member": i.member_id,
                "du": i.du_id or None,
                "sent_at": _iso(i.sent_at),
                "reply": i.reply_status,
                "replied_at": _iso(i.replied_at),
            }
            for i in record.invitations
        ],
    }


def replies_text(record: EventRecord) -> str:
    r = record.replies()
    return f"{r['accepted']} accepted, {r['declined']} declined, {r['no reply']} no reply"


def _member_replies(record: EventRecord, member_id: str) -> str:
    mine = [i for i in record.invitations if i.member_id == member_id]
    if not any(i.du_id for i in mine):
        return "- (no DU)"
    return ", ".join(f"{i.du_id}: {i.reply_status or 'no reply'}" for i in mine if i.du_id)


def show_send_summary(console: Console, summary: Any, *, mqtt: bool, email: bool) -> bool:
    """Print what went out (a :class:`condivisa.app.events.SendSummary`); True when every channel worked."""
    if mqtt:
        console.print(f"DU messages published: {len(summary.du_topics)}", highlight=False)
    else:
        console.print("DU messages: none (--no-mqtt)", highlight=False)
    if email:
        console.print(f"e-mails sent: {len(summary.emails_sent)}", highlight=False)
    else:
        console.print("e-mails: none (no SMTP configured, or --no-email)", highlight=False)
    for member_id, why in summary.emails_refused.items():
        console.print(
            f"  [red]refused[/] {escape(member_id)}: {escape(why)}", highlight=False, soft_wrap=True
        )
    if summary.members_without_channel:
        who = ", ".join(summary.members_without_channel)
        console.print(
            f"members with no channel (no DU, no e-mail sent): {who}", highlight=False, markup=False
        )
    for error in summary.errors:
        console.print(f"[red]error:[/] {escape(error)}", highlight=False, soft_wrap=True)
    return not summary.errors and not summary.emails_refused


def report_block(console: Console, report: EventReport, the_community: Community) -> None:
    """One event's report: window, status, replies, the settled figures and a table per member."""
    record = report.record
    names = {m.id: m.name or "" for m in the_community.members}
    target = target_text(record)
    console.print(
        f"[bold]{escape(record.id)}[/]  {window_text(record)}"
        + (f"  target {target}" if target else "")
        + f"  [{status_text(record)}]",
        highlight=False,
    )
    if record.note:
        console.print(Text(f"  note: {record.note}"))
    console.print(
        f"  invited: {len(record.members)} members; replies of the DUs: {replies_text(record)}",
        highlight=False,
    )
    if report.settled:
        console.print(
            f"  extra consumption in the window: {report.extra_consumption_kwh:,.3f} kWh; "
            f"extra shared energy: {report.extra_shared_kwh:,.3f} kWh; "
            f"extra premium: {report.extra_premium_eur:,.2f} €",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print("  not settled yet: the figures come once the event's day is settled", highlight=False)
    table = Table("member", "name", "DU replies", "kWh shifted", "bonus of the month €", title_justify="left")
    for member_id in record.members:
        shifted = report.shifted_kwh.get(member_id)
        bonus = report.month_bonus_eur.get(member_id)
        table.add_row(
            *(
                Text(c)
                for c in (
                    member_id,
                    names.get(member_id, ""),
                    _member_replies(record, member_id),
                    f"{shifted:,.3f}" if shifted is not None else "-",
                    f"{bonus:,.2f}" if bonus is not None else "-",
                )
            )
        )
    console.print(table)
    for problem in report.problems:
        console.print(f"  [yellow]left out:[/] {escape(problem)}", highlight=False, soft_wrap=True)
