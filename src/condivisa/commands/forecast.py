"""``condivisa forecast``: tomorrow's spare production of the community, hour by hour, and how good past
forecasts were (:mod:`condivisa.outputs.forecast`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _day(text: str | None, name: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _fail(f"{name}: {text!r} is not a date (YYYY-MM-DD)")
    return None


def forecast_command(
    config: Path = typer.Option(..., "--config", "-c", help="community.yaml", exists=True, dir_okay=False),
    database: str | None = typer.Option(None, "--database", help="the store's SQLAlchemy URL"),
    day: str | None = typer.Option(None, "--day", help="the day to forecast, YYYY-MM-DD (default: tomorrow)"),
    errors_from: str | None = typer.Option(
        None, "--errors-from", help="print the per-day errors from this day"
    ),
    errors_to: str | None = typer.Option(None, "--errors-to", help="... to this day (default: yesterday)"),
    forecast_file: Path | None = typer.Option(
        None,
        "--forecast-file",
        help="production forecast instead of clear sky × k: a power CSV start,production_kw, an Open-Meteo "
        "JSON with global_tilted_irradiance, or a PVGIS hourly export",
        exists=True,
        dir_okay=False,
    ),
) -> None:
    """Tomorrow's production, consumption and spare production per hour, and the best hours to use it."""
    from rich.table import Table

    from condivisa.domain.config import load_community
    from condivisa.kernel import clock
    from condivisa.outputs.forecast import advice_sentence, community_forecast, forecast_errors
    from condivisa.store.location import resolve_database_url
    from condivisa.store.store import Store

    today = clock.today()
    target = _day(day, "--day") or today + dt.timedelta(days=1)
    first, last = _day(errors_from, "--errors-from"), _day(errors_to, "--errors-to")
    if forecast_file is not None and (first is not None or last is not None):
        _fail(
            "--forecast-file gives the production of the day forecast; it does not go with --errors-from/-to"
        )
    console = Console()
    try:
        community = load_community(config)
        with Store(resolve_database_url(database)) as store:
            if store.revision() is None:
                raise ValueError(f"{store.url}: no condivisa data here; run `condivisa db upgrade` first")
            if first is not None or last is not None:
                last = last or today - dt.timedelta(days=1)
                first = first or last
                errors = forecast_errors(store, community, first, last)
                forecast = None
            else:
                forecast = community_forecast(store, community, target, production_file=forecast_file)
    except (ValueError, RuntimeError, KeyError) as exc:
        _fail(str(exc))
        return
    if forecast is None:
        if errors.empty:
            _fail(f"no day between {first} and {last} could be forecast and compared")
        table = Table(title=f"{community.name}: forecast errors (spare production)", title_justify="left")
        for col in ("day", "k", "forecast kWh", "measured kWh", "MAE kWh", "bias kWh", "total error %"):
            table.add_column(col, justify="left" if col == "day" else "right")
        for row in errors.itertuples():
            table.add_row(
                str(row.day),
                f"{row.clearness_index:.2f}",
                f"{row.spare_forecast_kwh:,.1f}",
                f"{row.spare_actual_kwh:,.1f}",
                f"{row.spare_mae_kwh:,.2f}",
                f"{row.spare_bias_kwh:+,.2f}",
                f"{row.spare_total_error_pct:+.1f}",
            )
        console.print(table)
        console.print(
            f"mean absolute error of the daily total: {errors['spare_total_error_pct'].abs().mean():.1f} %",
            highlight=False,
        )
        return
    if forecast_file is None:
        origin = f"clearness index {forecast.clearness_index:.2f}"
    else:
        origin = f"production from {forecast.production_source}"
    table = Table(title=f"{community.name}: forecast of {forecast.day} ({origin})", title_justify="left")
    for col in ("hour", "production kWh", "consumption kWh", "spare kWh"):
        table.add_column(col, justify="left" if col == "hour" else "right")
    for row in forecast.hourly.itertuples():
        table.add_row(
            f"{row.hour_start:%H:%M %z}",
            f"{row.production_kwh:,.1f}",
            f"{row.consumption_kwh:,.1f}",
            f"{row.spare_kwh:,.1f}",
        )
    console.print(table)
    console.print(advice_sentence(forecast, today), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``forecast`` to ``app``."""
    app.command("forecast")(forecast_command)
