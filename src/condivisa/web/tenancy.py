"""Which community a dashboard request shows, and the platform admin's list of communities.

A referente or a member sees their own community only (:meth:`condivisa.auth.tenants.Tenants.community_for`);
``?community=`` is ignored for them, so another community's pages answer exactly as absent ones (404). A
platform admin chooses (:mod:`condivisa.web.pages_platform`): the choice is kept in the
``condivisa_community`` cookie; ``?community=`` on any page shows that community for that request.

Each community has its own :class:`~condivisa.web.data.Dashboard` (its settled months and cached pages),
created on first use and again when a new version of its file is served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from condivisa.auth.tenants import Tenant
from condivisa.web import session
from condivisa.web.data import Dashboard, DashboardFiles

COMMUNITY_COOKIE = "condivisa_community"


def seen_slug(request: Request) -> str | None:
    """The slug of the community this request shows (module docstring); ``None``: none (an admin of several
    communities who chose none yet, or nobody logged in on a platform of several)."""
    tenants = request.app.state.tenants
    who = session.principal(request)
    asked = request.query_params.get("community") or request.cookies.get(COMMUNITY_COOKIE)
    admin = who is not None and who.is_platform_admin
    return tenants.community_for(who.community if who else None, platform_admin=admin, asked=asked)


def tenant_dashboard(request: Request, tenant: Tenant, on_new: Callable[[Any, Any], None]) -> Dashboard:
    """The :class:`Dashboard` of ``tenant``; ``on_new(state, community)`` runs when one is created."""
    state = request.app.state
    dashboards: dict[str, tuple[int, Any, Dashboard]] | None = getattr(state, "dashboards_by_community", None)
    if dashboards is None:
        dashboards = state.dashboards_by_community = {}
    held = dashboards.get(tenant.slug)
    if held is not None and held[0] == tenant.version and held[1] is tenant.community:
        return held[2]
    if held is not None and tenant.version == 0:  # the pinned community changed in place (a member added)
        held[2].replace_community(tenant.community)
        dashboards[tenant.slug] = (0, tenant.community, held[2])
        return held[2]
    pinned = tenant.slug == state.tenants.pinned_slug
    files: DashboardFiles = state.dashboard_files
    if not pinned:  # the platform's files (community file, prices, case study) are the pinned community's;
        files = DashboardFiles(zonal_prices=True)  # this one is settled on its own zone's prices
    dash = Dashboard(files, state.store, tenant.community)
    on_new(state, tenant.community)
    dashboards[tenant.slug] = (tenant.version, tenant.community, dash)
    if pinned:
        state.dashboard = dash
    return dash
