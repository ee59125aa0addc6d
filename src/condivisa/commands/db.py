"""``condivisa db``: create/upgrade the store, register the community's devices, import/export
measurements as CSV, import the distributor's validated data, look at devices and dead letters.

Every command takes ``--database URL``; without it, ``$CONDIVISA_DATABASE_URL``, else
``sqlite:///./var/condivisa.db`` (the same as ``serve``: :mod:`condivisa.store.location`).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from condivisa.kernel import clock
from condivisa.store.silence import NEVER_SEEN, OK, SILENT, silence

DATABASE_HELP = "database URL (default: $CONDIVISA_DATABASE_URL, else sqlite:///./var/condivisa.db as serve)"
db_app = typer.Typer(
    help="The data store: schema, devices, CSV import/export, dead letters.", no_args_is_help=True
)


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _open(database: str | None, *, upgrade: bool = False):
    from condivisa.store.location import resolve_database_url
    from condivisa.store.store import Store

    try:
        store = Store(resolve_database_url(database, create_folder=upgrade))
        if upgrade:
            store.upgrade()
        elif store.revision() is None:
            _fail(f"{store.url}: no condivisa schema here; run `condivisa db upgrade` first")
    except typer.Exit:
        raise
    except Exception as exc:  # connection refused, bad URL, ...
        _fail(f"cannot open the database: {exc}")
    return store


def _when(ts) -> str:
    """An instant in Italian local time (``2025-06-01 10:00:00 CEST``); the store keeps naive ones as UTC."""
    if ts is None:
        return "never"
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    return ts.astimezone(clock.ROME).strftime("%Y-%m-%d %H:%M:%S %Z")


@db_app.command("upgrade")
def upgrade(database: str = typer.Option(None, "--database", help=DATABASE_HELP)) -> None:
    """Create the tables or bring them to the latest schema (safe to run again)."""
    store = _open(database, upgrade=True)
    Console().print(f"database {store!r} at schema revision [bold]{store.revision()}[/]")
    store.close()


@db_app.command("register")
def register_community(
    config: Path = typer.Option(..., "--config", help="community.yaml with members, plants and devices"),
    database: str = typer.Option(None, "--database", help=DATABASE_HELP),
) -> None:
    """Register the community's PODs (with their members) and chain-2 devices; needed before ingesting."""
    from condivisa.domain.config import ConfigError, load_community

    try:
        community = load_community(config)
    except ConfigError as exc:
        _fail(str(exc))
    store = _open(database, upgrade=True)
    counts = store.register_devices(community)
    Console().print(f"registered {counts['pods']} PODs and {counts['devices']} devices of {community.name}")
    store.close()


@db_app.command("import-csv")
def import_csv(
    file: Path = typer.Argument(..., help="CSV with header pod,start,withdrawn_kwh,injected_kwh"),
    database: str = typer.Option(None, "--database", help=DATABASE_HELP),
) -> None:
    """Import measurements (e.g. from the distributor's portal); re-importing the same file changes nothing."""
    from condivisa.formats.csv_io import InputError, read_measurements
    from condivisa.ingest.tables import ingest_frame

    store = _open(database)
    try:
        frame = read_measurements(file, known_pods=store.known_pods())
        result = ingest_frame(store, frame, source=f"csv:{file.name}")
    except (InputError, ValueError) as exc:
        _fail(str(exc))
    dropped = sum((frame.attrs.get("duplicates_dropped") or {}).values())
    extra = f", {dropped} rows repeated exactly in the file skipped" if dropped else ""
    Console().print(
        f"{file}: {result.readings} rows: [green]{result.stored} stored[/], {result.duplicates} already there, "
        f"{result.revised} revised{extra}"
    )
    store.close()


@db_app.command("import-distributor")
def import_distributor(
    files: list[Path] = typer.Argument(
        ..., help="portal exports (Giorno;00:00-00:15;...), long CSVs or .xlsx"
    ),
    pod: str = typer.Option(None, "--pod", help="the POD of the portal exports (the file does not say it)"),
    direction: str = typer.Option(None, "--direction", help="withdrawal or injection (portal exports)"),
    database: str = typer.Option(None, "--database", help=DATABASE_HELP),
    imported_by: str = typer.Option("cli", "--by", help="who imports (kept with each file)"),
) -> None:
    """Import the distributor's validated quarter hours: they supersede the DU readings for the money; a
    later file for a past month is a restatement (a new version; the old values are kept)."""
    from condivisa.formats.distributor import DIRECTIONS
    from condivisa.ingest.distributor import DistributorImportError, import_files

    if direction is not None and direction not in DIRECTIONS:
        _fail(f"--direction must be withdrawal or injection, got {direction!r}")
    store = _open(database)
    try:
        outcomes = import_files(
            store,
            files,
            known_pods=store.known_pods(),
            pod=pod,
            direction=direction,
            imported_by=imported_by,
            now=clock.now(),
        )
    except DistributorImportError as exc:
        store.close()
        _fail(f"{exc}\nnothing was imported")
    console = Console()
    for o in outcomes:
        head = f"{o.name}: {o.pod} {o.direction}: {o.values_read:,} quarter hours"
        if o.already_imported_at is not None:
            console.print(
                f"{head}: already imported {_when(o.already_imported_at)}, nothing changed", soft_wrap=True
            )
            continue
        line = f"{head}: [green]{o.new:,} new[/], {o.unchanged:,} unchanged, {o.restated:,} restated"
        if o.restated:
            line += f" [yellow](restatement of {', '.join(o.restated_months)}: the old values are kept)[/]"
        console.print(line, highlight=False, soft_wrap=True)
    store.close()


@db_app.command("export-csv")
def export_csv(
    pod: list[str] = typer.Option(None, "--pod", help="POD code (repeatable; default: all)"),
    start: str = typer.Option(None, "--from", help="first day or instant, Europe/Rome (e.g. 2025-06-01)"),
    end: str = typer.Option(None, "--to", help="end, exclusive (e.g. 2025-07-01)"),
    out: Path = typer.Option(None, "--out", help="file to write (default: standard output)"),
    database: str = typer.Option(None, "--database", help=DATABASE_HELP),
) -> None:
    """Export measurements as pod,start,withdrawn_kwh,injected_kwh (the settlement's input)."""
    from condivisa.formats.csv_io import write_measurements

    store = _open(database)
    try:
        frame = store.measurements_frame(pods=pod or None, start=start, end=end)
    except ValueError as exc:
        _fail(str(exc))
    if out is None:
        write_measurements(frame, sys.stdout)
    else:
        write_measurements(frame, out)
        Console(stderr=True).print(f"wrote {len(frame)} rows to {out}")
    store.close()


@db_app.command("devices")
def devices(
    database: str = typer.Option(None, "--database", help=DATABASE_HELP),
    silent_hours: float = typer.Option(
        1.0,
        "--silent-hours",
        help="mark devices silent after this many hours without a message or a new quarter hour",
    ),
) -> None:
    """Devices with the POD and member they belong to, and when each was last heard from; silent: no message,
    or no new quarter hour, for longer than --silent-hours (the dashboard's rule)."""
    store = _open(database)
    now = clock.now()
    table = Table(title="chain-2 user devices")
    for col in ("DU", "POD", "member", "registered", "last message", "last quarter hour", "status"):
        table.add_column(col)
    colour = {OK: "[green]ok[/]", SILENT: "[yellow]silent[/]", NEVER_SEEN: "[red]never seen[/]"}
    for d in store.device_last_seen():
        last = d["last_received_at"]
        # the dashboard's rule: no message, or no new quarter hour, for longer than --silent-hours
        status = colour[silence(d, now, dt.timedelta(hours=silent_hours))["status"]]
        table.add_row(
            d["du_id"],
            d["pod"] or "",
            d["member_id"] or "",
            "yes" if d["registered"] else "[red]no[/]",
            _when(last),
            _when(d["last_start"]),
            status,
        )
    Console().print(table)
    store.close()


@db_app.command("dead-letters")
def dead_letters(
    limit: int = typer.Option(20, "--limit", help="how many, newest first"),
    show: int = typer.Option(None, "--show", help="print the raw payload of this dead letter id"),
    before_id: int = typer.Option(None, "--before-id", help="the next page: only ids below this one"),
    database: str = typer.Option(None, "--database", help=DATABASE_HELP),
) -> None:
    """Rejected payloads with their reasons (the first 64 KiB of each payload are kept; --show ID prints
    them)."""
    store = _open(database)
    if show is not None:
        letter = store.dead_letter(show)
        if letter is None:
            _fail(f"no dead letter {show}")
        sys.stdout.write(bytes(letter["payload"]).decode("utf-8", errors="replace") + "\n")
        Console(stderr=True).print(json.dumps(letter["reasons"], indent=1))
        return
    table = Table(title=f"dead letters (latest {limit})")
    for col in ("id", "received", "source", "device", "bytes", "reasons"):
        table.add_column(col, overflow="fold")
    for d in store.dead_letters(limit, with_payload=False, before_id=before_id):
        reasons = "\n".join(f"{r['path']}: {r['reason']}" for r in d["reasons"][:5])
        if len(d["reasons"]) > 5:
            reasons += f"\n(+{len(d['reasons']) - 5} more)"
        table.add_row(
            str(d["id"]),
            _when(d["received_at"]),
            d["source"],
            d["device_id"] or "",
            str(d["payload_bytes"]),
            reasons,
        )
    Console().print(table)
    store.close()


@db_app.command("replay")
def replay(
    ids: list[int] = typer.Argument(None, help="dead-letter ids (default: the latest --limit)"),
    limit: int = typer.Option(100, "--limit", help="without ids: how many of the latest dead letters"),
    force: bool = typer.Option(
        False, "--force", help="also replay payloads refused because the sender was not authorised"
    ),
    database: str = typer.Option(None, "--database", help=DATABASE_HELP),
) -> None:
    """Ingest dead letters again, e.g. after `db register` added the POD they were refused for."""
    from condivisa.ingest.pipeline import replay_dead_letter

    store = _open(database)
    ids = ids or [d["id"] for d in store.dead_letters(limit, with_payload=False)][::-1]
    table = Table(title="replayed dead letters")
    for col in ("id", "result", "stored", "duplicates", "revised", "first reason"):
        table.add_column(col, overflow="fold")
    for letter_id in ids:
        try:
            res = replay_dead_letter(store, letter_id, force=force)
        except KeyError as exc:
            _fail(str(exc.args[0]))
        why = f"{res.rejected[0].path}: {res.rejected[0].reason}" if res.rejected else ""
        table.add_row(
            str(letter_id),
            "[green]accepted[/]" if res.accepted else "[red]refused again[/]",
            str(res.stored),
            str(res.duplicates),
            str(res.revised),
            why,
        )
    Console().print(table)
    store.close()


@db_app.command("status")
def status(database: str = typer.Option(None, "--database", help=DATABASE_HELP)) -> None:
    """Schema revision and rows per table."""
    store = _open(database)
    table = Table(title=f"{store!r} at revision {store.revision()}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in store.counts().items():
        table.add_row(name, f"{n:,}")
    Console().print(table)
    store.close()


@db_app.command("partitions")
def partitions(
    through: str = typer.Option(
        None,
        "--through",
        help="create the monthly partitions through this month, YYYY-MM (default: 24 ahead)",
    ),
    database: str = typer.Option(None, "--database", help=DATABASE_HELP),
) -> None:
    """PostgreSQL: create the missing monthly partitions of the measurements table and list them."""
    from condivisa.store import partitions as parts

    store = _open(database)
    if store.dialect != "postgresql":
        Console().print("SQLite keeps the measurements in one table: nothing to partition")
        store.close()
        return
    try:
        last = (
            parts.parse_month(through)
            if through
            else parts.add_months(parts.month_of(clock.now()), parts.AHEAD_MONTHS)
        )
    except ValueError as exc:
        store.close()
        _fail(str(exc))
    with store.engine.begin() as conn:
        created = parts.ensure_partitions(conn, last)
        months = parts.monthly_partitions(conn)
    store.close()
    Console().print(f"created {len(created)} partitions" + (f": {', '.join(created)}" if created else ""))
    if months:
        first, final = months[0], months[-1]
        Console().print(
            f"{len(months)} monthly partitions, {first[0]}-{first[1]:02d} to {final[0]}-{final[1]:02d}, "
            "plus measurements_default"
        )


@db_app.command("rollup")
def rollup(
    keep_years: int = typer.Option(6, "--keep-years", min=1, help="years of quarter hours kept"),
    dry_run: bool = typer.Option(False, "--dry-run", help="only list the months that would be rolled up"),
    database: str = typer.Option(None, "--database", help=DATABASE_HELP),
) -> None:
    """Retention: the quarter hours of months older than --keep-years become hourly totals (docs/data-store.md).
    Make a backup first; running it again does nothing more."""
    from condivisa.kernel.timegrid import ROME
    from condivisa.store.rollup import cutoff_month, months_to_roll, roll_month

    store = _open(database)
    before = cutoff_month(clock.now().astimezone(ROME).date(), keep_years)
    months = months_to_roll(store.engine, before)
    console = Console()
    if not months:
        console.print(f"nothing to roll up: no quarter hours before {before:%Y-%m}")
    for month in months:
        if dry_run:
            console.print(f"{month:%Y-%m}: would become hourly totals")
            continue
        done = roll_month(store.engine, month)
        console.print(f"{done.month}: {done.quarters:,} quarter hours -> {done.hours:,} hours")
    store.close()


def register(app: typer.Typer) -> None:
    """Hook of :mod:`condivisa.cli`: add the ``db`` command group."""
    app.add_typer(db_app, name="db")
