"""The access audit log (``auth_audit_log``): append an entry, count recent failed logins, read the log.

Rules implemented:
- an entry keeps who acted (at most 128 characters, ``-`` when unknown), the action, its target, a detail
  and the caller's IP, stamped with the service's clock;
- the brute-force brake counts the failed logins of one username since a given instant;
- the log reads newest first, optionally filtered by action and actor.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from condivisa.kernel.timegrid import to_utc
from condivisa.store.auth_tables import AuditAction, AuditEntry


def audit_entry(
    at: dt.datetime,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """One audit-log row (not yet added to a session); ``actor`` is cut to 128 characters."""
    return AuditEntry(
        at=at, actor=(actor or "-")[:128], action=str(action), target=target, detail=detail, ip=ip
    )


def failed_logins_since(s: Session, username: str, since: dt.datetime) -> int:
    """How many failed logins ``username`` (as logged: its first 128 characters) has had since ``since``."""
    return (
        s.scalar(
            sa.select(sa.func.count(AuditEntry.id)).where(
                AuditEntry.action == AuditAction.LOGIN_FAILED,
                AuditEntry.actor == (username or "")[:128],
                AuditEntry.at >= since,
            )
        )
        or 0
    )


def read_audit_log(
    engine: sa.Engine, *, limit: int = 100, action: str | None = None, actor: str | None = None
) -> list[dict[str, Any]]:
    """The latest ``limit`` entries, newest first: ``at`` (aware UTC), ``actor``, ``action``, ``target``,
    ``detail``, ``ip``; only those of ``action`` and ``actor`` when given."""
    q = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
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
            }
            for e in s.scalars(q).all()
        ]
