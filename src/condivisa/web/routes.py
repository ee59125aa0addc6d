"""The dashboard: server-rendered Jinja2 pages with Plotly charts, in Italian and English.

``router()`` is included by :func:`condivisa.app.http_app.create_app`. Pages:

- ``/`` → the member's own page or, for referente/admin, the community page; ``/login``, ``/logout`` (POST
  only, with an anti-CSRF token, :mod:`condivisa.web.csrf`; ``GET /logout`` shows a confirm button):
  :mod:`condivisa.web.pages_session`;
- ``/account/password`` (GET, and POST with the session's anti-CSRF token) — change one's own password
  (:mod:`condivisa.web.pages_account`);
- ``/members/{id}?month=YYYY-MM`` — a member's curves, money, KPIs, best hours, trend;
- ``/members/{id}/statement.{html,pdf,csv}?month=`` — the statement download (both
  :mod:`condivisa.web.pages_member`);
- ``/community?month=`` — referente: members and plants, settlement table, KPIs, data quality, case results;
- ``/community/report.{html,pdf}?month=`` — the monthly community report (both
  :mod:`condivisa.web.pages_community`);
- ``/community/distributor`` (GET, and POST to upload portal exports) — the distributor's data and the
  month's reconciliation, referente only (:mod:`condivisa.web.pages_distributor`);
- ``/community/ledger`` (GET, and POST to record an entry) and ``/community/ledger/{id}/document`` — the
  GSE ledger, referente only (:mod:`condivisa.web.pages_ledger`);
- ``/community/members/new`` (GET, and POST to add a member and their login) — referente only
  (:mod:`condivisa.web.pages_members`);
- ``/community/events`` (GET, and POST to create and send an event) and ``POST /community/events/cancel`` —
  demand-response events, referente only (:mod:`condivisa.web.pages_events`).

Language: ``?lang=it|en`` (remembered in the ``condivisa_lang`` cookie), else the cookie, else the browser's
``Accept-Language``, else Italian (:mod:`condivisa.web.pages`). The app must hold ``state.store`` and
``state.community`` (``create_app`` sets them).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from condivisa.outputs import report
from condivisa.web import (
    pages_account,
    pages_community,
    pages_distributor,
    pages_events,
    pages_ledger,
    pages_member,
    pages_members,
    pages_platform,
    pages_session,
    session,
)
from condivisa.web.pages import NoCommunity

__all__ = ["router"]


class _NoCommunityRoute(APIRoute):
    """Answers 503 with a plain explanation when the platform runs without ``community.yaml``."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except NoCommunity:
                who = session.principal(request)
                tenants = getattr(request.app.state, "tenants", None)
                if who is not None and who.is_platform_admin and tenants is not None and tenants.slugs():
                    return RedirectResponse("/platform", status_code=303)  # an admin of several: choose
                return PlainTextResponse(
                    "The dashboard needs the community file: start the platform with "
                    "`condivisa serve --config community.yaml` (or CONDIVISA_COMMUNITY_FILE).",
                    status_code=503,
                )

        return run


def _plotly_response(request: Request, cache_control: str) -> Response:
    """plotly.js, gzip-compressed when the browser accepts it (4.8 MB → about 1.5 MB)."""
    headers = {"Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        return Response(report.plotly_js_gzip(), media_type="application/javascript", headers=headers)
    return Response(report.plotly_js(), media_type="application/javascript", headers=headers)


def plotly_js(request: Request) -> Response:
    """The Plotly bundle under its old, unhashed name, cached by the browser for a day."""
    return _plotly_response(request, "public, max-age=86400")


def plotly_js_hashed(digest: str, request: Request) -> Response:
    """The Plotly bundle under its hashed name (:func:`condivisa.outputs.report.plotly_url`): the content of a
    name never changes, so browsers keep it for a year without asking again."""
    if digest != report.plotly_js_hash():
        return PlainTextResponse("not found", status_code=404)
    return _plotly_response(request, "public, max-age=31536000, immutable")


def router() -> APIRouter:
    """The dashboard's routes. The app must hold ``state.store``, ``state.community`` and
    ``state.dashboard_files`` (:class:`~condivisa.web.data.DashboardFiles`)."""
    r = APIRouter(include_in_schema=False, route_class=_NoCommunityRoute)
    html, get, post = HTMLResponse, ["GET"], ["POST"]
    r.add_api_route("/static/plotly.min.js", plotly_js, methods=get)
    r.add_api_route("/static/plotly.{digest}.min.js", plotly_js_hashed, methods=get)
    r.add_api_route("/login", pages_session.login_form, methods=get, response_class=html)
    r.add_api_route("/login", pages_session.login_post, methods=post, response_class=html)
    r.add_api_route("/logout", pages_session.logout_confirm, methods=get, response_class=html)
    r.add_api_route("/logout", pages_session.logout, methods=post)
    r.add_api_route("/", pages_session.home, methods=get, response_class=html)
    r.add_api_route("/account/password", pages_account.password_form, methods=get, response_class=html)
    r.add_api_route("/account/password", pages_account.password_post, methods=post, response_class=html)
    r.add_api_route("/members/{member_id}", pages_member.member_page, methods=get, response_class=html)
    r.add_api_route("/members/{member_id}/statement.{fmt}", pages_member.member_statement, methods=get)
    r.add_api_route("/member/ranking", pages_member.ranking_post, methods=post)  # opt in/out (issue #19)
    r.add_api_route("/platform", pages_platform.platform_page, methods=get, response_class=html)
    r.add_api_route("/platform/select", pages_platform.platform_select, methods=get)
    r.add_api_route("/community", pages_community.community_page, methods=get, response_class=html)
    r.add_api_route("/community/report.{fmt}", pages_community.community_report, methods=get)
    r.add_api_route(
        "/community/distributor", pages_distributor.distributor_page, methods=get, response_class=html
    )
    r.add_api_route(
        "/community/distributor", pages_distributor.distributor_post, methods=post, response_class=html
    )
    r.add_api_route("/community/ledger", pages_ledger.ledger_page, methods=get, response_class=html)
    r.add_api_route("/community/ledger", pages_ledger.ledger_post, methods=post, response_class=html)
    r.add_api_route("/community/ledger/{entry_id}/document", pages_ledger.ledger_document, methods=get)
    r.add_api_route("/community/events", pages_events.events_page, methods=get, response_class=html)
    r.add_api_route("/community/events", pages_events.events_post, methods=post, response_class=html)
    r.add_api_route("/community/events/cancel", pages_events.cancel_post, methods=post, response_class=html)
    members_new = "/community/members/new"
    r.add_api_route(members_new, pages_members.new_member_form, methods=get, response_class=html)
    r.add_api_route(members_new, pages_members.new_member_post, methods=post, response_class=html)
    return r
