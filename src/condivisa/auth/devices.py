"""Device credentials: the MQTT passwords of DUs, gateways and the ingest worker (``auth_device_credentials``).

Rules implemented:
- a device id uses letters, digits or ``. _ @ -`` (1-128 characters, starting with a letter or digit) and
  never an MQTT wildcard, so it can name its own topic;
- a credential is of one of the ``DEVICE_KINDS``: ``du`` (a user device), ``gw`` (a gateway of several DUs)
  or ``worker`` (the ingest worker);
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

DEVICE_KINDS = ("du", "gw", "worker")  # MQTT clients: user device, gateway of several DUs, ingest worker
_DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


def check_device(du_id: str, kind: str) -> None:
    """Raise ``ValueError`` unless ``du_id`` is a valid device id and ``kind`` one of ``DEVICE_KINDS``."""
    if not _DEVICE_ID_RE.match(du_id or ""):
        raise ValueError(f"DU id {du_id!r}: use letters, digits or . _ @ - (no MQTT wildcards)")
    if kind not in DEVICE_KINDS:
        raise ValueError(f"credential kind {kind!r}: must be one of {', '.join(DEVICE_KINDS)}")


def put_device_credential(
    s: Session, du_id: str, community: str, kind: str, password: str, now: dt.datetime
) -> None:
    """Create, or replace and reinstate, the credential of ``du_id`` in session ``s``."""
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
