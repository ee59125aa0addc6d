"""``condivisa members bank set|list|remove``: the members' bank accounts for payouts (personal data: in the
member's export, deleted by the erasure; :mod:`condivisa.billing.bank_accounts`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from condivisa.commands.billing_options import ConfigOpt, DatabaseOpt, community, fail, open_store

members_app = typer.Typer(help="The community's members: bank accounts for payouts.", no_args_is_help=True)
bank_app = typer.Typer(help="Members' bank accounts (IBAN validated; shown masked).", no_args_is_help=True)
members_app.add_typer(bank_app, name="bank")
MemberArg = Annotated[str, typer.Argument(help="the member's (or external producer's) id")]


@bank_app.command("set")
def set_cmd(
    member: MemberArg,
    config: ConfigOpt,
    iban: Annotated[str, typer.Option("--iban", help="the IBAN (spaces allowed)")],
    holder: Annotated[str, typer.Option("--holder", help="the account holder's name")],
    bic: Annotated[str | None, typer.Option("--bic", help="the bank's BIC (optional in SEPA)")] = None,
    database: DatabaseOpt = None,
) -> None:
    """Store (or replace) a member's bank account; a wrong IBAN is refused."""
    from condivisa.billing.bank_accounts import BankAccountError, set_account

    c = community(config)
    with open_store(database) as store:
        try:
            account = set_account(store, c, member, iban=iban, holder=holder, bic=bic)
        except BankAccountError as exc:
            fail(str(exc))
    Console().print(f"{member}: bank account {account.masked} ({account.holder}) stored", highlight=False)


@bank_app.command("list")
def list_cmd(config: ConfigOpt, database: DatabaseOpt = None) -> None:
    """The stored bank accounts, IBANs masked; members without one are listed too."""
    from condivisa.billing.bank_accounts import accounts, payee_ids

    c = community(config)
    with open_store(database) as store:
        stored = accounts(store, c)
    t = Table(title=f"bank accounts of {c.name}", title_justify="left")
    for col in ("payee", "holder", "IBAN", "BIC"):
        t.add_column(col)
    for pid in sorted(payee_ids(c) | set(stored)):
        acc = stored.get(pid)
        t.add_row(
            pid, acc.holder if acc else "—", acc.masked if acc else "none", (acc.bic or "") if acc else ""
        )
    Console(width=120).print(t)


@bank_app.command("remove")
def remove_cmd(member: MemberArg, config: ConfigOpt, database: DatabaseOpt = None) -> None:
    """Delete a member's bank account."""
    from condivisa.billing.bank_accounts import remove_account

    c = community(config)
    with open_store(database) as store:
        gone = remove_account(store, c, member)
    Console().print(
        f"{member}: {'bank account removed' if gone else 'no bank account stored'}", highlight=False
    )


def register(app: typer.Typer) -> None:
    app.add_typer(members_app, name="members")
