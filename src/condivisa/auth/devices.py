"""MQTT credentials: the passwords of DUs, gateways, the ingest worker and members (``auth_device_credentials``).

Rules implemented:
- a device id uses letters, digits or ``. _ @ -`` (1-128 characters, starting with a letter or digit) and
  never an MQTT wildcard, so it can name its own topic;
- a credential is of one of the ``DEVICE_KINDS``: ``du`` (a user device), ``gw`` (a gateway of several DUs),
  ``worker`` (the ingest worker) or ``member`` (a member's Home Assistant, issue #19 item 5: it reads its own
  sensors only, :mod:`condivisa.auth.mqtt_acl`);
- a ``member`` credential is named ``member@<community>@<member_id>`` (:func:`member_credential_parts`), and
  only a ``member`` credential may start with ``member@``;
- only the Mosquitto ``$7$`` hash of the password is kept (:func:`condivisa.auth.hashing.mosquitto_hash`);
  issuing a credential again replaces the password and lifts a revocation.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from condivisa.auth.hashing import mosquitto_hash
from condivisa.store.auth_tables import DeviceCredential

#: MQTT clients: user device, gateway of several DUs, ingest worker, a member's Home Assistant
DEVICE_KINDS = ("du", "gw", "worker", "member")
_DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
MEMBER_PREFIX = "member@"


def member_credential_parts(du_id: str) -> tuple[str, str] | None:
    """``(community, member_id)`` of a member credential's name ``member@<community>@<member_id>``; ``None``
    for any other name."""
    if not du_id.startswith(MEMBER_PREFIX):
        return None
    community, sep, member_id = du_id[len(MEMBER_PREFIX) :].partition("@")
    if not sep or not community or not member_id or "@" in member_id:
        return None
    return community, member_id


def check_device(du_id: str, kind: str) -> None:
    """Raise ``ValueError`` unless ``du_id`` is a valid credential name for ``kind``, one of
    ``DEVICE_KINDS`` (a ``member`` one named ``member@<community>@<member_id>``, and only a member's)."""
    if not _DEVICE_ID_RE.match(du_id or ""):
        raise ValueError(f"DU id {du_id!r}: use letters, digits or . _ @ - (no MQTT wildcards)")
    if kind not in DEVICE_KINDS:
        raise ValueError(f"credential kind {kind!r}: must be one of {', '.join(DEVICE_KINDS)}")
    if kind == "member" and member_credential_parts(du_id) is None:
        raise ValueError(f"member credential {du_id!r}: expected member@<community>@<member_id>")
    if kind != "member" and du_id.startswith(MEMBER_PREFIX):
        raise ValueError(f"{kind} credential {du_id!r}: names starting with {MEMBER_PREFIX} are for members")


def put_device_credential(
    s: Session, du_id: str, community: str, kind: str, password: str, now: dt.datetime
) -> None:
    """Create, or replace and reinstate, the credential of ``du_id`` in session ``s`` (a member's in the
    community its name says)."""
    parts = member_credential_parts(du_id) if kind == "member" else None
    if parts is not None and parts[0] != community:
        raise ValueError(f"member credential {du_id!r} names community {parts[0]!r}, not {community!r}")
    cred = s.scalar(sa.select(DeviceCredential).where(DeviceCredential.du_id == du_id))
    if cred is None:
        s.add(
            DeviceCredential(
                du_id=du_id,
                community=community,
                kind=kind,
                password_hash=mosquitto_hash(password),
                created_at=now,
            )
        )
    else:
        cred.community, cred.kind, cred.revoked_at = community, kind, None
        cred.password_hash = mosquitto_hash(password)


def revoke_device_credential(s: Session, du_id: str, now: dt.datetime) -> bool:
    """Revoke the credential of ``du_id`` in session ``s``; True when a live credential was revoked."""
    cred = s.scalar(sa.select(DeviceCredential).where(DeviceCredential.du_id == du_id))
    if cred is None or cred.revoked_at is not None:
        return False
    cred.revoked_at = now
    return True


def active_device_credentials(engine: sa.Engine) -> list[dict[str, Any]]:
    """Active credentials by ``du_id``: ``du_id``, ``community``, ``kind``, ``password_hash`` (``$7$``)."""
    with Session(engine) as s:
        rows = s.scalars(
            sa.select(DeviceCredential)
            .where(DeviceCredential.revoked_at.is_(None))
            .order_by(DeviceCredential.du_id)
        ).all()
        return [
            {"du_id": c.du_id, "community": c.community, "kind": c.kind, "password_hash": c.password_hash}
            for c in rows
        ]
