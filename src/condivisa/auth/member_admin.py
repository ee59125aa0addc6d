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

from condivisa.auth.rules_audit import record_file_change, record_rules
from condivisa.auth.service import _NAME_RE, MIN_PASSWORD_LENGTH, AuthService
from condivisa.domain.community import Community
from condivisa.domain.community_edit import MemberEditError, NewMember, insert_member_text, write_atomically
from condivisa.domain.config import ConfigError, community_from_dict
from condivisa.kernel import clock
from condivisa.store.auth_tables import AuditAction, Role
from condivisa.store.models import Pod

__all__ = ["AddedMember", "MemberEditError", "NewMember", "add_member", "new_password"]

_LOCK = threading.Lock()


@dataclass(frozen=True)
class AddedMember:
    """What :func:`add_member` did: the new community (as the file now says), the login and where the
    previous file is."""

    community: Community
    member_id: str
    username: str
    password: str | None  # None when the login could not be created (login_error says why)
    backup: Path
    text_kept: bool  # True: two lines inserted; False: the file was dumped again (comments in the backup)
    sha256: str
    login_error: str | None = None


def new_password() -> str:
    """A random initial password (16 URL-safe characters, 96 bits)."""
    return secrets.token_urlsafe(12)


def _config_error(exc: ConfigError) -> MemberEditError:
    where, _, message = str(exc).partition(": ")
    return MemberEditError(where, message) if message else MemberEditError("community file", str(exc))


def _check_store(store, new: NewMember) -> None:
    """Refuse a POD or DU the store already binds to another member or POD (its readings would go astray)."""
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
) -> AddedMember:
    """Add ``new`` to the community file at ``path`` and give them a login (module docstring). Raises
    :class:`MemberEditError` (``where``: the form field or file key) when refused; nothing is written then.

    ``publish(community)`` is called with the new community once the file is written and the store knows the
    POD, still under the lock (so two additions publish in the order they were written): a running app
    serves the new member from then on."""
    path = Path(path)
    username = username or new.id
    if not _NAME_RE.match(username):
        raise MemberEditError("username", f"{username!r}: use 1-128 letters, digits or . _ @ + -")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise MemberEditError("password", f"at least {MIN_PASSWORD_LENGTH} characters")
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
        _check_store(store, new)
        service = AuthService(store, community=community)
        if any(u["username"] == username for u in service.users()):
            raise MemberEditError("username", f"user {username!r} already exists")
        if path.read_bytes() != old:
            raise MemberEditError("community file", "changed while the member was being added: try again")
        data = new_text.encode("utf-8")
        backup = write_atomically(path, old, data, clock.now())
        store.register_devices(community)
        if publish is not None:
            publish(community)
        password = password or new_password()
        login_error = None
        try:
            service.create_user(username, password, Role.MEMBER.value, new.id, actor=actor)
        except ValueError as exc:  # raced with another creation: the member stands, the login does not
            password, login_error = None, str(exc)
        digest = hashlib.sha256(data).hexdigest()
        detail = {
            "source": str(path),
            "backup": backup.name,
            "text_kept": kept,
            "with_device": bool(new.device),
        }
        service.audit(actor, AuditAction.MEMBER_ADDED, f"member:{new.id}"[:256], detail)
        record_rules(store, community, actor=actor, source=str(path))
        record_file_change(
            store,
            community.name,
            actor,
            change="member_added",
            member=new.id,
            sha256=digest,
            previous_sha256=hashlib.sha256(old).hexdigest(),
            source=str(path),
        )
    return AddedMember(community, new.id, username, password, backup, kept, digest, login_error)
