"""What the billing commands (``runs``, ``payouts``, ``members bank``) share: options, the database, the
inputs of a run (a measurements CSV or the store), euro amounts, errors in red on stderr with exit code 2."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from condivisa.domain.community import Community
    from condivisa.outputs.sources import SettlementInputs
    from condivisa.store.store import Store

DATABASE_HELP = (
    "database URL where runs and bank accounts are kept, and measurements read from without --measurements "
    "(default: $CONDIVISA_DATABASE_URL, else sqlite:///./var/condivisa.db as serve)"
)
ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="community.yaml", exists=True, dir_okay=False)
]
DatabaseOpt = Annotated[str | None, typer.Option("--database", help=DATABASE_HELP)]
MeasurementsOpt = Annotated[
    Path | None,
    typer.Option(
        "--measurements",
        "-m",
        help="measurements CSV (pod,start,withdrawn_kwh,injected_kwh); default: the database's",
        exists=True,
        dir_okay=False,
    ),
]
PricesOpt = Annotated[
    Path,
    typer.Option(
        "--prices",
        "-p",
        help="hourly zonal prices CSV (start,zonal_price_eur_per_mwh)",
        exists=True,
        dir_okay=False,
    ),
]
FillOpt = Annotated[
    str | None,
    typer.Option("--fill", help="missing quarter hours: zero or interpolate (default: refuse them)"),
]
UnusualOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unusual-prices", help="accept a prices file whose mean is below 1 or above 5,000 €/MWh"
    ),
]


def fail(message: str) -> NoReturn:
    """``error: message`` in red on stderr, exit code 2."""
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    raise typer.Exit(code=2)


def open_store(database: str | None) -> Store:
    """The store at ``database`` (default: the platform's), brought to the latest schema."""
    from condivisa.store.location import resolve_database_url
    from condivisa.store.store import Store

    try:
        store = Store(resolve_database_url(database))
        store.upgrade()
    except Exception as exc:  # a bad URL, an unreachable server
        fail(f"cannot open the database: {exc}")
    return store


def community(config: Path) -> Community:
    from condivisa.domain.config import ConfigError, load_community

    try:
        return load_community(config)
    except (ConfigError, ValueError) as exc:
        fail(str(exc))


def run_inputs(
    store: Store | None,
    config: Path,
    measurements: Path | None,
    prices: Path,
    allow_unusual_prices: bool = False,
    months: tuple[str, ...] | None = None,
) -> SettlementInputs:
    """The community, its measurements (the CSV, else the store's, only of ``months`` when given) and the
    prices."""
    import datetime as dt

    from condivisa.formats.csv_io import InputError
    from condivisa.outputs.sources import inputs_from_files, inputs_from_store

    try:
        if measurements is not None:
            return inputs_from_files(config, measurements, prices, allow_unusual_prices=allow_unusual_prices)
        assert store is not None, "measurements from the database need the store"
        first_day = last_day = None
        if months:
            first, last = months[0], months[-1]
            nxt = dt.date(int(last[:4]) + (last[5:] == "12"), int(last[5:]) % 12 + 1, 1)
            first_day, last_day = dt.date.fromisoformat(first + "-01"), nxt - dt.timedelta(days=1)
        return inputs_from_store(
            store,
            community(config),
            prices_csv=prices,
            allow_unusual_prices=allow_unusual_prices,
            first_day=first_day,
            last_day=last_day,
        )
    except (InputError, ValueError) as exc:
        fail(str(exc))


def check_fill(fill: str | None) -> str | None:
    if fill not in (None, "zero", "interpolate"):
        fail(f"--fill {fill!r}: use zero or interpolate")
    return fill


def euro_cents(value: str | None, option: str) -> int | None:
    """``"1234.56"`` (or ``1234,56``) € as whole cents, exactly; more than 2 decimals is an error."""
    if value is None:
        return None
    try:
        amount = Decimal(value.strip().replace(",", "."))
    except InvalidOperation:
        fail(f"{option} {value!r}: not an amount in € (e.g. 1234.56)")
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        fail(f"{option} {value!r}: an amount in € with at most 2 decimals")
    return int(amount * 100)


def eur(cents: int) -> str:
    """Cents as ``1,234.56``."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
