"""Adding a member: the community file, the store's PODs and DUs, the member's login, the audit log.

:func:`add_member` is what the dashboard's form (``/community/members/new``, :mod:`condivisa.web.
pages_members`) and ``condivisa members add`` do, in this order, under one lock per process:

1. the community file is read and the new member written into its text
   (:func:`condivisa.domain.community_edit.insert_member_text`); the result must load exactly as a file is
   loaded (:func:`condivisa.domain.config.community_from_dict`, ``strict=True``: POD codes, plant owners,
   perimeter…); a DU or POD the store already binds to someone else, and a username already taken, are refused
   too — and on any refusal **nothing is written**;
2. the file is replaced atomically, the previous version kept in ``history/``
   (:func:`~condivisa.domain.community_edit.write_atomically`);
3. the new POD and DU are registered in the store (:meth:`condivisa.store.store.Store.register_devices`);
4. the member's login is created (role ``member``; username = the member id unless given) with a random
   password (shown once, only its scrypt hash is kept) unless one is given;
5. the audit log gets ``member_added`` (actor: who added, target ``member:<id>``; no personal data) and the
   rules history the new file version (:func:`condivisa.auth.rules_audit.record_file_change`; a change of
   the rules made by hand in the meantime is recorded as ``rules_changed`` first).

On a platform of several communities the member joins the community the referente runs (``community_slug``):
its login belongs to that community, and the new file is stored as the community's next version
(:mod:`condivisa.auth.communities`). A community kept only in the store (added with ``condivisa communities
add``) has no file on disk: :func:`add_member_stored` edits its stored text the same way and stores the next
version (the versions are its history, so there is no backup file). A POD that another community holds is
refused before anything is written.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
import yaml

from condivisa.auth.communities import ensure_community
from condivisa.auth.rules_audit import canonical_json, record_file_change, record_rules
from condivisa.auth.service import _NAME_RE, MIN_PASSWORD_LENGTH, AuthService
from condivisa.domain.community import Community
from condivisa.domain.community_edit import MemberEditError, NewMember, insert_member_text, write_atomically
from condivisa.domain.config import ConfigError, community_from_dict
from condivisa.kernel import clock
from condivisa.store import communities as catalog
from condivisa.store.auth_tables import AuditAction, Role, User
from condivisa.store.models import Pod

__all__ = ["AddedMember", "MemberEditError", "NewMember", "add_member", "add_member_stored", "new_password"]

_LOCK = threading.Lock()


@dataclass(frozen=True)
class AddedMember:
    """What :func:`add_member` did: the new community (as the file now says), the login and where the
    previous file is."""

    community: Community
    member_id: str
    username: str
    password: str | None  # None when the login could not be created (login_error says why)
    backup: Path | None  # None: a community kept only in the store (its versions are the history)
    text_kept: bool  # True: two lines inserted; False: the file was dumped again (comments in the backup)
    sha256: str
    login_error: str | None = None


def new_password() -> str:
    """A random initial password (16 URL-safe characters, 96 bits)."""
    return secrets.token_urlsafe(12)


def _config_error(exc: ConfigError) -> MemberEditError:
    where, _, message = str(exc).partition(": ")
    return MemberEditError(where, message) if message else MemberEditError("community file", str(exc))


def _checked_login(username: str, password: str | None) -> str:
    """``username`` if it and ``password`` (when given) are acceptable, else :class:`MemberEditError`."""
    if not _NAME_RE.match(username):
        raise MemberEditError("username", f"{username!r}: use 1-128 letters, digits or . _ @ + -")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise MemberEditError("password", f"at least {MIN_PASSWORD_LENGTH} characters")
    return username


def _check_store(store, new: NewMember, community_slug: str | None = None) -> None:
    """Refuse a POD or DU the store already binds to another member or POD (its readings would go astray), or
    a POD another community holds."""
    if community_slug is not None:
        holder_community = catalog.pod_community(store.engine, new.pod)
        if holder_community not in (None, community_slug):
            raise MemberEditError("pod", f"POD {new.pod} belongs to another community")
    for d in store.devices():
        if new.device and d["du_id"] == new.device and d["pod"] != new.pod:
            raise MemberEditError("device", f"DU {new.device} is registered in the store for another POD")
    with store.read() as conn:
        holder = conn.scalar(sa.select(Pod.member_id).where(Pod.code == new.pod))
    if holder not in (None, new.id):
        raise MemberEditError("pod", f"POD {new.pod} is registered in the store for another member")


def add_member(
    store,
    path: str | Path,
    new: NewMember,
    *,
    actor: str,
    username: str | None = None,
    password: str | None = None,
    publish: Callable[[Community], None] | None = None,
    community_slug: str | None = None,
) -> AddedMember:
    """Add ``new`` to the community file at ``path`` and give them a login (module docstring). Raises
    :class:`MemberEditError` (``where``: the form field or file key) when refused; nothing is written then.

    ``publish(community)`` is called with the new community once the file is written and the store knows the
    POD, still under the lock (so two additions publish in the order they were written): a running app
    serves the new member from then on. ``community_slug``: the community's slug on a platform of several (the
    login belongs to it and the new file is stored as its next version)."""
    path = Path(path)
    username = _checked_login(username or new.id, password)
    with _LOCK:
        try:
            old = path.read_bytes()
            text = old.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MemberEditError("community file", f"{path}: cannot read it ({exc})") from None
        try:
            new_text, kept = insert_member_text(text, new)
            community = community_from_dict(yaml.safe_load(new_text), strict=True)
        except ConfigError as exc:
            raise _config_error(exc) from None
        except yaml.YAMLError as exc:
            raise MemberEditError("community file", f"{path}: not valid YAML ({exc})") from None
        _check_store(store, new, community_slug)
        service = AuthService(store, community=community)
        if any(u["username"] == username for u in service.users()):
            raise MemberEditError("username", f"user {username!r} already exists")
        if path.read_bytes() != old:
            raise MemberEditError("community file", "changed while the member was being added: try again")
        data = new_text.encode("utf-8")
        backup = write_atomically(path, old, data, clock.now())
        store.register_devices(community)
        if community_slug is not None:
            ensure_community(store, path, actor=actor, slug=community_slug)
        if publish is not None:
            publish(community)
        detail = {
            "source": str(path),
            "backup": backup.name,
            "text_kept": kept,
            "with_device": bool(new.device),
        }
        return _finish(store, community, new, old, data, actor, username, password, detail, community_slug,
                       backup, kept)  # fmt: skip


def add_member_stored(
    store,
    community_slug: str,
    new: NewMember,
    *,
    actor: str,
    username: str | None = None,
    password: str | None = None,
) -> AddedMember:
    """Add ``new`` to the community ``community_slug`` kept in the store (module docstring): its file in force
    edited as :func:`add_member` edits a file, stored as the next version. Raises :class:`MemberEditError`."""
    username = _checked_login(username or new.id, password)
    with _LOCK:
        text = catalog.version_text(store.engine, community_slug)
        try:
            new_text, kept = insert_member_text(text, new)
            community = catalog.parse_community_text(new_text)
        except ConfigError as exc:
            raise _config_error(exc) from None
        _check_store(store, new, community_slug)
        service = AuthService(store, community=community)
        if any(u["username"] == username for u in service.users()):
            raise MemberEditError("username", f"user {username!r} already exists")
        rules_sha = hashlib.sha256(canonical_json(community.rules).encode("utf-8")).hexdigest()
        try:
            with store.engine.begin() as conn:
                catalog.save_version(conn, community_slug, community, new_text, rules_sha256=rules_sha,
                                     actor=actor, source="dashboard: member added", create=False)  # fmt: skip
        except catalog.CommunityStoreError as exc:
            raise MemberEditError("pod", str(exc)) from None
        detail = {"source": f"community:{community_slug}", "text_kept": kept, "with_device": bool(new.device)}
        return _finish(store, community, new, text.encode("utf-8"), new_text.encode("utf-8"), actor, username,
                       password, detail, community_slug, None, kept)  # fmt: skip


def _finish(
    store,
    community: Community,
    new: NewMember,
    old: bytes,
    data: bytes,
    actor: str,
    username: str,
    password: str | None,
    detail: dict,
    community_slug: str | None,
    backup: Path | None,
    kept: bool,
) -> AddedMember:
    """Steps 4 and 5 of the module docstring: the login, the audit log, the rules history."""
    service = AuthService(store, community=community)
    password = password or new_password()
    login_error = None
    try:
        service.create_user(username, password, Role.MEMBER.value, new.id, actor=actor)
        if community_slug is not None:
            _bind_user(store, username, community_slug)
    except ValueError as exc:  # raced with another creation: the member stands, the login does not
        password, login_error = None, str(exc)
    digest = hashlib.sha256(data).hexdigest()
    service.audit(actor, AuditAction.MEMBER_ADDED, f"member:{new.id}"[:256], detail, community=community_slug)
    source = str(detail["source"])
    record_rules(store, community, actor=actor, source=source)
    record_file_change(
        store,
        community.name,
        actor,
        change="member_added",
        member=new.id,
        sha256=digest,
        previous_sha256=hashlib.sha256(old).hexdigest(),
        source=source,
    )
    return AddedMember(community, new.id, username, password, backup, kept, digest, login_error)


def _bind_user(store, username: str, community_slug: str) -> None:
    """The new login belongs to the member's community."""
    with store.engine.begin() as conn:
        conn.execute(sa.update(User).where(User.username == username).values(community=community_slug))
