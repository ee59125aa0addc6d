"""The scope of a caller across the communities a platform serves (:class:`~condivisa.transports.http.
scope.RequestScope` of an HTTP request).

- a platform admin (an admin of no community) reaches everything;
- anyone else reaches the community they belong to (:meth:`condivisa.auth.tenants.Tenants.community_for`):
  staff its PODs and DUs, a member their own PODs (and their plants') and DUs, a platform API token the PODs
  and DUs of its scope within that community;
- rows without a community are reached by the staff of the pinned community (a one-community platform
  upgraded in place), and by platform admins.

An identifier outside the scope is answered like an absent one (404), so nothing reveals another
community's PODs.
"""

from __future__ import annotations

from condivisa.auth.principal import PLATFORM_ROLE, Principal
from condivisa.auth.tenants import Tenants
from condivisa.store.auth_tables import Role
from condivisa.transports.http.scope import EVERYTHING, RequestScope

NOTHING = RequestScope(frozenset(), frozenset(), None, every_community=False, include_unscoped=False)


def scope_for(principal: Principal | None, tenants: Tenants) -> RequestScope:
    """What ``principal`` may reach (module docstring); ``None`` (no authentication required): everything."""
    if principal is None or principal.is_platform_admin:
        return EVERYTHING
    slug = tenants.community_for(principal.community, platform_admin=False)
    community = tenants.get(slug)
    if community is None:
        if principal.community is None and not tenants.slugs():  # a platform without communities
            return EVERYTHING if principal.is_staff else NOTHING
        return NOTHING
    unscoped = slug == tenants.pinned_slug or (principal.community is None and len(tenants.slugs()) == 1)
    pods = frozenset(community.all_pods)
    dus = frozenset(d.id for d in community.devices)
    if principal.role == PLATFORM_ROLE:
        pods &= principal.scope_pods if principal.scope_pods is not None else pods
        mine = principal.scope_dus if principal.scope_dus is not None else dus
        dus &= mine
        pods |= {d.pod for d in community.devices if d.id in mine} & frozenset(community.all_pods)
    elif principal.role == Role.MEMBER:
        own = set()
        try:
            member = community.member(principal.member_id or "")
            own = {p.code for p in member.pods}
        except KeyError:
            pass
        own |= {pl.pod for pl in community.plants if pl.owner == principal.member_id}
        pods = frozenset(own)
        dus = frozenset(d.id for d in community.devices if d.pod in own)
    return RequestScope(
        pods, dus, slug, every_community=False, include_unscoped=unscoped and principal.is_staff
    )
