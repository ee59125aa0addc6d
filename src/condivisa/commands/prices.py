"""``condivisa prices``: convert GME's hourly zonal prices into the prices CSV that ``settle --prices`` reads.

References
----------
.. [1] GME, MGP esiti, prezzi zonali orari e PUN, www.mercatoelettrico.org.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

prices_app = typer.Typer(help="Market prices: import GME's zonal prices.", no_args_is_help=True)


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


@prices_app.command("import")
def import_prices(
    file: Path = typer.Argument(
        ..., help="GME price file (Data;Ora;PUN;...;SUD, or the 2023 Date,PUN,... one)"
    ),
    zone: str = typer.Option(..., "--zone", help="the market zone column, e.g. SUD, NORD, PUN"),
    out: Path = typer.Option(..., "--out", help="the prices CSV to write (start,zonal_price_eur_per_mwh)"),
) -> None:
    """Convert a GME price file into ``start,zonal_price_eur_per_mwh``, one row per real hour (Europe/Rome)."""
    from condivisa.formats.csv_io import write_prices
    from condivisa.formats.gme_prices import read_gme_download

    try:
        prices = read_gme_download(file, zone)
    except ValueError as exc:
        _fail(str(exc))
    write_prices(prices, out)
    Console().print(
        f"{len(prices)} hourly {zone.upper()} prices, {prices.index[0]} .. {prices.index[-1]}, written to {out}",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add the ``prices`` group to ``app``."""
    app.add_typer(prices_app, name="prices")
