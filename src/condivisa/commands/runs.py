"""``condivisa runs``: billing runs — preview, finalise, correct, list, show, statements, distribution of what
the GSE paid, yearly summary per member (:mod:`condivisa.billing`).

No command here changes a stored run: ``finalize`` adds a new final run (refused for months already in one),
``close-year`` adds the yearly balance run of a closed year (once), ``correct`` adds a correction run; the
rest only read. Measurements come from ``--measurements CSV`` or, by
default, from the database (``--database``), which also keeps the runs.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from condivisa.commands.billing_options import (
    ConfigOpt,
    DatabaseOpt,
    FillOpt,
    MeasurementsOpt,
    PricesOpt,
    UnusualOpt,
    check_fill,
    community,
    eur,
    euro_cents,
    fail,
    open_store,
    run_inputs,
)

runs_app = typer.Typer(
    help="Billing runs: preview, final (immutable, numbered), corrections by credit notes, statements, "
    "distribution of what the GSE paid, yearly summary.",
    no_args_is_help=True,
)


class Fmt(StrEnum):
    table = "table"
    json = "json"


class StatementFmt(StrEnum):
    html = "html"
    pdf = "pdf"


MonthOpt = Annotated[str, typer.Option("--month", help="first (or only) month of the run, YYYY-MM")]
ToMonthOpt = Annotated[
    str | None, typer.Option("--to-month", help="last month of the run, YYYY-MM (default: --month)")
]
FmtOpt = Annotated[Fmt, typer.Option("--format", "-f", help="table or json")]
ByOpt = Annotated[str | None, typer.Option("--by", help="who does it (default: user@host)")]


def lines_table(title: str, lines, names: dict[str, str] | None = None) -> Table:
    """The lines of a run as a Rich table (€), with a total row."""
    t = Table(title=title, title_justify="left")
    for col in ("payee", "month", "premium", "valorisation", "sale", "fees", "GSE fees", "total €"):
        t.add_column(col, justify="left" if col in ("payee", "month") else "right")
    parts = ("premium_cents", "valorisation_cents", "sale_cents", "fees_cents", "gse_fees_cents")
    for line in lines:
        who = (
            line.payee_id
            if not names or line.payee_id not in names
            else f"{line.payee_id} {names[line.payee_id]}"
        )
        t.add_row(who, line.month, *(eur(getattr(line, p)) for p in parts), eur(line.total_cents))
    sums = [sum(getattr(x, p) for x in lines) for p in parts]
    t.add_row("total", "", *(eur(c) for c in sums), eur(sum(sums)), style="bold", end_section=True)
    return t


def _names(config: Path) -> dict[str, str]:
    c = community(config)
    return {m.id: m.name or m.id for m in c.members}


def _months(month: str, to_month: str | None) -> tuple[str, ...]:
    from condivisa.billing.runs import RunError, parse_months

    try:
        return parse_months(month, to_month)
    except (RunError, ValueError) as exc:
        fail(str(exc))


def _get(store, config: Path, number: int):
    from condivisa.billing.run_records import RunError, get_run

    try:
        return get_run(store, community(config).name, number)
    except RunError as exc:
        fail(str(exc))


@runs_app.command("preview")
def preview_cmd(
    config: ConfigOpt,
    prices: PricesOpt,
    month: MonthOpt,
    to_month: ToMonthOpt = None,
    measurements: MeasurementsOpt = None,
    database: DatabaseOpt = None,
    fill: FillOpt = None,
    fmt: FmtOpt = Fmt.table,
    allow_unusual_prices: UnusualOpt = False,
) -> None:
    """Compute a run without storing it (PROVVISORIO): recompute it as often as you like."""
    import contextlib

    from condivisa.billing.runs import RunError, preview

    months = _months(month, to_month)
    # a preview of CSV files needs no database (nothing is stored)
    needs_db = measurements is None or database is not None
    with open_store(database) if needs_db else contextlib.nullcontext() as store:
        inputs = run_inputs(store, config, measurements, prices, allow_unusual_prices, months)
        try:
            draft = preview(inputs, months, fill=check_fill(fill))
        except RunError as exc:
            fail(str(exc))
    if fmt is Fmt.json:
        sys.stdout.write(json.dumps(draft.as_dict(), indent=2, ensure_ascii=False) + "\n")
        return
    title = f"PROVVISORIO — preview of {draft.community} {months[0]}..{months[-1]} (not stored)"
    Console(width=140).print(lines_table(title, draft.lines, _names(config)))
    Console().print(f"inputs sha256 {draft.inputs_sha256}", highlight=False)


@runs_app.command("finalize")
def finalize_cmd(
    config: ConfigOpt,
    prices: PricesOpt,
    month: MonthOpt,
    to_month: ToMonthOpt = None,
    measurements: MeasurementsOpt = None,
    database: DatabaseOpt = None,
    fill: FillOpt = None,
    by: ByOpt = None,
    allow_unusual_prices: UnusualOpt = False,
) -> None:
    """Store the final run of the months: numbered and immutable (a month can be finalised once)."""
    from condivisa.billing.runs import RunError, finalize

    months = _months(month, to_month)
    with open_store(database) as store:
        inputs = run_inputs(store, config, measurements, prices, allow_unusual_prices, months)
        try:
            run = finalize(store, inputs, months, fill=check_fill(fill), created_by=by)
        except RunError as exc:
            fail(str(exc))
    Console(width=140).print(
        lines_table(f"final run {run.label} of {run.community}", run.lines, _names(config))
    )
    Console().print(f"stored final run n. {run.number}, inputs sha256 {run.inputs_sha256}", highlight=False)


@runs_app.command("correct")
def correct_cmd(
    number: Annotated[int, typer.Argument(help="the final run to correct")],
    config: ConfigOpt,
    prices: PricesOpt,
    measurements: MeasurementsOpt = None,
    database: DatabaseOpt = None,
    by: ByOpt = None,
    allow_unusual_prices: UnusualOpt = False,
) -> None:
    """Settle a final run's months again on the current data and post the differences as credit/debit notes
    (on a yearly balance run: recompute the year's balance on the current data and months' runs)."""
    from condivisa.billing.runs import RunError, correct
    from condivisa.billing.yearly_balance import is_yearly

    with open_store(database) as store:
        run = _get(store, config, number)
        months = run.months
        if is_yearly(store, run):
            months = (f"{months[0][:4]}-01", f"{months[0][:4]}-12")
        inputs = run_inputs(store, config, measurements, prices, allow_unusual_prices, months)
        try:
            outcome = correct(store, inputs, number, created_by=by)
        except RunError as exc:
            fail(str(exc))
    if outcome.run is not None and outcome.run.lines:
        title = f"correction {outcome.run.label}: credit (+) and debit (−) notes"
        Console(width=140).print(lines_table(title, outcome.run.lines, _names(config)))
    Console().print(outcome.message, highlight=False)


@runs_app.command("close-year")
def close_year_cmd(
    year: Annotated[int, typer.Option("--year", help="the civil year to close (it must be over)")],
    config: ConfigOpt,
    prices: PricesOpt,
    measurements: MeasurementsOpt = None,
    database: DatabaseOpt = None,
    by: ByOpt = None,
    allow_unusual_prices: UnusualOpt = False,
) -> None:
    """Store the yearly balance run (conguaglio) of a closed year: the yearly close minus its months' runs."""
    from condivisa.billing.runs import RunError
    from condivisa.billing.yearly_balance import close_year_run

    months = (f"{year:04d}-01", f"{year:04d}-12")
    with open_store(database) as store:
        inputs = run_inputs(store, config, measurements, prices, allow_unusual_prices, months)
        try:
            run = close_year_run(store, inputs, year, created_by=by)
        except RunError as exc:
            fail(str(exc))
    title = f"yearly balance run {run.label} of {run.community}: yearly close − months' runs"
    Console(width=140).print(lines_table(title, run.lines, _names(config)))
    Console().print(
        f"stored yearly balance run n. {run.number} of {year} ({len(run.lines)} lines), "
        f"inputs sha256 {run.inputs_sha256}",
        highlight=False,
    )


@runs_app.command("list")
def list_cmd(config: ConfigOpt, database: DatabaseOpt = None, fmt: FmtOpt = Fmt.table) -> None:
    """The community's stored runs (final runs and corrections)."""
    from condivisa.billing.run_records import list_runs

    with open_store(database) as store:
        runs = list_runs(store, community(config).name)
    if fmt is Fmt.json:
        doc = [{k: v for k, v in r.as_dict().items() if k not in ("lines", "rules", "tariffs")} for r in runs]
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    t = Table(title=f"billing runs of {community(config).name}", title_justify="left")
    for col in ("n.", "kind", "months", "corrects", "created", "by", "lines", "total €", "inputs sha256"):
        t.add_column(col, justify="right" if col in ("n.", "lines", "total €") else "left")
    for r in runs:
        t.add_row(
            str(r.number),
            r.kind,
            f"{r.months[0]}..{r.months[-1]}",
            str(r.corrects_number or ""),
            r.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            r.created_by,
            str(len(r.lines)),
            eur(sum(x.total_cents for x in r.lines)),
            r.inputs_sha256[:16],
        )
    Console(width=160).print(t)


@runs_app.command("show")
def show_cmd(
    number: Annotated[int, typer.Argument(help="the run's number")],
    config: ConfigOpt,
    database: DatabaseOpt = None,
    fmt: FmtOpt = Fmt.table,
) -> None:
    """A stored run: its lines, hash, rules and regulated values."""
    with open_store(database) as store:
        run = _get(store, config, number)
    if fmt is Fmt.json:
        sys.stdout.write(json.dumps(run.as_dict(), indent=2, ensure_ascii=False) + "\n")
        return
    Console(width=140).print(lines_table(f"run {run.label} of {run.community}", run.lines, _names(config)))
    Console().print(
        f"created {run.created_at:%Y-%m-%d %H:%M} UTC by {run.created_by}, condivisa {run.condivisa_version}\n"
        f"inputs sha256 {run.inputs_sha256} ({run.inputs.get('measurement_rows')} measurement rows, "
        f"{run.inputs.get('price_hours')} price hours, fill {run.inputs.get('fill')})",
        highlight=False,
    )


@runs_app.command("statement")
def statement_cmd(
    number: Annotated[int, typer.Argument(help="the run the statement is issued from")],
    member: Annotated[str, typer.Option("--member", help="the member's id")],
    month: Annotated[str, typer.Option("--month", help="YYYY-MM, one of the run's months")],
    config: ConfigOpt,
    prices: PricesOpt,
    measurements: MeasurementsOpt = None,
    database: DatabaseOpt = None,
    fmt: Annotated[StatementFmt, typer.Option("--format", "-f", help="html or pdf")] = StatementFmt.html,
    lang: Annotated[str, typer.Option("--lang", help="it or en")] = "it",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="file (default: rendiconto-<run>-<member>)")
    ] = None,
    allow_unusual_prices: UnusualOpt = False,
) -> None:
    """The member's numbered statement "Rendiconto n. <run>-<member>" issued from a stored run."""
    from condivisa.billing.run_records import RunError
    from condivisa.billing.statements import run_statement_html, statement_number
    from condivisa.outputs.report import ReportError, html_to_pdf

    with open_store(database) as store:
        run = _get(store, config, number)
        inputs = run_inputs(store, config, measurements, prices, allow_unusual_prices, run.months)
        try:
            html = run_statement_html(store, inputs, run, member, month, lang)
        except (RunError, KeyError) as exc:
            fail(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc))
    path = out or Path(f"rendiconto-{statement_number(run, member)}-{month}.{fmt.value}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt is StatementFmt.pdf:
        try:
            path.write_bytes(html_to_pdf(html))
        except ReportError as exc:
            fail(str(exc))
    else:
        path.write_text(html, encoding="utf-8")
    Console().print(f"wrote {path}", highlight=False)


@runs_app.command("distribute")
def distribute_cmd(
    number: Annotated[int, typer.Argument(help="the final run whose keys split the payment")],
    config: ConfigOpt,
    gse_paid: Annotated[
        str | None,
        typer.Option(
            "--gse-paid", help="what the GSE paid (CACER contribution), €; default: the GSE ledger's payments"
        ),
    ] = None,
    rid_paid: Annotated[
        str | None,
        typer.Option("--rid-paid", help="what the GSE paid under RID (sale), €; default: as settled"),
    ] = None,
    database: DatabaseOpt = None,
    fmt: FmtOpt = Fmt.table,
) -> None:
    """Split what the GSE actually paid by the final run's keys (and its corrections), to the cent; a yearly
    balance run: the ledger's yearly balance (conguaglio) payment, by the year's closed figures."""
    from condivisa.billing.distribution import distribute, ledger_paid_cents, ledger_yearly_paid_cents
    from condivisa.billing.ledger import list_entries
    from condivisa.billing.run_records import chain, lines_in_force, list_runs

    keys = None
    with open_store(database) as store:
        run = _get(store, config, number)
        if run.kind == "correction":
            fail(f"run n. {number} is a correction: distribute the run n. {run.corrects_number} it corrects")
        lines = lines_in_force(chain(store, run))
        entries = list_entries(store, run.community)
        if run.kind == "yearly_balance":
            year = int(run.months[0][:4])
            recorded = ledger_yearly_paid_cents(entries, year)
            keys = [  # the year's closed figures: every line in force of the year
                x
                for r in list_runs(store, run.community)
                for x in r.lines
                if x.month.startswith(f"{year:04d}")
            ]
            missing = (
                f"no GSE yearly balance (conguaglio) of {year} in the ledger: record it with "
                f"condivisa ledger add --kind yearly_balance --year {year} (or pass --gse-paid EUR)"
            )
        else:
            recorded = ledger_paid_cents(entries, run.months[0], run.months[-1])
            missing = (
                f"no GSE payment for {run.months[0]}…{run.months[-1]} in the ledger: record it with "
                "condivisa ledger add (or pass --gse-paid EUR)"
            )
    try:
        paid = euro_cents(gse_paid, "--gse-paid") if gse_paid is not None else recorded
        if paid is None:
            fail(missing)
        assert paid is not None
        d = distribute(lines, paid, euro_cents(rid_paid, "--rid-paid"), keys=keys)
    except ValueError as exc:
        fail(str(exc))
    if fmt is Fmt.json:
        sys.stdout.write(json.dumps(d.as_dict(), indent=2, ensure_ascii=False) + "\n")
        return
    Console(width=140).print(
        lines_table(f"run n. {number}: what the GSE paid, distributed", d.lines, _names(config))
    )
    Console().print(
        f"GSE paid {eur(d.paid_cents)} €, expected {eur(d.expected_cents)} € (premium + valorisation − GSE fees), "
        f"difference {eur(d.difference_cents)} €.\n{d.rule}",
        highlight=False,
    )


@runs_app.command("yearly-summary")
def yearly_summary_cmd(
    year: Annotated[int, typer.Option("--year", help="the civil year")],
    config: ConfigOpt,
    member: Annotated[str | None, typer.Option("--member", help="one member (default: all)")] = None,
    database: DatabaseOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write CSV here")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv")] = "table",
) -> None:
    """What each member received in the year from the final runs and corrections (and the yearly balance run,
    once the year is closed, also on its own), by kind, to the cent."""
    from condivisa.billing.yearly_summary import summary_csv, yearly_summary

    c = community(config)
    with open_store(database) as store:
        try:
            rows = yearly_summary(store, c, year, member)
        except KeyError:
            fail(f"no member {member!r} in {c.name}")
    if out is not None:
        out.write_text(summary_csv(rows), encoding="utf-8")
        Console(stderr=True).print(f"wrote {out}", highlight=False)
    if fmt == "csv":
        sys.stdout.write(summary_csv(rows))
    elif fmt == "json":
        sys.stdout.write(json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False) + "\n")
    elif out is None:
        title = f"{c.name}: received in {year} (final runs and corrections)"
        closed = [r.balance for r in rows if r.balance is not None]
        if closed:
            title = f"{c.name}: {year} as closed (final runs, corrections and the yearly balance)"
        Console(width=140).print(lines_table(title, [r.line for r in rows], _names(config)))
        if closed:
            what = f"of which the yearly balance (conguaglio) of {year}"
            Console(width=140).print(lines_table(what, closed, _names(config)))


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
