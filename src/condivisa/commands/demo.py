"""``condivisa demo`` (placeholder until the full demo lands): settle the bundled example community."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def demo() -> None:
    """Settle the example community of examples/ (June 2024) and print its statement table."""
    from condivisa.domain import load_community
    from condivisa.edges.csv_io import read_measurements, read_prices
    from condivisa.engines.settlement import settle
    from condivisa.outputs.statement import result_tables

    community = load_community(EXAMPLES / "community.yaml")
    frame = read_measurements(EXAMPLES / "measurements-2024-06.csv", known_pods=community.all_pods)
    result = settle(community, frame, read_prices(EXAMPLES / "prices-2024-06.csv"))
    Console(width=120).print(result_tables(result.to_dict()))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
