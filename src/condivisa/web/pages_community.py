"""The referente's pages: ``/community?month=`` (members and plants, settlement table, KPIs, data quality
with the readings left out of the money for exceeding their POD's contract power, case results,
allocation-rule changes) and the monthly report ``/community/report.{html,pdf}?month=``."""

from __future__ import annotations

import logging
from pathlib import PurePath
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError

from condivisa.auth.principal import Principal
from condivisa.auth.rules_audit import rules_history
from condivisa.casestudy.verdict import case_panel
from condivisa.kernel import clock
from condivisa.outputs import engagement, report
from condivisa.outputs.engagement_words import words
from condivisa.outputs.forecast import advice_sentence, outlook
from condivisa.outputs.sources import ASSUMED_PRICE_EUR_PER_MWH
from condivisa.store import engagement as optins
from condivisa.store.auth_tables import AuditAction
from condivisa.store.provenance import mix_text
from condivisa.web import session
from condivisa.web.billing_view import community_runs
from condivisa.web.data import Dashboard, case_load_model, case_rows
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
from condivisa.web.rejections import rejection_action

log = logging.getLogger(__name__)

#: the rule-change card of the community page (it/en)
RULES_TEXT = {
    "it": {
        "title": "Regole di riparto: modifiche",
        "first": "prime regole registrate",
        "when": "Quando",
        "who": "Chi le ha caricate",
        "what": "Cosa è cambiato",
        "from_file": "dal file",
        "actors": {
            "dashboard": "all'avvio della dashboard",
            "condivisa serve": "all'avvio della piattaforma (condivisa serve)",
            "cli": "da riga di comando (condivisa report)",
            "system": "dalla piattaforma",
        },
    },
    "en": {
        "title": "Allocation rules: changes",
        "first": "first rules recorded",
        "when": "When",
        "who": "Loaded by",
        "what": "What changed",
        "from_file": "from the file",
        "actors": {
            "dashboard": "when the dashboard started",
            "condivisa serve": "when the platform started (condivisa serve)",
            "cli": "from the command line (condivisa report)",
            "system": "by the platform",
        },
    },
}
REPORT_FORMATS = ("html", "pdf")


def _rules_history(request: Request, community: Any, lang: str = "it") -> list[dict]:
    """The last ten recorded changes of the allocation rules (none on a database without the auth tables),
    each with ``actor_text`` (what loaded them, in words) and ``source_name`` (the file's name alone). The OS
    user and host the audit keeps (``by``) are not shown: the page says what loaded the rules, not who was
    logged in on the server."""
    try:
        entries = rules_history(request.app.state.store, community.name, limit=10)
    except DBAPIError:
        return []
    actors = RULES_TEXT[lang]["actors"]
    return [
        {
            **{k: v for k, v in e.items() if k != "by"},
            "actor_text": actors.get(str(e.get("actor")), str(e.get("actor") or "")),
            "source_name": PurePath(str(e["source"])).name if e.get("source") else "",
        }
        for e in entries
    ]


def _with_actions(quality: Any, lang: str) -> Any:
    """The data-quality panel with each rejected message's action line (:mod:`condivisa.web.rejections`)."""
    quality.dead_letters = [{**d, "action": rejection_action(d, lang)} for d in quality.dead_letters]
    return quality


def community_page(request: Request) -> Response:
    """The community's month, for staff only (others get the 404 page; the refusal is audited)."""
    lang = resolve_lang(request)
    who = session.principal(request)
    if who is None:
        return to_login()
    if not session.is_staff(who):
        session.audit(request, who, AuditAction.ACCESS_DENIED, "community")
        return not_found(request, lang, who)
    ctx = community_context(request, dashboard(request), who, lang)
    return render_page(request, "page_community.html", lang, **ctx)


def community_context(request: Request, dash: Dashboard, who: Principal, lang: str) -> dict[str, Any]:
    """The community page's template context: month navigation, data quality, case results, rule changes
    and, when the month is settled, its figures (cached per month and language)."""
    book = dash.book()
    month = selected_month(request, dash)
    case_summary = dash.case_summary()
    cases, economics = case_rows(case_summary)
    ctx: dict[str, Any] = {
        "who": who,
        "community": dash.community,
        "month": month,
        "months": book.months,
        "nav": month_nav(book.months, month),
        "quality": _with_actions(dash.quality(month), lang),
        "cases": cases,
        "economics": economics,
        "case_load_model": case_load_model(case_summary, lang),
        # the battery verdict, case names and indicators in words (condivisa.casestudy.verdict)
        "case_panel": case_panel(case_summary, lang),
        "member_links": True,
        "prices_assumed": dash.prices_assumed,
        "assumed_price": ASSUMED_PRICE_EUR_PER_MWH,
        "rules_history": _rules_history(request, dash.community, lang),
        "rules_text": RULES_TEXT[lang],
        "month_note": fallback_note(request, dash, month, lang),
        # readings above their POD's bound, left out of the money (condivisa.domain.plausibility)
        "excluded_readings": book.excluded_readings(month) if month else [],
        # which data the money of the month rests on (distributor, devices, estimates; store.provenance)
        "source_mix": _mix(book, month, lang),
        # the stored billing runs, read-only (one query: condivisa.web.billing_view)
        "br_runs": community_runs(dash),
    }
    ctx["forecast"] = dash.page(("forecast", clock.today(), lang), lambda: forecast_panel(dash, lang))
    if month in book.months:
        page = dash.page(("community", month, lang), lambda: report.community_context(book, month, lang))
        ctx.update({k: v for k, v in page.items() if k != "lang"})
        ctx["has_data"] = True
        ctx.update(engagement_panel(dash, month, lang))
    return ctx


def engagement_panel(dash: Dashboard, month: str, lang: str) -> dict[str, Any]:
    """Energy in the sun (issue #19, item 4): the ranking of pseudonyms and the month's recognitions, never a
    name (:func:`condivisa.outputs.engagement.community_view`; opt-ins read on every request)."""
    names = optins.pseudonyms(dash.store.engine, dash.community.name)
    return {"sun": engagement.community_view(dash.book(), month, names), "ew": words(lang)}


def forecast_panel(dash: Dashboard, lang: str) -> dict[str, Any]:
    """Tomorrow's best hours and how wrong the forecasts of the last 7 days were
    (:mod:`condivisa.outputs.forecast`); ``{}`` when there is nothing to forecast from yet."""
    today = clock.today()
    try:
        tomorrow, errors = outlook(dash.store, dash.community, today)
    except (ValueError, KeyError):  # no production measured yet: nothing to forecast from
        return {}
    except Exception:  # the forecast never takes the community page down with it
        log.exception("tomorrow's forecast failed")
        return {}
    rows = (
        [
            {
                "day": row.day,
                "forecast_kwh": row.spare_forecast_kwh,
                "actual_kwh": row.spare_actual_kwh,
                "mae_kwh": row.spare_mae_kwh,
                "total_error_pct": row.spare_total_error_pct,
            }
            for row in errors.itertuples()
        ]
        if len(errors)
        else []
    )
    return {"sentence": advice_sentence(tomorrow, today, lang), "errors": rows}


def _mix(book, month: str | None, lang: str) -> str:
    """The month's data mix in words, only when some distributor data count (else every value is the DUs')."""
    mix = book.source_mix(month) if month else None
    return mix_text(mix, lang) if mix and mix.get("distributor") else ""


def community_report(fmt: str, request: Request) -> Response:
    """The monthly community report of a settled month as ``html`` or ``pdf``, for staff (audited)."""
    lang = resolve_lang(request)
    who = session.principal(request)
    if who is None:
        return to_login()
    dash = dashboard(request)
    book = dash.book()
    month = selected_month(request, dash)
    if not session.is_staff(who) or fmt not in REPORT_FORMATS or month not in book.months:
        return not_found(request, lang, who)
    session.audit(request, who, AuditAction.DATA_EXPORT, "community", {"month": month, "format": fmt})
    html = report.community_report_html(book, month, lang)
    return html_download(html, fmt, f"report-{month}.{fmt}")
