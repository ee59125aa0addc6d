"""A member's page answers their questions (issue #17, items 3 and 4): notices when their numbers are
incomplete (missing quarter hours of their own PODs, a silent device of their own, amounts provisional until
the yearly balance), income apart from costs, this month against the month before and the same month a year
earlier, the best hours in family terms from the last 7 days, a producer's plants, the overlay of their
consumption on the community's production, their name, and changing their own password.

Fast tests through FastAPI's TestClient; the notices also in a real browser (Playwright + Chromium, marked
``browser``)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from browser_helpers import launched, require_chromium, shot
from browser_helpers import login as browser_login
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME
from condivisa.outputs import member_page
from condivisa.outputs.i18n import fmt_number
from condivisa.outputs.report import _advice
from condivisa.store.models import DeviceActivity
from test_web import client, form_token, login
from web_helpers import PASSWORD, ServerThread, build_platform

M1_POD = "IT001E00000001"
#: 16 quarter hours of m1's POD lost on 2024-06-01 (04:00–08:00 UTC)
GAP_SQL = (
    f"DELETE FROM measurements WHERE pod = '{M1_POD}' AND start_utc >= '2024-06-01 04:00' "
    "AND start_utc < '2024-06-01 08:00'"
)


def _device_heard(store, du: str, pod: str, ago: dt.timedelta) -> None:
    """DU ``du`` last sent a message ``ago`` (its latest quarter hour ended then too)."""
    now = clock.now()
    with store.engine.begin() as conn:
        conn.execute(sa.delete(DeviceActivity.__table__).where(DeviceActivity.du_id == du))
        conn.execute(
            sa.insert(DeviceActivity.__table__).values(
                du_id=du,
                pod=pod,
                last_received_at=now - ago,
                last_start=now - ago - dt.timedelta(minutes=15),
                readings=1,
            )
        )


def _troubled(tmp_path):
    """The test platform with 16 quarter hours of m1 missing in June, m1's DU silent for 5 h and m2's DU
    fine, plus a producer user (m4 owns pv2)."""
    p = build_platform(tmp_path, bad_messages=0)
    with p.store.engine.begin() as conn:
        conn.execute(sa.text(GAP_SQL))
    _device_heard(p.store, "DU-0001", M1_POD, dt.timedelta(hours=5, minutes=10))
    _device_heard(p.store, "DU-0002", "IT001E00000002", dt.timedelta(minutes=2))
    p.app.state.auth.create_user("comune", PASSWORD, "member", "m4")
    return p


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    return _troubled(tmp_path_factory.mktemp("member-page"))


def test_incomplete_data_counts_the_members_own_missing_quarter_hours(platform):
    html = client(platform, "rossi").get("/members/m1?month=2024-06").text
    notice = re.search(r'data-testid="incomplete-data".*?</div>', html, re.S).group(0)
    # June is settled on 1 and 2 June: 2 × 96 quarter hours of m1's one POD, 16 of them missing
    assert "Dati incompleti: 16 quarti d&#39;ora mancanti su 192" in notice
    assert 'data-missing="16"' in notice and "contano come zero" in notice
    q = {r["pod"]: r for r in engine_month_with_gap(platform)["data_quality"]["pods"]}
    assert q[M1_POD]["missing_intervals"] == 16  # what the settlement says
    # May has no gap; another member has none in June
    assert (
        'data-testid="incomplete-data"' not in client(platform, "rossi").get("/members/m1?month=2024-05").text
    )
    assert (
        'data-testid="incomplete-data"'
        not in client(platform, "bianchi").get("/members/m2?month=2024-06").text
    )
    # the statement says it too, in English as well
    st = client(platform, "rossi").get("/members/m1/statement.html?month=2024-06&lang=en").text
    assert "Incomplete data: 16 quarter hours missing out of 192" in st


def engine_month_with_gap(platform) -> dict:
    return platform.app.state.dashboard.book().result("2024-06")


def test_silent_device_of_the_member_with_what_to_do(platform):
    html = client(platform, "rossi").get("/members/m1?month=2024-06").text
    notice = re.search(r'data-testid="silent-device".*?</div>', html, re.S).group(0)
    assert 'data-du="DU-0001"' in notice
    assert "Il tuo dispositivo DU-0001 non invia dati da 5 ore" in notice
    assert "cosa fare" in notice and "Wi-Fi" in notice and "referente" in notice
    # m2's device sent 2 minutes ago: no notice; nobody sees another member's device
    m2 = client(platform, "bianchi").get("/members/m2?month=2024-06").text
    assert 'data-testid="silent-device"' not in m2 and "DU-0001" not in m2
    # it is about now: shown for a month without data too
    empty = client(platform, "rossi").get("/members/m1?month=2023-01").text
    assert "Nessun dato" in empty and "non invia dati da 5 ore" in empty
    # the statement is a document of the month: no live device notice there
    st = client(platform, "rossi").get("/members/m1/statement.html?month=2024-06").text
    assert 'data-testid="silent-device"' not in st


def test_silent_device_uses_the_referentes_threshold(tmp_path):
    p = build_platform(tmp_path, bad_messages=0)
    _device_heard(p.store, "DU-0001", M1_POD, dt.timedelta(minutes=65))  # over the hour: silent
    assert "non invia dati da più di un&#39;ora" in client(p, "rossi").get("/members/m1").text
    _device_heard(p.store, "DU-0001", M1_POD, dt.timedelta(minutes=45))  # within the hour: fine
    assert 'data-testid="silent-device"' not in client(p, "rossi").get("/members/m1").text
    _device_heard(p.store, "DU-0001", M1_POD, dt.timedelta(days=3))
    assert "non invia dati da 3 giorni" in client(p, "rossi", lang="it").get("/members/m1").text


def test_provisional_until_the_yearly_balance(tmp_path):
    import time_machine

    at = dt.datetime(2024, 6, 3, 9, 0, tzinfo=ROME)
    with time_machine.travel(at, tick=True):
        p = build_platform(tmp_path, bad_messages=0)
        html = client(p, "rossi").get("/members/m1?month=2024-06").text
        en = client(p, "rossi", lang="en").get("/members/m1?month=2024-05").text
    note = re.search(r'data-testid="provisional-note".*?</p>', html, re.S).group(0)
    assert 'data-provisional="true"' in note and "Importi provvisori fino al conguaglio" in note
    # June ends on the 30th: advances about 60 days later, 29 August (hedged: "di solito", "indicativamente")
    assert "circa due mesi" in note and "29 agosto 2024" in note and "2024" in note
    assert "Provisional amounts until the yearly balance" in en and "30 July 2024" in en  # 31 May + 60 days
    # 2024 is closed as of today (2026): the page says so
    closed = client(build_platform(tmp_path / "later", bad_messages=0), "rossi").get("/members/m1").text
    assert 'data-provisional="false"' in closed and "Anno 2024 chiuso" in closed


def test_no_notice_for_the_day_in_progress(tmp_path):
    """A day in progress is not settled: its future quarter hours are not missing."""
    import time_machine

    at = dt.datetime(2024, 6, 2, 13, 7, tzinfo=ROME)
    with time_machine.travel(at, tick=True):
        p = build_platform(tmp_path, bad_messages=0, until=at)
        html = client(p, "rossi").get("/members/m1?month=2024-06").text
    assert 'data-testid="settled-note" data-state="partial"' in html
    assert 'data-testid="incomplete-data"' not in html


def _month_member(platform, month: str, member: str) -> dict:
    return next(m for m in platform.app.state.dashboard.book().result(month)["members"] if m["id"] == member)


def test_income_and_costs_are_separate_tiles(platform):
    html = client(platform, "rossi").get("/members/m1?month=2024-06").text
    june = _month_member(platform, "2024-06", "m1")
    income = html.split('data-testid="money-month-income"')[1].split('data-testid="money-month-costs"')[0]
    costs = html.split('data-testid="money-month-costs"')[1].split('data-testid="money-year"')[0]
    for key in ("premium_eur", "valorisation_eur", "sale_eur"):
        assert f'data-key="{key}"' in income and f'data-key="{key}"' not in costs
    for key in ("fees_eur", "gse_fees_eur", "total_eur"):
        assert f'data-key="{key}"' in costs and f'data-key="{key}"' not in income
    want = round(june["premium_eur"] + june["valorisation_eur"] + june["sale_eur"], 2)
    assert re.search(r'data-key="income_eur">([^<]*)<', income).group(1) == f"{fmt_number(want, 'it')} €"
    assert "Vendita (RID) / Quote" not in html


def test_this_month_against_last_month_and_last_year(platform):
    html = client(platform, "rossi").get("/members/m1?month=2024-06").text
    table = html.split('data-testid="compare"')[1].split("</section>")[0]
    may, june = _month_member(platform, "2024-05", "m1"), _month_member(platform, "2024-06", "m1")
    row = re.search(r'<tr data-compare="total_eur">.*?</tr>', table, re.S).group(0)
    this = re.search(r'data-period="this">([^<]*)<', row).group(1)
    prev = re.search(r'data-period="prev">([^<]*)<', row).group(1)
    assert (
        this == f"{fmt_number(june['total_eur'], 'it')} €"
        and prev.strip() == f"{fmt_number(may['total_eur'], 'it')} €"
    )
    assert re.search(r'data-period="last_year">—<', row)  # June 2023 has no data
    kwh = re.search(r'<tr data-compare="withdrawn_kwh">.*?</tr>', table, re.S).group(0)
    assert f"{fmt_number(may['withdrawn_kwh'], 'it', 1)} kWh" in kwh
    assert "maggio 2024" in table and "giugno 2023" in table


def test_best_hours_in_family_terms_from_the_last_7_days(platform):
    c = client(platform, "rossi")
    june, may = c.get("/members/m1?month=2024-06").text, c.get("/members/m1?month=2024-05").text
    advice = lambda h: h.split('data-testid="advice"')[1].split("</section>")[0]  # noqa: E731
    assert advice(june).split("<div")[0] == advice(may).split("<div")[0]  # whatever month is selected
    text = advice(june)
    assert "dagli ultimi 7 giorni (30 maggio 2024 – 2 giugno 2024)" in text
    items = re.findall(r"<li data-spare-kw=\"([\d.]+)\">(.*?)</li>", text, re.S)
    assert items
    book = platform.app.state.dashboard.book()
    windows = member_page.family_windows(_advice(book, "it")[1])
    for (kw, item), w in zip(items, windows, strict=True):
        assert float(kw) == pytest.approx(w["spare_kwh"] / 2, abs=0.06)  # 2-hour windows: kWh / 2 h = kW
        assert re.search(rf"tra le {w['start']} e le {w['end']} la comunità ha circa [\d.]+ kW in più", item)
        assert member_page.appliances(w["spare_kw"]) in item or "piccolo consumo" in item
    assert "circa 2 kW" in text  # the rule: an appliance ≈ 2 kW


def test_appliances_rule():
    assert member_page.appliances(50.0) == "1–2" and member_page.appliances(4.0) == "1–2"
    assert member_page.appliances(3.9) == "1" and member_page.appliances(2.0) == "1"
    assert member_page.appliances(1.9) == "0"


def test_a_producer_sees_their_plant(platform):
    html = client(platform, "comune").get("/members/m4?month=2024-06").text
    section = html.split('data-testid="producer"')[1].split("</section>")[0]
    plant = next(
        p for p in platform.app.state.dashboard.book().result("2024-06")["plants"] if p["id"] == "pv2"
    )
    row = re.search(r'<tr data-plant="pv2">.*?</tr>', section, re.S).group(0)
    for key, dec in (("injected_kwh", 1), ("shared_kwh", 1), ("sale_eur", 2)):
        assert re.search(rf'data-plant-key="{key}">([^<]*)<', row).group(1) == fmt_number(
            plant[key], "it", dec
        )
    assert 'data-testid="producer"' not in client(platform, "rossi").get("/members/m1?month=2024-06").text


def test_overlay_chart_quantifies_the_overlap(platform):
    html = client(platform, "rossi").get("/members/m1?month=2024-06").text
    june = _month_member(platform, "2024-06", "m1")
    pct = fmt_number(100 * june["shared_kwh"] / june["withdrawn_kwh"], "it", 0)
    assert 'id="chart-overlay"' in html
    assert f"il {pct} % del tuo consumo era coperto dalla produzione della comunit" in html


def test_legend_colours_differ():
    import pandas as pd

    from condivisa.outputs import charts

    idx = pd.date_range("2024-06-01", periods=24, freq="h", tz=ROME)
    flows = pd.DataFrame(1.0, index=idx, columns=[
        "withdrawn_kwh", "injected_kwh", "shared_kwh", "spare_kwh", "member_withdrawn_kwh", "member_shared_kwh",
    ])  # fmt: skip

    def colours(fig):
        return [(tr.line.color if tr.type == "scatter" else tr.marker.color) for tr in fig.data]

    for fig in (
        charts.flows_figure(flows, member_name="Famiglia Rossi"),
        charts.overlay_figure(flows),
        charts.monthly_trend_figure(
            [
                {
                    "month": "2024-06",
                    "withdrawn_kwh": 1,
                    "shared_kwh": 1,
                    "premium_eur": 1,
                    "valorisation_eur": 1,
                    "sale_eur": 1,
                    "fees_eur": -1,
                }
            ]
        ),  # fmt: skip
    ):
        got = colours(fig)
        assert len(set(got)) == len(got), got
    assert "Famiglia Rossi" in [
        a.text for a in charts.flows_figure(flows, member_name="Famiglia Rossi").layout.annotations
    ]


def test_the_members_name_not_socio_id(platform):
    html = client(platform, "rossi").get("/members/m1").text
    assert re.search(r'data-testid="nav-member">Famiglia Rossi<', html)
    assert "Socio m1" not in html and 'data-testid="member-name">Famiglia Rossi<' in html
    st = client(platform, "rossi").get("/members/m1/statement.html?month=2024-06").text
    assert "Rendiconto · Famiglia Rossi" in st and "Socio m1" not in st


# ---- changing one's own password ----------------------------------------------------------------


def _password_form(c: TestClient) -> str:
    page = c.get("/account/password")
    assert page.status_code == 200 and 'data-testid="password-form"' in page.text
    return form_token(page.text)


def test_password_change(tmp_path):
    p = build_platform(tmp_path, bad_messages=0)
    auth = p.app.state.auth
    auth.create_user("verdi", PASSWORD, "member", "m3")
    other = client(p, "verdi")  # another open session of the same person
    c = client(p, "verdi")
    assert 'data-testid="password-link"' in c.get("/members/m3").text
    new = "a-brand-new-secret-7"

    # no anti-CSRF token: refused (403) and audited, nothing changed
    r = c.post("/account/password", data={"current_password": PASSWORD, "new_password": new,
                                          "new_password_repeat": new})  # fmt: skip
    assert r.status_code == 403
    assert any(
        e["target"] == "password_change" for e in auth.audit_log(action="csrf_rejected", actor="verdi")
    )

    token = _password_form(c)
    # the wrong current password: refused, counted as a failed login
    r = c.post("/account/password", data={"current_password": "not-my-password", "new_password": new,
                                          "new_password_repeat": new, "csrf_token": token})  # fmt: skip
    assert r.status_code == 400 and "La password attuale non è corretta" in r.text
    assert auth.audit_log(action="login_failed", actor="verdi")
    # too short (as `condivisa users create` requires: 8 characters), and two different new ones
    for new_pw, repeat, msg in (("short", "short", "almeno 8 caratteri"), (new, new + "x", "non coincidono")):
        r = c.post("/account/password", data={"current_password": PASSWORD, "new_password": new_pw,
                                              "new_password_repeat": repeat, "csrf_token": token})  # fmt: skip
        assert r.status_code == 400 and msg in r.text
    assert login(TestClient(p.app), "verdi").status_code == 303  # still the old password

    r = c.post("/account/password", data={"current_password": PASSWORD, "new_password": new,
                                          "new_password_repeat": new, "csrf_token": token})  # fmt: skip
    assert r.status_code == 200 and 'data-testid="password-changed"' in r.text
    [entry] = auth.audit_log(action="password_changed", actor="verdi")
    assert entry["target"] == "user:verdi" and entry["detail"]["other_sessions_revoked"] >= 1
    assert login(TestClient(p.app), "verdi").status_code == 401  # the old password no longer works
    assert login(TestClient(p.app), "verdi", new).status_code == 303  # the new one does
    assert c.get("/members/m3", follow_redirects=False).status_code == 200  # this session stays
    assert other.get("/members/m3", follow_redirects=False).status_code == 303  # the other one is over
    assert TestClient(p.app).get("/account/password", follow_redirects=False).status_code == 303  # anonymous


# ---- in a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    require_chromium()
    p = _troubled(tmp_path_factory.mktemp("member-page-browser"))
    srv = ServerThread(p.app).start()
    with launched() as browser:
        yield srv, p, browser
    srv.stop()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width", [1100, 390])
def test_browser_shows_the_incomplete_data_and_silent_device_notices(served, width):
    srv, p, browser = served
    ctx, page = browser_login(browser, srv.url, "rossi", width=width)
    try:
        page.goto(srv.url + "/members/m1?month=2024-06")
        gap = page.locator('[data-testid="incomplete-data"]')
        silent = page.locator('[data-testid="silent-device"]')
        assert gap.is_visible() and silent.is_visible()
        assert "Dati incompleti: 16 quarti d'ora mancanti su 192" in gap.inner_text()
        text = silent.inner_text()
        assert "Il tuo dispositivo DU-0001 non invia dati da 5 ore" in text and "cosa fare" in text
        assert page.locator('[data-testid="provisional-note"]').is_visible()
        # the notices come first, above the money
        assert silent.bounding_box()["y"] < page.locator('[data-testid="money-month"]').bounding_box()["y"]
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.locator("#chart-overlay").scroll_into_view_if_needed()  # charts are drawn as they come into view
        page.wait_for_selector("#chart-overlay .main-svg")
        assert page.locator("#chart-overlay .legendtext").count() == 3
        shot(page, f"member-notices-{width}")
        # another month without gaps: no gap notice, the device notice stays (it is about now)
        page.goto(srv.url + "/members/m1?month=2024-05")
        assert page.locator('[data-testid="incomplete-data"]').count() == 0
        assert page.locator('[data-testid="silent-device"]').is_visible()
    finally:
        ctx.close()


@pytest.mark.browser
@pytest.mark.slow
def test_browser_no_notice_for_a_member_whose_data_are_fine(served):
    srv, p, browser = served
    ctx, page = browser_login(browser, srv.url, "bianchi", locale="en-GB")
    try:
        page.goto(srv.url + "/members/m2?month=2024-06")
        assert page.locator('[data-testid="member-notices"]').count() == 1
        assert page.locator('[data-testid="incomplete-data"]').count() == 0
        assert page.locator('[data-testid="silent-device"]').count() == 0
        assert page.locator('[data-testid="nav-member"]').inner_text() == "Famiglia Bianchi"
    finally:
        ctx.close()
