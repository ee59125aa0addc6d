"""``condivisa demo``: the whole platform on the embedded defaults, in one process.

SQLite in ``--dir`` (default ``./var/demo``), the in-process amqtt broker, the MQTT ingest worker and the HTTP
app with the dashboard (:mod:`condivisa.app.demo_runtime`). Simulated user devices publish ``--weeks`` of
quarter-hour UrbanDatasets over MQTT (time-compressed: one message per DU per four hours of quarter-hour
readings, as a DU catching up would send), a DU maker's cloud pushes a group of DUs over REST, a few faults
are injected (lost, repeated and corrupt messages; one device falls silent three hours ago:
:mod:`condivisa.sim.demo_traffic`). On a recent working day with enough history a demand-response event is
planned from that day's forecast and sent over the embedded broker before the DUs send that day's readings;
the DUs answer it and move consumption into its window (:mod:`condivisa.app.demo_flex`). Then the months are
settled, a report is written, what the event earned and the forecast's error are printed, and the dashboard
is served until Ctrl-C.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from condivisa.app.demo_runtime import DemoPlatform
    from condivisa.sim.demo_traffic import DemoFleets
    from condivisa.sim.devices import SimDevice
    from condivisa.sim.sinks import MqttSink, RestSink

console = Console()

#: days ahead for which prices and simulated readings exist while the demo is served
LIVE_DAYS = 14
#: loggers too chatty for a demo's console
NOISY_LOGGERS = ("amqtt", "transitions", "alembic", "uvicorn", "condivisa.transports.mqtt.worker")


@dataclass(frozen=True)
class _Plan:
    """What the demo simulates: its community, DUs and days."""

    kind: str
    weeks: int
    raw: dict
    devices: list[SimDevice]
    now: dt.datetime
    start: dt.date
    horizon: dt.date  # prices and simulated DUs run up to this day, for the days the demo may be served


@dataclass
class _Sinks:
    """Where the simulated DUs send: the embedded broker and the REST API, once opened."""

    mqtt: MqttSink | None = None
    rest: RestSink | None = None

    def close(self) -> None:
        for sink in (self.mqtt, self.rest):
            if sink is not None:
                _quietly(sink.close)()


def _today_instant(value: str) -> dt.datetime:
    """``--today``: a date keeps the real local time of day; an instant is taken as it is."""
    from condivisa.kernel import clock

    try:
        instant = clock.parse_instant(value)
    except clock.ClockError as exc:
        raise typer.BadParameter(f"--today: {exc}") from None
    if len(value.strip()) == 10:
        real = clock.local_now()
        instant = instant.replace(hour=real.hour, minute=real.minute, second=real.second)
        instant = instant.astimezone(dt.UTC).astimezone(
            clock.ROME
        )  # a wall time that does not exist moves on
    return instant


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar for one long step; yields the ``(done, total)`` callback that moves it."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def _quietly(close: Callable[[], object]) -> Callable[[], None]:
    """``close``, printing instead of raising what goes wrong (so the demo keeps closing the rest)."""

    def run() -> None:
        try:
            close()
        except Exception as exc:
            _stop_error(exc)

    return run


def _stop_error(exc: Exception) -> None:
    console.print(f"[yellow]while stopping: {exc}[/]")


def _trap_signals(stack: ExitStack) -> None:
    """Ctrl-C and SIGTERM stop the demo the same clean way; the caller's handlers (e.g. a test runner's)
    come back when ``stack`` closes."""
    import signal

    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack.callback(lambda: [signal.signal(sig, handler) for sig, handler in previous.items()])


def _run_case(case_file: Path, out: Path) -> Path:
    """Run the case study (simulation, storage, economics) and write its summary.json into ``out``."""
    from condivisa.casestudy.casefile import load_case
    from condivisa.casestudy.runner import run_case
    from condivisa.casestudy.tables import write_tables

    with console.status(f"case study {case_file.name}: simulating the year with and without batteries …"):
        study = run_case(load_case(case_file))
        write_tables(study, out)
    console.print(f"case study written to [bold]{out / 'summary.json'}[/] (shown on the referente's page)")
    return out / "summary.json"


def _plan(kind: str, weeks: int, today: str | None) -> _Plan:
    """Stage 1: check ``--community``, set the clock (``--today``), choose the community and the days."""
    from condivisa.kernel import clock
    from condivisa.sim.demo_data import KINDS, demo_configuration

    if kind not in KINDS:
        raise typer.BadParameter(f"--community: choose one of {', '.join(KINDS)}")
    if today is not None:
        clock.set_now(_today_instant(today))
    now = clock.now()
    start = (now - dt.timedelta(weeks=weeks)).astimezone(clock.ROME).date()
    raw, devices = demo_configuration(kind)
    return _Plan(kind, weeks, raw, devices, now, start, clock.today() + dt.timedelta(days=LIVE_DAYS))


def _prepare(plan: _Plan, workdir: Path, port: int, case: Path | None, today: str | None) -> DemoPlatform:
    """Stage 2: write the demo's files, say what runs, run the case study if asked; the platform to start."""
    from condivisa.app.demo_runtime import DemoPlatform, demo_settings, prepare_workdir
    from condivisa.domain.config import load_community
    from condivisa.kernel import clock
    from condivisa.sim.demo_data import demo_prices

    files = prepare_workdir(workdir, plan.raw, demo_prices(plan.start, plan.horizon, plan.raw["market_zone"]))
    console.print(
        f"today is [bold]{clock.local_now():%Y-%m-%d %H:%M}[/] (Europe/Rome)"
        + (" — set by --today" if today is not None else "")
    )
    console.rule(f"[bold green]condivisa demo[/] — {plan.raw['name']}")
    console.print(
        f"embedded defaults: SQLite [bold]{files.db}[/], in-process MQTT broker; {len(plan.devices)} DUs, "
        f"{plan.weeks} week(s) from {plan.start}"
    )
    community = load_community(files.community)
    case_summary = _run_case(case, workdir / "case") if case else None
    return DemoPlatform(demo_settings(files, port, case_summary), community)


def _start(platform: DemoPlatform, plan: _Plan) -> None:
    """Stage 3: start the store, the embedded broker, the ingest worker and the HTTP app (with an API token
    for the DUs that push over REST)."""
    from condivisa.sim.demo_traffic import REST_DUS

    platform.start(rest_dus=tuple(REST_DUS.get(plan.kind, ())))
    assert platform.server is not None and platform.broker is not None
    console.print(
        f"platform up: HTTP {platform.server.url}, MQTT {platform.broker.url} (topics condivisa/demo/du/<DU>/up)"
    )


def _plan_event(platform: DemoPlatform, day: dt.date, sink: MqttSink, acked: int) -> str | None:
    """Stage 4a, when the DUs reach ``day``: once the platform stored the ``acked`` MQTT messages sent so
    far, plan the event on ``day`` from its forecast, send it over the embedded broker and wait until the
    simulated DUs have it; returns its id (None, with one printed line, when it could not be made)."""
    from condivisa.app.demo_flex import plan_event
    from condivisa.kernel.timegrid import ROME
    from condivisa.sim.demo_traffic import wait_acknowledged

    assert platform.store is not None
    wait_acknowledged(sink, acked)  # the days before are stored: the forecast reads them
    try:
        planned = plan_event(platform.store, platform.settings, platform.community, day)
    except (ValueError, OSError) as exc:  # an EventError is a ValueError
        console.print(f"[yellow]no flexibility event: {exc}[/]")
        return None
    if planned.errors:
        console.print(f"[yellow]flexibility event {planned.record.id}: {'; '.join(planned.errors)}[/]")
    received = sink.wait_commands(len(planned.du_topics))
    a, b = planned.record.starts_at.astimezone(ROME), planned.record.ends_at.astimezone(ROME)
    window = "the day's forecast best 3 hours" if planned.from_forecast else "11–14, no forecast possible"
    console.print(
        f"flexibility event {planned.record.id} on {day} {a:%H:%M}–{b:%H:%M} ({window}): sent to "
        f"{len(planned.du_topics)} DUs over MQTT, {received} received it before sending that day's readings"
    )
    return planned.record.id


def _send_past(platform: DemoPlatform, plan: _Plan, sinks: _Sinks) -> tuple[DemoFleets, int, str | None]:
    """Stage 4: the DUs send their past readings (MQTT and REST) and the platform acknowledges them; on
    the event's day (:func:`condivisa.app.demo_flex.event_day`) they stop for the event (:func:`_plan_event`)
    and answer it. Returns the fleets, how many quarter hours were sent and the event's id (None: no
    event)."""
    from condivisa.app.demo_flex import MIN_HISTORY_DAYS, event_day, wait_replies
    from condivisa.kernel import clock
    from condivisa.kernel.timegrid import local_midnight
    from condivisa.sim.demo_traffic import SILENT_FOR, demo_fleets, send_past, wait_acknowledged
    from condivisa.sim.sinks import MqttSink, RestSink

    assert platform.store is not None and platform.broker is not None and platform.server is not None
    future = clock.local_now() + dt.timedelta(days=LIVE_DAYS + 1)  # the fleets run on; send what has ended
    fleets = demo_fleets(plan.kind, plan.devices, plan.start, (plan.horizon - plan.start).days, future)
    sinks.mqtt = MqttSink(platform.broker.url, "demo", client_id="condivisa-demo-dus")
    sinks.rest = RestSink(platform.server.url, token=platform.rest_token)
    mqtt = sinks.mqtt
    day = event_day(plan.start, plan.now, SILENT_FOR)
    event: list[str | None] = []
    if day is None:
        console.print(
            f"no flexibility event: no past working day with {MIN_HISTORY_DAYS} working days of data before "
            "it (try --weeks 2 or more)"
        )
    with _progress("DUs sending (MQTT messages)") as moved:
        counts = send_past(
            fleets,
            mqtt,
            sinks.rest,
            plan.now,
            moved,
            pause_at=local_midnight(day).to_pydatetime() if day is not None else None,
            on_pause=lambda sent: event.append(_plan_event(platform, day, mqtt, sent["mqtt_messages"])),
        )
    with _progress("platform storing (MQTT messages)") as moved:
        acked = wait_acknowledged(sinks.mqtt, counts["mqtt_messages"], moved)
    event_id = event[0] if event else None
    if event_id is not None:
        replies = wait_replies(platform.store, event_id)
        console.print(
            f"replies to {event_id}: {replies['accepted']} accepted, {replies['declined']} declined, "
            f"{replies['no reply']} without reply"
        )
    stored = platform.store.counts()
    console.print(
        f"sent {counts['mqtt_messages']} MQTT messages ({counts['repeated']} repeated, "
        f"{counts['corrupt']} corrupt) "
        f"and {counts['rest_messages']} REST pushes; {acked} MQTT acknowledgements; "
        f"{stored['measurements']} quarter hours stored, {stored['dead_letters']} "
        "rejected messages kept"
    )
    return fleets, counts["sent_quarters"], event_id


def _distributor_data(platform: DemoPlatform, out: Path) -> None:
    """Stage 4b: the distributor's validated data of the last month the DUs covered, as portal exports
    (made from the DU readings, slightly different; :mod:`condivisa.sim.distributor_exports`), imported."""
    from condivisa.kernel import clock
    from condivisa.sim.distributor_exports import import_demo_exports, write_demo_exports

    assert platform.store is not None
    paths = write_demo_exports(platform.store, platform.community, out, clock.today())
    outcomes = import_demo_exports(platform.store, platform.community, paths, clock.now())
    if outcomes:
        values = sum(o.new for o in outcomes)
        console.print(
            f"distributor data: {len(paths)} portal exports in {out} imported ({values:,} quarter hours); they "
            "count for the money, the reconciliation compares them with the DUs"
        )


def _write_reports(
    platform: DemoPlatform, out: Path, lang: str, pdf: bool, simulated_kwh: dict[str, float] | None = None
) -> None:
    """Stage 5: settle what is stored as the dashboard shows it, write the latest settled month's report and
    the first member's statement (:func:`condivisa.app.demo_runtime.write_reports`), print the month's
    allocation, what the flexibility event earned (from the same settlement; ``simulated_kwh``: event id →
    kWh the simulated DUs moved), the month's forecast error and the files written."""
    from condivisa.app.demo_flex import event_lines, forecast_line
    from condivisa.app.demo_runtime import write_reports
    from condivisa.kernel import clock

    assert platform.store is not None
    community = platform.community
    with console.status("settling the months and writing the report …"):
        book, month, written, inputs = write_reports(
            platform.store, community, platform.settings.prices_file, out, lang, pdf
        )
        from condivisa.billing.ledger_report import record_demo_payment

        record_demo_payment(platform.store, book)  # the GSE ledger shows one payment (docs/gse-ledger.md)
    if month:
        console.print(_summary(book, community, month))
    slug = platform.settings.community_slug()
    for line in event_lines(platform.store, book, inputs, slug, simulated_kwh):
        console.print(line, highlight=False, soft_wrap=True)
    if month:
        console.print(
            forecast_line(platform.store, community, month, clock.today()), highlight=False, soft_wrap=True
        )
    for path in written:
        console.print(f"wrote [bold]{path}[/]")


def _simulated_shift(fleets: DemoFleets, event_id: str | None) -> dict[str, float]:
    """``{event id: kWh the simulated DUs moved into its window}`` (the truth the baseline is compared with)."""
    if event_id is None:
        return {}
    return {
        event_id: sum(
            sum(f.shifted_kwh(event_id).values()) for f in (fleets.mqtt, fleets.rest) if f is not None
        )
    }


def _print_logins(url: str, community, horizon: dt.date) -> None:
    """Where the dashboard is and who can log in."""
    from condivisa.app.demo_runtime import DEMO_PASSWORD, REFERENTE

    first_member = community.members[0]
    console.rule("[bold green]dashboard")
    console.print(f"open [bold underline]{url}/[/]  (Ctrl-C stops the demo)")
    console.print(f"  referente: user [bold]{REFERENTE}[/], password [bold]{DEMO_PASSWORD}[/]")
    console.print(
        f"  members:   user = member id ([bold]{first_member.id}[/] … {community.members[-1].id}), "
        f"password [bold]{DEMO_PASSWORD}[/]  (e.g. {first_member.id} = {first_member.name})"
    )
    console.print(f"  the DUs go on sending every quarter hour while the demo runs (up to {horizon})")


def _serve(platform: DemoPlatform, plan: _Plan, fleets: DemoFleets, sinks: _Sinks, sent: int) -> None:
    """Stage 6: serve the dashboard until Ctrl-C while the DUs go on sending each quarter hour as it ends."""
    from condivisa.kernel import clock
    from condivisa.sim.demo_traffic import LiveTraffic

    assert platform.server is not None and sinks.mqtt is not None and sinks.rest is not None
    _print_logins(platform.server.url, platform.community, plan.horizon)
    live = LiveTraffic(fleets, sinks.mqtt, sinks.rest, sent)
    while platform.server.thread.is_alive():
        live.tick(clock.now())
        time.sleep(0.5)


def _summary(book, community, month: str, width: int | None = None) -> RenderableType:
    """The month's allocation as the settlement gives it: members, the community account, the total row;
    folded into one block per payee when it is wider than the terminal (``width``, default the console's).
    Numbers in the user's locale (:mod:`condivisa.outputs.terminal`)."""
    from condivisa.outputs.statement import MONEY_KEYS, Money
    from condivisa.outputs.terminal import cli_number, fit_table

    ms = book.month(month)
    totals = ms.totals
    state = f"settled {ms.settled_from} to {ms.settled_to}" if not ms.empty else "no finished day yet"
    table = Table(title=f"{community.name} — {month} ({state})", title_justify="left")
    for col in (
        "payee",
        "withdrawn kWh",
        "shared kWh",
        "premium €",
        "valorisation €",
        "sale €",
        "fees €",
        "GSE fees €",
        "total €",
    ):
        table.add_column(col, justify="left" if col == "payee" else "right", no_wrap=True)
    payees = ms.payees()
    for p in payees:
        label = f"{p.name} ({p.id})" if p.name != p.id else p.id
        energy = ("", "")
        if p.kind == "member":
            e = ms.statement(p.id).energy
            energy = (cli_number(e.withdrawn_kwh, 1), cli_number(e.shared_kwh, 1))
        table.add_row(label, *energy, *(cli_number(getattr(p.money, k)) for k in MONEY_KEYS))
    total = Money.sum(p.money for p in payees)
    table.add_row(
        "total",
        cli_number(totals["withdrawn_kwh"], 1),
        cli_number(totals["shared_kwh"], 1),
        *(cli_number(getattr(total, k)) for k in MONEY_KEYS),
        style="bold",
        end_section=True,
    )
    table.caption = (
        f"community: injected {cli_number(totals['injected_kwh'], 1)} kWh, shared "
        f"{cli_number(totals['shared_kwh'], 1)} kWh; fees paid are negative, the community account receives them"
    )
    return fit_table(table, console.width if width is None else width)


def demo(
    community_kind: Annotated[
        str, typer.Option("--community", help="cer (20 members) or is-corrias (8 flats, AUC)")
    ] = "cer",
    weeks: Annotated[
        int, typer.Option("--weeks", min=1, max=26, help="weeks of quarter-hour data the DUs send")
    ] = 3,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="serve the dashboard until Ctrl-C")
    ] = True,
    port: Annotated[int, typer.Option("--port", help="HTTP port (a free one if taken)")] = 8000,
    workdir: Annotated[
        Path, typer.Option("--dir", help="where the demo's database, files and reports go")
    ] = Path("var/demo"),
    lang: Annotated[str, typer.Option("--lang", help="language of the written report: it or en")] = "it",
    pdf: Annotated[
        bool, typer.Option("--pdf/--no-pdf", help="also print the report to PDF (needs Chromium)")
    ] = False,
    case: Annotated[
        Path | None,
        typer.Option(
            "--case",
            help="also run this case study (e.g. is-corrias.yaml) and show it to the referente",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            help="run the demo as if today were YYYY-MM-DD (the time of day "
            "is the real one) or YYYY-MM-DDTHH:MM+01:00; default: the real date",
        ),
    ] = None,
) -> None:
    """One command, the whole product: simulated DUs -> MQTT/REST -> store -> settlement -> report -> dashboard."""
    import logging

    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.ERROR)
    plan = _plan(community_kind, weeks, today)
    platform = _prepare(plan, workdir, port, case, today)
    with ExitStack() as stack:  # stage 7, on the way out: stop everything, last started first
        stack.callback(console.print, "demo stopped.")
        _trap_signals(stack)
        stack.callback(platform.stop, _stop_error)
        sinks = _Sinks()
        stack.callback(sinks.close)
        try:
            _start(platform, plan)
            fleets, sent, event_id = _send_past(platform, plan, sinks)
            _distributor_data(platform, workdir / "distributor")
            _write_reports(platform, workdir / "reports", lang, pdf, _simulated_shift(fleets, event_id))
            if serve:
                _serve(platform, plan, fleets, sinks, sent)
        except KeyboardInterrupt:
            console.print("\n[yellow]Ctrl-C: stopping …[/]")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
