"""Which members were erased, as the running platform must know it before ``community.yaml`` is edited.

Rules implemented (GDPR Art. 17; issue #13, finding 9):

- an erasure leaves one audit entry (action ``erasure``, target ``member:<id>``) whose detail carries the
  pseudonyms that replaced the member (``member_alias``) and their POD codes (``pod_aliases``, in the order
  of :func:`condivisa.auth.privacy.member_pods`). That entry is the *suppression record*: it names the member
  id only (no name, e-mail, POD or DU), so the platform can keep them hidden until the referente removes
  them from the community file, and it proves the erasure was done (Art. 5(2));
- :func:`redact_community` turns the community file's view into the erased view: the member becomes an
  anonymous payee under their pseudonym, with their PODs under the PODs' pseudonyms (the same codes the
  stored readings now carry, so the community's settlement and everyone else's money do not change), no
  name, no e-mail; their DUs are gone. Their page and statements answer 404 (there is no such member).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from condivisa.domain.community import Community
from condivisa.store.auth_tables import AuditAction, AuditEntry

#: the audit target prefix of an erasure
TARGET_PREFIX = "member:"


def erasure_marker(engine: sa.Engine) -> tuple[int, int]:
    """``(count, latest id)`` of the erasure records: changes exactly when a member is erased (a lookup on
    the ``(action, actor)`` index). ``(0, 0)`` when the audit table does not exist."""
    t = AuditEntry.__table__
    q = sa.select(sa.func.count(), sa.func.max(t.c.id)).where(t.c.action == AuditAction.ERASURE.value)
    try:
        with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            count, latest = conn.execute(q).one()
    except DBAPIError:
        return 0, 0
    return int(count or 0), int(latest or 0)


def erased_members(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    """``member id -> {"member_alias", "pod_aliases"}`` of every erasure record (the latest one wins)."""
    t = AuditEntry.__table__
    q = sa.select(t.c.target, t.c.detail).where(t.c.action == AuditAction.ERASURE.value).order_by(t.c.id)
    try:
        with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            rows = conn.execute(q).all()
    except DBAPIError:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for target, detail in rows:
        if target and target.startswith(TARGET_PREFIX):
            detail = detail if isinstance(detail, dict) else {}
            out[target[len(TARGET_PREFIX) :]] = {
                "member_alias": detail.get("member_alias"),
                "pod_aliases": list(detail.get("pod_aliases") or []),
            }
    return out


def redact_community(community: Community, erased: dict[str, dict[str, Any]]) -> Community:
    """``community`` with every erased member replaced by their pseudonymous self (module docstring)."""
    if not erased or not any(m.id in erased for m in community.members):
        return community
    members: list = []
    pod_alias: dict[str, str] = {}
    owner_alias: dict[str, str] = {}
    for m in community.members:
        rec = erased.get(m.id)
        if rec is None:
            members.append(m)
            continue
        codes = [p.code for p in m.pods] + [
            pl.pod for pl in community.plants if pl.owner == m.id and pl.pod not in {p.code for p in m.pods}
        ]
        aliases = rec["pod_aliases"]
        pod_alias.update(dict(zip(codes, aliases)) if len(aliases) == len(codes) else {})
        alias = rec["member_alias"] or f"erased-{len(owner_alias) + 1}"
        owner_alias[m.id] = alias
        pods = tuple(dataclasses.replace(p, code=pod_alias.get(p.code, p.code)) for p in m.pods)
        members.append(dataclasses.replace(m, id=alias, name=None, email=None, pods=pods))
    plants = tuple(
        dataclasses.replace(pl, owner=owner_alias.get(pl.owner, pl.owner), pod=pod_alias.get(pl.pod, pl.pod))
        for pl in community.plants
    )
    erased_pods = set(pod_alias)
    devices = tuple(d for d in community.devices if d.pod not in erased_pods)
    return dataclasses.replace(community, members=tuple(members), plants=plants, devices=devices)
