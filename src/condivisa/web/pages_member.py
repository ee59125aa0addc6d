"""A member's pages: ``/members/{id}?month=YYYY-MM`` (curves, money, KPIs, best hours, trend, energy in the
sun), the statement download ``/members/{id}/statement.{html,pdf,csv}?month=`` (audited) and
``POST /member/ranking`` (the logged-in member joins or leaves the engagement ranking; per-session anti-CSRF
token; :mod:`condivisa.store.engagement`)."""

from __future__ import annotations

from typing import Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from condivisa.auth.principal import Principal
from condivisa.kernel import clock
from condivisa.outputs import engagement, report
from condivisa.outputs.engagement_words import NOTICES, words
from condivisa.outputs.sources import ASSUMED_PRICE_EUR_PER_MWH
from condivisa.store import engagement as optins
from condivisa.store.auth_tables import AuditAction
from condivisa.web import csrf, pages_events, session
from condivisa.web.billing_view import member_run, numbered_statement
from condivisa.web.data import Dashboard, silent_devices
from condivisa.web.pages import (
    dashboard,
    fallback_note,
    html_download,
    month_nav,
    not_found,
    render_page,
    resolve_lang,
    selected_month,
    to_login,
)
from condivisa.web.pages_community import forecast_panel
from condivisa.web.pages_session import csrf_refused

STATEMENT_FORMATS = ("html", "pdf", "csv")


def member_page(member_id: str, request: Request) -> Response:
    """The member's month: their own page, or any member's for staff (404 for anyone else)."""
    lang = resolve_lang(request)
    who = session.principal(request)
    if who is None:
        return to_login()
    dash = dashboard(request)
    if not session.can_see_member(request, who, member_id, dash.community):
        return not_found(request, lang, who)
    ctx = member_context(request, dash, who, member_id, lang)
    return render_page(request, "page_member.html", lang, **ctx)


def member_context(
    request: Request, dash: Dashboard, who: Principal, member_id: str, lang: str
) -> dict[str, Any]:
    """The member page's template context: the month navigation and, when the month is settled, its
    figures (cached per member, month and language)."""
    book = dash.book()
    month = selected_month(request, dash)
    ctx: dict[str, Any] = {
        "who": who,
        "member": dash.community.member(member_id),
        "month": month,
        "months": book.months,
        "nav": month_nav(book.months, month),
        "prices_assumed": dash.prices_assumed,
        "assumed_price": ASSUMED_PRICE_EUR_PER_MWH,
        "month_note": fallback_note(request, dash, month, lang),
    }
    ctx["silent_devices"] = member_silent_devices(dash, member_id)
    ctx.update(pages_events.member_panel(request, dash, member_id, lang))  # "I tuoi eventi" (issue #19)
    # tomorrow's good hours, the sentence of the referente's page and of the advice e-mail (issue #19)
    forecast = dash.page(("forecast", clock.today(), lang), lambda: forecast_panel(dash, lang))
    ctx["tomorrow"] = forecast.get("sentence")
    if month in book.months:
        page = dash.page(
            ("member", member_id, month, lang),
            lambda: report.member_context(book, member_id, month, lang),
        )
        ctx.update({k: v for k, v in page.items() if k != "lang"})
        ctx["has_data"] = True
        ctx["br_run"] = member_run(dash, member_id, month)  # one query; the hash only on download
        ctx.update(engagement_context(request, dash, who, member_id, month, lang))
    return ctx


# ---- energy in the sun (issue #19, item 4) ---------------------------------------------------------------
def engagement_context(
    request: Request, dash: Dashboard, who: Principal, member_id: str, month: str, lang: str
) -> dict[str, Any]:
    """The panel "La tua energia al sole": the member's own share and trend, and the ranking of pseudonyms
    only if the member opted in (:func:`condivisa.outputs.engagement.member_view`); the opt-in form only for
    the member themself. Opt-ins are read on every request (not cached with the page)."""
    names = optins.pseudonyms(dash.store.engine, dash.community.name)
    notice = request.query_params.get("engagement")
    return {
        "sun": engagement.member_view(dash.book(), member_id, month, names),
        "ew": words(lang),
        "sun_form": who.role == "member" and who.member_id == member_id,
        "sun_notice": notice if notice in NOTICES else None,
    }


def ranking_post(
    request: Request,
    action: str = Form(""),
    pseudonym: str = Form(""),
    month: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    """``POST /member/ranking``: the logged-in member joins (``action=in``, optional ``pseudonym``) or leaves
    (``action=out``) the ranking, then back to their page (303, the result in ``?engagement=``)."""
    lang = resolve_lang(request)
    who = session.principal(request)
    if who is None:
        return to_login()
    if not csrf.session_ok(request, csrf_token):
        return csrf_refused(request, lang, "engagement_ranking", who.username)
    dash = dashboard(request)
    member_id = who.member_id
    if who.role != "member" or not member_id or action not in ("in", "out"):
        return not_found(request, lang, who)
    if not session.can_see_member(request, who, member_id, dash.community):
        return not_found(request, lang, who)
    if action == "out":
        optins.opt_out(dash.store.engine, dash.community.name, member_id)
        notice = "saved_out"
    else:
        try:
            optins.opt_in(dash.store.engine, dash.community, member_id, pseudonym or None)
            notice = "saved_in"
        except optins.PseudonymError as exc:
            notice = f"err_{exc.code}"
    back = f"/members/{member_id}?engagement={notice}"
    if month and len(month) == 7 and month[4] == "-" and month.replace("-", "").isdigit():
        back += f"&month={month}"
    return RedirectResponse(back, status_code=303)


def member_silent_devices(dash: Dashboard, member_id: str) -> list[dict]:
    """The member's own devices (registered to them, or reading one of their PODs or their plants' PODs)
    silent for longer than the referente's panel allows (:func:`condivisa.web.data.silent_devices`)."""
    community = dash.community
    member = community.member(member_id)
    pods = set(member.consumption_pods) | {p.pod for p in community.plants if p.owner == member_id}
    rows = [
        r for r in dash.store.device_last_seen() if r.get("member_id") == member_id or r.get("pod") in pods
    ]
    return silent_devices(rows, clock.now())


def member_statement(member_id: str, fmt: str, request: Request) -> Response:
    """The member's statement of a settled month as ``html``, ``pdf`` or ``csv`` (the export is audited)."""
    lang = resolve_lang(request)
    who = session.principal(request)
    if who is None:
        return to_login()
    dash = dashboard(request)
    if fmt not in STATEMENT_FORMATS or not session.can_see_member(request, who, member_id, dash.community):
        return not_found(request, lang, who)
    book = dash.book()
    month = selected_month(request, dash)
    if month not in book.months:
        return not_found(request, lang, who)
    session.audit(
        request, who, AuditAction.DATA_EXPORT, f"member:{member_id}", {"month": month, "format": fmt}
    )
    name = f"statement-{member_id}-{month}.{fmt}"
    if fmt == "csv":
        return Response(
            report.member_statement_csv(book, member_id, month),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    numbered = numbered_statement(dash, member_id, month, lang)  # a final run whose inputs still match
    if numbered is not None:
        return html_download(numbered[0], fmt, f"rendiconto-{numbered[1]}-{month}.{fmt}")
    return html_download(report.member_statement_html(book, member_id, month, lang), fmt, name)
