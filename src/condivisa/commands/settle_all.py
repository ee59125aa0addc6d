"""``condivisa settle-all``: the billing previews of every community of the store, on this machine or a Dask
cluster (:mod:`condivisa.app.settle_all`). Exit code 0: all settled; 1: some communities failed (the others
are written); 2: nothing could be done (no communities, an unreachable scheduler, a bad option)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from condivisa.commands.billing_options import DatabaseOpt, FillOpt, check_fill, eur, fail, open_store


class Fmt(StrEnum):
    table = "table"
    json = "json"


def settle_all_command(
    month: Annotated[str, typer.Option("--month", help="first (or only) month, YYYY-MM")],
    to_month: Annotated[
        str | None, typer.Option("--to-month", help="last month, YYYY-MM (default: --month)")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="a Dask scheduler, tcp://HOST:8786 (default: this machine)"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="processes on this machine (default: one per core)")
    ] = None,
    serial: Annotated[
        bool, typer.Option("--serial", help="one community after the other, in this process")
    ] = False,
    database: DatabaseOpt = None,
    prices: Annotated[
        Path | None,
        typer.Option(
            "--prices",
            "-p",
            help="hourly zonal prices CSV (default: GME's real 2023 prices of each community's zone)",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    fill: FillOpt = None,
    fmt: Annotated[Fmt, typer.Option("--format", "-f", help="table or json")] = Fmt.table,
) -> None:
    """Settle every community of the store and keep each one's billing preview (never a final run)."""
    from condivisa.app.settle_all import SettleAllError, settle_all
    from condivisa.billing.run_records import RunError
    from condivisa.billing.runs import parse_months

    try:
        months = parse_months(month, to_month)
    except (ValueError, RunError) as exc:
        fail(str(exc))
    fill = check_fill(fill)
    store = open_store(database)
    url = store.url
    store.close()
    err = Console(stderr=True)
    with Progress(
        TextColumn("settle-all"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True, disable=fmt is Fmt.json,
    ) as bar:  # fmt: skip
        task = bar.add_task("settle", total=None)

        def advance(_result: dict[str, Any], done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            results = settle_all(
                url, months, scheduler=scheduler, workers=workers, serial=serial,
                prices_csv=prices, fill=fill, progress=advance,
            )  # fmt: skip
        except SettleAllError as exc:
            fail(str(exc))
    failed = [r for r in results if r["error"]]
    if fmt is Fmt.json:
        typer.echo(json.dumps(results, indent=2, default=str))
    else:
        Console(width=160).print(results_table(results))
        written = sum(1 for r in results if r["written"])
        total = sum(r["total_cents"] or 0 for r in results)
        color = "red" if failed else "green"
        Console().print(
            f"[{color}]{len(results) - len(failed)} of {len(results)} settled[/] ({written} written, "
            f"{len(results) - len(failed) - written} already stored, {len(failed)} failed); "
            f"total € {eur(total)} (previews)",
            highlight=False,
        )
    if failed:
        raise typer.Exit(code=1)


def results_table(results: list[dict[str, Any]]) -> Table:
    """One row per task: community, months, total €, lines, written / already stored, error."""
    table = Table(title="settle-all: billing previews")
    table.add_column("community")
    table.add_column("months")
    table.add_column("total €", justify="right")
    table.add_column("lines", justify="right")
    table.add_column("stored")
    table.add_column("error", style="red", overflow="fold")
    for r in results:
        stored = "" if r["error"] else ("written" if r["written"] else "already stored")
        total = "" if r["total_cents"] is None else eur(r["total_cents"])
        table.add_row(r["slug"], r["months"], total, str(r["lines"]), stored, r["error"] or "")
    return table


def register(app: typer.Typer) -> None:
    app.command("settle-all")(settle_all_command)
