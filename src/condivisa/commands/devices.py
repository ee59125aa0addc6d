"""``condivisa devices``: simulate chain-2 user devices; write a community file for simulated ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from condivisa.kernel import clock

if TYPE_CHECKING:  # the simulator loads numpy, pandas and paho: imported when devices are simulated
    from condivisa.sim import devices as sim
    from condivisa.sim.sinks import MqttSink, RestSink

console = Console(stderr=True, soft_wrap=True)
devices_app = typer.Typer(
    help="Chain-2 user devices (DU): simulate them, list what the platform knows.", no_args_is_help=True
)


def _fail(msg: str) -> NoReturn:
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
    credentials: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            help="new-credentials.csv of `condivisa mqtt-acl`: each DU logs in to the broker with its password",
        ),
    ] = None,
) -> None:
    """Publish realistic quarter-hour UrbanDatasets (households with morning/evening peaks, PV plants) for N DUs."""
    from condivisa.sim import devices as sim

    if (broker is None) == (api is None):
        _fail("give exactly one of --broker URL or --api URL")
    fault_list = tuple(f.strip() for f in faults.split(",") if f.strip())
    if set(fault_list) - set(sim.FAULTS):
        _fail(f"--faults {faults!r}: choose among {', '.join(sim.FAULTS)}")
    devs = _devices(config, count, seed)
    try:
        first = dt.date.fromisoformat(start) if start else clock.today() - dt.timedelta(days=days)
    except ValueError:
        _fail(f"--start {start!r} is not a date YYYY-MM-DD")
    try:
        fleet = sim.build_fleet(devs, first, days, seed=seed)
    except ValueError as exc:
        _fail(str(exc))
    passwords = _passwords(credentials)
    if passwords is not None and (missing := [d.du_id for d in devs if d.du_id not in passwords]):
        _fail(f"--credentials {credentials}: no password for {', '.join(missing[:5])}")
    if passwords is not None and group > 1:
        _fail(
            "--credentials: DUs log in one by one, so --group must be 1 (gateway topics need a gateway login)"
        )
    sink, target = _sink(broker, api, token, community, config, passwords)
    console.print(
        f"simulating {len(devs)} DUs × {len(fleet.starts)} quarter hours "
        f"({fleet.starts[0]:%Y-%m-%d %H:%M} → {fleet.starts[-1]:%Y-%m-%d %H:%M}) to {target}"
    )
    try:
        sent = _run(
            fleet, sink, speed=speed, group=group, faults=fault_list, fault_rate=fault_rate, seed=seed
        )
    except OSError as exc:  # a DU's login refused by the broker (wrong or missing --credentials)
        _fail(str(exc))
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


def _devices(config: Path | None, count: int, seed: int) -> list[sim.SimDevice]:
    """The first ``count`` DUs of the community file, or ``count`` synthetic ones."""
    from condivisa.domain.config import ConfigError, load_community
    from condivisa.sim import devices as sim

    if config is None:
        return sim.synthetic_devices(count, seed=seed)
    try:
        devs = sim.devices_from_community(load_community(config))[:count]
    except ConfigError as exc:
        _fail(str(exc))
    if not devs:
        _fail(f"{config}: the community file lists no devices")
    return devs


def _passwords(path: Path | None) -> dict[str, str] | None:
    """``username -> password`` of the DUs in a ``new-credentials.csv`` (columns username, kind, password)."""
    import csv

    if path is None:
        return None
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        _fail(f"--credentials {path}: {exc.strerror}")
    if not rows or not {"username", "password"} <= set(rows[0]):
        _fail(f"--credentials {path}: expected the columns username,kind,password of `condivisa mqtt-acl`")
    return {r["username"]: r["password"] for r in rows if r.get("kind", "du") != "worker"}


def _sink(
    broker: str | None,
    api: str | None,
    token: str | None,
    community: str | None,
    config: Path | None,
    passwords: dict[str, str] | None = None,
) -> tuple[MqttSink | RestSink, str]:
    """Where the messages go (an MQTT broker or a platform's REST API), and how to say it."""
    from condivisa.app.settings import load_settings
    from condivisa.sim.sinks import MqttSink, RestSink

    if broker:
        slug = community or load_settings(community_file=config).community_slug()
        try:
            sink = MqttSink(broker, slug, credentials=passwords)
        except OSError as exc:
            _fail(f"cannot connect to {broker}: {exc}")
        return sink, f"{broker} (topics {sink.layout.root}/{slug}/…)"
    assert api is not None
    return RestSink(api, token), f"{api}/api/v1/urbandatasets"


def _run(fleet: sim.Fleet, sink: MqttSink | RestSink, **options: Any) -> dict[str, int] | None:
    """Send the fleet's quarter hours with a progress bar; None when interrupted (Ctrl-C)."""
    from condivisa.sim import devices as sim

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("quarter hours", total=len(fleet.starts))
        try:
            return sim.run(
                fleet, sink, on_step=lambda done, total: progress.update(task, completed=done), **options
            )
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            return None


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
