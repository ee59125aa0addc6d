"""The dashboard: server-rendered Jinja2 pages with Plotly charts, in Italian and English.

``router()`` is included by :func:`condivisa.app.http_app.create_app`. Pages:

- ``/`` → the member's own page or, for referente/admin, the community page; ``/login``, ``/logout`` (POST
  only, with an anti-CSRF token, :mod:`condivisa.web.csrf`; ``GET /logout`` shows a confirm button);
- ``/members/{id}?month=YYYY-MM`` — a member's curves, money, KPIs, best hours, trend;
- ``/members/{id}/statement.{html,pdf,csv}?month=`` — the statement download;
- ``/community?month=`` — referente: members and plants, settlement table, KPIs, data quality, case results;
- ``/community/report.{html,pdf}?month=`` — the monthly community report.

Language: ``?lang=it|en`` (remembered in the ``condivisa_lang`` cookie), else the cookie, else the browser's
``Accept-Language``, else Italian. The app must hold ``state.store`` and ``state.community`` (``create_app``
sets them).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError

from condivisa.auth.rules_audit import record_rules, rules_history
from condivisa.outputs import report
from condivisa.outputs.i18n import DEFAULT_LANGUAGE, LANGUAGES, month_label, translator
from condivisa.outputs.sources import ASSUMED_PRICE_EUR_PER_MWH
from condivisa.store.auth_tables import AuditAction
from condivisa.web import csrf, session
from condivisa.web.data import Dashboard, case_rows

LANG_COOKIE = "condivisa_lang"
log = logging.getLogger(__name__)
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

__all__ = ["router", "Dashboard"]


def resolve_lang(request: Request) -> str:
    """``?lang=``, then the cookie, then ``Accept-Language``, then Italian."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    accept = request.headers.get("accept-language", "").lower()
    for part in accept.split(","):
        code = part.split(";")[0].strip()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


class NoCommunity(RuntimeError):
    """The platform was started without a community file: the dashboard has nothing to show."""


def dashboard(request: Request) -> Dashboard:
    """The app's :class:`Dashboard`, created on first use from ``app.state``."""
    state = request.app.state
    dash = getattr(state, "dashboard", None)
    if dash is None:
        community = getattr(state, "community", None)
        if community is None:
            raise NoCommunity()
        dash = Dashboard(state.dashboard_files, state.store, community)
        _record_rules(state, community)
        state.dashboard = dash
    return dash


def _record_rules(state: Any, community: Any) -> None:
    """Audit the allocation rules this dashboard settles with (``rules_changed`` when they differ from the
    last recorded ones, :func:`condivisa.auth.service.record_rules`)."""
    source = state.dashboard_files.community_file
    try:
        record_rules(state.store, community, actor="dashboard", source=str(source) if source else None)
    except DBAPIError as exc:  # a database without the auth tables: say so, keep serving
        log.error("could not record the community's allocation rules (%s); run `condivisa db upgrade`", exc)


def _page(request: Request, template: str, lang: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    ctx = {"t": translator(lang), "request": request, "path": request.url.path}
    ctx.update(context)
    ctx["lang"] = lang
    if ctx.get("who") is not None:  # the logout button in the header posts this token
        ctx["csrf_session"] = csrf.session_token(request)
    ctx["plotly_script"] = report.plotly_script(False)
    html = report.jinja_env().get_template(template).render(**ctx)
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


def _not_found(request: Request, lang: str, who=None) -> HTMLResponse:
    return _page(
        request, "page_error.html", lang, status_code=404, who=who, message=translator(lang)("not_found")
    )


#: the rule-change card of the community page (it/en)
RULES_TEXT = {
    "it": {
        "title": "Regole di riparto: modifiche",
        "first": "prime regole registrate",
        "when": "Quando",
        "who": "Chi le ha caricate",
        "what": "Cosa è cambiato",
    },
    "en": {
        "title": "Allocation rules: changes",
        "first": "first rules recorded",
        "when": "When",
        "who": "Loaded by",
        "what": "What changed",
    },
}


def _rules_history(request: Request, community: Any) -> list[dict]:
    try:
        return rules_history(request.app.state.store, community.name, limit=10)
    except DBAPIError:
        return []


def _login_page(request: Request, lang: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    token, nonce = csrf.login_token(request)
    out = _page(request, "page_login.html", lang, status_code=status_code, csrf_token=token, **context)
    csrf.set_nonce_cookie(request, out, nonce)
    return out


def _csrf_refused(request: Request, lang: str, what: str, username: str | None = None) -> HTMLResponse:
    """403 for a form POST with a missing or wrong anti-CSRF token (audited)."""
    session.auth_service(request).audit(
        (username or "-")[:128],
        AuditAction.CSRF_REJECTED,
        what,
        {
            "path": request.url.path,
            "origin": request.headers.get("origin"),
            "referer": request.headers.get("referer"),
        },
        request.client.host if request.client else None,
    )
    return _page(
        request, "page_error.html", lang, status_code=403, code=403, message=csrf.message("csrf_failed", lang)
    )


def _month(request: Request, dash: Dashboard) -> str | None:
    """The ``?month=`` asked for (if well formed), else the latest month with a settled day (on the 1st of a
    month, the month before: :func:`_fallback_note` says so)."""
    month = request.query_params.get("month")
    if month and _MONTH.match(month):
        return month
    book = dash.book()
    return book.latest_settled_month or book.latest_month


def _fallback_note(request: Request, dash: Dashboard, month: str | None, lang: str) -> str | None:
    """When no month was asked for and the newest month has no finished day, the sentence that says which
    month
    is shown instead."""
    latest = dash.book().latest_month
    if request.query_params.get("month") or month is None or latest is None or latest == month:
        return None
    return translator(lang)(
        "showing_latest", current=month_label(latest, lang), shown=month_label(month, lang)
    )


def _month_nav(months: list[str], month: str | None) -> dict:
    if month not in months:
        return {"prev": months[-1] if months else None, "next": None}
    i = months.index(month)
    return {"prev": months[i - 1] if i > 0 else None, "next": months[i + 1] if i + 1 < len(months) else None}


class _NoCommunityRoute(APIRoute):
    """Answers 503 with a plain explanation when the platform runs without ``community.yaml``."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except NoCommunity:
                return PlainTextResponse(
                    "The dashboard needs the community file: start the platform with "
                    "`condivisa serve --config community.yaml` (or CONDIVISA_COMMUNITY_FILE).",
                    status_code=503,
                )

        return run


def router() -> APIRouter:
    """The dashboard's routes. The app must hold ``state.store``, ``state.community`` and
    ``state.dashboard_files`` (:class:`~condivisa.web.data.DashboardFiles`)."""
    r = APIRouter(include_in_schema=False, route_class=_NoCommunityRoute)

    @r.get("/static/plotly.min.js")
    def plotly_js() -> Response:
        return Response(
            report.plotly_js(),
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @r.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> HTMLResponse:
        return _login_page(request, resolve_lang(request), failed=False)

    @r.post("/login", response_class=HTMLResponse)
    def login_post(
        request: Request, username: str = Form(""), password: str = Form(""), csrf_token: str = Form("")
    ) -> Response:
        lang = resolve_lang(request)
        if not csrf.login_ok(request, csrf_token):
            return _csrf_refused(request, lang, "login", username)
        out = RedirectResponse("/", status_code=303)
        if not username or not password or session.login(request, out, username, password) is None:
            return _login_page(request, lang, status_code=401, failed=True, username=username)
        return out

    @r.get("/logout", response_class=HTMLResponse)
    def logout_confirm(request: Request) -> Response:
        """No effect: a logged-in person gets a page with the sign-out button (a POST form)."""
        who = session.principal(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        lang = resolve_lang(request)
        return _page(
            request, "page_logout.html", lang, who=who, question=csrf.message("logout_confirm", lang)
        )

    @r.post("/logout")
    def logout(request: Request, csrf_token: str = Form("")) -> Response:
        if not csrf.session_ok(request, csrf_token):
            who = session.principal(request)
            return _csrf_refused(request, resolve_lang(request), "logout", who.username if who else None)
        out = RedirectResponse("/login", status_code=303)
        session.logout(request, out)
        return out

    @r.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        who = session.principal(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        if session.is_staff(who):
            return RedirectResponse("/community", status_code=303)
        if who.member_id:
            return RedirectResponse(f"/members/{who.member_id}", status_code=303)
        return _not_found(request, resolve_lang(request), who)

    @r.get("/members/{member_id}", response_class=HTMLResponse)
    def member_page(member_id: str, request: Request) -> Response:
        lang = resolve_lang(request)
        who = session.principal(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        dash = dashboard(request)
        if not session.can_see_member(request, who, member_id, dash.community):
            return _not_found(request, lang, who)
        book = dash.book()
        month = _month(request, dash)
        ctx: dict[str, Any] = {
            "who": who,
            "member": dash.community.member(member_id),
            "month": month,
            "months": book.months,
            "nav": _month_nav(book.months, month),
            "prices_assumed": dash.prices_assumed,
            "assumed_price": ASSUMED_PRICE_EUR_PER_MWH,
            "month_note": _fallback_note(request, dash, month, lang),
        }
        if month in book.months:
            page = dash.page(
                ("member", member_id, month, lang),
                lambda: report.member_context(book, member_id, month, lang),
            )
            ctx.update({k: v for k, v in page.items() if k != "lang"})
            ctx["has_data"] = True
        return _page(request, "page_member.html", lang, **ctx)

    @r.get("/members/{member_id}/statement.{fmt}")
    def member_statement(member_id: str, fmt: str, request: Request) -> Response:
        lang = resolve_lang(request)
        who = session.principal(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        dash = dashboard(request)
        if fmt not in ("html", "pdf", "csv") or not session.can_see_member(
            request, who, member_id, dash.community
        ):
            return _not_found(request, lang, who)
        book = dash.book()
        month = _month(request, dash)
        if month not in book.months:
            return _not_found(request, lang, who)
        session.audit(
            request, who, AuditAction.DATA_EXPORT, f"member:{member_id}", {"month": month, "format": fmt}
        )
        name = f"statement-{member_id}-{month}.{fmt}"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "csv":
            return Response(
                report.member_statement_csv(book, member_id, month),
                media_type="text/csv",
                headers=disposition,
            )
        html = report.member_statement_html(book, member_id, month, lang)
        if fmt == "pdf":
            try:
                return Response(report.html_to_pdf(html), media_type="application/pdf", headers=disposition)
            except report.ReportError as exc:
                return Response(str(exc), status_code=503, media_type="text/plain")
        return HTMLResponse(html, headers=disposition)

    @r.get("/community", response_class=HTMLResponse)
    def community_page(request: Request) -> Response:
        lang = resolve_lang(request)
        who = session.principal(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        if not session.is_staff(who):
            session.audit(request, who, AuditAction.ACCESS_DENIED, "community")
            return _not_found(request, lang, who)
        dash = dashboard(request)
        book = dash.book()
        month = _month(request, dash)
        cases, economics = case_rows(dash.case_summary())
        ctx: dict[str, Any] = {
            "who": who,
            "community": dash.community,
            "month": month,
            "months": book.months,
            "nav": _month_nav(book.months, month),
            "quality": dash.quality(month),
            "cases": cases,
            "economics": economics,
            "member_links": True,
            "prices_assumed": dash.prices_assumed,
            "assumed_price": ASSUMED_PRICE_EUR_PER_MWH,
            "rules_history": _rules_history(request, dash.community),
            "rules_text": RULES_TEXT[lang],
            "month_note": _fallback_note(request, dash, month, lang),
        }
        if month in book.months:
            page = dash.page(("community", month, lang), lambda: report.community_context(book, month, lang))
            ctx.update({k: v for k, v in page.items() if k != "lang"})
            ctx["has_data"] = True
        return _page(request, "page_community.html", lang, **ctx)

    @r.get("/community/report.{fmt}")
    def community_report(fmt: str, request: Request) -> Response:
        lang = resolve_lang(request)
        who = session.principal(request)
        if who is None:
            return RedirectResponse("/login", status_code=303)
        dash = dashboard(request)
        book = dash.book()
        month = _month(request, dash)
        if not session.is_staff(who) or fmt not in ("html", "pdf") or month not in book.months:
            return _not_found(request, lang, who)
        session.audit(request, who, AuditAction.DATA_EXPORT, "community", {"month": month, "format": fmt})
        html = report.community_report_html(book, month, lang)
        disposition = {"Content-Disposition": f'attachment; filename="report-{month}.{fmt}"'}
        if fmt == "pdf":
            try:
                return Response(report.html_to_pdf(html), media_type="application/pdf", headers=disposition)
            except report.ReportError as exc:
                return Response(str(exc), status_code=503, media_type="text/plain")
        return HTMLResponse(html, headers=disposition)

    return r
