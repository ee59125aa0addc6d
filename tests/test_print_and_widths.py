"""The money in sight (issue #17 items 1, 2 and 6), in Debian's Chromium through Playwright against uvicorn
serving the real app:

- the PDFs (community report, member statement) carry every money column and every total: their text is
  extracted with pypdf;
- each member's total is on screen without a sideways scroll at 390 px (a phone) and 1366 px (a laptop);
- the member page is ready in under 3 s on emulated 4G right after login (plotly.js comes compressed, under a
  hashed name, after the page has loaded).

Screenshots of the member and referente pages at both widths go to ``test-artifacts/`` (ignored by git) and to
the test's tmp dir. Skipped when Chromium is missing, except under CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import unicodedata
from pathlib import Path

import pytest

from browser_helpers import ARTIFACTS, launched, login, require_chromium, shot
from condivisa.outputs import report
from condivisa.outputs.i18n import fmt_number, translator
from test_web import engine_month
from web_helpers import ServerThread, build_platform

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MONTH = "2024-06"
#: 4G as the issue measures it: 4 Mbit/s down, 3 Mbit/s up, 20 ms latency
FOUR_G = {"offline": False, "latency": 20, "downloadThroughput": 4e6 / 8, "uploadThroughput": 3e6 / 8}
#: "Fast 3G" of Chrome's DevTools (information only)
THREE_G = {"offline": False, "latency": 150, "downloadThroughput": 1.6e6 / 8, "uploadThroughput": 750e3 / 8}
BUDGET_S = 3.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    platform = build_platform(tmp_path_factory.mktemp("print-widths"))
    srv = ServerThread(platform.app).start()
    yield srv, platform
    srv.stop()


@pytest.fixture(scope="module")
def browser(server):
    with launched() as b:
        yield b


def _login(browser, url: str, user: str, width: int, locale: str = "it-IT", height: int = 900):
    return login(browser, url, user, width=width, locale=locale, height=height)


def _shot(page, name: str, tmp_path: Path) -> Path:
    """A full-page screenshot in ``test-artifacts/``, copied to the test's tmp dir."""
    return shot(page, name, tmp_path)


def _pdf_text(data: bytes) -> tuple[str, int]:
    """The PDF's text with every blank and line break removed (a heading wrapped over two lines reads as one),
    and its page count."""
    if os.environ.get("CI"):
        import pypdf
    else:
        pypdf = pytest.importorskip("pypdf")
    assert data[:5] == b"%PDF-"
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = "".join(p.extract_text() for p in reader.pages)
    for number, page in enumerate(reader.pages[:-1], start=1):  # no page but the last one mostly empty
        spread = _text_spread(page)
        assert spread > 0.4, f"page {number} is mostly empty (text over {spread:.0%} of its height)"
    return _squash(text), len(reader.pages)


def _text_spread(page) -> float:
    """How much of ``page``'s height its text spans (top line to bottom line), 0–1."""
    ys: list[float] = []

    def seen(text, cm, tm, *_):
        if text.strip():
            ys.append(cm[5] + tm[5] * cm[3])

    page.extract_text(visitor_text=seen)
    return (max(ys) - min(ys)) / float(page.mediabox.height) if ys else 0.0


def _squash(text: str) -> str:
    """``text`` without blanks, soft hyphens and ligatures (the PDF's font writes "ﬃ" for "ffi")."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).replace("\u00ad", ""))


def _money_headers(lang: str) -> list[str]:
    t = translator(lang)
    return [f"{t(k)} (€)" for k in ("total", "premium", "valorisation", "sale", "fees", "gse_fees")]


def _download(ctx, url: str) -> bytes:
    r = ctx.request.get(url, timeout=120_000)
    assert r.ok, (url, r.status, r.text()[:300])
    return r.body()


@pytest.mark.parametrize("lang", ["it", "en"])
def test_community_report_pdf_keeps_every_column_and_total(server, browser, lang, tmp_path):
    srv, platform = server
    ctx, _ = _login(browser, srv.url, "ref", width=1366)
    try:
        data = _download(ctx, srv.url + f"/community/report.pdf?month={MONTH}&lang={lang}")
        (tmp_path / f"report-{lang}.pdf").write_bytes(data)
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(tmp_path / f"report-{lang}.pdf", ARTIFACTS / f"report-{MONTH}-{lang}.pdf")
        text, pages = _pdf_text(data)
        print(f"community report PDF ({lang}): {pages} pages")
        t = translator(lang)
        headers = [t("member"), *_money_headers(lang), f"{t('withdrawn')} (kWh)", f"{t('injected')} (kWh)"]
        for header in headers:
            assert _squash(header) in text, header
        result = engine_month(platform, MONTH)
        payees = [*result["members"], result["community_account"], *result["external_producers"]]
        for m in payees:
            assert _squash(fmt_number(m["total_eur"], lang)) in text, m.get("id")
        grand = sum(round(m["total_eur"] * 100) for m in payees) / 100
        assert _squash(fmt_number(grand, lang)) in text
        for m in result["members"]:
            name = next(x.name for x in platform.community.members if x.id == m["id"])
            assert _squash(name) in text
        assert pages <= 4, pages  # 3 in June 2024
    finally:
        ctx.close()


@pytest.mark.parametrize("lang", ["it", "en"])
def test_member_statement_pdf_keeps_every_money_column_and_the_total(server, browser, lang, tmp_path):
    srv, platform = server
    ctx, _ = _login(browser, srv.url, "rossi", width=1366)
    try:
        data = _download(ctx, srv.url + f"/members/m1/statement.pdf?month={MONTH}&lang={lang}")
        (tmp_path / f"statement-{lang}.pdf").write_bytes(data)
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(tmp_path / f"statement-{lang}.pdf", ARTIFACTS / f"statement-m1-{MONTH}-{lang}.pdf")
        text, pages = _pdf_text(data)
        print(f"member statement PDF ({lang}): {pages} pages")
        for header in _money_headers(lang):  # the month-by-month table
            assert _squash(header) in text, header
        m1 = next(m for m in engine_month(platform, MONTH)["members"] if m["id"] == "m1")
        assert _squash(f"{fmt_number(m1['total_eur'], lang)} €") in text  # the month's total tile
        assert pages <= 6, pages  # 6 in June 2024: money, tax view, KPIs, five charts, bands, trend
    finally:
        ctx.close()


def _in_view(page, selector: str, width: int) -> list[dict]:
    """The boxes of ``selector``'s elements whose right edge is past the viewport's (empty: all in sight)."""
    boxes = page.locator(selector).evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); "
        "return {text: e.innerText, left: r.left, right: r.right, w: r.width}; })"
    )
    assert boxes, selector
    return [b for b in boxes if b["left"] < 0 or b["right"] > width or b["w"] == 0]


@pytest.mark.parametrize("width", [390, 1366])
def test_each_members_total_in_sight_on_the_referente_page(server, browser, width, tmp_path):
    srv, platform = server
    ctx, page = _login(browser, srv.url, "ref", width=width, height=844 if width == 390 else 900)
    try:
        page.goto(srv.url + f"/community?month={MONTH}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        table = page.locator('[data-testid="members-table"]')
        fit = table.evaluate(
            "t => { const card = t.closest('.card'); "
            "return {table: t.getBoundingClientRect().width, card: card.clientWidth, "
            "scroll: card.scrollWidth, client: card.clientWidth}; }"
        )
        assert fit["scroll"] <= fit["client"] and fit["table"] <= fit["card"], fit
        totals = '[data-testid="members-table"] tr[data-payee] [data-key="total_eur"]'
        assert _in_view(page, totals, width) == []
        assert _in_view(page, '[data-testid="allocation-total"] [data-key="total_eur"]', width) == []
        result = engine_month(platform, MONTH)
        shown = page.locator(
            '[data-testid="members-table"] tr[data-member] [data-key="total_eur"]'
        ).all_inner_texts()
        assert [s.replace("€", "").strip() for s in shown] == [
            fmt_number(m["total_eur"], "it") for m in result["members"]
        ]
        # a name stays on at most two lines
        names = page.locator('[data-testid="members-table"] tr[data-member] td.who a').evaluate_all(
            "els => els.map(e => e.getClientRects().length)"
        )
        assert max(names) <= 2, names
        # the statement links are in sight too
        assert _in_view(page, '[data-testid="members-table"] td.downloads a', width) == []
        page.locator("#chart-members").scroll_into_view_if_needed()  # charts are drawn when in view
        page.wait_for_selector("#chart-members .main-svg", state="attached")
        _shot(page, f"referente-{width}", tmp_path)
        card = tmp_path / f"referente-{width}-allocation.png"
        table.locator("xpath=ancestor::section[1]").screenshot(path=str(card))
        shutil.copy(card, ARTIFACTS / card.name)
    finally:
        ctx.close()


@pytest.mark.parametrize("width", [390, 1366])
def test_the_members_money_in_sight_on_the_member_page(server, browser, width, tmp_path):
    srv, platform = server
    ctx, page = _login(browser, srv.url, "rossi", width=width, height=844 if width == 390 else 900)
    try:
        assert page.url.endswith("/members/m1")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        m1 = next(m for m in engine_month(platform, MONTH)["members"] if m["id"] == "m1")
        total = page.locator('[data-testid="money-month"] [data-key="total_eur"]')
        assert total.inner_text().strip() == f"{fmt_number(m1['total_eur'], 'it')} €"
        assert _in_view(page, '[data-testid="money-month"] [data-key]', width) == []
        assert _in_view(page, '[data-testid="money-year"] [data-key]', width) == []
        # the month-by-month table: its total column stays in sight (sticky on narrow screens)
        assert _in_view(page, '[data-testid="trend-table"] tr > :last-child', width) == []
        assert _in_view(page, '[data-testid="trend-table"] tr > :first-child', width) == []
        # every chart drawn once scrolled to, none wider than the screen
        for chart in page.locator("div[data-chart]").all():  # each drawn as it comes into view
            chart.scroll_into_view_if_needed()
            chart.locator(".main-svg").first.wait_for(state="attached", timeout=30_000)
        page.wait_for_selector('html[data-charts="drawn"]', state="attached", timeout=30_000)
        widths = page.locator("div[data-chart]").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().right)"
        )
        assert max(widths) <= width, widths
        if width == 390:  # no mode bar on a phone: it covered the titles
            assert page.locator(".modebar-container .modebar").count() == 0
        _shot(page, f"member-{width}", tmp_path)
        page.evaluate("window.scrollTo(0, 0)")
        top = tmp_path / f"member-{width}-top.png"
        page.screenshot(path=str(top))
        shutil.copy(top, ARTIFACTS / top.name)
    finally:
        ctx.close()


def _ready_after_login(browser, url: str, conditions: dict) -> dict:
    """Log in (unthrottled, empty cache), throttle the network to ``conditions``, open the member page: the
    seconds to its ``load`` event (the money shown) and to its first chart drawn."""
    ctx, page = _login(browser, url, "rossi", width=390, height=844)
    try:
        cdp = ctx.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.send("Network.emulateNetworkConditions", conditions)
        page.goto(url + f"/members/m1?month={MONTH}", wait_until="load", timeout=120_000)
        page.wait_for_selector('[data-testid="money-month"] [data-key="total_eur"]', state="visible")
        first = page.locator("div[data-chart]").first  # scrolled to: it is drawn when in view
        first.scroll_into_view_if_needed()
        first.locator(".main-svg").first.wait_for(state="attached", timeout=120_000)
        times = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0]; "
            "return {load: n.loadEventEnd / 1000, chart: performance.now() / 1000, "
            "html_kb: n.encodedBodySize / 1024}; }"
        )
        return times
    finally:
        ctx.close()


def test_member_page_ready_within_the_4g_budget(server, browser):
    srv, _ = server
    four_g = _ready_after_login(browser, srv.url, FOUR_G)
    three_g = _ready_after_login(browser, srv.url, THREE_G)
    print(
        f"member page on 4G: ready (load) in {four_g['load']:.2f} s, first chart at {four_g['chart']:.2f} s, "
        f"HTML {four_g['html_kb']:.0f} kB on the wire; on 3G: ready in {three_g['load']:.2f} s, "
        f"first chart at {three_g['chart']:.2f} s"
    )
    assert four_g["load"] < BUDGET_S, four_g


def test_plotly_is_served_compressed_and_cached_for_good(server, browser):
    srv, _ = server
    ctx = browser.new_context()
    try:
        r = ctx.request.get(srv.url + report.plotly_url(), headers={"Accept-Encoding": "gzip, br"})
        assert r.ok
        h = r.headers
        assert h["content-encoding"] == "gzip" and "immutable" in h["cache-control"]
        assert "max-age=31536000" in h["cache-control"]
        assert int(h.get("content-length", "0")) < 2_000_000
        assert ctx.request.get(srv.url + "/static/plotly.000000000000.min.js").status == 404
    finally:
        ctx.close()


def test_downloaded_statement_is_a_light_page(server, browser, tmp_path):
    srv, _ = server
    ctx, _ = _login(browser, srv.url, "rossi", width=1366)
    try:
        html = _download(ctx, srv.url + f"/members/m1/statement.html?month={MONTH}&lang=it").decode()
        (tmp_path / "statement.html").write_text(html)
        print(f"downloaded statement: {len(html.encode()) / 1024:.0f} kB")
        assert len(html.encode()) < 600_000 and "<script" not in html
        assert html.count("data-chart-image=") >= 4 and 'data-key="total_eur"' in html
    finally:
        ctx.close()
