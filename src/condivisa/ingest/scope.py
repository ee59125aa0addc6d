"""The write scope of a user device: what a DU authenticated on its own topic may write.

A DU authenticated by the broker (its own ``.../du/<du_id>/up`` topic, enforced by the ACL of
:mod:`condivisa.auth.mqtt_acl`) may write only the POD it is registered to read (the ``devices`` table) and
only lines that name itself or no DU. A DU claiming another DU's POD is therefore *rejected* with a reason,
not just flagged. The scope is a ``may_write(pod=, du=)`` predicate, the same shape as a platform token's
(:meth:`condivisa.auth.principal.Principal.may_write`), checked line by line by
:func:`condivisa.ingest.pipeline.prepare_payload`.

A DU belongs to one community (issue #18): a DU publishing on community X's topics must be registered in X
(``devices.community``). :func:`du_scope` says so with a *refusal*, the reason that rejects the whole message
("DU DU-7 is registered in community 'b', not 'a'"); a DU whose registration names no community (registered
before communities existed) is refused by no community. Without strict devices the message is stored and
each line flagged ``du_other_community`` instead (:mod:`condivisa.store.writer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from condivisa.store.store import Store
from condivisa.store.writer import other_community_reason


class WriteScope(Protocol):
    """``may_write(pod=..., du=...)``: may the sender write a line of POD ``pod`` read by DU ``du``?"""

    def __call__(self, *, pod: str | None = None, du: str | None = None) -> bool: ...


@dataclass(frozen=True)
class DuScope:
    """What DU ``du_id`` may write on a community's topics: ``may_write`` line by line (its registered POD),
    and ``refusal``, the reason every message of it is refused there whatever its lines (registered in
    another community), or None."""

    du_id: str
    may_write: WriteScope
    refusal: str | None = None


def du_scope(store: Store, du_id: str, community: str | None = None) -> DuScope:
    """The scope of DU ``du_id`` publishing on ``community``'s topics (None: any community, as before).

    Parameters
    ----------
    store : Store
        Where the DU is registered (``condivisa db register``, a community's file); the registry caches the
        lookup.
    du_id : str
        The DU the transport authenticated (the id in its topic).
    community : str, optional
        The community of the topic it published on.

    Returns
    -------
    DuScope
        ``may_write`` false for every line of a DU that is not registered; ``refusal`` set when the DU is
        registered in another community than ``community``.
    """
    with store.engine.connect() as conn:
        entry = store.registry.devices(conn, [du_id]).get(du_id)
    own, home = entry if entry is not None else (None, None)
    refusal = None
    if community and home and home != community:
        refusal = other_community_reason(du_id, home, community)

    def may_write(*, pod: str | None = None, du: str | None = None) -> bool:
        return own is not None and pod == own and (du is None or du == du_id)

    return DuScope(du_id, may_write, refusal)


def du_write_scope(store: Store, du_id: str, community: str | None = None) -> WriteScope:
    """``may_write(pod=, du=)`` of DU ``du_id``: its registered POD, in lines naming itself or no DU; nothing
    when it is registered in another community than ``community`` (:func:`du_scope` gives the reason).

    Parameters
    ----------
    store : Store
        Where the DU is registered (``condivisa db register``); the registry caches the lookup.
    du_id : str
        The DU the transport authenticated (the id in its topic).
    community : str, optional
        The community of the topic it published on (None: not checked).

    Returns
    -------
    WriteScope
        False for every line of a DU that is not registered.
    """
    scope = du_scope(store, du_id, community)
    if scope.refusal is None:
        return scope.may_write

    def nothing(*, pod: str | None = None, du: str | None = None) -> bool:
        return False

    return nothing
