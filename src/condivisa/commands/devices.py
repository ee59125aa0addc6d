"""``condivisa devices``: simulate chain-2 user devices; write a community file for simulated ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from condivisa.kernel import clock

console = Console(stderr=True, soft_wrap=True)
devices_app = typer.Typer(
    help="Chain-2 user devices (DU): simulate them, list what the platform knows.", no_args_is_help=True
)


def _fail(msg: str) -> None:
    console.print(f"[red]error:[/] {msg}")
    raise typer.Exit(2)


@devices_app.command("simulate")
def simulate(
    broker: Annotated[
        str | None, typer.Option("--broker", help="publish over MQTT to this broker, mqtt://HOST:PORT")
    ] = None,
    api: Annotated[
        str | None, typer.Option("--api", help="push over REST to this platform, http://HOST:PORT")
    ] = None,
    count: Annotated[
        int,
        typer.Option("--count", "-n", min=1, help="number of DUs (synthetic, or the first N of --config)"),
    ] = 10,
    speed: Annotated[
        float,
        typer.Option(
            "--speed", min=0.0, help="time compression: a quarter hour takes 900/X s; 0 = as fast as possible"
        ),
    ] = 0.0,
    group: Annotated[
        int, typer.Option("--group", min=1, help="DUs per message (>1: one gateway message for K DUs)")
    ] = 1,
    faults: Annotated[str, typer.Option("--faults", help="comma list of dup,gap,corrupt")] = "",
    fault_rate: Annotated[
        float, typer.Option("--fault-rate", min=0.0, max=1.0, help="probability of a fault per message")
    ] = 0.05,
    days: Annotated[int, typer.Option("--days", min=1, help="civil days to simulate")] = 1,
    start: Annotated[
        str | None, typer.Option("--start", help="first day YYYY-MM-DD (default: --days before today)")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="community.yaml whose DUs to simulate")
    ] = None,
    community: Annotated[
        str | None,
        typer.Option(
            "--community", help="community level of the MQTT topics (default: from --config, else 'default')"
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", envvar="CONDIVISA_API_TOKEN", help="Bearer token for --api")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same data)")] = 0,
) -> None:
    """Publish realistic quarter-hour UrbanDatasets (households with morning/evening peaks, PV plants) for N DUs."""
    from condivisa.app.settings import load_settings
    from condivisa.sim import devices as sim

    if (broker is None) == (api is None):
        _fail("give exactly one of --broker URL or --api URL")
    fault_list = tuple(f.strip() for f in faults.split(",") if f.strip())
    if set(fault_list) - set(sim.FAULTS):
        _fail(f"--faults {faults!r}: choose among {', '.join(sim.FAULTS)}")
    if config is not None:
        from condivisa.domain.config import ConfigError, load_community

        try:
            devs = sim.devices_from_community(load_community(config))[:count]
        except ConfigError as exc:
            _fail(str(exc))
        if not devs:
            _fail(f"{config}: the community file lists no devices")
    else:
        devs = sim.synthetic_devices(count, seed=seed)
    try:
        first = dt.date.fromisoformat(start) if start else clock.today() - dt.timedelta(days=days)
    except ValueError:
        _fail(f"--start {start!r} is not a date YYYY-MM-DD")
    try:
        fleet = sim.build_fleet(devs, first, days, seed=seed)
    except ValueError as exc:
        _fail(str(exc))
    if broker:
        slug = community or load_settings(community_file=config).community_slug()
        try:
            sink = sim.MqttSink(broker, slug)
        except OSError as exc:
            _fail(f"cannot connect to {broker}: {exc}")
        target = f"{broker} (topics {sink.layout.root}/{slug}/…)"
    else:
        sink = sim.RestSink(api, token)
        target = f"{api}/api/v1/urbandatasets"
    console.print(
        f"simulating {len(devs)} DUs × {len(fleet.starts)} quarter hours "
        f"({fleet.starts[0]:%Y-%m-%d %H:%M} → {fleet.starts[-1]:%Y-%m-%d %H:%M}) to {target}"
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("quarter hours", total=len(fleet.starts))
        try:
            sent = sim.run(
                fleet,
                sink,
                speed=speed,
                group=group,
                faults=fault_list,
                fault_rate=fault_rate,
                seed=seed,
                on_step=lambda done, total: progress.update(task, completed=done),
            )
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            sent = None
    if broker and sent:
        with console.status("waiting for the platform's answers on the ack topics …"):
            sink.wait_answers(sent["messages"])
    sink.close()
    table = Table(title="simulation")
    table.add_column("what")
    table.add_column("count", justify="right")
    for k, v in (sent or {}).items():
        table.add_row(f"sent {k}", str(v))
    for k, v in sink.answers.items():
        table.add_row(f"platform {k}", str(v))
    Console().print(table)


@devices_app.command("example-community")
def example_community(
    out: Annotated[Path, typer.Option("--out", "-o", help="community file to write")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="number of simulated DUs")] = 10,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Write a community.yaml registering the DUs ``devices simulate --count N`` invents (same --seed)."""
    import yaml

    from condivisa.sim import devices as sim

    doc = sim.example_community_yaml(sim.synthetic_devices(count, seed=seed))
    out.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    console.print(
        f"wrote {out}: {len(doc['members'])} households, {len(doc['plants'])} PV plants, {count} DUs"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(devices_app, name="devices")
