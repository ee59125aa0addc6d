"""The write scope of a user device: what a DU authenticated on its own topic may write.

A DU authenticated by the broker (its own ``.../du/<du_id>/up`` topic, enforced by the ACL of
:mod:`condivisa.auth.mqtt_acl`) may write only the POD it is registered to read (the ``devices`` table) and
only lines that name itself or no DU. A DU claiming another DU's POD is therefore *rejected* with a reason,
not just flagged. The scope is a ``may_write(pod=, du=)`` predicate, the same shape as a platform token's
(:meth:`condivisa.auth.principal.Principal.may_write`), checked line by line by
:func:`condivisa.ingest.pipeline.prepare_payload`.
"""

from __future__ import annotations

from typing import Protocol

from condivisa.store.store import Store


class WriteScope(Protocol):
    """``may_write(pod=..., du=...)``: may the sender write a line of POD ``pod`` read by DU ``du``?"""

    def __call__(self, *, pod: str | None = None, du: str | None = None) -> bool: ...


def du_write_scope(store: Store, du_id: str) -> WriteScope:
    """``may_write(pod=, du=)`` of DU ``du_id``: its registered POD, in lines naming itself or no DU.

    Parameters
    ----------
    store : Store
        Where the DU is registered (``condivisa db register``); the registry caches the lookup.
    du_id : str
        The DU the transport authenticated (the id in its topic).

    Returns
    -------
    WriteScope
        False for every line of a DU that is not registered.
    """
    with store.engine.connect() as conn:
        own = store.registry.device_pods(conn, [du_id]).get(du_id)

    def may_write(*, pod: str | None = None, du: str | None = None) -> bool:
        return own is not None and pod == own and (du is None or du == du_id)

    return may_write
