"""Adding, updating and removing the communities a platform serves (``condivisa communities …``).

Each change is one transaction on the store: the file's new version (:func:`condivisa.store.communities.
save_version`, which also reconciles the POD memberships and registers the PODs and DUs), the rules audit
(``rules_recorded`` / ``rules_changed``, :func:`condivisa.auth.rules_audit.record_rules`, keyed by the
community's name as billing is) and an audit entry of the community (``community_added``,
``community_updated``, ``community_removed``). A file that does not load (a typo, an unknown key, a POD that
another community holds) changes nothing and says why, with the file's path.

Running servers see the change within a second (:class:`condivisa.auth.tenants.Tenants` polls the catalog).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from condivisa.auth.database import Database, engine_of
from condivisa.auth.rules_audit import RulesRecord, canonical_json, record_rules
from condivisa.auth.service import AuthService
from condivisa.domain.community import Community
from condivisa.domain.config import ConfigError
from condivisa.store import communities as catalog
from condivisa.store.auth_tables import AuditAction

ADDED, UPDATED, REMOVED = (
    AuditAction.COMMUNITY_ADDED,
    AuditAction.COMMUNITY_UPDATED,
    AuditAction.COMMUNITY_REMOVED,
)


@dataclass(frozen=True)
class CommunityChange:
    """What a change did: the community's record, whether a new version was stored, the rules audit."""

    record: catalog.CommunityRecord
    changed: bool
    rules: RulesRecord | None = None


def read_file(path: str | Path) -> tuple[str, Community]:
    """The text of a community file and its community, checked; :class:`ConfigError` names the path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return text, catalog.parse_community_text(text, str(path))


def save_community(
    store: Database,
    path: str | Path,
    *,
    actor: str,
    slug: str | None = None,
    create: bool,
) -> CommunityChange:
    """Add (``create``) or update the community of the file at ``path`` under ``slug`` (default: the slug of
    its name). Raises :class:`~condivisa.domain.config.ConfigError` (the file) or
    :class:`~condivisa.store.communities.CommunityStoreError` (the store refuses it); nothing is changed
    then."""
    text, community = read_file(path)
    slug = slug or catalog.community_slug(community.name)
    rules_sha = hashlib.sha256(canonical_json(community.rules).encode("utf-8")).hexdigest()
    engine = engine_of(store)
    with engine.begin() as conn:
        record, changed = catalog.save_version(
            conn, slug, community, text, rules_sha256=rules_sha, actor=actor, source=str(path), create=create
        )
    rules = None
    if changed:
        rules = record_rules(engine, community, actor=actor, source=str(path))
        AuthService(engine).audit(
            actor,
            ADDED if create else UPDATED,
            f"community:{slug}",
            {"version": record.version, "name": community.name, "source": str(path)},
            community=slug,
        )
    return CommunityChange(record, changed, rules)


def ensure_community(
    store: Database, path: str | Path, *, actor: str, slug: str | None = None
) -> CommunityChange:
    """Add the file's community, or store the file as its new version when it is served already (what
    ``serve --config FILE`` does at start: the file on disk is the version served)."""
    _, community = read_file(path)
    slug = slug or catalog.community_slug(community.name)
    record = catalog.get_community(engine_of(store), slug)
    return save_community(store, path, actor=actor, slug=slug, create=record is None or not record.active)


def remove_community(store: Database, slug: str, *, actor: str) -> catalog.CommunityRecord:
    """Stop serving ``slug`` (its POD memberships end today; every row of it is kept)."""
    engine = engine_of(store)
    with engine.begin() as conn:
        record = catalog.remove_community(conn, slug, catalog.today())
    AuthService(engine).audit(actor, REMOVED, f"community:{slug}", {"name": record.name}, community=slug)
    return record
