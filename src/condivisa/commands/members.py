"""``condivisa members bank set|list|remove``: the members' bank accounts for payouts (personal data: in the
member's export, deleted by the erasure; :mod:`condivisa.billing.bank_accounts`). ``condivisa members add``:
a new member in ``community.yaml`` with their login (:mod:`condivisa.auth.member_admin`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from condivisa.commands.billing_options import ConfigOpt, DatabaseOpt, community, fail, open_store

members_app = typer.Typer(
    help="The community's members: add one (with their login); bank accounts for payouts.",
    no_args_is_help=True,
)
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


@members_app.command("add")
def add_cmd(
    config: ConfigOpt,
    member_id: Annotated[str, typer.Option("--id", help="the new member's id (e.g. m21)")],
    pod: Annotated[str, typer.Option("--pod", help="the member's consumption POD (IT001E12345678)")],
    name: Annotated[str | None, typer.Option("--name", help="name or company name")] = None,
    category: Annotated[
        str, typer.Option("--category", help="private|sme|enterprise|public_body|nonprofit|research")
    ] = "private",
    founder: Annotated[bool, typer.Option("--founder/--no-founder", help="a founding member")] = False,
    joined: Annotated[
        str | None,
        typer.Option("--joined", help="the day they joined, YYYY-MM-DD (required unless --founder)"),
    ] = None,
    contract_power_kw: Annotated[
        float | None, typer.Option("--contract-power-kw", help="the POD's contract power, kW")
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="the chain-2 DU reading the POD")] = None,
    email: Annotated[str | None, typer.Option("--email", help="the member's e-mail")] = None,
    username: Annotated[str | None, typer.Option("--username", help="their login (default: the id)")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="who adds, for the audit log")] = None,
    database: DatabaseOpt = None,
) -> None:
    """Add a member to community.yaml (checked as the file is loaded; the previous version kept in history/),
    register their POD/DU and create their login; the initial password is printed once. A running
    `condivisa serve` sees the new member after a restart (the dashboard's form needs none)."""
    import datetime as dt
    import getpass

    from condivisa.auth.member_admin import MemberEditError, NewMember, add_member

    try:
        new = NewMember(
            id=member_id, pod=pod, category=category, founder=founder,
            joined=dt.date.fromisoformat(joined) if joined else None, name=name, email=email,
            contract_power_kw=contract_power_kw, device=device,
        )  # fmt: skip
    except ValueError:
        fail(f"--joined: {joined!r} is not a date (YYYY-MM-DD)")
    store = open_store(database)
    try:
        added = add_member(
            store,
            config,
            new,
            actor=actor or f"cli:{getpass.getuser()}",
            username=username,
            community_slug=_stored_slug(store, config),
        )
    except MemberEditError as exc:
        fail(str(exc))
    finally:
        store.close()
    out = Console(highlight=False)
    kept = f" (previous version: history/{added.backup.name})" if added.backup else ""
    out.print(f"member {added.member_id} added to {config}{kept}")
    if not added.text_kept:
        out.print("the file was written again in full: its comments are only in the previous version")
    if added.password is None:
        fail(f"the login was not created: {added.login_error}")
    out.print(f"login: {added.username}  initial password (shown once): {added.password}")


def _stored_slug(store, config) -> str | None:
    """The slug of ``config``'s community when the platform serves it from its store (the new version is
    stored there too), else None."""
    from condivisa.domain.config import ConfigError, load_community
    from condivisa.store.communities import community_slug, get_community

    try:
        slug = community_slug(load_community(config).name)
    except (ConfigError, OSError):
        return None  # add_member reports the file's problem
    record = get_community(store.engine, slug)
    return slug if record is not None and record.active else None


def register(app: typer.Typer) -> None:
    app.add_typer(members_app, name="members")
