"""Audit of the community's allocation rules (the ``rules:`` of ``community.yaml``, domain :class:`Rules`).

The money a member gets depends on these rules, and they live in a file anyone with access to the server can
edit. So every time the platform serves or settles a database's community (``condivisa serve``, the
dashboard, ``condivisa report community --database``), :func:`record_rules` compares the rules with the last
ones recorded for that community:

- it keeps, per community (``auth_community_rules``), the rules as **canonical JSON** (the dataclass fields,
  enums by value, sorted keys, no spaces) and its **SHA-256**, with who/what loaded them and when;
- the first time it writes the audit event ``rules_recorded``; when the hash differs it writes
  ``rules_changed`` with a readable diff (``premium.producers: 0.1 → 0.2``), the old and new hash and the
  new rules; identical rules write nothing.

A new version of the file written by the platform itself (a member added from the dashboard,
:mod:`condivisa.auth.member_admin`) does not change the rules but is recorded too, by
:func:`record_file_change`: ``community_file_changed`` with what changed (``member_added``, the member's id)
and the file's SHA-256 before and after.

:func:`rules_history` lists those events (newest first) for the referente's page and ``condivisa users
audit``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import hashlib
import json
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from condivisa.auth.database import Database, engine_of
from condivisa.auth.service import AuthService
from condivisa.domain.community import Community, Rules
from condivisa.kernel.timegrid import to_utc
from condivisa.store.auth_tables import AuditAction, AuditEntry, CommunityRules

#: how each field of :class:`Rules` is written in ``community.yaml`` (the diff speaks the file's language)
YAML_KEYS = {
    "premium_producers": "premium.producers",
    "premium_community": "premium.community",
    "premium_consumers": "premium.consumers",
    "consumers_by": "premium.consumers_by",
    "annual_fee_eur": "later_members.annual_fee_eur",
    "exit_penalty_eur": "later_members.exit_penalty_eur",
    "min_shared_consumption_kwh_per_year": "later_members.min_shared_consumption_kwh_per_year",
    "exit_min_years": "later_members.min_years",
    "flexibility_bonus_share": "flexibility_bonus.share",
}


@dataclass(frozen=True)
class RulesRecord:
    """What :func:`record_rules` found: ``status`` is ``recorded`` (first time), ``changed`` or ``unchanged``."""

    community: str
    status: str
    sha256: str
    previous_sha256: str | None = None
    diff: dict[str, str] = dataclasses.field(default_factory=dict)


def _plain(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def rules_dict(rules: Rules | Mapping[str, object]) -> dict[str, object]:
    """The rules as a plain dict of JSON values (dataclass fields; enums by value)."""
    if dataclasses.is_dataclass(rules):
        return {f.name: _plain(getattr(rules, f.name)) for f in dataclasses.fields(rules)}
    return {str(k): _plain(v) for k, v in rules.items()}


def canonical_json(rules: Rules | Mapping[str, object]) -> str:
    """Canonical JSON of the rules: sorted keys, no spaces, UTF-8 as is (same rules → same text → same hash)."""
    return json.dumps(
        rules_dict(rules), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def rules_sha256(rules: Rules | Mapping[str, object]) -> str:
    return hashlib.sha256(canonical_json(rules).encode("utf-8")).hexdigest()


def _show(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def rules_diff(old: Mapping[str, object], new: Mapping[str, object]) -> dict[str, str]:
    """``{key: "old → new"}`` for every key whose value differs (keys as in ``community.yaml``; a key absent
    on
    one side shows ``—``), in the order of the fields."""
    keys = list(old) + [k for k in new if k not in old]
    return {
        YAML_KEYS.get(k, k): f"{_show(old.get(k))} → {_show(new.get(k))}"
        for k in keys
        if old.get(k) != new.get(k)
    }


def _whoami() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "?"
    return f"{user}@{socket.gethostname()}"


def record_rules(
    store: Database,
    community: Community,
    actor: str = "system",
    *,
    source: str | None = None,
    community_key: str | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> RulesRecord:
    """Record the allocation rules ``community.rules`` are served/settled with on ``store``'s database (a
    ``Store``, an ``Engine`` or a URL); audit ``rules_recorded`` / ``rules_changed`` (see the module
    docstring).

    ``actor`` says who or what loaded them (e.g. ``"condivisa serve"``), ``source`` the file they came from;
    the OS user and host are added. ``community_key`` defaults to ``community.name``."""
    engine = engine_of(store)
    key = (community_key or community.name)[:128]
    new = rules_dict(community.rules)
    text = canonical_json(community.rules)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    service = AuthService(engine, clock=clock)
    origin = {"source": source, "by": _whoami()}
    for attempt in range(2):
        try:
            with Session(engine) as s, s.begin():
                q = sa.select(CommunityRules).where(CommunityRules.community == key)
                if engine.dialect.name == "postgresql":
                    q = q.with_for_update()
                row = s.scalar(q)
                now = service.now()
                if row is None:
                    s.add(
                        CommunityRules(
                            community=key,
                            rules_json=text,
                            sha256=digest,
                            recorded_at=now,
                            recorded_by=actor[:128],
                        )
                    )
                    service._audit(
                        s,
                        actor,
                        AuditAction.RULES_RECORDED,
                        f"community:{key}"[:256],
                        {"sha256": digest, "rules": new, **origin},
                    )
                    return RulesRecord(key, "recorded", digest)
                if row.sha256 == digest:
                    return RulesRecord(key, "unchanged", digest, row.sha256)
                old_sha = row.sha256
                diff = rules_diff(json.loads(row.rules_json), new)
                row.rules_json, row.sha256, row.recorded_at, row.recorded_by = text, digest, now, actor[:128]
                service._audit(
                    s,
                    actor,
                    AuditAction.RULES_CHANGED,
                    f"community:{key}"[:256],
                    {"diff": diff, "old_sha256": old_sha, "sha256": digest, "rules": new, **origin},
                )
                return RulesRecord(key, "changed", digest, old_sha, diff)
        except (
            IntegrityError
        ):  # another process recorded the first rules at the same moment: compare with them
            if attempt:
                raise
    raise AssertionError("unreachable")


#: what the rules history lists: the rules seen, and the file versions written by the platform itself
HISTORY_ACTIONS = (AuditAction.RULES_RECORDED, AuditAction.RULES_CHANGED, AuditAction.COMMUNITY_FILE_CHANGED)


def record_file_change(
    store: Database,
    community_key: str,
    actor: str,
    *,
    change: str,
    sha256: str,
    previous_sha256: str | None,
    source: str | None,
    member: str | None = None,
) -> None:
    """Record a new version of the community file written by the platform (``change``: e.g.
    ``member_added``, with the member's id) whose rules did not change: audit ``community_file_changed``
    with the file's SHA-256 before and after, shown in :func:`rules_history`."""
    key = community_key[:128]
    detail = {
        "change": change,
        "member": member,
        "sha256": sha256,
        "previous_sha256": previous_sha256,
        "source": source,
        "by": _whoami(),
    }
    AuthService(engine_of(store)).audit(
        actor[:128], AuditAction.COMMUNITY_FILE_CHANGED, f"community:{key}"[:256], detail
    )


def rules_history(store: Database, community_key: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """``rules_recorded`` / ``rules_changed`` / ``community_file_changed`` events of one community, newest
    first (``at`` aware UTC, ``actor``, ``action``, ``diff``, ``sha256``, ``source``, ``by``; ``change`` and
    ``member`` for a file change)."""
    target = f"community:{community_key[:128]}"[:256]
    q = (
        sa.select(AuditEntry)
        .where(
            AuditEntry.action.in_([str(a) for a in HISTORY_ACTIONS]),
            AuditEntry.target == target,
        )
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )

    with Session(engine_of(store)) as s:
        rows = s.scalars(q).all()
        return [
            {
                "at": to_utc(e.at, naive_is="utc"),
                "actor": e.actor,
                "action": e.action,
                "diff": (e.detail or {}).get("diff", {}),
                "sha256": (e.detail or {}).get("sha256"),
                "source": (e.detail or {}).get("source"),
                "by": (e.detail or {}).get("by"),
                "change": (e.detail or {}).get("change"),
                "member": (e.detail or {}).get("member"),
            }
            for e in rows
        ]
