"""What every dashboard page shares: the language, the app's :class:`~condivisa.web.data.Dashboard`, the
month shown, rendering a template and the downloads.

Language: ``?lang=it|en`` (remembered in the ``condivisa_lang`` cookie), else the cookie, else the browser's
``Accept-Language``, else Italian.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError

from condivisa.auth.rules_audit import record_rules
from condivisa.outputs import report
from condivisa.outputs.i18n import DEFAULT_LANGUAGE, LANGUAGES, month_label, translator
from condivisa.store.auth_tables import AuditAction
from condivisa.web import csrf, session, tenancy
from condivisa.web.data import Dashboard

LANG_COOKIE = "condivisa_lang"
log = logging.getLogger(__name__)
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


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
    """The :class:`Dashboard` of the community the caller sees (:func:`condivisa.web.tenancy.seen_slug`):
    one per community served, created on first use and again when its file changes."""
    tenant = request.app.state.tenants.tenant(tenancy.seen_slug(request))
    if tenant is None:
        raise NoCommunity()
    return tenancy.tenant_dashboard(request, tenant, _record_rules)


def _record_rules(state: Any, community: Any) -> None:
    """Audit the allocation rules this dashboard settles with (``rules_changed`` when they differ from the
    last recorded ones, :func:`condivisa.auth.rules_audit.record_rules`)."""
    source = state.dashboard_files.community_file
    try:
        record_rules(state.store, community, actor="dashboard", source=str(source) if source else None)
    except DBAPIError as exc:  # a database without the auth tables: say so, keep serving
        log.error("could not record the community's allocation rules (%s); run `condivisa db upgrade`", exc)


def render_page(
    request: Request, template: str, lang: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """``template`` rendered in ``lang`` with ``context``; remembers an explicit ``?lang=`` in a cookie."""
    ctx = {"t": translator(lang), "request": request, "path": request.url.path}
    ctx.update(context)
    ctx["lang"] = lang
    if ctx.get("who") is not None:  # the logout button in the header posts this token
        ctx["csrf_session"] = csrf.session_token(request)
        ctx.setdefault("who_name", _member_name(request, ctx["who"].member_id))
    ctx["plotly_script"] = report.plotly_script(False)
    html = report.jinja_env().get_template(template).render(**ctx)
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


def _member_name(request: Request, member_id: str | None) -> str | None:
    """The name of the logged-in member (the header shows it, not their id); ``None`` when unknown."""
    if not member_id:
        return None
    try:
        return dashboard(request).community.member(member_id).name or None
    except (NoCommunity, KeyError):
        return None


def not_found(request: Request, lang: str, who=None) -> HTMLResponse:
    """The 404 page (also what a person gets for a page they may not see)."""
    return render_page(
        request, "page_error.html", lang, status_code=404, who=who, message=translator(lang)("not_found")
    )


def to_login() -> RedirectResponse:
    """Nobody is logged in: off to the login form."""
    return RedirectResponse("/login", status_code=303)


def staff_only(request: Request, lang: str, what: str) -> tuple[Any, Response | None]:
    """The principal of a staff-only page and ``None``, or the refusal to send instead: the login form for
    nobody, the 404 page (audited ``access_denied`` on ``what``) for anybody but the referente or an admin."""
    who = session.principal(request)
    if who is None:
        return None, to_login()
    if not session.is_staff(who):
        session.audit(request, who, AuditAction.ACCESS_DENIED, what)
        return who, not_found(request, lang, who)
    return who, None


def selected_month(request: Request, dash: Dashboard) -> str | None:
    """The ``?month=`` asked for (if well formed), else the latest month with a settled day (on the 1st of a
    month, the month before: :func:`fallback_note` says so)."""
    month = request.query_params.get("month")
    if month and _MONTH.match(month):
        return month
    book = dash.book()
    return book.latest_settled_month or book.latest_month


def fallback_note(request: Request, dash: Dashboard, month: str | None, lang: str) -> str | None:
    """When ``?month=`` is not a month (``YYYY-MM``), or no month was asked for and the newest month has no
    finished day, the sentence that says which month is shown instead."""
    asked = request.query_params.get("month")
    if asked and not _MONTH.match(asked):  # not a month: say which one is shown instead (no silent fallback)
        shown = month_label(month, lang) if month else "—"
        return translator(lang)("w_month_invalid", asked=asked[:20], shown=shown)
    latest = dash.book().latest_month
    if asked or month is None or latest is None or latest == month:
        return None
    return translator(lang)(
        "showing_latest", current=month_label(latest, lang), shown=month_label(month, lang)
    )


def month_nav(months: list[str], month: str | None) -> dict:
    """The previous and next month links around ``month``."""
    if month not in months:
        return {"prev": months[-1] if months else None, "next": None}
    i = months.index(month)
    return {"prev": months[i - 1] if i > 0 else None, "next": months[i + 1] if i + 1 < len(months) else None}


def html_download(html: str, fmt: str, filename: str) -> Response:
    """A rendered document as an attachment: as a light HTML page (charts as still images, no plotly.js:
    :func:`condivisa.outputs.report.light_html`), or as PDF (``fmt == "pdf"``; 503 in plain text when the PDF
    cannot be made)."""
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "pdf":
        try:
            return Response(report.html_to_pdf(html), media_type="application/pdf", headers=disposition)
        except report.ReportError as exc:
            return Response(str(exc), status_code=503, media_type="text/plain")
    return HTMLResponse(report.light_html(html), headers=disposition)
