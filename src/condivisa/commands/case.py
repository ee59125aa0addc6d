"""``condivisa case run CASE.yaml --out DIR``: the whole case study (simulation, batteries, optimal
dispatch, 20-year economics) with a progress bar; writes summary.json, CSV tables and plots into DIR."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # the case study's modules load pvlib, HiGHS and Plotly: imported when a case is run
    from condivisa.casestudy.casefile import Case
    from condivisa.casestudy.results import CaseStudy

STEPS = (
    "production and loads",
    "heuristic batteries",
    "optimal dispatch (HiGHS)",
    "20-year physics",
    "economics",
    "sizing sweep",
    "tables",
    "plots",
)


def _fmt(value, digits: int = 1) -> str:
    """A number in the user's locale (``1.234,5`` under an Italian ``LANG``), ``—`` for none."""
    from condivisa.outputs.terminal import cli_number

    return "—" if value is None else cli_number(value, digits)


def run(
    case_file: Path = typer.Argument(..., help="case file (YAML, the shape of is-corrias.yaml)"),
    out: Path = typer.Option(
        Path("case-out"), "--out", "-o", help="directory for summary.json, tables and plots"
    ),
    png: bool = typer.Option(True, "--png/--no-png", help="also write PNG plots (needs Chromium)"),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="write the plots at all"),
    forecast: str = typer.Option(
        "perfect", "--forecast", help="optimal controller's forecast: perfect or persistence"
    ),
    loads: str | None = typer.Option(
        None,
        "--loads",
        help="flats' load model: arera (ARERA profiles, the default), synthetic or measured (stored readings); "
        "overrides the case file's loads:",
    ),
    database: str | None = typer.Option(
        None,
        "--database",
        help="database URL of the stored readings for --loads measured (default: measured.database of the "
        "case file, else $CONDIVISA_DATABASE_URL, else sqlite:///./var/condivisa.db)",
    ),
) -> None:
    """Run a case study and write DIR/summary.json, monthly/flat/economics CSV tables and plots."""
    from condivisa.casestudy.case_keys import LOAD_MODELS
    from condivisa.casestudy.casefile import CaseError, load_case
    from condivisa.casestudy.load_models import describe, with_load_model
    from condivisa.casestudy.tables import summary
    from condivisa.outputs.terminal import fit_table

    console = Console()
    err = Console(stderr=True)
    if forecast not in ("perfect", "persistence"):
        err.print(
            f"[bold red]error:[/] --forecast must be perfect or persistence, got {forecast!r}",
            highlight=False,
        )
        raise typer.Exit(code=2)
    if loads is not None and loads not in LOAD_MODELS:
        err.print(
            f"[bold red]error:[/] --loads must be one of {', '.join(LOAD_MODELS)}, got {loads!r}",
            highlight=False,
        )
        raise typer.Exit(code=2)
    try:
        case = with_load_model(load_case(case_file), loads, database)
        started = time.perf_counter()
        study, files, notes = _run_with_progress(case, out, console, png=png, plots=plots, forecast=forecast)
    except CaseError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    elapsed = time.perf_counter() - started
    doc = summary(study)
    console.print(describe(study.load_model), highlight=False)
    console.print(fit_table(_cases_table(case, doc), console.width))
    console.print(fit_table(_economics_table(case, doc), console.width))
    for line in verdict_lines(doc):
        console.print(line, highlight=False)
    if study.dispatch_gain:
        g = study.dispatch_gain
        console.print(
            f"optimal dispatch gains {g['gain_eur_per_year']:,.0f} €/year over the heuristic "
            f"({g['capacity_kwh_per_flat']:g} kWh per flat, {g['forecast']} forecast, {g['solves']} LP windows, "
            f"{g['solver_seconds']:.1f} s in HiGHS)"
        )
    for note in study.notes + notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(f"wrote {len(files)} files to {out} in {elapsed:.1f} s")


def _run_with_progress(
    case: Case, out: Path, console: Console, *, png: bool, plots: bool, forecast: str
) -> tuple[CaseStudy, list[Path], list[str]]:
    """The study, its tables and (if asked) its plots, with one progress step per stage of :data:`STEPS`."""
    from condivisa.casestudy.plots import write_figures
    from condivisa.casestudy.runner import run_case
    from condivisa.casestudy.tables import write_tables

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{case.name}: starting", total=len(STEPS))

        def step(name: str) -> None:
            progress.update(task, advance=1, description=f"{case.name}: {name}")

        study = run_case(case, progress=step, lp_forecast=forecast)
        files = write_tables(study, out)
        step("tables")
        notes: list[str] = []
        if plots:
            written, notes = write_figures(study, out, png=png)
            files += written
        step("plots")
    return study, files, notes


def _cases_table(case: Case, doc: dict) -> Table:
    from condivisa.casestudy.verdict import case_label
    from condivisa.outputs.terminal import cli_lang

    table = Table(title=f"{case.name} — year {case.year}")
    for col in ("case", "production kWh", "shared kWh", "sharing %", "premium €", "bill €"):
        table.add_column(col, justify="right" if col != "case" else "left")
    lang = cli_lang()
    for c in doc["cases"]:
        table.add_row(
            case_label(c["name"], lang, c),
            _fmt(c["production_kwh"], 0),
            _fmt(c["shared_kwh"], 0),
            _fmt(c["sharing_pct"]),
            _fmt(c["premium_eur"], 0),
            _fmt(c["bill_eur"], 0),
        )
    return table


def verdict_lines(doc: dict, lang: str | None = None) -> list[str]:
    """The answer to "is a battery worth it?" in one sentence with its figures, and why the bills rise
    with batteries, in the user's language (:func:`condivisa.outputs.terminal.cli_lang`, or ``lang``); none
    without batteries."""
    from condivisa.casestudy.verdict import WHY_BILLS_RISE, battery_verdict
    from condivisa.outputs.terminal import cli_lang

    lang = lang or cli_lang()
    verdict = battery_verdict(doc)
    if verdict is None:
        return []
    return [f"[bold]{verdict.sentence(lang)}[/]", WHY_BILLS_RISE.get(lang, WHY_BILLS_RISE["en"])]


def _economics_table(case: Case, doc: dict) -> Table:
    from condivisa.casestudy.verdict import case_label, scenario_label
    from condivisa.outputs.terminal import cli_lang

    eco = Table(
        title=f"economics over {case.horizon_years} years, discount rate {case.discount_rate:.0%}",
        caption="net gain = net present value (NPV); payback = discounted payback time (DPBT); "
        "yearly return = internal rate of return (IRR)",
    )
    for col in (
        "case",
        "scenario",
        "investment €",
        "net gain €",
        "payback years",
        "yearly return %",
        "from sharing %",
    ):
        eco.add_column(col, justify="right" if col not in ("case", "scenario") else "left")
    lang = cli_lang()
    entries = {c["name"]: c for c in doc["cases"]}
    for e in doc["economics"]:
        eco.add_row(
            case_label(e["case"], lang, entries.get(e["case"])),
            scenario_label(e["scenario"], lang),
            _fmt(e["investment_eur"], 0),
            _fmt(e["npv_eur"], 0),
            _fmt(e["dpbt_years"]),
            _fmt(None if e["irr"] is None else 100 * e["irr"]),
            _fmt(100 * e["sharing_income_share"]),
        )
    return eco


def register(app: typer.Typer) -> None:
    case_app = typer.Typer(
        help="Case studies: simulate a building/community with and without batteries, 20-year economics.",
        no_args_is_help=True,
    )
    case_app.command("run")(run)
    app.add_typer(case_app, name="case")
