"""``condivisa users|tokens|mqtt-acl|privacy``: people, platform tokens, device ACLs and GDPR requests.
See ``docs/security.md`` and ``docs/privacy.md``."""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)

DatabaseOpt = Annotated[
    Optional[str],
    typer.Option(
        "--database",
        help="database URL (default: $CONDIVISA_DATABASE_URL, else sqlite:///./var/condivisa.db as serve)",
    ),
]
ConfigOpt = Annotated[Path, typer.Option("--config", help="community.yaml", exists=True, dir_okay=False)]
ActorOpt = Annotated[
    Optional[str], typer.Option("--actor", help="who does this, for the audit log (default: OS user)")
]


def _store(database: str | None):
    from condivisa.store.location import resolve_database_url
    from condivisa.store.store import Store

    store = Store(resolve_database_url(database))
    store.upgrade()
    return store


def _auth(database: str | None, community=None):
    from condivisa.auth.service import AuthService
    from condivisa.auth.tenants import Tenants

    store = _store(database)
    return AuthService(store, community=community, tenants=Tenants(store.engine, poll_s=0))


CommunityOpt = Annotated[
    Optional[str],
    typer.Option(
        "--community",
        help="the community (slug, see `condivisa communities list`) the user or token belongs to; "
        "none: a platform admin, or the platform's only community",
    ),
]


def _actor(actor: str | None) -> str:
    return actor or f"cli:{getpass.getuser()}"


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _community(config: Path):
    from condivisa.domain.config import ConfigError, load_community

    try:
        return load_community(config)
    except (ConfigError, ValueError, OSError) as exc:
        _fail(str(exc))


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("password", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        _fail("the two passwords differ")
    return first


# ------------------------------------------------------------------------------------------ users
users_app = typer.Typer(help="People who log in: admin, referente, member.", no_args_is_help=True)


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin | referente | member")],
    member: Annotated[Optional[str], typer.Option(help="the member id a member user may read")] = None,
    config: Annotated[
        Optional[Path], typer.Option("--config", help="community.yaml: check --member exists")
    ] = None,
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
    database: DatabaseOpt = None,
    actor: ActorOpt = None,
    community: CommunityOpt = None,
) -> None:
    """Create a user (asks for the password twice unless --password-stdin)."""
    auth = _auth(database, _community(config) if config else None)
    password = _read_password(password_stdin)
    try:
        auth.create_user(username, password, role, member, actor=_actor(actor), community=community)
    except ValueError as exc:
        _fail(str(exc))
    console.print(f"user [bold]{username}[/bold] created ({role}{', member ' + member if member else ''})")


@users_app.command("list")
def users_list(database: DatabaseOpt = None, community: CommunityOpt = None) -> None:
    """List users (of one community with --community)."""
    table = Table("username", "role", "community", "member", "status", "created (UTC)")
    for u in _auth(database).users(community=community):
        table.add_row(
            u["username"],
            u["role"],
            u["community"] or ("platform" if u["role"] == "admin" else ""),
            u["member_id"] or "",
            "disabled" if u["disabled"] else "active",
            u["created_at"].strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@users_app.command("revoke")
def users_revoke(username: str, database: DatabaseOpt = None, actor: ActorOpt = None) -> None:
    """Disable a user and revoke every token of theirs."""
    try:
        _auth(database).disable_user(username, actor=_actor(actor))
    except KeyError:
        _fail(f"no user {username!r}")
    console.print(f"user [bold]{username}[/bold] disabled, tokens revoked")


@users_app.command("audit")
def users_audit(
    limit: int = 50,
    action: Optional[str] = None,
    database: DatabaseOpt = None,
    community: CommunityOpt = None,
) -> None:
    """Show the audit log (logins, failed logins, exports, erasures, token and rule changes), newest first."""
    table = Table("at (UTC)", "actor", "action", "target", "detail")
    for e in _auth(database).audit_log(limit=limit, action=action, community=community):
        table.add_row(
            e["at"].strftime("%Y-%m-%d %H:%M:%S"),
            e["actor"],
            e["action"],
            e["target"] or "",
            json.dumps(e["detail"]) if e["detail"] else "",
        )
    console.print(table)


# ------------------------------------------------------------------------------------------ tokens
tokens_app = typer.Typer(
    help="Platform API tokens (cloud-to-cloud pushes), bound to PODs/DUs.", no_args_is_help=True
)


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@tokens_app.command("create")
def tokens_create(
    name: str,
    pods: Annotated[Optional[str], typer.Option(help="comma-separated PODs the token may write")] = None,
    dus: Annotated[Optional[str], typer.Option(help="comma-separated DU ids the token may write")] = None,
    days: Annotated[int, typer.Option(help="lifetime in days")] = 365,
    database: DatabaseOpt = None,
    actor: ActorOpt = None,
    community: CommunityOpt = None,
) -> None:
    """Create an API token; it is printed once and only its SHA-256 is kept. With --community it is bound
    to that community: its PODs and DUs must be the community's."""
    try:
        token = _auth(database).create_api_token(
            name,
            scope_pods=_split(pods),
            scope_dus=_split(dus),
            ttl=dt.timedelta(days=days),
            actor=_actor(actor),
            community=community,
        )
    except ValueError as exc:
        _fail(str(exc))
    err.print(f"token for [bold]{name}[/bold] (valid {days} days; shown only now):")
    print(token)


@tokens_app.command("list")
def tokens_list(
    all_: Annotated[bool, typer.Option("--all", help="include expired and revoked")] = False,
    database: DatabaseOpt = None,
) -> None:
    """List tokens (never their value)."""
    table = Table("id", "kind", "name/user", "PODs", "DUs", "expires (UTC)", "active")
    for t in _auth(database).tokens(include_inactive=all_):
        table.add_row(
            str(t["id"]),
            t["kind"],
            t["name"] or t["user"] or "",
            ",".join(t["pods"] or []),
            ",".join(t["dus"] or []),
            t["expires_at"].strftime("%Y-%m-%d %H:%M"),
            "yes" if t["active"] else "no",
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: int, database: DatabaseOpt = None, actor: ActorOpt = None) -> None:
    """Revoke a token by its id (from `tokens list`)."""
    if not _auth(database).revoke_token_id(token_id, actor=_actor(actor)):
        _fail(f"no active token with id {token_id}")
    console.print(f"token {token_id} revoked")


# ------------------------------------------------------------------------------------------ MQTT ACL
def mqtt_acl(
    out: Annotated[Path, typer.Option("--out", help="directory for passwd, acl, mosquitto.conf")],
    config: Annotated[
        Optional[Path],
        typer.Option("--config", help="community.yaml: give every DU listed there a credential"),
    ] = None,
    community: Annotated[
        Optional[str],
        typer.Option(help="community level of the topics (default: from the settings / community name)"),
    ] = None,
    worker: Annotated[
        Optional[str],
        typer.Option(
            help="username of the ingest worker (default: $CONDIVISA_MQTT_USERNAME or condivisa-ingest)"
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="plain device listener (127.0.0.1) in mosquitto.conf")] = 1883,
    platform_port: Annotated[
        Optional[int], typer.Option(help="the ingest workers' listener (127.0.0.1; default PORT + 2)")
    ] = None,
    tls_dir: Annotated[
        Optional[Path],
        typer.Option(help="folder with ca.pem, server.pem, server.key: adds the devices' TLS listener"),
    ] = None,
    tls_port: Annotated[int, typer.Option(help="TLS device listener port")] = 8883,
    database: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Generate Mosquitto's password and ACL files (and the embedded broker's, the same files): each DU may
    publish only on its own uplink topic and read only its own cmd/ack topics, and its client id is its
    username. mosquitto.conf keeps messages across restarts (persistence), listens for devices on 127.0.0.1
    (and with TLS on every interface when --tls-dir is given) and for the ingest workers on 127.0.0.1. New
    credentials are written once to OUT/new-credentials.csv (mode 0600, LF line endings): hand them to the
    installers, then delete the file."""
    from condivisa.app.settings import load_settings
    from condivisa.auth.mqtt_acl import TlsListener, write_mosquitto_files

    settings = load_settings(community_file=str(config)) if config else load_settings()
    slug = community or settings.community_slug()
    worker = worker or settings.mqtt_username or "condivisa-ingest"
    comm = _community(config) if config else None
    auth = _auth(database, comm)
    existing = {c["du_id"] for c in auth.device_credentials()}
    new: list[tuple[str, str, str]] = []
    wanted = [(worker, "worker")] + [(d.id, "du") for d in (comm.devices if comm else ())]
    for client_id, kind in wanted:
        if client_id not in existing:
            try:
                new.append(
                    (
                        client_id,
                        kind,
                        auth.create_device_credential(client_id, slug, kind=kind, actor=_actor(actor)),
                    )
                )
            except ValueError as exc:
                _fail(str(exc))
    creds = auth.device_credentials()
    tls = None
    if tls_dir is not None:
        d = tls_dir.resolve()
        tls = TlsListener(d / "ca.pem", d / "server.pem", d / "server.key", port=tls_port)
    paths = write_mosquitto_files(
        creds,
        out,
        root=settings.mqtt_topic_root,
        port=port,
        platform_port=platform_port,
        tls=tls,
        message_size_limit_bytes=settings.max_body_bytes,
    )
    if new:
        secret = out / "new-credentials.csv"
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")  # LF: `cut -d, -f3` must not hand out "password\r"
            w.writerow(["username", "kind", "password"])
            w.writerows(new)
        console.print(f"{len(new)} new credential(s) in [bold]{secret}[/bold] (shown only there)")
    console.print(f"{len(creds)} client(s): " + ", ".join(str(p) for p in paths.values()))
    console.print(f"run:  mosquitto -c {paths['mosquitto.conf']}")
    console.print(
        f"the ingest workers connect to mqtt://127.0.0.1:{platform_port or port + 2} "
        f"(CONDIVISA_MQTT_URL); devices to port {port}" + (f" or, with TLS, {tls_port}" if tls else "")
    )


# ------------------------------------------------------------------------------------------ privacy
privacy_app = typer.Typer(
    help="GDPR requests: a member's export and erasure; aggregate exports; purge.", no_args_is_help=True
)


@privacy_app.command("export")
def privacy_export(
    member: str,
    config: ConfigOpt,
    out: Annotated[Path, typer.Option("--out", help="file (json) or directory (csv)")],
    fmt: Annotated[str, typer.Option("--format", help="json | csv")] = "json",
    result: Annotated[
        Optional[Path], typer.Option(help="a settlement result.json to include the member's statement rows")
    ] = None,
    database: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Export everything held about MEMBER (GDPR Art. 15 and 20)."""
    from condivisa.auth.privacy import member_export, write_member_export

    comm = _community(config)
    store = _store(database)
    try:
        export = member_export(store, comm, member, result=json.loads(result.read_text()) if result else None)
        files = write_member_export(export, out, fmt)
    except KeyError:
        _fail(f"no member {member!r} in {config}")
    except ValueError as exc:
        _fail(str(exc))
    from condivisa.auth.service import AuthService
    from condivisa.store.auth_tables import AuditAction

    AuthService(store).audit(
        _actor(actor),
        AuditAction.DATA_EXPORT,
        f"member:{member}",
        {"format": fmt, "measurements": len(export["measurements"])},
    )
    console.print(f"{len(export['measurements'])} readings of member {member}: " + ", ".join(map(str, files)))


@privacy_app.command("erase")
def privacy_erase(
    member: str,
    config: ConfigOpt,
    key_file: Annotated[
        Optional[Path], typer.Option(help="pseudonymisation key (hex); default $CONDIVISA_PSEUDONYM_KEY")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    broker_dir: Annotated[
        Optional[Path],
        typer.Option(help="the broker's passwd/acl folder (`mqtt-acl --out`): remove the member's DUs there"),
    ] = None,
    database: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Erase MEMBER (GDPR Art. 17): accounts, DU registrations and credentials, dead letters deleted; audit
    entries and readings kept under keyed pseudonyms for the settlement."""
    from condivisa.auth.privacy import erase_member, load_key

    comm = _community(config)
    try:
        key = load_key(key_file)
        comm.member(member)
    except ValueError as exc:
        _fail(str(exc))
    except KeyError:
        _fail(f"no member {member!r} in {config}")
    if not yes:
        typer.confirm(f"Erase member {member}? This cannot be undone", abort=True)
    rep = erase_member(_store(database), comm, member, key=key, actor=_actor(actor), broker_dir=broker_dir)
    console.print_json(json.dumps(rep.to_dict()))
    console.print(
        f"now remove the name and e-mail of {member} from {config} (its PODs may stay for the settlement "
        "of past periods), reload the broker (Mosquitto: kill -HUP; embedded: restart serve) and rotate "
        "the backups: see docs/privacy.md"
    )
    if rep.sqlite_checkpoint == "busy":
        console.print("[yellow]the SQLite write-ahead log is in use: run the erasure again when idle[/]")


@privacy_app.command("aggregate")
def privacy_aggregate(
    out: Annotated[Path, typer.Option("--out", help="CSV file")],
    from_: Annotated[Optional[str], typer.Option("--from", help="start (date or time, Europe/Rome)")] = None,
    to: Annotated[Optional[str], typer.Option("--to", help="end, exclusive")] = None,
    freq: Annotated[str, typer.Option(help="h (hour), D (day) or MS (month)")] = "h",
    min_pods: Annotated[int, typer.Option(help="drop intervals with fewer reporting PODs")] = 3,
    database: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Community totals per interval, with no POD codes or names (for GSE, municipalities, researchers)."""
    from condivisa.auth.privacy import aggregate_export
    from condivisa.auth.service import AuthService
    from condivisa.store.auth_tables import AuditAction

    store = _store(database)
    try:
        frame = aggregate_export(store, start=from_, end=to, freq=freq, min_pods=min_pods)
    except ValueError as exc:
        _fail(str(exc))
    from condivisa.formats.csv_safe import safe_frame

    out.parent.mkdir(parents=True, exist_ok=True)
    safe_frame(frame).to_csv(out, index=False)
    AuthService(store).audit(
        _actor(actor),
        AuditAction.DATA_EXPORT,
        "aggregate",
        {"from": from_, "to": to, "freq": freq, "rows": len(frame)},
    )
    console.print(f"{len(frame)} intervals written to {out}")


@privacy_app.command("purge")
def privacy_purge(database: DatabaseOpt = None, actor: ActorOpt = None) -> None:
    """Delete what is past its retention period (dead letters, expired tokens, old audit entries)."""
    from condivisa.auth.privacy import purge_expired

    console.print(purge_expired(_store(database), actor=_actor(actor)))


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
    app.command("mqtt-acl")(mqtt_acl)
    app.add_typer(privacy_app, name="privacy")
