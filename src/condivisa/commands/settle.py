"""``condivisa settle``: settle a community from CSV files (or the data store) and print or save the result."""

from __future__ import annotations

import datetime as dt
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from condivisa.domain.config import ConfigError, load_community
from condivisa.engines.metergrid import MeasurementError
from condivisa.engines.settlement import PriceError, settle
from condivisa.formats.csv_io import InputError, read_measurements, read_prices
from condivisa.kernel.timegrid import local_midnight
from condivisa.outputs.statement import result_tables, statement_table, to_csv, to_json


class Format(StrEnum):
    json = "json"
    table = "table"
    csv = "csv"


class Interval(StrEnum):
    hour = "hour"
    quarter = "quarter"


class Fill(StrEnum):
    zero = "zero"
    interpolate = "interpolate"


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: {value!r} is not a date (YYYY-MM-DD)")
    return None


def settle_command(
    config: Path = typer.Option(..., "--config", "-c", help="community.yaml of the configuration"),
    measurements: Path | None = typer.Option(
        None, "--measurements", "-m", help="CSV pod,start,withdrawn_kwh,injected_kwh (quarter hours or hours)"
    ),
    prices: Path = typer.Option(..., "--prices", "-p", help="CSV start,zonal_price_eur_per_mwh (hourly)"),
    date_from: str | None = typer.Option(
        None, "--from", help="first day to settle, YYYY-MM-DD (default: first day of data)"
    ),
    date_to: str | None = typer.Option(
        None, "--to", help="last day to settle, included (default: last day of data)"
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="also write the result here (JSON; CSV if the name ends in .csv)"
    ),
    fmt: Format = typer.Option(Format.json, "--format", "-f", help="what to print: json, table or csv"),
    interval: Interval = typer.Option(
        Interval.hour, "--interval", help="settlement interval: hour (the rule) or quarter"
    ),
    fill: Fill | None = typer.Option(
        None,
        "--fill",
        help="fill missing intervals with zero or by interpolation "
        "(default: refuse data with missing intervals)",
    ),
    database: str | None = typer.Option(
        None,
        "--database",
        help="read measurements from this data store URL "
        "instead of --measurements (e.g. sqlite:///condivisa.db)",
    ),
    member: str | None = typer.Option(
        None, "--member", help="print only this member's statement (table format)"
    ),
) -> None:
    """Settle shared energy, premium, ARERA valorisation and sale, and split them among the members."""
    if (measurements is None) == (database is None):
        _fail("give exactly one of --measurements FILE or --database URL")
    first, last = _day(date_from, "--from"), _day(date_to, "--to")
    try:
        community = load_community(config)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    source = str(measurements) if measurements else database
    try:
        if measurements is not None:
            frame = read_measurements(measurements, known_pods=community.all_pods)
        else:
            from condivisa.store.store import Store  # lazily: only this option needs the database layer

            start = local_midnight(first) if first else None
            end = local_midnight(last + dt.timedelta(days=1)) if last else None
            pods = sorted(set(community.consumption_pods) | set(community.plant_pods))
            frame = Store(database).measurements_frame(pods, start, end)
        price_series = read_prices(prices)
    except InputError as exc:
        _fail(str(exc))
    except Exception as exc:  # the store: a bad URL, an unreachable server, a missing table
        if measurements is not None:
            raise
        _fail(f"{database}: cannot read measurements: {exc}")
    if (first is None) != (last is None) and len(frame):
        data_days = frame["start"].dt.tz_convert("Europe/Rome")
        first = first or data_days.min().date()
        last = last or data_days.max().date()
    period = (first, last) if first and last else None
    try:
        result = settle(
            community,
            frame,
            price_series,
            interval=interval.value,
            period=period,
            fill=fill.value if fill else None,
        )
    except PriceError as exc:
        _fail(f"{prices}: {exc}")
    except (MeasurementError, ValueError) as exc:
        _fail(f"{source}: {exc}")
    doc = result.to_dict()
    if (
        len(doc["months"]) > 1
    ):  # the monthly statements the dashboard shows, and the balance to this period's split
        from condivisa.outputs.monthly import SettledMonths, monthly_statements

        lo, hi = local_midnight(result.first_day), local_midnight(result.last_day + dt.timedelta(days=1))
        part = frame[(frame["start"] >= lo) & (frame["start"] < hi)].reset_index(drop=True)
        book = SettledMonths(
            community,
            part,
            price_series,
            fill=fill.value if fill else None,
            as_of=result.last_day + dt.timedelta(days=1),
        )
        doc["monthly_statements"] = monthly_statements(doc, book)
    if out is not None:
        out.write_text(to_csv(doc) if out.suffix.lower() == ".csv" else to_json(doc), encoding="utf-8")
        Console(stderr=True).print(f"wrote {out}", highlight=False)
    if member is not None:
        try:
            Console().print(statement_table(result.statement(member)))
        except KeyError as exc:
            _fail(str(exc.args[0]))
        return
    if fmt is Format.table:
        Console(width=max(Console().width, 120)).print(result_tables(doc))
    elif fmt is Format.csv:
        sys.stdout.write(to_csv(doc))
    elif out is None:
        sys.stdout.write(to_json(doc))


def register(app: typer.Typer) -> None:
    app.command("settle")(settle_command)
