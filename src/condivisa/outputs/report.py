"""Monthly community report and per-member statement: Jinja2 HTML with Plotly charts, PDF through Chromium.

Every energy and money figure comes from the settlement (:class:`~condivisa.outputs.monthly.SettledMonths`):
a member's through their :class:`~condivisa.outputs.statement.MemberStatement`, the allocation table's through
:class:`~condivisa.outputs.statement.PayeeLine` rows, the KPI tiles from the month's totals
(:mod:`condivisa.outputs.kpis`). The contexts hand the templates and charts plain values (dicts, the frozen
dataclasses). A standalone file inlines plotly.js so it opens offline; the PDF is the same HTML printed by
Debian's Chromium through Playwright (``page.pdf()``).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import pass_context

from condivisa.engines.indicators import best_hours_to_shift, typical_day_kwh
from condivisa.formats.csv_safe import safe_row
from condivisa.kernel import clock
from condivisa.outputs import charts, member_page
from condivisa.outputs.bands import window_bands
from condivisa.outputs.i18n import DEFAULT_LANGUAGE, LANGUAGES, fmt_number, month_label, translator
from condivisa.outputs.kpis import kpis_from_totals
from condivisa.outputs.monthly import SettledMonths
from condivisa.outputs.statement import MONEY_KEYS, Money, PayeeLine

#: the tax view's columns of the statement CSV (the fees, the GSE fees and the total are already there)
CSV_TAX_KEYS = ("tax_income_eur", "tax_passed_on_eur", "tax_community_income_eur")

CHROMIUM = os.environ.get("CONDIVISA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class ReportError(RuntimeError):
    """A report cannot be produced (unknown month or member, Chromium missing); the message says which."""


@pass_context
def _num(ctx, value, decimals: int = 2) -> str:
    return fmt_number(None if value is None else float(value), ctx.get("lang", DEFAULT_LANGUAGE), decimals)


def _local_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An aware instant (a naive one is UTC, as the store keeps them) shown in Europe/Rome; ``""`` for none."""
    if value is None:
        return ""
    from condivisa.kernel.timegrid import ROME, to_utc

    return to_utc(value, naive_is="utc").astimezone(ROME).strftime(fmt)


@lru_cache(maxsize=1)
def jinja_env() -> jinja2.Environment:
    """The Jinja2 environment of ``outputs/templates`` (autoescaped), with the ``num`` filter."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("condivisa.outputs", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["local_time"] = _local_time  # an instant as Italian local time: 2024-06-03 14:15
    env.globals["month_label"] = month_label
    return env


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped with the plotly package."""
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def plotly_js_hash() -> str:
    """The first 12 hex digits of the SHA-256 of :func:`plotly_js`: its served name changes with the bundle."""
    return hashlib.sha256(plotly_js().encode("utf-8")).hexdigest()[:12]


@lru_cache(maxsize=1)
def plotly_js_gzip() -> bytes:
    """:func:`plotly_js` gzip-compressed once (4.8 MB → about 1.5 MB on the wire)."""
    return gzip.compress(plotly_js().encode("utf-8"), compresslevel=9, mtime=0)


def plotly_url() -> str:
    """Where the dashboard serves plotly.js: a hashed name, cached by browsers for a year (``immutable``)."""
    return f"/static/plotly.{plotly_js_hash()}.min.js"


def plotly_script(standalone: bool, url: str | None = None) -> str:
    """The ``<script>`` of a page with charts: the chart loader (:data:`condivisa.outputs.charts.CHART_LOADER_JS`)
    and, for a standalone file, plotly.js inlined; a served page fetches plotly.js from ``url`` (default
    :func:`plotly_url`) only after it has loaded, when a chart comes into view."""
    loader = "<script>" + charts.CHART_LOADER_JS + "</script>"
    if standalone:
        return "<script>" + plotly_js().replace("</script>", "<\\/script>") + "</script>" + loader
    src = json.dumps(url or plotly_url())
    return f"<script>window.CONDIVISA_PLOTLY = {src};</script>" + loader


def _check(book: SettledMonths, month: str, member_id: str | None = None) -> None:
    if month not in book.months:
        raise ReportError(
            f"month {month}: no measurements up to {book.as_of} "
            f"(months with data: {', '.join(book.months) or 'none'})"
        )
    if member_id is not None:
        try:
            book.community.member(member_id)
        except KeyError:
            raise ReportError(f"member {member_id!r} is not in community {book.community.name!r}") from None


def _last_day(flows) -> Any:
    if flows.empty:
        return flows
    last = flows.index.max().normalize()
    return flows[flows.index >= last]


def _day_label(day: dt.date | None, lang: str) -> str:
    if day is None:
        return ""
    return f"{day.day} {month_label(f'{day.year:04d}-{day.month:02d}', lang)}"


def settled_note(book: SettledMonths, month: str, lang: str) -> dict[str, Any]:
    """Which days of ``month`` the money covers, in plain words: ``state`` is ``empty`` (no day finished yet),
    ``partial`` (the month in progress: provisional, up to yesterday) or ``complete``."""
    t = translator(lang)
    ms = book.month(month)
    yesterday = book.as_of - dt.timedelta(days=1)
    if ms.empty:
        state, text = (
            "empty",
            t("settled_empty", month=month_label(month, lang), day=_day_label(yesterday, lang)),
        )
    elif not ms.complete:
        state, text = "partial", t("settled_partial", day=_day_label(ms.settled_to, lang))
    else:
        state, text = (
            "complete",
            t(
                "settled_complete",
                first=_day_label(ms.settled_from, lang),
                last=_day_label(ms.settled_to, lang),
            ),
        )
    return {"state": state, "text": text, "from": ms.settled_from, "to": ms.settled_to}


def _advice(book: SettledMonths, lang: str) -> tuple[Any, list]:
    """The typical spare production of the last 7 settled days (across months) and the best windows."""
    recent = book.recent_flows(7)
    if recent.empty:
        return None, []
    profile = typical_day_kwh(recent["spare_kwh"], days=7)
    return profile, best_hours_to_shift(profile.to_numpy(), duration_h=2, n=3)


def _member_charts(book: SettledMonths, member_id: str, month: str, lang: str, kpis, trend: list[dict]):
    """The member page's charts (last settled day, month, trend, KPIs, best hours) and the day's label."""
    flows = book.month(month).flows(member_id)
    day = _last_day(flows)
    day_label = day.index[0].strftime("%Y-%m-%d") if not day.empty else ""
    spare_profile, windows = _advice(book, lang)
    t = translator(lang)
    member = book.community.member(member_id)
    name = member.name or member.id
    covered = member_page.covered_pct(book.month(month).statement(member_id))
    figs = {
        "day": charts.flows_figure(day, lang, title=f"{t('day')} {day_label}", member_name=name),
        "month": charts.flows_figure(flows, lang, title=month_label(month, lang), member_name=name),
        "overlay": charts.overlay_figure(
            flows,
            lang,
            title=t("mp_overlay_title", pct=fmt_number(covered, lang, 0)) if covered == covered else "",
        ),
        "trend": charts.monthly_trend_figure(trend, lang),
        "kpi": charts.kpi_figure(kpis, lang, member=True),
    }
    if spare_profile is not None:
        figs["shift"] = charts.shift_figure(spare_profile, windows, lang)
    return figs, windows, day_label


def _member_page_extras(book: SettledMonths, member_id: str, month: str, statement, windows) -> dict:
    """The member page's notices, comparisons, family advice and plants (:mod:`condivisa.outputs.member_page`)."""
    return {
        "member_name": statement.member.name or statement.member.id,
        "incomplete": member_page.incomplete_data(book, member_id, month),
        "provisional": member_page.provisional(book, month),
        "compare": member_page.comparisons(book, member_id, month),
        "family_windows": member_page.family_windows(windows),
        "advice_days": member_page.recent_days(book, 7),
        "producer_plants": member_page.producer_plants(book, member_id, month),
        "income_month": member_page.income_eur(statement.money),
        "costs_month": member_page.costs_eur(statement.money),
        "income_year": member_page.income_eur(statement.year_total),
        "costs_year": member_page.costs_eur(statement.year_total),
        "covered_pct": member_page.covered_pct(statement),
    }


def _html_charts(figs: dict) -> dict[str, str]:
    return {name: charts.figure_html(fig, f"chart-{name}") for name, fig in figs.items()}


def member_context(book: SettledMonths, member_id: str, month: str, lang: str = DEFAULT_LANGUAGE) -> dict:
    """Everything the member statement and the member page show for ``month``: the member's
    :class:`~condivisa.outputs.statement.MemberStatement` (``statement``) and what is drawn from it."""
    _check(book, month, member_id)
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    statement = book.statement(member_id, month)
    kpis = kpis_from_totals(book.month(month).totals, statement.energy.as_dict())
    trend = [line.as_dict() for line in book.member_months(member_id, int(month[:4]))]
    figs, windows, day_label = _member_charts(book, member_id, month, lang, kpis, trend)
    return {
        "lang": lang,
        "t": translator(lang),
        "kind": "member",
        "community": book.community,
        "member": statement.member,
        "statement": statement,
        "month": month,
        "months": book.months,
        "day_label": day_label,
        "settled": settled_note(book, month, lang),
        "money_month": statement.money,
        "money_year": statement.year_total,
        "money_year_months": statement.year_months,
        "year_balance": statement.year_balance,
        "kpis": kpis,
        "trend": trend,
        "windows": windows,
        "window_bands": window_bands(windows, book.as_of + dt.timedelta(days=1)),
        **_member_page_extras(book, member_id, month, statement, windows),
        "charts": _html_charts(figs),
        "generated": clock.local_now().strftime("%Y-%m-%d %H:%M"),
    }


def _allocation_rows(book: SettledMonths, month: str) -> tuple[list[dict], list[PayeeLine]]:
    """The allocation table of ``month``: one row per member (energy and money) and every payee's money."""
    ms = book.month(month)
    members = [ms.statement(m.id).row() for m in book.community.members]
    return members, ms.payees()


def community_context(book: SettledMonths, month: str, lang: str = DEFAULT_LANGUAGE) -> dict:
    """Everything the monthly community report and the referente page show for ``month`` (all from the
    settlement)."""
    _check(book, month)
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    ms = book.month(month)
    totals = ms.totals
    kpis = kpis_from_totals(totals)
    members, payees = _allocation_rows(book, month)
    year = int(month[:4])
    trend = book.community_months(year)
    figs = {
        "month": charts.flows_figure(ms.flows(), lang, title=month_label(month, lang), member=False),
        "trend": charts.monthly_trend_figure(trend, lang),
        "kpi": charts.kpi_figure(kpis, lang),
        "members": charts.members_figure(members, lang),
    }
    return {
        "lang": lang,
        "t": translator(lang),
        "kind": "community",
        "community": book.community,
        "month": month,
        "months": book.months,
        "totals": totals,
        "members": members,
        "kpis": kpis,
        "trend": trend,
        "account": next(p.money for p in payees if p.kind == "community"),
        "social_fund": next((p.money for p in payees if p.kind == "social_fund"), None),
        "externals": [{"id": p.id, **p.money.as_dict()} for p in payees if p.kind == "external"],
        "allocation_total": Money.sum(p.money for p in payees),
        "settled": settled_note(book, month, lang),
        "year_balance": book.year_balance(year, "community") if month[5:] == "12" else None,
        "data_quality": ms.document["data_quality"],
        "charts": _html_charts(figs),
        "generated": clock.local_now().strftime("%Y-%m-%d %H:%M"),
    }


def render(template: str, context: dict, standalone: bool = True) -> str:
    """Render ``template`` with ``context``; ``standalone`` inlines plotly.js."""
    return (
        jinja_env()
        .get_template(template)
        .render(**context, plotly_script=plotly_script(standalone), standalone=standalone)
    )


def member_statement_html(
    book: SettledMonths,
    member_id: str,
    month: str,
    lang: str = DEFAULT_LANGUAGE,
    run_label: str | None = None,
) -> str:
    """The member's monthly statement as one self-contained HTML file.

    ``run_label`` is the statement's number when it is issued from a final billing run (e.g. ``"3-m1"``: run
    3, member m1; ``condivisa runs statement``), shown as "Rendiconto n. 3-m1"; without it the statement is
    a preview and carries a "PROVVISORIO" banner."""
    context = member_context(book, member_id, month, lang)
    return render("statement.html", {**context, "run_label": run_label})


def community_report_html(book: SettledMonths, month: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The community's monthly report as one self-contained HTML file."""
    return render("community_report.html", community_context(book, month, lang))


def member_statement_csv(book: SettledMonths, member_id: str, month: str) -> str:
    """The member's statement of ``month`` as CSV: one row per month of the year up to ``month``, then, for
    December of a closed year, the yearly balance (``YYYY balance``), then the year's total (``YYYY``).

    Columns ``member, month, withdrawn_kwh, shared_kwh, premium_eur, valorisation_eur, sale_eur, fees_eur``
    (fees paid are negative), ``gse_fees_eur`` (the GSE fees, DM 106/2024, of a member who bears them with
    ``rules.gse_fees: producers``; negative), then the tax view (:mod:`condivisa.outputs.tax_view`, information, not tax
    advice): ``tax_income_eur`` (the sale of energy passed on: income), ``tax_passed_on_eur`` (premium and
    valorisation passed on by a non-commercial community, Ris. AdE 37/E/2024), ``tax_community_income_eur``
    (everything, as income of a commercial community), ``tax_source``; the last column is ``total_eur``. Text
    cells a spreadsheet would run as a formula are neutralised (:mod:`condivisa.formats.csv_safe`); amounts
    stay numbers.
    """
    _check(book, month, member_id)
    statement = book.statement(member_id, month)
    rows = [line.as_dict() for line in statement.months]
    cols = ["withdrawn_kwh", "shared_kwh", *MONEY_KEYS[:-1], *CSV_TAX_KEYS, "tax_source", "total_eur"]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(safe_row(["member", "month", *cols]))
    source = f"{statement.tax_month.source}; informazione, non consulenza fiscale"

    def fmt(r: dict, c: str) -> str:
        if c == "tax_source":
            return source
        return "" if c not in r else (f"{r[c]:.3f}" if c.endswith("_kwh") else f"{r[c]:.2f}")

    def write(label: str, r: dict, money: Money) -> None:
        r = {**r, **statement.tax_view(money).amounts()}
        w.writerow(safe_row([member_id, label] + [fmt(r, c) for c in cols]))

    for line, r in zip(statement.months, rows, strict=True):
        write(r["month"], r, line.money)
    energy = {c: round(sum(r[c] for r in rows), 3) for c in ("withdrawn_kwh", "shared_kwh")}
    if statement.year_balance is not None:
        write(f"{month[:4]} balance", statement.year_balance.as_dict(), statement.year_balance)
    write(month[:4], {**energy, **statement.year_total.as_dict()}, statement.year_total)
    return out.getvalue()


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


#: A4 less the PDF's 10 mm side margins, in CSS px (96 per inch): the width the charts are drawn at for print
PRINT_WIDTH_PX = round((210 - 2 * 10) / 25.4 * 96)
#: the light HTML's charts are snapshots drawn at this width (they scale down with the page)
SNAPSHOT_WIDTH_PX = 900


def _in_chromium(html: str, width: int, media: str, then, timeout_s: float):
    """Open ``html`` in Debian's Chromium at ``width`` CSS px with ``media`` emulated, wait until every chart
    is drawn, and return ``then(page)``."""
    if not chromium_available():
        raise ReportError(f"PDF needs Chromium at {CHROMIUM} (install it with: apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=timeout_s * 1000)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1200})
            page.emulate_media(media=media)  # the charts are laid out for the width they are shown at
            page.set_content(html, wait_until="load", timeout=timeout_s * 1000)
            n = html.count('class="plotly-graph-div"')
            if n:
                page.wait_for_function(
                    f"document.querySelectorAll('.plotly-graph-div .main-svg').length >= {n}",
                    timeout=timeout_s * 1000,
                )
            return then(page)
        finally:
            browser.close()


def html_to_pdf(html: str, timeout_s: float = 60.0) -> bytes:
    """Print ``html`` to an A4 portrait PDF with Debian's Chromium through Playwright, after the charts are
    drawn at the page's printable width (:data:`PRINT_WIDTH_PX`; the print styles of ``_style.css`` fit the
    tables to it)."""

    def pdf(page) -> bytes:
        page.evaluate(_PRINT_HEIGHTS_JS)
        return page.pdf(
            format="A4",
            print_background=True,
            margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"},
        )

    return _in_chromium(html, PRINT_WIDTH_PX, "print", pdf, timeout_s)


#: on paper the tall charts are 70 % as tall (at least 320 px; the legend kept ~75 px under the plot, as in
#: ``charts._layout``): a whole chart that did not fit left most of a page empty
_PRINT_HEIGHTS_JS = """async () => {
  for (const div of [...document.querySelectorAll('div[data-chart]')]) {
    const h = div.clientHeight;
    if (h <= 320) continue;
    const n = Math.max(320, Math.round(h * 0.7)), update = {height: n};
    const legend = div.layout && div.layout.legend;
    if (legend && legend.orientation === 'h' && legend.y < 0) update['legend.y'] = -75 / Math.max(120, n - 55);
    div.style.height = n + 'px';
    await Plotly.relayout(div, update);
  }
}"""


_SNAPSHOT_JS = """async () => {
  for (const div of [...document.querySelectorAll('div[data-chart]')]) {
    const url = await Plotly.toImage(div, {format: 'svg', width: div.clientWidth, height: div.clientHeight});
    const img = document.createElement('img');
    img.src = url; img.alt = div.id; img.className = 'chart-image';
    img.dataset.chartImage = div.id;
    div.replaceWith(img);
  }
  document.querySelectorAll('script, style[id^="plotly"]').forEach(e => e.remove());
  return '<!doctype html>\\n' + document.documentElement.outerHTML;
}"""


def light_html(html: str, timeout_s: float = 60.0) -> str:
    """A standalone ``html`` made light for download (~100 kB instead of ~5 MB): each chart becomes a still
    SVG image drawn by Chromium, and plotly.js is dropped (the file opens offline, without scripts, and prints
    as it shows). Without Chromium the charts are left out and a line says where to see them (the dashboard,
    the PDF)."""
    if not chromium_available():
        head, sep, body = html.partition("</head>")
        lean = re.sub(r"<script\b.*?</script>", "", head, flags=re.S) + sep
        body = re.sub(r"<script\b.*?</script>", "", body, flags=re.S)
        body = re.sub(
            r'<div id="([^"]+)" class="plotly-graph-div" data-chart[^>]*></div>',
            r'<p class="muted chart-missing" data-chart-missing="\1">—</p>',
            body,
        )
        return lean + body
    return _in_chromium(
        html, SNAPSHOT_WIDTH_PX, "screen", lambda page: page.evaluate(_SNAPSHOT_JS), timeout_s
    )
