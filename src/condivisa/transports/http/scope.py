"""What one HTTP request may reach, as plain data: the PODs, DUs and community of its caller.

The routes of ``/api/v1`` and of the SCPS gateway know nothing of people or communities; the app puts a
``request_scope(request) -> RequestScope`` callable on ``app.state`` (:mod:`condivisa.auth.scope` computes
it from the caller and the communities served) and the routes filter what they read with it. Without that
callable (a bare router in tests, ``--insecure-no-auth``), everything is in scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request


@dataclass(frozen=True)
class RequestScope:
    """What a request may read.

    Attributes
    ----------
    pods : frozenset of str or None
        The PODs it may read; ``None``: every POD.
    dus : frozenset of str or None
        The DUs it may see or command; ``None``: every DU.
    community : str or None
        The community whose rows (dead letters) it may read; ``None`` with ``every_community``: all.
    every_community : bool
        A platform admin: every community's rows.
    include_unscoped : bool
        Rows without a community (written before communities existed, or by an unknown sender) are
        visible too.
    """

    pods: frozenset[str] | None = None
    dus: frozenset[str] | None = None
    community: str | None = None
    every_community: bool = True
    include_unscoped: bool = True

    def may_read_pod(self, pod: str) -> bool:
        return self.pods is None or pod in self.pods

    def may_reach_du(self, du_id: str) -> bool:
        return self.dus is None or du_id in self.dus


EVERYTHING = RequestScope()


def request_scope(request: Request) -> RequestScope:
    """The scope of ``request`` (module docstring)."""
    resolve = getattr(request.app.state, "request_scope", None)
    return resolve(request) if resolve is not None else EVERYTHING
