"""The ``condivisa`` command (Typer + Rich). Each command group lives in ``condivisa.commands.*`` and exposes
``register(app)``; they are registered in the order they appear in ``--help``."""

from __future__ import annotations

import typer

from condivisa import __version__
from condivisa.commands import (
    advice,
    case,
    communities,
    db,
    demo,
    devices,
    events,
    feasibility,
    forecast,
    ledger,
    members,
    payouts,
    prices,
    report,
    runs,
    security,
    serve,
    settle,
    settle_all,
)

app = typer.Typer(
    name="condivisa",
    help="condivisa: open platform for Italian energy communities (CER, AUC, ...).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """condivisa: open platform for Italian energy communities (CER, AUC, ...)."""


for _group in (
    settle,
    settle_all,
    db,
    serve,
    communities,
    devices,
    case,
    feasibility,
    report,
    demo,
    security,
    prices,
    ledger,
    runs,
    payouts,
    members,
    forecast,
    advice,
    events,
):
    _group.register(app)


@app.command()
def version() -> None:
    """Print condivisa's version."""
    typer.echo(__version__)
