"""Write scopes of authenticated senders, checked line by line by ``ingest_payload(..., may_write=...)``.

- a platform's API token: :meth:`condivisa.auth.Principal.may_write` (its PODs/DUs);
- a DU authenticated by the broker (its own ``.../du/<du_id>/up`` topic, enforced by the ACL of
  :mod:`condivisa.auth.mqtt_acl`): :func:`device_may_write` — the DU may write only the POD(s) it is registered
  to read (``devices`` table) and only lines that name itself (or no DU). A DU claiming another DU's POD is
  therefore *rejected* with a reason, not just flagged.

:func:`strict_device_ingest` wraps ``ingest_payload`` with that rule; give it to the MQTT worker
(``IngestWorker(..., ingest=strict_device_ingest)``) on installations whose DUs all have credentials.
"""

from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as sa

from condivisa.auth.service import engine_of


def device_pods(store: Any, du_id: str) -> frozenset[str]:
    """The PODs DU ``du_id`` is registered to read."""
    from condivisa.edges.store.models import Device

    with engine_of(store).connect() as conn:
        return frozenset(conn.scalars(sa.select(Device.pod).where(Device.du_id == du_id)))


def device_may_write(store: Any, du_id: str) -> Callable[..., bool]:
    """``may_write(pod=, du=)`` of DU ``du_id``: its registered POD(s), lines naming itself or no DU."""
    pods = device_pods(store, du_id)

    def may_write(*, pod: str | None = None, du: str | None = None) -> bool:
        return pod in pods and (du is None or du == du_id)

    return may_write


def strict_device_ingest(store: Any, raw: bytes, *, source: str, device_id: str | None = None, **kwargs: Any):
    """``ingest_payload`` where a message on a DU's own topic may only carry that DU's POD."""
    from condivisa.ingest import ingest_payload

    if device_id is not None and "may_write" not in kwargs:
        kwargs["may_write"] = device_may_write(store, device_id)
    return ingest_payload(store, raw, source=source, device_id=device_id, **kwargs)
