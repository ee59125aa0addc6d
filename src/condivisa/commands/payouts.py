"""``condivisa payouts sepa``: the SEPA credit-transfer file (pain.001.001.03) paying the members of a stored
run, to upload to the community's bank (:mod:`condivisa.billing.payouts`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from condivisa.commands.billing_options import (
    ConfigOpt,
    DatabaseOpt,
    community,
    eur,
    euro_cents,
    fail,
    open_store,
)

payouts_app = typer.Typer(help="Payouts to the members: SEPA credit-transfer files.", no_args_is_help=True)


@payouts_app.command("sepa")
def sepa_cmd(
    run_number: Annotated[int, typer.Option("--run", help="the stored run to pay")],
    config: ConfigOpt,
    debtor_iban: Annotated[
        str, typer.Option("--debtor-iban", help="the community's IBAN the money leaves from")
    ],
    debtor_name: Annotated[str, typer.Option("--debtor-name", help="the community account's holder")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the pain.001 XML file to write")],
    debtor_bic: Annotated[str | None, typer.Option("--debtor-bic", help="the community bank's BIC")] = None,
    execution_date: Annotated[
        str | None, typer.Option("--execution-date", help="YYYY-MM-DD (default: the next day)")
    ] = None,
    gse_paid: Annotated[
        str | None,
        typer.Option(
            "--gse-paid", help="what the GSE paid for the run's months (CACER), €: distributed first"
        ),
    ] = None,
    rid_paid: Annotated[str | None, typer.Option("--rid-paid", help="what the GSE paid under RID, €")] = None,
    exclude_sale: Annotated[
        bool,
        typer.Option("--exclude-sale", help="leave out the RID sale (producers paid by the GSE directly)"),
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Write the pain.001 file: one transfer per member with a positive amount and a bank account."""
    from condivisa.billing.payouts import PayoutError, payout_plan, sepa_xml
    from condivisa.billing.run_records import RunError, chain, get_run, lines_in_force
    from condivisa.kernel import clock

    c = community(config)
    try:
        when = (
            dt.date.fromisoformat(execution_date) if execution_date else clock.today() + dt.timedelta(days=1)
        )
    except ValueError:
        fail(f"--execution-date {execution_date!r}: expected YYYY-MM-DD")
    paid = euro_cents(gse_paid, "--gse-paid")
    with open_store(database) as store:
        try:
            run = get_run(store, c.name, run_number)
            lines = None
            if paid is not None:
                if run.kind != "final":
                    fail(f"--gse-paid: run n. {run_number} is not a final run; distribute a final run")
                lines = lines_in_force(chain(store, run))
            plan = payout_plan(
                store,
                c,
                run,
                lines,
                gse_paid_cents=paid,
                rid_paid_cents=euro_cents(rid_paid, "--rid-paid"),
                exclude_sale=exclude_sale,
            )
            xml = sepa_xml(
                plan,
                debtor_name=debtor_name,
                debtor_iban=debtor_iban,
                debtor_bic=debtor_bic,
                execution_date=when,
            )
        except (PayoutError, RunError, ValueError) as exc:
            fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(xml)
    _print_plan(plan, out)


def _print_plan(plan, out: Path) -> None:
    """The transfers and the skipped payees (IBANs masked), and the file written."""
    t = Table(title=f"run n. {plan.run.number}: payouts", title_justify="left")
    for col in ("payee", "IBAN", "amount €", "note"):
        t.add_column(col, justify="right" if col == "amount €" else "left")
    for tr in plan.transfers:
        t.add_row(tr.member_id, tr.account.masked, eur(tr.amount_cents), "transfer")
    for s in plan.skipped:
        t.add_row(s.member_id, "", eur(s.amount_cents), f"skipped: {s.reason}")
    console = Console(width=140)
    console.print(t)
    console.print(
        f"wrote {out}: {len(plan.transfers)} transfers, {eur(plan.total_cents)} € (pain.001.001.03, validated)",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(payouts_app, name="payouts")
