"""``condivisa communities``: the communities one platform serves, kept in its database.

``add FILE`` starts serving a community (its file, first version), ``update FILE`` stores a new version,
``list`` shows them, ``show SLUG`` its versions and PODs with their dates, ``export SLUG`` prints a version's
file, ``remove SLUG`` stops serving it (every row kept). Running servers see each change within a second.
Errors are red on stderr with exit code 2; nothing is changed then.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from condivisa.commands.billing_options import DatabaseOpt, fail, open_store

communities_app = typer.Typer(
    help="The communities this platform serves: add, update, list, show, export, remove.",
    no_args_is_help=True,
)
FileArg = Annotated[Path, typer.Argument(help="the community file (community.yaml)", dir_okay=False)]
SlugOpt = Annotated[
    str | None,
    typer.Option("--slug", help="the community's id in topics and URLs (default: from its name)"),
]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="who does this, for the audit log")]


def _actor(actor: str | None) -> str:
    from condivisa.billing.run_common import whoami

    return actor or f"cli:{whoami()}"


def _save(file: Path, database: str | None, slug: str | None, actor: str | None, *, create: bool) -> None:
    from condivisa.auth.communities import save_community
    from condivisa.domain.config import ConfigError
    from condivisa.store.communities import CommunityStoreError

    with open_store(database) as store:
        try:
            change = save_community(store, file, actor=_actor(actor), slug=slug, create=create)
        except (ConfigError, CommunityStoreError) as exc:
            fail(str(exc))
    record = change.record
    if not change.changed:
        Console().print(
            f"{record.name} ({record.slug}): the file equals version {record.version}; nothing stored"
        )
        return
    what = "added" if create else "updated"
    Console().print(
        f"[bold]{record.name}[/] ({record.slug}) {what}: version {record.version}"
        + (f"; rules {change.rules.status}" if change.rules else ""),
        highlight=False,
    )


@communities_app.command("add")
def add_cmd(
    file: FileArg, database: DatabaseOpt = None, slug: SlugOpt = None, actor: ActorOpt = None
) -> None:
    """Serve a new community: its file becomes version 1, its PODs and DUs are registered as its own."""
    _save(file, database, slug, actor, create=True)


@communities_app.command("update")
def update_cmd(
    file: FileArg, database: DatabaseOpt = None, slug: SlugOpt = None, actor: ActorOpt = None
) -> None:
    """Store a new version of a served community's file (PODs that left it end their membership today)."""
    _save(file, database, slug, actor, create=False)


@communities_app.command("list")
def list_cmd(
    database: DatabaseOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="include removed communities")] = False,
) -> None:
    """The communities served: slug, name, version in force, PODs now, last change."""
    from condivisa.store.communities import list_communities, memberships

    with open_store(database) as store:
        records = list_communities(store.engine, include_removed=all_)
        open_pods: dict[str, int] = {}
        for m in memberships(store.engine):
            if m.valid_to is None:
                open_pods[m.community] = open_pods.get(m.community, 0) + 1
    if not records:
        Console().print("no communities yet: add one with `condivisa communities add community.yaml`")
        return
    table = Table("slug", "name", "version", "PODs", "updated (UTC)", "status")
    for r in records:
        table.add_row(
            r.slug,
            r.name,
            str(r.version),
            str(open_pods.get(r.slug, 0)),
            r.updated_at.strftime("%Y-%m-%d %H:%M"),
            "served" if r.active else f"removed {r.removed_at:%Y-%m-%d}",
        )
    Console().print(table)


@communities_app.command("show")
def show_cmd(slug: str, database: DatabaseOpt = None) -> None:
    """A community's file versions (who, when, SHA-256) and its PODs with their membership dates."""
    from condivisa.store.communities import get_community, memberships, versions

    with open_store(database) as store:
        record = get_community(store.engine, slug)
        if record is None:
            fail(f"no community {slug!r}; see `condivisa communities list`")
        history = versions(store.engine, slug)
        pods = memberships(store.engine, community=slug)
    console = Console()
    console.print(f"[bold]{record.name}[/] ({slug}), version {record.version}", highlight=False)
    table = Table("version", "recorded (UTC)", "by", "file sha256", "rules sha256", "source")
    for v in history:
        table.add_row(
            str(v["version"]),
            v["recorded_at"].strftime("%Y-%m-%d %H:%M"),
            v["recorded_by"],
            v["sha256"][:12],
            v["rules_sha256"][:12],
            v["source"] or "",
        )
    console.print(table)
    table = Table("POD", "member", "kind", "from", "to")
    for m in pods:
        table.add_row(m.pod, m.member_id or "", m.kind, str(m.valid_from), str(m.valid_to or "—"))
    console.print(table)


@communities_app.command("export")
def export_cmd(
    slug: str,
    database: DatabaseOpt = None,
    version: Annotated[int | None, typer.Option("--version", help="default: the version in force")] = None,
) -> None:
    """Print a version of a community's file, byte for byte as it was stored."""
    from condivisa.store.communities import CommunityStoreError, version_text

    with open_store(database) as store:
        try:
            text = version_text(store.engine, slug, version)
        except CommunityStoreError as exc:
            fail(str(exc))
    sys.stdout.write(text)


@communities_app.command("remove")
def remove_cmd(
    community: Annotated[str, typer.Argument(help="the community's slug, or its file")],
    database: DatabaseOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Stop serving a community: its PODs' memberships end today; its data, runs and audit are kept."""
    from condivisa.auth.communities import read_file, remove_community
    from condivisa.domain.config import ConfigError
    from condivisa.store.communities import CommunityStoreError, community_slug

    slug = community
    if Path(community).is_file():
        try:
            slug = community_slug(read_file(community)[1].name)
        except ConfigError as exc:
            fail(str(exc))
    with open_store(database) as store:
        try:
            record = remove_community(store, slug, actor=_actor(actor))
        except CommunityStoreError as exc:
            fail(str(exc))
    Console().print(f"{record.name} ({slug}) is no longer served; its data are kept", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(communities_app, name="communities")
