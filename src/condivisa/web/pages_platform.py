"""The platform admin's pages: ``/platform`` lists every community served, ``/platform/select?community=SLUG``
opens one (remembered in the ``condivisa_community`` cookie, :mod:`condivisa.web.tenancy`). Anybody but a
platform admin gets the 404 page."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from condivisa.web import session
from condivisa.web.pages import not_found, render_page, resolve_lang, to_login
from condivisa.web.tenancy import COMMUNITY_COOKIE, seen_slug


def platform_page(request: Request) -> Response:
    """``/platform``: the communities served, for a platform admin (404 for anybody else)."""
    lang = resolve_lang(request)
    who = session.principal(request)
    if who is None:
        return to_login()
    if not who.is_platform_admin:
        return not_found(request, lang, who)
    tenants = request.app.state.tenants
    rows = [{"slug": slug, "name": name} for slug, name in tenants.names().items()]
    return render_page(request, "platform.html", lang, who=who, communities=rows, chosen=seen_slug(request))


def platform_select(request: Request) -> Response:
    """``/platform/select?community=SLUG``: a platform admin opens that community (remembered)."""
    who = session.principal(request)
    slug = request.query_params.get("community", "")
    if who is None or not who.is_platform_admin or slug not in request.app.state.tenants.slugs():
        return not_found(request, resolve_lang(request), who)
    out = RedirectResponse("/community", status_code=303)
    out.set_cookie(COMMUNITY_COOKIE, slug, max_age=30 * 86400, httponly=True, samesite="lax", path="/")
    return out
