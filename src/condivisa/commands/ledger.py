"""``condivisa ledger add|list|report|document``: the GSE ledger — what the GSE communicated and paid, against
condivisa's own settlement of the same months (:mod:`condivisa.billing.ledger`,
:mod:`condivisa.billing.ledger_report`; docs/gse-ledger.md).

Every command takes ``--config community.yaml`` (the community the entries belong to; default
``$CONDIVISA_COMMUNITY_FILE``) and ``--database URL`` (default ``$CONDIVISA_DATABASE_URL``, else
``sqlite:///./var/condivisa.db``, as ``serve``). A malformed entry stores nothing: the error names the field
and the fix, on stderr, exit code 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from condivisa.kernel.money import to_euros

DATABASE_HELP = "database URL (default: $CONDIVISA_DATABASE_URL, else sqlite:///./var/condivisa.db as serve)"
ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="CONDIVISA_COMMUNITY_FILE",
        help="community.yaml",
        exists=True,
        dir_okay=False,
    ),
]
DbOpt = Annotated[str | None, typer.Option("--database", help=DATABASE_HELP)]


def _fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _community_name(config: Path) -> str:
    from condivisa.domain.config import ConfigError, load_community

    try:
        return load_community(config).name
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))


def _open(database: str | None):
    from condivisa.store.location import resolve_database_url
    from condivisa.store.store import Store

    try:
        store = Store(resolve_database_url(database))
        if store.revision() is None:
            store.close()
            _fail(f"{store.url}: no condivisa schema here; run `condivisa db upgrade` first")
    except typer.Exit:
        raise
    except Exception as exc:  # connection refused, bad URL, ...
        _fail(f"cannot open the database: {exc}")
    return store


def _eur(cents: int | None) -> str:
    return "—" if cents is None else f"{to_euros(cents):,.2f}"


def add_cmd(
    config: ConfigOpt,
    kind: Annotated[str, typer.Option("--kind", help="advance, yearly_balance or correction")],
    amount: Annotated[str, typer.Option("--amount", help="euros, at most 2 decimals, e.g. 312.40")],
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM (advance, correction)")] = None,
    year: Annotated[int | None, typer.Option("--year", help="YYYY (yearly_balance)")] = None,
    paid_on: Annotated[
        str | None, typer.Option("--paid-on", help="YYYY-MM-DD: the day the money arrived")
    ] = None,
    communicated_on: Annotated[
        str | None, typer.Option("--communicated-on", help="YYYY-MM-DD: the day of the GSE's notice")
    ] = None,
    due_on: Annotated[
        str | None, typer.Option("--due-on", help="YYYY-MM-DD: the payment day the GSE announced")
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="the GSE's document or payment number")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="a note of your own")] = None,
    document: Annotated[
        Path | None,
        typer.Option("--document", help="the GSE's document (PDF, image, XML, CSV; ≤ 5 MiB)", dir_okay=False),
    ] = None,
    database: DbOpt = None,
    actor: Annotated[str, typer.Option("--actor", help="who records it (audit log)")] = "cli",
) -> None:
    """Record what the GSE communicated (--communicated-on) or paid (--paid-on); the same entry twice changes
    nothing."""
    from condivisa.billing.ledger import LedgerError, make_entry, read_document, record_entry

    name = _community_name(config)
    try:
        doc = None
        if document is not None:
            if not document.is_file():
                raise LedgerError("document", f"{document}: no such file")
            doc = read_document(document.name, document.read_bytes())
        entry = make_entry(
            name,
            kind=kind,
            amount=amount,
            month=month,
            year=year,
            paid_on=paid_on,
            communicated_on=communicated_on,
            due_on=due_on,
            reference=reference,
            note=note,
            document=doc,
        )
        store = _open(database)
        try:
            out = record_entry(store, entry, doc, actor=actor)
        finally:
            store.close()
    except LedgerError as exc:
        _fail(f"--{exc.field.replace('_', '-')}: {str(exc).split(': ', 1)[1]}")
    what = f"{entry.kind} {entry.period} {entry.status} {to_euros(entry.amount_cents):.2f} €"
    if out.created:
        Console().print(f"recorded entry {out.entry_id}: {what}", highlight=False)
    else:
        Console().print(
            f"already recorded as entry {out.entry_id}: {what} (nothing changed)", highlight=False
        )


def list_cmd(
    config: ConfigOpt,
    year: Annotated[int | None, typer.Option("--year", help="only this year")] = None,
    database: DbOpt = None,
) -> None:
    """The recorded entries of the community."""
    from condivisa.billing.ledger import list_entries

    name = _community_name(config)
    store = _open(database)
    try:
        entries = list_entries(store, name, year)
    finally:
        store.close()
    table = Table(title=f"GSE ledger · {name}")
    for col in (
        "id",
        "period",
        "kind",
        "status",
        "€",
        "communicated",
        "paid",
        "due",
        "reference",
        "document",
    ):
        table.add_column(col, justify="right" if col in ("id", "€") else "left")
    for e in entries:
        table.add_row(
            str(e.id),
            e.period,
            e.kind,
            e.status,
            _eur(e.amount_cents),
            str(e.communicated_on or ""),
            str(e.paid_on or ""),
            str(e.due_on or ""),
            e.reference or "",
            f"{e.document_name} ({(e.document_sha256 or '')[:12]})" if e.document_name else "",
        )
    Console(width=max(Console().width, 140)).print(table)


def document_cmd(
    config: ConfigOpt,
    entry_id: Annotated[int, typer.Argument(help="the entry's id (condivisa ledger list)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="where to write the document")],
    database: DbOpt = None,
) -> None:
    """Write the document attached to an entry to a file."""
    from condivisa.billing.ledger import entry_document

    name = _community_name(config)
    store = _open(database)
    try:
        doc = entry_document(store, name, entry_id)
    finally:
        store.close()
    if doc is None:
        _fail(f"entry {entry_id}: no such entry of {name}, or no document attached")
    out.write_bytes(doc.data)
    Console().print(f"wrote {out} ({doc.size_bytes} bytes, SHA-256 {doc.sha256})", highlight=False)


ROW_COLUMNS = ("period", "expected_eur", "sale_eur", "communicated_eur", "received_eur", "variance_eur")


def report_cmd(
    config: ConfigOpt,
    prices: Annotated[
        Path | None,
        typer.Option("--prices", "-p", help="hourly zonal prices CSV", exists=True, dir_okay=False),
    ] = None,
    measurements: Annotated[
        Path | None,
        typer.Option(
            "--measurements",
            "-m",
            help="measurements CSV (default: the database's)",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    year: Annotated[int | None, typer.Option("--year", help="only this year")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD (default: today)")] = None,
    payment_days: Annotated[
        int, typer.Option("--payment-days", help="days after a month's end by which it is due", min=0)
    ] = 60,
    fill: Annotated[
        str | None, typer.Option("--fill", help="missing quarter hours: zero or interpolate")
    ] = None,
    with_sale: Annotated[
        bool,
        typer.Option(
            "--with-sale", help="the referente holds the plants' RID contracts: expect the sale too"
        ),
    ] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="print CSV instead of the table")] = False,
    database: DbOpt = None,
) -> None:
    """Expected (condivisa's settlement) against received (the ledger), per month and yearly balance."""
    from sqlalchemy.exc import SQLAlchemyError

    from condivisa.billing.ledger import list_entries
    from condivisa.billing.ledger_report import ledger_totals, ledger_view
    from condivisa.commands.report import load_book

    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            _fail(f"--as-of {as_of!r}: expected YYYY-MM-DD")
    store = _open(database)
    try:
        book = load_book(config, measurements, prices, None if measurements else store.url, fill, as_of=day)
        rows = ledger_view(
            list_entries(store, book.community.name),
            book,
            day,
            payment_days=payment_days,
            year=year,
            include_sale=with_sale,
        )
    except typer.BadParameter as exc:
        _fail(str(exc.message))
    except (ValueError, RuntimeError, KeyError) as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:  # e.g. a table of a newer schema: the database needs an upgrade
        _fail(f"cannot read the database: {str(exc).splitlines()[0]}; run `condivisa db upgrade`")
    finally:
        store.close()
    if csv_out:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([*ROW_COLUMNS, "due_on", "overdue", "provisional"])
        for r in rows:
            d = r.as_dict()
            w.writerow(
                [
                    d["period"],
                    *("" if d[k] is None else f"{d[k]:.2f}" for k in ROW_COLUMNS[1:]),
                    d["due_on"] or "",
                    r.overdue,
                    r.provisional,
                ]
            )
        sys.stdout.write(buf.getvalue())
        return
    table = Table(title=f"GSE ledger · {book.community.name} · as of {day or book.as_of}")
    heads = (
        "period",
        "expected €",
        "RID sale €",
        "communicated €",
        "received €",
        "variance €",
        "due",
        "state",
    )
    for col in heads:
        table.add_column(col, justify="left" if col in ("period", "due", "state") else "right")
    for r in rows:
        state = ("OVERDUE, " if r.overdue else "") + ("provisional" if r.provisional else "final")
        table.add_row(
            r.period if r.kind == "month" else f"{r.period} yearly balance",
            _eur(r.expected_cents),
            _eur(r.sale_cents),
            _eur(r.communicated_cents),
            _eur(r.received_cents),
            _eur(r.variance_cents),
            str(r.due_on or ""),
            f"[bold red]{state}[/]" if r.overdue else state,
        )
    t = ledger_totals(rows)
    table.add_section()
    table.add_row(
        "total",
        _eur(t["expected_cents"]),
        _eur(t["sale_cents"]),
        "",
        _eur(t["received_cents"]),
        _eur(t["variance_cents"]),
        "",
        f"{t['overdue']} overdue",
    )
    Console(width=max(Console().width, 120)).print(table)
    Console().print(
        (
            "expected = premium + ARERA valorisation − GSE fees + the RID sale (--with-sale)"
            if with_sale
            else "expected = premium + ARERA valorisation − GSE fees (CACER contract); the RID sale is paid apart, "
            "under each plant's own RID contract (--with-sale if the referente holds them)"
        )
        + ". Provisional until the year is closed.",
        style="dim",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    ledger_app = typer.Typer(
        help="The GSE ledger: what the GSE communicated and paid, against condivisa's settlement.",
        no_args_is_help=True,
    )
    ledger_app.command("add")(add_cmd)
    ledger_app.command("list")(list_cmd)
    ledger_app.command("report")(report_cmd)
    ledger_app.command("document")(document_cmd)
    app.add_typer(ledger_app, name="ledger")
