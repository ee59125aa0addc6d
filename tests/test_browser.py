"""The dashboard in a real browser: Playwright driving Debian's Chromium against uvicorn serving the real app.

Screenshots (desktop and phone width) go to ``test-artifacts/``. Skipped when Chromium is missing, except
under CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser_helpers import launched, login, require_chromium, shot
from condivisa.outputs.i18n import fmt_number
from test_web import engine_month
from web_helpers import PASSWORD, ServerThread, build_platform

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    platform = build_platform(tmp_path_factory.mktemp("browser"))
    srv = ServerThread(platform.app).start()
    yield srv, platform
    srv.stop()


@pytest.fixture(scope="module")
def browser(server):
    with launched() as b:
        yield b


def _login(browser, url: str, user: str, width: int = 1100, locale: str = "it-IT"):
    return login(browser, url, user, width=width, locale=locale, accept_downloads=True)


def _shot(page, name: str) -> Path:
    return shot(page, name)


def _value(page, key: str, index: int = 0) -> str:
    return page.locator(f'[data-key="{key}"]').nth(index).inner_text().strip()


def test_member_journey(server, browser, tmp_path):
    srv, platform = server
    ctx, page = _login(browser, srv.url, "rossi")
    try:
        assert page.url.endswith("/members/m1")
        # the charts were drawn by plotly.js (an SVG inside each chart div)
        page.locator("#chart-day").scroll_into_view_if_needed()  # charts are drawn as they come into view
        page.wait_for_selector("#chart-day .main-svg")
        page.wait_for_selector("#chart-month .main-svg")
        assert page.locator("#chart-day .legendtext").count() >= 4
        june = next(m for m in engine_month(platform, "2024-06")["members"] if m["id"] == "m1")
        assert _value(page, "premium_eur") == f"{fmt_number(june['premium_eur'], 'it')} €"
        assert _value(page, "total_eur") == f"{fmt_number(june['total_eur'], 'it')} €"
        assert _value(page, "member_shared_kwh") == f"{fmt_number(june['shared_kwh'], 'it', 1)} kWh"
        _shot(page, "member-desktop-it")

        # another member's page: the same 404 as a member that does not exist
        other = page.goto(srv.url + "/members/m2")
        assert other.status == 404 and "Famiglia Bianchi" not in page.content()
        assert page.goto(srv.url + "/members/nobody").status == 404
        page.goto(srv.url + "/members/m1")

        # switch month with the selector
        page.select_option('[data-testid="month-select"]', "2024-05")
        page.wait_for_url(re.compile(r"month=2024-05"))
        may = next(m for m in engine_month(platform, "2024-05")["members"] if m["id"] == "m1")
        assert _value(page, "total_eur") == f"{fmt_number(may['total_eur'], 'it')} €"
        assert "maggio 2024" in page.inner_text("h1 + p")

        # switch language (kept by cookie on the next page)
        page.click('[data-testid="lang-switch"] a[hreflang="en"]')
        page.wait_for_url(re.compile(r"lang=en"))
        assert (
            "Your money" in page.content()
            and _value(page, "total_eur") == f"{fmt_number(may['total_eur'], 'en')} €"
        )
        page.goto(srv.url + "/members/m1")
        assert "Your withdrawal" in page.content()

        # download the statement as CSV
        with page.expect_download() as info:
            page.click('[data-testid="download-csv"]')
        saved = tmp_path / info.value.suggested_filename
        info.value.save_as(saved)
        assert saved.name == "statement-m1-2024-06.csv"
        assert (
            saved.read_text().splitlines()[-2].endswith(f"{june['total_eur']:.2f}")
        )  # the month, then the year
    finally:
        ctx.close()


def test_member_pdf_download(server, browser, tmp_path):
    srv, _ = server
    ctx, page = _login(browser, srv.url, "rossi")
    try:
        with page.expect_download(timeout=90_000) as info:
            page.click('[data-testid="download-pdf"]')
        saved = tmp_path / "statement.pdf"
        info.value.save_as(saved)
        assert saved.read_bytes()[:5] == b"%PDF-"
    finally:
        ctx.close()


def test_member_on_a_phone(server, browser):
    srv, _ = server
    ctx, page = _login(browser, srv.url, "rossi", width=390, locale="en-GB")
    try:
        page.locator("#chart-month").scroll_into_view_if_needed()
        page.wait_for_selector("#chart-month .main-svg")
        # responsive: nothing wider than the screen except inside scrollable cards
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        box = page.locator("#chart-month").bounding_box()
        assert box and box["width"] <= 390
        assert "Your money" in page.content()  # Accept-Language picked English
        _shot(page, "member-phone-en")
    finally:
        ctx.close()


def test_referente_data_quality(server, browser):
    srv, platform = server
    ctx, page = _login(browser, srv.url, "ref")
    try:
        assert page.url.endswith("/community")
        panel = page.locator('[data-testid="data-quality"]')
        assert panel.is_visible()
        assert page.locator('[data-testid="silent-count"]').inner_text() == "7"
        assert page.locator('[data-testid="dead-letter-count"]').inner_text() == "1"
        # the action line first, the technical reason beneath it (folded: in the text, not on screen)
        assert "messaggio non valido" in panel.inner_text()
        assert "is not of type" in (panel.text_content() or "")
        result = engine_month(platform, "2024-06")
        totals = page.locator(
            '[data-testid="members-table"] tr[data-member] [data-key="total_eur"]'
        ).all_inner_texts()
        assert totals == [fmt_number(m["total_eur"], "it") for m in result["members"]]
        page.locator("#chart-members").scroll_into_view_if_needed()  # charts are drawn as they come into view
        page.wait_for_selector("#chart-members .main-svg")
        _shot(page, "referente-desktop-it")
        page.set_viewport_size({"width": 390, "height": 844})
        _shot(page, "referente-phone-it")
    finally:
        ctx.close()


def test_the_allocation_table_is_readable_at_1366_px(server, browser):
    """With the GSE fees column the allocation table still fits its card at 1366 px (no horizontal scroll, no
    wrapped amount) in both languages, and the community account's row shows the GSE fees it bears."""
    srv, platform = server
    ctx, page = _login(browser, srv.url, "ref", width=1366)
    try:
        for lang in ("it", "en"):
            page.goto(srv.url + f"/community?month=2024-06&lang={lang}")
            table = page.locator('[data-testid="members-table"]')
            fit = table.evaluate(
                "t => ({table: t.scrollWidth, card: t.parentElement.clientWidth, "
                "wrapped: [...t.querySelectorAll('td.n, th.n')].filter(c => c.scrollWidth > c.clientWidth + 1)"
                ".length})"
            )
            assert fit["table"] <= fit["card"] and fit["wrapped"] == 0, (lang, fit)
            header = table.locator("thead").inner_text()
            assert ("Corrispettivi GSE" if lang == "it" else "GSE fees") in header
            account = next(p for p in engine_month(platform, "2024-06")["gse_fees"]["by_payee_eur"].items())
            cell = table.locator(f'tr[data-payee="{account[0]}"] [data-key="gse_fees_eur"]').inner_text()
            assert cell.strip() == fmt_number(account[1], lang)
        _shot(page, "referente-1366-en")
    finally:
        ctx.close()


def test_login_and_logout_forms_carry_csrf_tokens(server, browser):
    """The login form posts its token; the header's sign-out button is a POST form with the session's token;
    opening /logout by link only asks."""
    srv, _ = server
    ctx, page = _login(browser, srv.url, "rossi")
    try:
        assert page.url.endswith("/members/m1")  # the login (with its token) went through
        page.goto(srv.url + "/logout")  # a GET: a confirm page, still logged in
        assert page.locator('[data-testid="logout-confirm"]').is_visible()
        assert page.goto(srv.url + "/members/m1").url.endswith("/members/m1")
        page.click('[data-testid="logout"]')
        page.wait_for_url(re.compile(r"/login$"))
        page.goto(srv.url + "/members/m1")
        assert page.url.endswith("/login")  # the session is over
        forged = ctx.request.post(
            srv.url + "/login", form={"username": "rossi", "password": PASSWORD}, max_redirects=0
        )
        assert forged.status == 403  # no token: refused even with the right password
    finally:
        ctx.close()
