"""``condivisa devices``: simulate chain-2 user devices; write a community file for simulated ones; give a
member the MQTT credential of their Home Assistant (``devices add-member``, docs/home-assistant.md)."""

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
    flexible_share: Annotated[
        float,
        typer.Option(
            "--flexible-share",
            min=0.0,
            max=1.0,
            help="share of a household's day it moves into an event's window",
        ),
    ] = 0.25,
    participation: Annotated[
        float,
        typer.Option(
            "--participation", min=0.0, max=1.0, help="probability a household acts on an event/advice"
        ),
    ] = 0.8,
    credentials: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            help="new-credentials.csv of `condivisa mqtt-acl`: each DU logs in to the broker with its password",
        ),
    ] = None,
) -> None:
    """Publish realistic quarter-hour UrbanDatasets (households with morning/evening peaks, PV plants) for N DUs.

    Over MQTT the households answer ``event``/``advice`` commands by moving consumption (docs/simulation.md)."""
    from condivisa.sim import devices as sim
    from condivisa.sim.flex_response import FlexParams

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
        fleet = sim.build_fleet(
            devs,
            first,
            days,
            seed=seed,
            flex=FlexParams(flexible_share=flexible_share, participation=participation),
        )
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
        from condivisa.sim.sinks import MqttSink

        assert isinstance(sink, MqttSink)
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


@devices_app.command("add-member")
def add_member(
    member_id: Annotated[str, typer.Argument(help="the member's id in community.yaml (e.g. m1)")],
    community: Annotated[
        str | None,
        typer.Option(
            "--community", help="the member's community (slug); default: the platform's only community"
        ),
    ] = None,
    broker: Annotated[
        str, typer.Option("--broker", help="the broker address members reach, for the printed instructions")
    ] = "<indirizzo del broker / broker address>",
    tls_port: Annotated[int, typer.Option("--tls-port", help="the broker's TLS port members use")] = 8883,
    database: Annotated[
        str | None,
        typer.Option("--database", help="database URL (default: $CONDIVISA_DATABASE_URL, else as serve)"),
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="who does this, for the audit log (default: OS user)")
    ] = None,
) -> None:
    """Give a member the MQTT credential of their Home Assistant: it may only read their own sensors
    (shared energy today, community surplus now, good moment to consume). Prints the username, the password
    (shown once; issuing again replaces it) and what to type in Home Assistant's MQTT integration. Then run
    `condivisa mqtt-acl --out DIR` and reload Mosquitto (SIGHUP)."""
    import getpass

    from condivisa.app.settings import load_settings
    from condivisa.auth.erased import erased_members
    from condivisa.auth.mqtt_acl import member_username
    from condivisa.auth.service import AuthService
    from condivisa.commands.billing_options import open_store
    from condivisa.store.communities import CommunityStoreError, list_communities, load_current

    store = open_store(database)
    try:
        slugs = [r.slug for r in list_communities(store.engine)]
        slug = _community_slug(community, slugs)
        try:
            members = load_current(store.engine, slug).members
        except (CommunityStoreError, ValueError) as exc:
            _fail(str(exc))
        ids = [m.id for m in members]
        if member_id not in ids:
            _fail(f"member {member_id!r} is not in community {slug!r}{_did_you_mean(member_id, ids)}")
        if member_id in erased_members(store.engine):
            _fail(f"member {member_id!r} was erased (GDPR): no credential")
        username = member_username(slug, member_id)
        who = actor or f"cli:{getpass.getuser()}"
        try:
            password = AuthService(store).create_device_credential(username, slug, kind="member", actor=who)
        except ValueError as exc:
            _fail(str(exc))
    finally:
        store.close()
    root = load_settings().mqtt_topic_root
    out = Console(soft_wrap=True, highlight=False)
    out.print(f"member credential for [bold]{member_id}[/] of {slug}")
    out.print(f"username: {username}")
    out.print(f"password: {password}   (shown once / mostrata una sola volta)")
    out.print("")
    out.print("Home Assistant → Impostazioni / Settings → Dispositivi e servizi / Devices & services → MQTT:")
    out.print(f"  broker: {broker}")
    out.print(f"  port / porta: {tls_port} (TLS)")
    out.print(f"  username / nome utente: {username}")
    out.print("  password: (above / qui sopra)")
    out.print(f"  discovery prefix / prefisso di discovery: {root}/{slug}/member/{member_id}/ha")
    out.print("  birth and last will messages / messaggi di nascita e testamento: off / disattivati")
    console.print(
        "next: `condivisa mqtt-acl --out DIR` (retained messages are then accepted) and reload Mosquitto "
        "(SIGHUP); "
        "see docs/home-assistant.md"
    )


@devices_app.command("remove-member")
def remove_member(
    member_id: Annotated[str, typer.Argument(help="the member's id")],
    community: Annotated[
        str | None,
        typer.Option("--community", help="the member's community (slug); default: the platform's only one"),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option("--database", help="database URL (default: $CONDIVISA_DATABASE_URL, else as serve)"),
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="who does this, for the audit log (default: OS user)")
    ] = None,
) -> None:
    """Revoke a member's Home Assistant credential; then run `condivisa mqtt-acl --out DIR` and reload
    Mosquitto (SIGHUP)."""
    import getpass

    from condivisa.auth.mqtt_acl import member_username
    from condivisa.auth.service import AuthService
    from condivisa.commands.billing_options import open_store
    from condivisa.store.communities import list_communities

    store = open_store(database)
    try:
        slug = _community_slug(community, [r.slug for r in list_communities(store.engine)])
        username = member_username(slug, member_id)
        revoked = AuthService(store).revoke_device(username, actor=actor or f"cli:{getpass.getuser()}")
    finally:
        store.close()
    if not revoked:
        _fail(f"no active member credential {username!r}")
    console.print(f"{username}: credential revoked; now `condivisa mqtt-acl --out DIR` and reload Mosquitto")


def _community_slug(asked: str | None, slugs: list[str]) -> str:
    """``asked`` if the store has it, else the only community; otherwise an error (with "did you mean")."""
    if asked is None:
        if len(slugs) == 1:
            return slugs[0]
        _fail(
            "give --community: "
            + (f"the platform has {', '.join(slugs)}" if slugs else "the platform has no community yet")
        )
    if asked not in slugs:
        _fail(f"no community {asked!r}{_did_you_mean(asked, slugs)}")
    return asked


def _did_you_mean(value: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]}?)" if close else ""


def register(app: typer.Typer) -> None:
    app.add_typer(devices_app, name="devices")
