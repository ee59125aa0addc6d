"""The ``condivisa`` command (Typer + Rich). Each command group lives in ``condivisa.commands.*``
and exposes ``register(app)``; a group that fails to import is reported, not hidden."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="condivisa",
    help="condivisa: open platform for Italian energy communities (CER, AUC, ...).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """condivisa: open platform for Italian energy communities (CER, AUC, ...)."""


#: command modules, in the order they appear in --help
COMMAND_MODULES = ("settle", "db", "serve", "devices", "case", "report", "demo", "security")

for _name in COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"condivisa.commands.{_name}")
    except ModuleNotFoundError as exc:  # a command group not written yet
        if exc.name != f"condivisa.commands.{_name}":
            raise
        continue
    _mod.register(app)


@app.command()
def version() -> None:
    """Print condivisa's version."""
    from condivisa import __version__

    typer.echo(__version__)
