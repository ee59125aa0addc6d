"""The communities a running platform serves, and which of them a caller may see.

:class:`Tenants` is the server's view of the store's communities (:mod:`condivisa.store.communities`): each
community's file in force, parsed once per version, looked up by slug. It polls the store's catalog at most
once per :attr:`Tenants.poll_s` seconds, so a community added or updated with ``condivisa communities add``
or ``update`` is served at once, without a restart, by every process on that store.

One community may also be *pinned*: a community given to the server directly (``serve --config FILE`` before
the file is stored, or a test's object); it answers under its slug like a stored one.

Who sees what (:meth:`Tenants.community_for`):

- a referente, a member and a platform API token belong to one community (``auth_users.community``,
  ``auth_tokens.community``): they see that one only, whatever they ask for;
- a platform admin (``community`` ``None``) sees every community; the one shown is the one asked for
  (``?community=`` on the dashboard) or, when the platform serves exactly one, that one;
- rows written before communities existed have no community: they belong to the pinned one.

An identifier of another community is answered exactly as an absent one (404 ``not found``): a response never
reveals whether another community's member, POD or DU exists.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from condivisa.domain.community import Community
from condivisa.store import communities as catalog


@dataclass(frozen=True)
class Tenant:
    """A served community: its slug, the version of its file in force (0 when pinned) and its model."""

    slug: str
    version: int
    community: Community


class Tenants:
    """The communities served from ``engine`` (module docstring)."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        pinned: Community | None = None,
        pinned_slug: str | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.engine = engine
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._pinned: Tenant | None = None
        if pinned is not None:
            self._pinned = Tenant(pinned_slug or catalog.community_slug(pinned.name), 0, pinned)
        self._records: dict[str, catalog.CommunityRecord] = {}
        self._parsed: dict[str, Tenant] = {}
        self._marker: tuple | None = None
        self._polled_at = float("-inf")

    # ------------------------------------------------------------------ the catalog
    def _refresh(self) -> None:
        if time.monotonic() - self._polled_at < self.poll_s:
            return
        try:
            marker = catalog.catalog_marker(self.engine)
        except sa.exc.DBAPIError:  # a database without the communities table: only the pinned one
            marker = None
        with self._lock:
            self._polled_at = time.monotonic()
            if marker == self._marker:
                return
            self._marker = marker
            records = catalog.list_communities(self.engine) if marker is not None else []
            self._records = {r.slug: r for r in records}
            self._parsed = {s: t for s, t in self._parsed.items() if s in self._records and
                            self._records[s].version == t.version}  # fmt: skip

    def invalidate(self) -> None:
        """Read the catalog again at the next lookup (after this process changed it)."""
        self._polled_at = float("-inf")

    @property
    def pinned_slug(self) -> str | None:
        return self._pinned.slug if self._pinned is not None else None

    def slugs(self) -> list[str]:
        """The slugs served: the store's communities and the pinned one, sorted."""
        self._refresh()
        out = set(self._records)
        if self._pinned is not None:
            out.add(self._pinned.slug)
        return sorted(out)

    def names(self) -> dict[str, str]:
        """``{slug: name}`` of every community served."""
        return {slug: t.community.name for slug in self.slugs() if (t := self.tenant(slug)) is not None}

    def tenant(self, slug: str | None) -> Tenant | None:
        """The community ``slug`` as served now, or ``None`` when it is not served."""
        if slug is None:
            return None
        self._refresh()
        record = self._records.get(slug)
        if record is None:
            return self._pinned if self._pinned is not None and self._pinned.slug == slug else None
        cached = self._parsed.get(slug)
        if cached is not None and cached.version == record.version:
            return cached
        tenant = Tenant(slug, record.version, catalog.load_current(self.engine, slug))
        with self._lock:
            self._parsed[slug] = tenant
        return tenant

    def get(self, slug: str | None) -> Community | None:
        """The :class:`Community` ``slug``, or ``None``."""
        tenant = self.tenant(slug)
        return tenant.community if tenant is not None else None

    def pin(self, community: Community, slug: str | None = None) -> None:
        """Serve ``community`` as the pinned one (the community file changed while serving)."""
        with self._lock:
            self._pinned = Tenant(
                slug or self.pinned_slug or catalog.community_slug(community.name), 0, community
            )
            self._parsed.pop(self._pinned.slug, None)
        self.invalidate()

    # ------------------------------------------------------------------ who sees what
    def default_slug(self) -> str | None:
        """The community shown when nobody asked for one: the pinned one, else the only one served."""
        if self._pinned is not None:
            return self._pinned.slug
        slugs = self.slugs()
        return slugs[0] if len(slugs) == 1 else None

    def community_for(self, own: str | None, *, platform_admin: bool, asked: str | None = None) -> str | None:
        """The slug a caller sees: ``own`` (their community) when they have one; for a platform admin the
        community ``asked`` for if it is served, else :meth:`default_slug`; rows without a community belong to
        the pinned community (or the only one). ``None``: nothing to show (an admin of many, asking none)."""
        if own is not None:
            return own
        if platform_admin and asked:
            return asked if asked in self.slugs() else None
        return self.default_slug()
