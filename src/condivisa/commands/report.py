"""``condivisa report community|member``: the monthly community report and a member's statement as HTML,
PDF (or CSV for a statement), from CSV files or from the platform's database."""

from __future__ import annotations

import datetime as dt
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from condivisa.outputs.i18n import LANGUAGES

log = logging.getLogger(__name__)


class Format(StrEnum):
    html = "html"
    pdf = "pdf"
    csv = "csv"


class Lang(StrEnum):
    it = "it"
    en = "en"


def load_book(
    config: Path,
    measurements: Path | None,
    prices: Path | None,
    database: str | None,
    fill: str | None = None,
    assumed_price_eur_per_mwh: float | None = None,
    as_of: dt.date | None = None,
    allow_unusual_prices: bool = False,
):
    """A :class:`~condivisa.outputs.monthly.SettledMonths` from ``community.yaml`` plus either a measurements
    CSV or the store at ``database``; prices from a CSV (or, only when asked, a flat assumed price).
    ``as_of`` (default: today, :mod:`condivisa.kernel.clock`) is the first day not settled."""
    from condivisa.domain.config import load_community
    from condivisa.outputs.sources import NoPricesError, inputs_from_files, inputs_from_store

    if (measurements is None) == (database is None):
        raise typer.BadParameter("give exactly one of --measurements FILE or --database URL")
    price = {
        "assumed_price_eur_per_mwh": assumed_price_eur_per_mwh,
        "allow_unusual_prices": allow_unusual_prices,
    }
    try:
        if measurements is not None:
            inputs = inputs_from_files(config, measurements, prices, **price)
        else:
            from condivisa.store.store import Store

            community = load_community(config)
            with Store(database) as store:
                inputs = inputs_from_store(store, community, prices_csv=prices, **price)
    except NoPricesError:
        raise typer.BadParameter(
            "give --prices FILE (hourly zonal prices) or --assume-price EUR_PER_MWH"
        ) from None
    return inputs.settled_months(fill=fill, as_of=as_of)


def record_report_rules(database: str, community, config: Path) -> None:
    """Audit the allocation rules the report settles with on the database it reads, as ``condivisa serve``
    and the dashboard do (:func:`condivisa.auth.rules_audit.record_rules`: ``rules_recorded`` the first time,
    ``rules_changed`` with a readable diff when ``community.yaml``'s rules differ from the last recorded ones;
    actor ``cli``, source the community file). Never makes the report fail: a database that cannot record (no
    auth tables, read-only, unreachable) only logs a warning."""
    from condivisa.auth.rules_audit import record_rules
    from condivisa.store.store import Store

    store = None
    try:
        store = Store(database)
        rec = record_rules(store, community, actor="cli", source=str(config))
    except Exception as exc:  # the report is what was asked for; the audit is a side effect
        log.warning(
            "could not record the community's allocation rules (%s: %s); run `condivisa db upgrade`",
            type(exc).__name__,
            exc,
        )
        return
    finally:
        if store is not None:
            store.close()
    if rec.status == "changed":
        typer.secho(
            f"allocation rules changed since they were last recorded: {rec.diff}", fg="yellow", err=True
        )


def _out_path(out: Path | None, stem: str, fmt: Format) -> Path:
    path = out or Path(f"{stem}.{fmt.value}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="community.yaml", exists=True, dir_okay=False)
]
MeasOpt = Annotated[
    Path | None,
    typer.Option(
        "--measurements",
        "-m",
        help="measurements CSV (pod,start,withdrawn_kwh,injected_kwh)",
        exists=True,
        dir_okay=False,
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="read measurements from the store at this SQLAlchemy URL (the platform's: sqlite:///./var/condivisa.db)",
    ),
]
PricesOpt = Annotated[
    Path | None,
    typer.Option(
        "--prices",
        "-p",
        help="hourly zonal prices CSV (start,zonal_price_eur_per_mwh)",
        exists=True,
        dir_okay=False,
    ),
]
AssumeOpt = Annotated[
    float | None, typer.Option("--assume-price", help="no price file: assume this flat zonal price, €/MWh")
]
UnusualOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unusual-prices", help="accept a prices file whose mean is below 1 or above 5,000 €/MWh"
    ),
]
MonthOpt = Annotated[str | None, typer.Option("--month", help="YYYY-MM (default: the last complete month)")]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="YYYY-MM-DD: report as if today were this day; days from it on are not settled (default: today)",
    ),
]
FmtOpt = Annotated[Format, typer.Option("--format", "-f", help="html, pdf (or csv for a member statement)")]
LangOpt = Annotated[Lang, typer.Option("--lang", help="language: it or en")]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="output file (default: ./report-<month>.<format>)")
]
FillOpt = Annotated[
    str | None, typer.Option("--fill", help="missing quarter hours: zero or interpolate (default: error)")
]


def _month(book, month: str | None) -> str:
    """``--month``, else the last complete month (else the latest month with a settled day), said on stderr."""
    if month is None:
        chosen = book.last_complete_month or book.latest_settled_month
        if chosen is None:
            raise typer.BadParameter(f"no measurements before {book.as_of}: nothing to report")
        state = (
            "the last complete month"
            if chosen == book.last_complete_month
            else "month in progress, provisional"
        )
        typer.secho(f"--month not given: reporting {chosen} ({state}, as of {book.as_of})", err=True)
        return chosen
    try:
        dt.date.fromisoformat(month + "-01")
    except ValueError:
        raise typer.BadParameter(f"--month {month!r}: expected YYYY-MM") from None
    return month


def _as_of(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--as-of {value!r}: expected YYYY-MM-DD") from None


def _write(path: Path, html: str, fmt: Format) -> None:
    from condivisa.outputs.report import html_to_pdf

    if fmt is Format.pdf:
        path.write_bytes(html_to_pdf(html))
    else:
        path.write_text(html, encoding="utf-8")


def _fail(exc: Exception) -> NoReturn:
    """The reason on stderr and exit code 2, as ``condivisa settle`` for the same input errors."""
    typer.secho(f"error: {exc}", fg="red", err=True)
    raise typer.Exit(2)


def community_cmd(
    config: ConfigOpt,
    measurements: MeasOpt = None,
    database: DbOpt = None,
    prices: PricesOpt = None,
    assume_price: AssumeOpt = None,
    month: MonthOpt = None,
    fmt: FmtOpt = Format.html,
    lang: LangOpt = Lang.it,
    out: OutOpt = None,
    fill: FillOpt = None,
    as_of: AsOfOpt = None,
    allow_unusual_prices: UnusualOpt = False,
) -> None:
    """The community's monthly report: KPIs, settlement and allocation per member, charts."""
    from condivisa.outputs.report import community_report_html

    if fmt is Format.csv:
        raise typer.BadParameter(
            "the community report is html or pdf (the settlement CSV: condivisa settle --format csv)"
        )
    try:
        book = load_book(
            config, measurements, prices, database, fill, assume_price, _as_of(as_of), allow_unusual_prices
        )
        if database is not None:
            record_report_rules(database, book.community, config)
        m = _month(book, month)
        path = _out_path(out, f"report-{m}", fmt)
        _write(path, community_report_html(book, m, lang.value), fmt)
    except (ValueError, RuntimeError, KeyError) as exc:
        _fail(exc)
    typer.echo(f"wrote {path}")


def member_cmd(
    member_id: Annotated[str, typer.Argument(help="the member's id in community.yaml")],
    config: ConfigOpt,
    measurements: MeasOpt = None,
    database: DbOpt = None,
    prices: PricesOpt = None,
    assume_price: AssumeOpt = None,
    month: MonthOpt = None,
    fmt: FmtOpt = Format.html,
    lang: LangOpt = Lang.it,
    out: OutOpt = None,
    fill: FillOpt = None,
    as_of: AsOfOpt = None,
    allow_unusual_prices: UnusualOpt = False,
) -> None:
    """A member's monthly statement: money of the month and year, shared energy, charts, best hours."""
    from condivisa.outputs.report import member_statement_csv, member_statement_html

    try:
        book = load_book(
            config, measurements, prices, database, fill, assume_price, _as_of(as_of), allow_unusual_prices
        )
        m = _month(book, month)
        path = _out_path(out, f"statement-{member_id}-{m}", fmt)
        if fmt is Format.csv:
            path.write_text(member_statement_csv(book, member_id, m), encoding="utf-8")
        else:
            _write(path, member_statement_html(book, member_id, m, lang.value), fmt)
    except (ValueError, RuntimeError, KeyError) as exc:
        _fail(exc)
    typer.echo(f"wrote {path}")


def reconciliation_cmd(
    config: ConfigOpt,
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    database: DbOpt = None,
    prices: PricesOpt = None,
    assume_price: AssumeOpt = None,
    lang: LangOpt = Lang.it,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="also write the POD lines as CSV")] = None,
) -> None:
    """The month's reconciliation: DU readings against the distributor's data per POD, the money the
    difference moves, devices to check: the referente's to-do list."""
    from rich.console import Console
    from rich.table import Table

    from condivisa.domain.config import load_community
    from condivisa.outputs.reconciliation import reconcile_store, reconciliation_frame
    from condivisa.store.location import resolve_database_url
    from condivisa.store.provenance import mix_text
    from condivisa.store.store import Store

    try:
        community = load_community(config)
        with Store(resolve_database_url(database)) as store:
            rec = reconcile_store(
                store,
                community,
                month,
                prices_csv=prices,
                assumed_price_eur_per_mwh=assume_price,
                lang=lang.value,
            )
    except (ValueError, RuntimeError, KeyError) as exc:
        _fail(exc)
    console = Console()
    table = Table(title=f"{community.name} — {month}: DU vs distributor", title_justify="left")
    for col in (
        "POD",
        "member",
        "direction",
        "DU kWh",
        "distributor kWh",
        "Δ kWh",
        "Δ %",
        "missing DU / dist.",
        "drift %",
    ):
        table.add_column(col, justify="left" if col in ("POD", "member", "direction") else "right")
    for r in rec.lines:
        pct = "—" if r.difference_pct is None else f"{r.difference_pct:+.2f}"
        drift = "—" if r.drift_pct is None else f"{r.drift_pct:+.2f}" + (" ⚠" if r.check_device else "")
        table.add_row(
            r.pod,
            r.member,
            r.direction,
            f"{r.du_kwh:,.1f}",
            f"{r.distributor_kwh:,.1f}",
            f"{r.difference_kwh:+,.1f}",
            pct,
            f"{r.missing_du} / {r.missing_distributor}",
            drift,
        )
    console.print(table)
    if rec.mix:
        console.print(f"{month}: {mix_text(rec.mix, lang.value)}", highlight=False)
    if not rec.lines:
        console.print("no distributor data for this month: import them with condivisa db import-distributor")
    for item in rec.todo:
        console.print(f"• {item}", highlight=False, soft_wrap=True)
    if csv_out is not None:
        reconciliation_frame(rec.lines).to_csv(csv_out, index=False)
        console.print(f"wrote {csv_out}")


def register(app: typer.Typer) -> None:
    report_app = typer.Typer(
        help="Monthly community report and member statements (HTML, PDF, CSV).", no_args_is_help=True
    )
    report_app.command("community")(community_cmd)
    report_app.command("member")(member_cmd)
    report_app.command("reconciliation")(reconciliation_cmd)
    app.add_typer(report_app, name="report")


assert set(LANGUAGES) == {lang.value for lang in Lang}
