"""``condivisa settle``: settle a community from CSV files (or the data store) and print or save the result."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from enum import StrEnum
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from condivisa.domain.community import Community
from condivisa.domain.config import ConfigError, load_community
from condivisa.engines.metergrid import MeasurementError
from condivisa.engines.settlement import settle
from condivisa.engines.settlement_money import PriceError
from condivisa.engines.settlement_result import SettlementResult
from condivisa.engines.yearly_close import close_year
from condivisa.formats.csv_io import InputError
from condivisa.kernel.timegrid import ROME, local_midnight
from condivisa.outputs.monthly import monthly_statements
from condivisa.outputs.result_text import result_tables, to_csv, to_json
from condivisa.outputs.sources import SettlementInputs, inputs_from_files, inputs_from_store
from condivisa.outputs.statement import member_statement, statement_table


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


def _fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: {value!r} is not a date (YYYY-MM-DD)")


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
        "instead of --measurements (e.g. sqlite:///./var/condivisa.db, the platform's default)",
    ),
    member: str | None = typer.Option(
        None, "--member", help="print only this member's statement (table format)"
    ),
    year: int | None = typer.Option(
        None,
        "--year",
        help="settle this calendar year (the days with data) and close it: provisional (sum of the months) "
        "and closed figures",
    ),
    close_year_flag: bool = typer.Option(
        False, "--close-year", help="close the year of the settled period (yearly close, conguaglio)"
    ),
    allow_unusual_prices: bool = typer.Option(
        False,
        "--allow-unusual-prices",
        help="accept a prices file whose mean is below 1 or above 5,000 €/MWh (by default refused: €/kWh?)",
    ),
) -> None:
    """Settle shared energy, premium, ARERA valorisation and sale, and split them among the members."""
    if (measurements is None) == (database is None):
        _fail("give exactly one of --measurements FILE or --database URL")
    first, last = _day(date_from, "--from"), _day(date_to, "--to")
    if year is not None:
        if first or last:
            _fail("give either --year or --from/--to")
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    inputs = _read_inputs(config, measurements, database, prices, first, last, allow_unusual_prices)
    period = _year_period(inputs, year) if year is not None else _period(inputs, first, last)
    source = str(measurements) if measurements else database
    if period is not None and year is None:
        _check_readings_cover(inputs, period, str(source))
    fill_rule = fill.value if fill else None
    try:
        result = settle(
            inputs.community,
            inputs.measurements,
            inputs.prices,
            interval=interval.value,
            period=period,
            fill=fill_rule,
            events=inputs.events,
        )
    except PriceError as exc:
        _fail(f"{prices}: {exc}")
    except (MeasurementError, ValueError) as exc:
        _fail(f"{source}: {exc}")
    doc = result.to_dict()
    if len(result.months) > 1:  # the monthly statements the dashboard shows, and the balance to this period
        doc["monthly_statements"] = _monthly_statements(inputs, result, fill_rule)
    if year is not None or close_year_flag:
        if result.first_day.year != result.last_day.year:
            _fail(f"--close-year: the period {result.first_day}..{result.last_day} spans two years")
        months = _settle_months(inputs, result, interval.value, fill_rule)
        doc["yearly_close"] = close_year(months).to_dict()
    _show(doc, result, out, fmt, member)


def _check_readings_cover(inputs: SettlementInputs, period: tuple[dt.date, dt.date], source: str) -> None:
    """``--from`` before the first reading: say so (about the readings, not the prices that would be missing
    next). A ``--to`` past the last reading stays allowed (a month in progress, ``--fill``)."""
    frame = inputs.measurements
    if not len(frame):
        return  # nothing read: the settlement says what is missing
    days = frame["start"].dt.tz_convert(ROME)
    have_first, first = days.min().date(), period[0]
    if first < have_first:
        _fail(
            f"--from {first}: the readings in {source} start on {have_first}; "
            f"settle from {have_first} (--from {have_first}) or add the readings of the days before"
        )


def _year_period(inputs: SettlementInputs, year: int) -> tuple[dt.date, dt.date]:
    """The days of ``year`` the measurements cover (a partial year is closed on what exists)."""
    frame = inputs.measurements
    days = frame["start"].dt.tz_convert(ROME).dt.date if len(frame) else []
    inside = sorted({d for d in days if d.year == year})
    if not inside:
        _fail(f"--year {year}: no measurements in {year}")
    return inside[0], inside[-1]


def _settle_months(
    inputs: SettlementInputs, result: SettlementResult, interval: str, fill: str | None
) -> list[SettlementResult]:
    """Each civil month of ``result``'s period settled on its own (the monthly statements' figures)."""
    frame, out = inputs.measurements, []
    lo = result.first_day
    while lo <= result.last_day:
        nxt = dt.date(lo.year + (lo.month == 12), lo.month % 12 + 1, 1)
        hi = min(nxt - dt.timedelta(days=1), result.last_day)
        a, b = local_midnight(lo), local_midnight(hi + dt.timedelta(days=1))
        part = frame[(frame["start"] >= a) & (frame["start"] < b)].reset_index(drop=True)
        try:
            out.append(
                settle(
                    inputs.community,
                    part,
                    inputs.prices,
                    interval=interval,
                    period=(lo, hi),
                    fill=fill,
                    events=inputs.events,
                )  # fmt: skip
            )
        except (MeasurementError, PriceError, ValueError) as exc:
            _fail(f"{lo:%Y-%m}: {exc}")
        lo = nxt
    return out


def _show(doc: dict, result: SettlementResult, out: Path | None, fmt: Format, member: str | None) -> None:
    """Write ``result.json`` (or its CSV) to ``out``, then print the member's statement or the result."""
    if out is not None:
        out.write_text(to_csv(doc) if out.suffix.lower() == ".csv" else to_json(doc), encoding="utf-8")
        Console(stderr=True).print(f"wrote {out}", highlight=False)
    if member is not None:
        try:
            Console().print(statement_table(member_statement(result.community, member, result)))
        except KeyError as exc:
            _fail(str(exc.args[0]))
        return
    if fmt is Format.table:
        console = Console()  # the terminal's own width: wider tables fold into one block per row
        console.print(result_tables(doc, width=console.width))
    elif fmt is Format.csv:
        sys.stdout.write(to_csv(doc))
    elif out is None:
        sys.stdout.write(to_json(doc))


def _community(config: Path) -> Community:
    try:
        return load_community(config)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))


def _read_inputs(
    config: Path,
    measurements: Path | None,
    database: str | None,
    prices: Path,
    first: dt.date | None,
    last: dt.date | None,
    allow_unusual_prices: bool = False,
) -> SettlementInputs:
    """The community, its measurements (the CSV, or the store's days ``first``..``last``) and the prices;
    on a bad file or an unreadable store, the reason and exit code 2."""
    if measurements is not None:
        try:
            return inputs_from_files(config, measurements, prices, allow_unusual_prices=allow_unusual_prices)
        except ValueError as exc:  # ConfigError, InputError: the message names the file and the field
            _fail(str(exc))
    community = _community(config)
    from condivisa.store.store import Store  # lazily: only this option needs the database layer

    try:
        with Store(database) as store:
            return inputs_from_store(
                store,
                community,
                prices_csv=prices,
                first_day=first,
                last_day=last,
                allow_unusual_prices=allow_unusual_prices,
            )
    except InputError as exc:
        _fail(str(exc))
    except Exception as exc:  # the store: a bad URL, an unreachable server, a missing table
        _fail(f"{database}: cannot read measurements: {exc}")


def _period(inputs: SettlementInputs, first: dt.date | None, last: dt.date | None):
    """``(first, last)`` to settle; one of them alone is completed by the data's first or last day."""
    frame = inputs.measurements
    if (first is None) != (last is None) and len(frame):
        data_days = frame["start"].dt.tz_convert(ROME)
        first = first or data_days.min().date()
        last = last or data_days.max().date()
    return (first, last) if first and last else None


def _monthly_statements(inputs: SettlementInputs, result: SettlementResult, fill: str | None) -> dict:
    """Each month of ``result`` settled on its own, as the dashboard shows it, and each payee's balance
    between the sum of those months and this period's allocation."""
    lo, hi = local_midnight(result.first_day), local_midnight(result.last_day + dt.timedelta(days=1))
    frame = inputs.measurements
    part = frame[(frame["start"] >= lo) & (frame["start"] < hi)].reset_index(drop=True)
    book = dataclasses.replace(inputs, measurements=part).settled_months(
        fill=fill, as_of=result.last_day + dt.timedelta(days=1)
    )
    return monthly_statements(result, book)


def register(app: typer.Typer) -> None:
    app.command("settle")(settle_command)
