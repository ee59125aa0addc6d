"""``condivisa advise``: send tomorrow's good hours to the members, by e-mail and to their DUs over MQTT
(:mod:`condivisa.app.advice`; docs/advice.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from condivisa.app.advice import AdvicePlan, AdviceSummary


def _fail(message: str, code: int = 2) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


def _show_plan(console: Console, plan: AdvicePlan, email: bool, mqtt: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    from condivisa.outputs.advice import window_lines

    advice = plan.advice
    console.print(f"advice of {advice.day} ({advice.advice_id})", highlight=False)
    console.print(f"  it: {advice.text['it']}", highlight=False, soft_wrap=True)
    console.print(f"  en: {advice.text['en']}", highlight=False, soft_wrap=True)
    for line in window_lines(advice, "en") or ["no good hours: the windows are empty"]:
        console.print(f"  - {line}", highlight=False)
    table = Table(title="what would be sent (dry run: nothing is sent)", title_justify="left")
    for col in ("member", "name", "e-mail", "subject", "DU cmd topics"):
        table.add_column(col, overflow="fold")
    for d in plan.deliveries:
        address = (d.email.to or "- (no address)") if email else "- (--no-email)"
        topics = "\n".join(d.du_topics.values()) or "- (no DU)"
        cells = (d.member_id, d.name or "", address, d.email.subject, topics if mqtt else "- (--no-mqtt)")
        table.add_row(*(Text(c) for c in cells))  # a name is text, never Rich markup
    console.print(table)
    if mqtt:
        console.print("MQTT payload (QoS 1, not retained):", highlight=False)
        console.print(plan.payload.decode(), highlight=False, soft_wrap=True, markup=False)


def _show_summary(console: Console, summary: AdviceSummary, email: bool, mqtt: bool) -> None:
    from rich.markup import escape

    if email:
        console.print(f"e-mails sent: {len(summary.emails_sent)}", highlight=False)
        for r in summary.emails_refused:
            why = f"{escape(r.recipient)}: {escape(str(r.error))}"
            console.print(f"  [red]refused[/] {why}", highlight=False, soft_wrap=True)
        if summary.members_without_email:
            who = ", ".join(summary.members_without_email)
            console.print(f"  members without an e-mail address: {who}", highlight=False, markup=False)
        if summary.email_error:
            console.print(f"  [red]e-mail:[/] {escape(summary.email_error)}", highlight=False, soft_wrap=True)
    if mqtt:
        console.print(f"DU messages published: {len(summary.du_published)}", highlight=False)
        if summary.mqtt_error:
            console.print(f"  [red]MQTT:[/] {escape(summary.mqtt_error)}", highlight=False, soft_wrap=True)


def advise_command(
    config: Path = typer.Option(..., "--config", "-c", help="community.yaml", exists=True, dir_okay=False),
    day: str | None = typer.Option(None, "--day", help="the day advised, YYYY-MM-DD (default: tomorrow)"),
    no_email: bool = typer.Option(False, "--no-email", help="send no e-mail"),
    no_mqtt: bool = typer.Option(False, "--no-mqtt", help="publish nothing to the DUs"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="print what would be sent, per member; send nothing"
    ),
    database: str | None = typer.Option(None, "--database", help="the store's SQLAlchemy URL"),
    settings_file: Path | None = typer.Option(
        None, "--settings", help="settings file (TOML or YAML); env CONDIVISA_* override it", dir_okay=False
    ),
) -> None:
    """Send tomorrow's good hours to every member: an e-mail, and the `advice` message to their DUs."""
    from condivisa.app.advice import deliver, prepare
    from condivisa.app.settings import SettingsError, load_settings
    from condivisa.domain.config import load_community
    from condivisa.store.location import resolve_database_url
    from condivisa.store.store import Store

    target = None
    if day is not None:
        try:
            target = dt.date.fromisoformat(day)
        except ValueError:
            _fail(f"--day: {day!r} is not a date (YYYY-MM-DD)")
    email, mqtt = not no_email, not no_mqtt
    console = Console()
    try:
        settings = load_settings(settings_file, community_file=str(config))
        community = load_community(config)
        with Store(resolve_database_url(database)) as store:
            if store.revision() is None:
                raise ValueError(f"{store.url}: no condivisa data here; run `condivisa db upgrade` first")
            plan = prepare(store, community, settings, target)
    except (SettingsError, ValueError, RuntimeError, KeyError) as exc:
        _fail(str(exc))
        return
    if dry_run:
        _show_plan(console, plan, email, mqtt)
        return
    console.print(plan.advice.text["it"], highlight=False, soft_wrap=True)
    summary = deliver(plan, settings, email=email, mqtt=mqtt)
    _show_summary(console, summary, email, mqtt)
    if not summary.ok:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``advise`` to ``app``."""
    app.command("advise")(advise_command)
