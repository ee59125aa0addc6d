"""``condivisa feasibility PLAN.yaml --out DIR [--add-member FILE]``: the feasibility study of a community
still to be built, with a progress bar; writes report.html (Italian), report.en.html, summary.json and CSV
tables into DIR, and prints the headline figures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # pvlib and Plotly load when a study runs
    from condivisa.feasibility.plan_file import Consumer, Plan
    from condivisa.feasibility.study import Study


def _eur(x: float | None) -> str:
    return "—" if x is None else f"{x:,.2f} €"


def run(
    plan_file: Path = typer.Argument(..., help="the plan (YAML, see examples/feasibility.yaml)"),
    out: Path = typer.Option(
        Path("feasibility-out"), "--out", "-o", help="directory for the report and the data"
    ),
    add_member: Path | None = typer.Option(
        None, "--add-member", help="a YAML file with one prospective member: what joining changes"
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="include the plots in the report"),
) -> None:
    """Feasibility study of a community still to be built: sharing, money by the proposed rules, 20-year
    economics, how many more consumers would absorb the surplus (and, with --add-member, one newcomer)."""
    from condivisa.feasibility.plan_file import PlanError, load_newcomer, load_plan

    console, err = Console(), Console(stderr=True)
    try:
        plan = load_plan(plan_file)
        newcomer = load_newcomer(add_member) if add_member is not None else None
    except PlanError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    started = time.perf_counter()
    try:
        study, doc, files = _run_with_progress(plan, newcomer, out, console, plots=plots)
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    console.print(_year_table(doc))
    console.print(_economics_table(doc))
    if doc["absorption"]:
        console.print(_absorption_table(doc))
    if doc["join"]:
        j = doc["join"]
        console.print(
            f"{j['newcomer']['id']} joining: shared {j['shared_kwh_before']:,.0f} → {j['shared_kwh_after']:,.0f} kWh, "
            f"community income {j['community_income_change_eur']:+,.2f} €/year, the newcomer receives "
            f"{j['newcomer']['total_eur']:,.2f} €/year"
        )
    for note in study.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(
        f"wrote {len(files)} files to {out} in {time.perf_counter() - started:.1f} s (open {out / 'report.html'})"
    )


def _run_with_progress(
    plan: Plan, newcomer: Consumer | None, out: Path, console: Console, *, plots: bool
) -> tuple[Study, dict[str, Any], list[Path]]:
    """The study (one step per stage of :data:`condivisa.feasibility.study.STAGES`), then the data and report."""
    from condivisa.feasibility.report import write_report
    from condivisa.feasibility.study import STAGES, run_study
    from condivisa.feasibility.summary import summary, write_data

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{plan.name}: starting", total=len(STAGES) + 1)

        def step(name: str) -> None:
            progress.update(task, advance=1, description=f"{plan.name}: {name}")

        study = run_study(plan, progress=step, newcomer=newcomer)
        doc = summary(study)
        files = write_data(doc, out) + write_report(study, doc, out, plots=plots)
        step("report")
    return study, doc, files


def _year_table(doc: dict[str, Any]) -> Table:
    y = doc["year"]
    table = Table(title=f"{doc['plan']['name']} — year {doc['plan']['year']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in (
        ("production kWh", f"{y['production_kwh']:,.0f}"),
        ("consumption kWh", f"{y['consumption_kwh']:,.0f}"),
        ("shared kWh", f"{y['shared_kwh']:,.0f}"),
        ("shared / production", f"{100 * y['sharing_of_production']:.1f} %"),
        ("shared / consumption", f"{100 * y['sharing_of_consumption']:.1f} %"),
        ("premium", _eur(y["premium_eur"])),
        ("valorisation", _eur(y["valorisation_eur"])),
        ("sale (RID)", _eur(y["sale_eur"])),
        ("GSE fees", _eur(y["gse_fees_eur"])),
        ("total", _eur(y["total_eur"])),
    ):
        table.add_row(label, value)
    return table


def _economics_table(doc: dict[str, Any]) -> Table:
    inputs = doc["economics_inputs"]
    table = Table(
        title=f"economics over {inputs['horizon_years']} years, discount rate {inputs['discount_rate']:.1%}"
    )
    for col in ("owner", "investment", "year-1 income", "NPV", "payback years", "IRR"):
        table.add_column(col, justify="left" if col == "owner" else "right")
    for o in doc["owners"] + [doc["community_economics"]]:
        table.add_row(
            o["owner"],
            _eur(o["investment_eur"]),
            _eur(o["year1_net_income_eur"]),
            _eur(o["npv_eur"]),
            "never" if o["payback_years"] is None else f"{o['payback_years']:.1f}",
            "—" if o["irr"] is None else f"{100 * o['irr']:.1f} %",
        )
    return table


def _absorption_table(doc: dict[str, Any]) -> Table:
    a0 = doc["absorption"][0]
    table = Table(title=f"consumers needed to share {100 * a0['target_sharing']:.0f} % of production")
    for col in ("kind", "yearly kWh", "needed", "share reached", "community +€/year", "each newcomer €/year"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for a in doc["absorption"]:
        table.add_row(
            a["kind"],
            f"{a['yearly_kwh']:,.0f}",
            f"not within {a['max_added']}" if a["needed"] is None else str(a["needed"]),
            f"{100 * a['sharing_after']:.1f} %",
            _eur(a["extra_income_eur"]),
            _eur(a["newcomer_eur"]),
        )
    return table


def register(app: typer.Typer) -> None:
    app.command("feasibility")(run)
