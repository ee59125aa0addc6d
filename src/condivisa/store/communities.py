"""The communities of a platform in its store: their files, their versions and who owns each POD when.

A provider serves many communities from one store. Each community has a **slug** (the level of its MQTT
topics, ``<root>/<slug>/du/<du_id>/up``, and the key of its rows: users, tokens, audit entries, dead
letters, devices) and a **name** (unique too: billing runs, ledger entries and bank accounts are keyed by
it). Its file is kept byte for byte, every version of it (:func:`save_version`); the version in force is the
latest (:func:`load_current`).

POD memberships (``pod_memberships``) say which community a POD belongs to, from which civil day (Europe/Rome)
to which: **one community at a time**. Saving a version reconciles them with the file
(:func:`reconcile_memberships`):

- a POD of the file not yet in the community joins it from the member's ``joined`` day (the community's
  ``constituted`` day for founders; a plant's :meth:`~condivisa.domain.community.Plant.joined_on`); a
  ``joined`` day before the day it left another community is refused (the settlement windows each member by
  ``joined``/``left``, so an overlap would count its energy twice); back in the same community, it starts
  where its last membership ended;
- a POD that another community holds *open* (no end day) is refused with a clear error naming that
  community: the other community's file must drop it first (members move; the POD's history stays);
- a POD whose member has ``left`` is closed the day after; a POD dropped from the file is closed today (write
  ``left:`` instead, so the settlement of the months before still counts the member).

References
----------
.. [1] ARERA, TIAD (delibera 727/2022/R/eel), Art. 3: a point of delivery belongs to one configuration at a
   time; a final customer may leave it at any time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

import sqlalchemy as sa
import yaml

from condivisa.domain.community import Community
from condivisa.domain.config import ConfigError, community_from_dict
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME
from condivisa.store.community_tables import CommunityRow, CommunityVersion, PodMembership
from condivisa.store.models import Device, Pod

_SLUG = re.compile(r"[^a-z0-9_-]+")
#: tables whose rows written before communities existed (``community IS NULL``) the first community adopts
ADOPTED_TABLES = ("auth_users", "auth_tokens", "auth_audit_log", "dead_letters")


class CommunityStoreError(ValueError):
    """A community file cannot be saved or a community is not in the store (the message says why)."""


@dataclass(frozen=True)
class CommunityRecord:
    """A community of the store: its slug, name, version in force and dates (UTC)."""

    slug: str
    name: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    removed_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.removed_at is None


@dataclass(frozen=True)
class Membership:
    """A POD in a community from ``valid_from`` to ``valid_to`` (exclusive; ``None``: still a member)."""

    pod: str
    community: str
    member_id: str | None
    kind: str
    valid_from: dt.date
    valid_to: dt.date | None


def community_slug(name: str) -> str:
    """The slug of a community name: lower case, runs of anything but letters, digits, ``_`` and ``-`` as one
    ``-`` (``"CER Esempio Sud"`` → ``cer-esempio-sud``); ``default`` when nothing is left."""
    return _SLUG.sub("-", name.lower()).strip("-") or "default"


def parse_community_text(text: str, source: str = "community file") -> Community:
    """The community of a file's text, checked as strictly as :func:`~condivisa.domain.config.load_community`
    checks a file; a :class:`~condivisa.domain.config.ConfigError` names ``source``."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    try:
        return community_from_dict(raw, strict=True)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def today() -> dt.date:
    """Today's civil date in Europe/Rome (the injectable clock)."""
    return clock.now().astimezone(ROME).date()


def _record(row: sa.Row) -> CommunityRecord:
    return CommunityRecord(row.slug, row.name, row.version, row.created_at, row.updated_at, row.removed_at)


def list_communities(engine: sa.Engine, *, include_removed: bool = False) -> list[CommunityRecord]:
    """The communities of the store, by slug; removed ones only with ``include_removed``."""
    t = CommunityRow.__table__
    query = sa.select(t).order_by(t.c.slug)
    if not include_removed:
        query = query.where(t.c.removed_at.is_(None))
    with engine.connect() as conn:
        return [_record(r) for r in conn.execute(query)]


def get_community(engine: sa.Engine, slug: str) -> CommunityRecord | None:
    """The community ``slug`` (removed or not), or ``None``."""
    t = CommunityRow.__table__
    with engine.connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.slug == slug)).first()
    return _record(row) if row is not None else None


def version_text(engine: sa.Engine, slug: str, version: int | None = None) -> str:
    """The file text of ``slug``'s version ``version`` (default: the one in force)."""
    v = CommunityVersion.__table__
    query = sa.select(v.c.file_text).where(v.c.community == slug)
    query = query.where(v.c.version == version) if version is not None else query
    with engine.connect() as conn:
        text = conn.execute(query.order_by(v.c.version.desc()).limit(1)).scalar()
    if text is None:
        raise CommunityStoreError(f"community {slug!r}: no such community (or version) in the store")
    return text


def load_current(engine: sa.Engine, slug: str) -> Community:
    """The community ``slug`` as its file in force says (checked as strictly as a file)."""
    return parse_community_text(version_text(engine, slug), f"community {slug}")


def versions(engine: sa.Engine, slug: str) -> list[dict]:
    """Every version of ``slug``'s file, oldest first: ``version``, ``sha256``, ``rules_sha256``,
    ``recorded_at``, ``recorded_by``, ``source``."""
    v = CommunityVersion.__table__
    cols = [v.c.version, v.c.sha256, v.c.rules_sha256, v.c.recorded_at, v.c.recorded_by, v.c.source]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*cols).where(v.c.community == slug).order_by(v.c.version))
        return [dict(r._mapping) for r in rows]


def catalog_marker(engine: sa.Engine) -> tuple:
    """Changes whenever a community is added, updated or removed (a cheap query, polled by servers)."""
    t = CommunityRow.__table__
    with engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count(), sa.func.max(t.c.updated_at))).one())


def save_version(
    conn: sa.Connection,
    slug: str,
    community: Community,
    text: str,
    *,
    rules_sha256: str,
    actor: str,
    source: str | None = None,
    create: bool,
) -> tuple[CommunityRecord, bool]:
    """Store ``text`` as the next version of ``slug`` (the first when ``create``), reconcile the POD
    memberships and register the PODs and DUs with their community; ``(record, changed)`` where ``changed``
    is False when the text equals the version in force (nothing is stored then).

    Raises
    ------
    CommunityStoreError
        ``create`` and the slug or name is taken; not ``create`` and there is no such community (or it was
        removed, or the name is another community's); a POD another community holds.
    """
    t, v = CommunityRow.__table__, CommunityVersion.__table__
    now = clock.now()
    row = conn.execute(sa.select(t).where(t.c.slug == slug)).first()
    _check_identity(conn, row, slug, community.name, create)
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if row is not None and row.removed_at is None:
        in_force = conn.execute(
            sa.select(v.c.sha256).where(v.c.community == slug, v.c.version == row.version)
        ).scalar()
        if in_force == sha:
            return _record(row), False
    version = 1 if row is None else row.version + 1
    conn.execute(
        v.insert().values(
            community=slug,
            version=version,
            file_text=text,
            sha256=sha,
            rules_sha256=rules_sha256,
            recorded_at=now,
            recorded_by=actor[:128],
            source=(source or "")[:500] or None,
        )
    )
    values = {"name": community.name, "version": version, "updated_at": now, "removed_at": None}
    if row is None:
        conn.execute(t.insert().values(slug=slug, created_at=now, **values))
        _adopt_unscoped(conn, slug)
    else:
        conn.execute(t.update().where(t.c.slug == slug).values(**values))
    reconcile_memberships(conn, slug, community, today())
    _register(conn, slug, community, now)
    return _record(conn.execute(sa.select(t).where(t.c.slug == slug)).one()), True


def _check_identity(conn: sa.Connection, row: sa.Row | None, slug: str, name: str, create: bool) -> None:
    t = CommunityRow.__table__
    if create and row is not None and row.removed_at is None:
        raise CommunityStoreError(
            f"community {slug!r} is already served; use `condivisa communities update` for a new version"
        )
    if not create and (row is None or row.removed_at is not None):
        raise CommunityStoreError(
            f"community {slug!r} is not served; use `condivisa communities add` to add it"
        )
    other = conn.execute(sa.select(t.c.slug).where(t.c.name == name, t.c.slug != slug)).scalar()
    if other is not None:
        raise CommunityStoreError(f"the name {name!r} is already community {other!r}'s; names must differ")


def _adopt_unscoped(conn: sa.Connection, slug: str) -> None:
    """The first community of a store adopts the rows a one-community platform wrote before communities
    existed (users but platform admins, tokens, audit entries, dead letters)."""
    count = conn.execute(sa.select(sa.func.count()).select_from(CommunityRow.__table__)).scalar()
    if count != 1:
        return
    for table in ADOPTED_TABLES:
        where = "community IS NULL" + (" AND role <> 'admin'" if table == "auth_users" else "")
        conn.execute(sa.text(f"UPDATE {table} SET community = :slug WHERE {where}"), {"slug": slug})


def wanted_pods(community: Community) -> dict[str, tuple[str | None, str, dt.date, dt.date | None]]:
    """Each POD of ``community``: ``(member_id, kind, from, to)`` as its file says (``to`` exclusive:
    the day after ``left``, ``None`` while a member)."""
    out: dict[str, tuple[str | None, str, dt.date, dt.date | None]] = {}
    for m in community.members:
        start = m.joined or community.constituted
        end = m.left + dt.timedelta(days=1) if m.left else None
        for p in m.pods:
            out[p.code] = (m.id, p.kind.value, start, end)
    for plant in community.plants:
        owner = plant.owner if plant.owner != "community" else None
        out.setdefault(plant.pod, (owner, "production", plant.joined_on(community.constituted), None))
    return out


def reconcile_memberships(conn: sa.Connection, slug: str, community: Community, day: dt.date) -> None:
    """Make ``slug``'s POD memberships what ``community``'s file says, on ``day`` (module docstring)."""
    pm = PodMembership.__table__
    wanted = wanted_pods(community)
    open_rows = {
        r.pod: r for r in conn.execute(sa.select(pm).where(pm.c.community == slug, pm.c.valid_to.is_(None)))
    }
    for pod, row in open_rows.items():
        if pod not in wanted:
            conn.execute(pm.update().where(pm.c.id == row.id).values(valid_to=max(day, row.valid_from)))
    for pod, (member, kind, start, end) in sorted(wanted.items()):
        mine = open_rows.get(pod)
        if mine is not None:
            closing = max(end, mine.valid_from) if end is not None else None
            conn.execute(
                pm.update().where(pm.c.id == mine.id).values(member_id=member, kind=kind, valid_to=closing)
            )
            continue
        holder = conn.execute(
            sa.select(pm.c.community, pm.c.valid_from).where(
                pm.c.pod == pod, pm.c.valid_to.is_(None), pm.c.community != slug
            )
        ).first()
        if holder is not None:
            raise CommunityStoreError(
                f"POD {pod} belongs to community {holder.community!r} since {holder.valid_from}; a POD belongs "
                f"to one community at a time: remove it from {holder.community!r}'s file first"
            )
        if end is not None and _ever_member(conn, slug, pod):
            continue  # it left this community already, and the file says so
        elsewhere = conn.execute(
            sa.select(pm.c.community, pm.c.valid_to)
            .where(pm.c.pod == pod, pm.c.community != slug, pm.c.valid_to > start)
            .order_by(pm.c.valid_to.desc())
        ).first()
        if elsewhere is not None:
            raise CommunityStoreError(
                f"POD {pod} was in community {elsewhere.community!r} until {elsewhere.valid_to} (that day "
                f"excluded); its joined date here ({start}) must be {elsewhere.valid_to} or later, or its energy "
                "would count in both communities"
            )
        previous_end = conn.execute(sa.select(sa.func.max(pm.c.valid_to)).where(pm.c.pod == pod)).scalar()
        valid_from = max(start, previous_end) if previous_end is not None else start
        if end is not None and end <= valid_from:
            continue
        conn.execute(
            pm.insert().values(
                pod=pod, community=slug, member_id=member, kind=kind, valid_from=valid_from, valid_to=end
            )
        )


def _ever_member(conn: sa.Connection, slug: str, pod: str) -> bool:
    pm = PodMembership.__table__
    return (
        conn.execute(sa.select(pm.c.id).where(pm.c.pod == pod, pm.c.community == slug).limit(1)).first()
        is not None
    )


def _register(conn: sa.Connection, slug: str, community: Community, now: dt.datetime) -> None:
    """The ``pods`` and ``devices`` registry says the PODs and DUs of the file are ``slug``'s now."""
    pods, devices = Pod.__table__, Device.__table__
    owner = {code: (member, kind) for code, (member, kind, _, _) in wanted_pods(community).items()}
    for code, (member, kind) in owner.items():
        changed = conn.execute(
            pods.update().where(pods.c.code == code).values(member_id=member, kind=kind, community=slug)
        ).rowcount
        if not changed:
            conn.execute(
                pods.insert().values(
                    code=code, member_id=member, kind=kind, registered_at=now, community=slug
                )
            )
    for d in community.devices:
        member = owner.get(d.pod, (None, ""))[0]
        changed = conn.execute(
            devices.update()
            .where(devices.c.du_id == d.id)
            .values(pod=d.pod, member_id=member, community=slug)
        ).rowcount
        if not changed:
            conn.execute(
                devices.insert().values(
                    du_id=d.id, pod=d.pod, member_id=member, registered_at=now, community=slug
                )
            )
    left = sa.select(pods.c.code).where(pods.c.community == slug)
    for code in [r.code for r in conn.execute(left) if r.code not in owner]:
        conn.execute(pods.update().where(pods.c.code == code).values(community=None))
    gone = {d.id for d in community.devices}
    stale = sa.select(devices.c.du_id).where(devices.c.community == slug)
    for du in [r.du_id for r in conn.execute(stale) if r.du_id not in gone]:
        conn.execute(devices.update().where(devices.c.du_id == du).values(community=None))


def remove_community(conn: sa.Connection, slug: str, day: dt.date) -> CommunityRecord:
    """Stop serving ``slug``: its open POD memberships end on ``day``, its DUs and PODs are no longer its; its
    rows (versions, measurements, runs, audit) are kept. Raises :class:`CommunityStoreError` if not served."""
    t, pm = CommunityRow.__table__, PodMembership.__table__
    row = conn.execute(sa.select(t).where(t.c.slug == slug)).first()
    if row is None or row.removed_at is not None:
        raise CommunityStoreError(f"community {slug!r} is not served")
    now = clock.now()
    conn.execute(t.update().where(t.c.slug == slug).values(removed_at=now, updated_at=now))
    for r in conn.execute(
        sa.select(pm.c.id, pm.c.valid_from).where(pm.c.community == slug, pm.c.valid_to.is_(None))
    ).all():
        conn.execute(pm.update().where(pm.c.id == r.id).values(valid_to=max(day, r.valid_from)))
    for table in (Pod.__table__, Device.__table__):
        conn.execute(table.update().where(table.c.community == slug).values(community=None))
    return _record(conn.execute(sa.select(t).where(t.c.slug == slug)).one())


def memberships(
    engine: sa.Engine, *, community: str | None = None, pod: str | None = None
) -> list[Membership]:
    """POD memberships, by POD then start day; of one community and/or one POD."""
    pm = PodMembership.__table__
    query = sa.select(pm).order_by(pm.c.pod, pm.c.valid_from)
    if community is not None:
        query = query.where(pm.c.community == community)
    if pod is not None:
        query = query.where(pm.c.pod == pod)
    with engine.connect() as conn:
        return [
            Membership(r.pod, r.community, r.member_id, r.kind, r.valid_from, r.valid_to)
            for r in conn.execute(query)
        ]


def pod_community(engine: sa.Engine, pod: str, day: dt.date | None = None) -> str | None:
    """The community POD ``pod`` belongs to on ``day`` (default: today), or ``None``."""
    day = day or today()
    for m in memberships(engine, pod=pod):
        if m.valid_from <= day and (m.valid_to is None or day < m.valid_to):
            return m.community
    return None
