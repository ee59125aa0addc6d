"""The access audit log (``auth_audit_log``): append an entry, count recent failed logins, read the log.

Rules implemented:
- an entry keeps who acted (at most 128 characters, ``-`` when unknown), the action, its target, a detail
  and the caller's IP, stamped with the service's clock;
- the brute-force brake counts the failed logins of one username since a given instant;
- the log reads newest first, optionally filtered by action and actor;
- an erasure pseudonymises entries instead of deleting them (:func:`pseudonymise_entries`): every erased
  identifier (username, member id, POD, DU, name, e-mail) in the actor, the target or the detail becomes its
  pseudonym, the action and time stay, and the IP of the erased person's own entries is dropped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from condivisa.kernel.timegrid import to_utc
from condivisa.store.auth_tables import AuditAction, AuditEntry

#: characters that continue an identifier: a replacement needs none of them on either side
_ID_CHARS = "A-Za-z0-9_"


def audit_entry(
    at: dt.datetime,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict | None = None,
    ip: str | None = None,
    community: str | None = None,
) -> AuditEntry:
    """One audit-log row (not yet added to a session); ``actor`` is cut to 128 characters; ``community``:
    the community it concerns (``None``: the platform)."""
    return AuditEntry(
        at=at,
        actor=(actor or "-")[:128],
        action=str(action),
        target=target,
        detail=detail,
        ip=ip,
        community=community,
    )


def read_audit_log(
    engine: sa.Engine,
    *,
    limit: int = 100,
    action: str | None = None,
    actor: str | None = None,
    community: str | None = None,
) -> list[dict[str, Any]]:
    """The latest ``limit`` entries, newest first: ``at`` (aware UTC), ``actor``, ``action``, ``target``,
    ``detail``, ``ip``, ``community``; only those of ``action``, ``actor`` and ``community`` when given."""
    q = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if community is not None:
        q = q.where(AuditEntry.community == community)
    if action is not None:
        q = q.where(AuditEntry.action == str(action))
    if actor is not None:
        q = q.where(AuditEntry.actor == actor)
    with Session(engine) as s:
        return [
            {
                "at": to_utc(e.at, naive_is="utc"),
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "detail": e.detail,
                "ip": e.ip,
                "community": e.community,
            }
            for e in s.scalars(q).all()
        ]


def _replacer(replacements: Mapping[str, str]) -> re.Pattern[str]:
    words = sorted((w for w in replacements if w), key=len, reverse=True)
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![{_ID_CHARS}])(?:{alternatives})(?![{_ID_CHARS}])")


def _swap(value: Any, pattern: re.Pattern[str], replacements: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(lambda m: replacements[m[0]], value)
    if isinstance(value, dict):
        return {_swap(k, pattern, replacements): _swap(v, pattern, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, pattern, replacements) for v in value]
    return value


def pseudonymise_entries(
    conn: sa.Connection,
    replacements: Mapping[str, str],
    *,
    own_actors: frozenset[str] = frozenset(),
    keep_actions: tuple[str, ...] = (AuditAction.ERASURE.value,),
) -> int:
    """Replace each identifier of ``replacements`` (as a whole word) by its pseudonym in the ``actor``,
    ``target`` and ``detail`` of every audit entry but those of ``keep_actions`` (the erasure records);
    entries whose actor was one of ``own_actors`` (the erased person's accounts) lose their IP. Candidates
    are found in SQL (``LIKE``), then replaced here. Returns how many entries changed."""
    if not any(replacements):
        return 0
    pattern = _replacer(replacements)
    t = AuditEntry.__table__
    detail_text = sa.cast(t.c.detail, sa.Text)
    likes = []
    for word in (w for w in replacements if w):
        like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        likes += [c.like(like, escape="\\") for c in (t.c.actor, t.c.target, detail_text)]
    q = sa.select(t.c.id, t.c.actor, t.c.target, t.c.detail).where(
        sa.or_(*likes), t.c.action.not_in(list(keep_actions))
    )
    changed = 0
    for entry_id, actor, target, detail in conn.execute(q).all():
        new = {
            "actor": _swap(actor, pattern, replacements)[:128],
            "target": _swap(target, pattern, replacements),
            "detail": _swap(detail, pattern, replacements),
        }
        if actor in own_actors:
            new["ip"] = None
        if (new["actor"], new["target"], new["detail"]) != (actor, target, detail) or "ip" in new:
            conn.execute(sa.update(t).where(t.c.id == entry_id).values(**new))
            changed += 1
    return changed
