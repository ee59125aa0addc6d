"""``condivisa events``: demand-response events of a community (issue #19, item 3; docs/events.md).

``create`` stores an event and, by default, sends it (the ``event`` command to the invited DUs over MQTT,
an e-mail to the invited members when SMTP is configured); ``list`` shows the events with their replies;
``show ID`` and ``report`` what each earned, from the same settlement as the dashboard
(:func:`condivisa.app.events.reports`); ``send ID`` sends an event again (e.g. after a broker outage);
``cancel ID`` cancels it (kept, never deleted).

The logic is in :mod:`condivisa.app.events`; this module parses, opens the store and prints. Bad input
(a window off the quarter hour, an overlap, an unknown member or event) is red on stderr with exit code 2;
a channel that failed while sending (broker down, an e-mail refused) gives exit code 1.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from condivisa.commands.billing_options import ConfigOpt, community, fail, open_store
from condivisa.outputs.events_terminal import (
    record_dict,
    report_block,
    show_send_summary,
    status_text,
    target_text,
    window_text,
)

if TYPE_CHECKING:
    from condivisa.app.settings import Settings
    from condivisa.domain.community import Community
    from condivisa.outputs.events import EventReport
    from condivisa.store.flex_events import EventRecord
    from condivisa.store.store import Store

events_app = typer.Typer(
    help="Demand-response events: create (and send), list, show, report, send again, cancel.",
    no_args_is_help=True,
)


class Format(StrEnum):
    table = "table"
    json = "json"


DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="the platform's database URL (default: $CONDIVISA_DATABASE_URL, else sqlite:///./var/condivisa.db)",
    ),
]
SettingsOpt = Annotated[
    Path | None,
    typer.Option(
        "--settings", help="settings file (TOML or YAML); env CONDIVISA_* override it", dir_okay=False
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table or json")]
PricesOpt = Annotated[
    Path | None,
    typer.Option(
        "--prices",
        "-p",
        help="hourly zonal prices CSV (default: the dashboard's flat assumed price)",
        exists=True,
        dir_okay=False,
    ),
]
IdArg = Annotated[str, typer.Argument(help="the event's id, e.g. ev-20261202-1100")]


# ----------------------------------------------------------------------------------------------- helpers
def parse_local_time(text: str, option: str) -> dt.datetime:
    """``"2026-12-02 11:00"`` as Europe/Rome civil time, or an ISO 8601 time with its offset.

    A civil time that does not exist (the spring night 02:00-03:00) or exists twice (the autumn night) is
    refused: give the offset then (e.g. ``2026-10-25T02:30+01:00``)."""
    from condivisa.kernel.timegrid import ROME

    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f'{option} {text!r}: not a time; write it as "2026-12-02 11:00" (Italian time)')
    if value.tzinfo is not None:
        return value.astimezone(ROME)
    first, second = value.replace(tzinfo=ROME, fold=0), value.replace(tzinfo=ROME, fold=1)
    if first.astimezone(dt.UTC).astimezone(ROME).replace(tzinfo=None) != value:
        fail(f"{option} {text!r}: this time does not exist in Italy (the clocks jump forward that night)")
    if first.utcoffset() != second.utcoffset():
        fail(
            f"{option} {text!r}: this time occurs twice in Italy that night; add the offset (+02:00 or +01:00)"
        )
    return first


def _settings(settings_file: Path | None, config: Path) -> Settings:
    from condivisa.app.settings import SettingsError, load_settings

    try:
        return load_settings(settings_file, community_file=str(config))
    except SettingsError as exc:
        fail(str(exc))


def event_slug(store: Store, settings: Settings, the_community: Community) -> str:
    """The community's key for its events (:func:`condivisa.store.flex_events.events_slug`: what
    ``condivisa serve``, the dashboard and the settlement use)."""
    from condivisa.store.flex_events import events_slug

    return events_slug(store.engine, the_community.name)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _send(
    console: Console,
    store: Store,
    settings: Settings,
    the_community: Community,
    record: EventRecord,
    *,
    no_email: bool,
    no_mqtt: bool,
) -> bool:
    from condivisa.app.events import send
    from condivisa.app.mail import mailer_from_settings

    mailer = None if no_email else mailer_from_settings(settings)
    summary = send(store, settings, the_community, record, mqtt=not no_mqtt, mailer=mailer)
    return show_send_summary(console, summary, mqtt=not no_mqtt, email=mailer is not None)


def _reports(
    store: Store, the_community: Community, slug: str, prices: Path | None
) -> tuple[list[EventReport], str]:
    """Every event's report from the dashboard's settlement (its prices: ``prices``, else the flat assumed
    price the dashboard uses) and a line that says which prices."""
    from condivisa.app.events import reports
    from condivisa.formats.csv_io import InputError
    from condivisa.outputs.sources import ASSUMED_PRICE_EUR_PER_MWH, inputs_from_store

    try:
        inputs = inputs_from_store(
            store,
            the_community,
            prices_csv=prices,
            assumed_price_eur_per_mwh=None if prices else ASSUMED_PRICE_EUR_PER_MWH,
        )
        found = reports(store, inputs, slug)
    except (InputError, ValueError, KeyError) as exc:
        fail(str(exc))
    said = (
        f"prices: {prices}"
        if prices
        else f"prices: assumed flat {ASSUMED_PRICE_EUR_PER_MWH:g} €/MWh, as the dashboard (give --prices FILE)"
    )
    return found, said


# ---------------------------------------------------------------------------------------------- commands
@events_app.command("create")
def create_cmd(
    config: ConfigOpt,
    start: Annotated[
        str, typer.Option("--from", help='start, Italian time: "2026-12-02 11:00" (or ISO with offset)')
    ],
    end: Annotated[str, typer.Option("--to", help='end, Italian time: "2026-12-02 14:00"')],
    target_kw: Annotated[
        float | None, typer.Option("--target-kw", help="community-wide target: kW more, on average")
    ] = None,
    target_kwh: Annotated[
        float | None, typer.Option("--target-kwh", help="community-wide target: kWh more in the window")
    ] = None,
    members: Annotated[
        list[str] | None,
        typer.Option("--member", help="invite this member (repeat it); default: every member that day"),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="a sentence added to the e-mail")] = None,
    event_id: Annotated[
        str | None, typer.Option("--id", help="the event's id (default: ev-YYYYMMDD-HHMM of its start)")
    ] = None,
    send_now: Annotated[
        bool, typer.Option("--send/--no-send", help="send it now (default) or later with `events send`")
    ] = True,
    no_email: Annotated[bool, typer.Option("--no-email", help="send no e-mail")] = False,
    no_mqtt: Annotated[bool, typer.Option("--no-mqtt", help="publish nothing to the DUs")] = False,
    database: DatabaseOpt = None,
    settings_file: SettingsOpt = None,
) -> None:
    """Create an event (consume more in the window) and send it to the invited members and their DUs."""
    from condivisa.app.events import create
    from condivisa.billing.run_common import whoami
    from condivisa.store.flex_events import EventError

    starts_at, ends_at = parse_local_time(start, "--from"), parse_local_time(end, "--to")
    if target_kw is not None and target_kwh is not None:
        fail("give --target-kw or --target-kwh, not both")
    the_community = community(config)
    settings = _settings(settings_file, config)
    console = Console()
    with open_store(database) as store:
        slug = event_slug(store, settings, the_community)
        try:
            record = create(
                store,
                the_community,
                slug,
                start=starts_at,
                end=ends_at,
                created_by=f"cli:{whoami()}",
                members=list(members) if members else None,
                target_kw=target_kw,
                target_kwh=target_kwh,
                note=note,
                event_id=event_id,
            )
        except EventError as exc:
            fail(str(exc))
        dus = len({i.du_id for i in record.invitations if i.du_id})
        console.print(
            f"event [bold]{escape(record.id)}[/] created: {window_text(record)}, "
            f"{len(record.members)} members invited, {dus} DUs",
            highlight=False,
        )
        if not send_now:
            console.print(f"not sent: send it with `condivisa events send {record.id} --config ...`")
            return
        ok = _send(console, store, settings, the_community, record, no_email=no_email, no_mqtt=no_mqtt)
    if not ok:
        raise typer.Exit(code=1)


@events_app.command("list")
def list_cmd(
    config: ConfigOpt,
    fmt: FormatOpt = Format.table,
    database: DatabaseOpt = None,
    settings_file: SettingsOpt = None,
) -> None:
    """The community's events, oldest first (cancelled ones too), with the DUs' replies."""
    from condivisa.store.flex_events import list_events

    the_community = community(config)
    settings = _settings(settings_file, config)
    with open_store(database) as store:
        records = list_events(
            store.engine, event_slug(store, settings, the_community), include_cancelled=True
        )
    if fmt is Format.json:
        _print_json([record_dict(r) for r in records])
        return
    if not records:
        Console().print(
            "no events yet: create one with `condivisa events create --config ... --from ... --to ...`"
        )
        return
    table = Table(
        "id", "window (Italian time)", "target", "members", "accepted", "declined", "no reply", "status"
    )
    for r in records:
        replies = r.replies()
        table.add_row(
            r.id,
            window_text(r),
            target_text(r),
            str(len(r.members)),
            str(replies["accepted"]),
            str(replies["declined"]),
            str(replies["no reply"]),
            status_text(r),
        )
    Console().print(table)


@events_app.command("show")
def show_cmd(
    event_id: IdArg,
    config: ConfigOpt,
    fmt: FormatOpt = Format.table,
    prices: PricesOpt = None,
    database: DatabaseOpt = None,
    settings_file: SettingsOpt = None,
) -> None:
    """One event: its invitations, the replies, and what it earned (kWh shifted, extra premium, bonus)."""
    from condivisa.outputs.events import EventReport
    from condivisa.store.flex_events import EventError, get_event

    the_community = community(config)
    settings = _settings(settings_file, config)
    with open_store(database) as store:
        slug = event_slug(store, settings, the_community)
        try:
            record = get_event(store.engine, event_id, slug)
        except EventError as exc:
            fail(str(exc))
        said = ""
        if record.cancelled_at is None:
            found, said = _reports(store, the_community, slug, prices)
            report = next(r for r in found if r.record.id == event_id)
        else:
            report = EventReport(record, False)
    if fmt is Format.json:
        _print_json({**report.to_dict(), **record_dict(record)})
        return
    console = Console()
    report_block(console, report, the_community)
    if said:
        console.print(said, highlight=False)


@events_app.command("report")
def report_cmd(
    config: ConfigOpt,
    fmt: FormatOpt = Format.table,
    prices: PricesOpt = None,
    database: DatabaseOpt = None,
    settings_file: SettingsOpt = None,
) -> None:
    """Every event's report: invitations, replies, kWh shifted per member, extra shared energy and premium."""
    the_community = community(config)
    settings = _settings(settings_file, config)
    with open_store(database) as store:
        slug = event_slug(store, settings, the_community)
        found, said = _reports(store, the_community, slug, prices)
    if fmt is Format.json:
        _print_json(
            {
                "community": slug,
                "prices": str(prices) if prices else None,
                "prices_assumed": prices is None,
                "events": [r.to_dict() for r in found],
            }
        )
        return
    console = Console()
    if not found:
        console.print("no events yet", highlight=False)
    for report in found:
        report_block(console, report, the_community)
    console.print(said, highlight=False)


@events_app.command("send")
def send_cmd(
    event_id: IdArg,
    config: ConfigOpt,
    no_email: Annotated[bool, typer.Option("--no-email", help="send no e-mail")] = False,
    no_mqtt: Annotated[bool, typer.Option("--no-mqtt", help="publish nothing to the DUs")] = False,
    database: DatabaseOpt = None,
    settings_file: SettingsOpt = None,
) -> None:
    """Send an event (again), e.g. after the broker or the mail server was down (a DU's reply counts once)."""
    from condivisa.store.flex_events import EventError, get_event

    the_community = community(config)
    settings = _settings(settings_file, config)
    console = Console()
    with open_store(database) as store:
        slug = event_slug(store, settings, the_community)
        try:
            record = get_event(store.engine, event_id, slug)
        except EventError as exc:
            fail(str(exc))
        if record.cancelled_at is not None:
            fail(f"event {event_id!r} is cancelled: it is not sent")
        console.print(f"event [bold]{escape(record.id)}[/]: {window_text(record)}", highlight=False)
        ok = _send(console, store, settings, the_community, record, no_email=no_email, no_mqtt=no_mqtt)
    if not ok:
        raise typer.Exit(code=1)


@events_app.command("cancel")
def cancel_cmd(
    event_id: IdArg,
    config: ConfigOpt,
    database: DatabaseOpt = None,
    settings_file: SettingsOpt = None,
) -> None:
    """Cancel an event: it is kept with its replies, no longer measured, and its hours are free again."""
    from condivisa.store.flex_events import EventError, cancel_event

    the_community = community(config)
    settings = _settings(settings_file, config)
    with open_store(database) as store:
        try:
            record = cancel_event(store.engine, event_id, event_slug(store, settings, the_community))
        except EventError as exc:
            fail(str(exc))
    Console().print(
        f"event {escape(record.id)} ({window_text(record)}) is {status_text(record)}", highlight=False
    )


def register(app: typer.Typer) -> None:
    """Add ``events`` to ``app``."""
    app.add_typer(events_app, name="events")
