"""Dashboard pages through the real app (create_app + condivisa.auth + store) with FastAPI's TestClient."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re

import pytest
from fastapi.testclient import TestClient

from condivisa.engines.settlement import settle
from condivisa.outputs.i18n import fmt_number
from condivisa.outputs.monthly import month_bounds
from condivisa.web.data import gaps_from_result, silent_devices
from web_helpers import PASSWORD, build_platform


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    return build_platform(tmp_path_factory.mktemp("web"))


def form_token(html: str) -> str:
    """The anti-CSRF token in a page's form (login form, or the logout button of a logged-in page)."""
    return re.search(r'name="csrf_token" value="([^"]*)"', html).group(1)


def login(c: TestClient, user: str, password: str = PASSWORD, **kw):
    """Like a browser: load the login form (nonce cookie + token), then post it."""
    token = form_token(c.get("/login").text)
    return c.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": token},
        follow_redirects=False,
        **kw,
    )


def client(platform, user: str | None = None, lang: str = "it") -> TestClient:
    c = TestClient(platform.app, headers={"accept-language": lang})
    if user:
        r = login(c, user)
        assert r.status_code == 303, r.text
    return c


def engine_month(platform, month: str) -> dict:
    lo, hi = month_bounds(month)
    m = platform.measurements
    part = m[(m["start"] >= lo) & (m["start"] < hi)].reset_index(drop=True)
    return settle(platform.community, part, platform.prices, fill="zero").to_dict()


def shown(html: str, key: str) -> list[str]:
    return re.findall(rf'data-key="{key}">([^<]*)<', html)


def test_anonymous_is_sent_to_login(platform):
    c = client(platform)
    for path in ("/", "/members/m1", "/community", "/members/m1/statement.csv"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    assert "password" in c.get("/login").text


def test_wrong_password(platform):
    c = TestClient(platform.app)
    r = login(c, "rossi", "nope-nope")
    assert r.status_code == 401 and 'data-testid="login-error"' in r.text
    assert "condivisa_session" not in r.cookies


def test_member_home_and_numbers_equal_the_engine(platform):
    c = client(platform, "rossi")
    r = c.get("/", follow_redirects=False)
    assert r.headers["location"] == "/members/m1"
    html = c.get("/members/m1?month=2024-06").text
    m1 = next(m for m in engine_month(platform, "2024-06")["members"] if m["id"] == "m1")
    assert shown(html, "premium_eur")[0] == f"{fmt_number(m1['premium_eur'], 'it')} €"
    assert shown(html, "total_eur")[0] == f"{fmt_number(m1['total_eur'], 'it')} €"
    assert shown(html, "member_withdrawn_kwh")[0] == f"{fmt_number(m1['withdrawn_kwh'], 'it', 1)} kWh"
    assert shown(html, "member_shared_kwh")[0] == f"{fmt_number(m1['shared_kwh'], 'it', 1)} kWh"
    # the year tiles add May and June: each month settled on its own by the engine
    may = next(m for m in engine_month(platform, "2024-05")["members"] if m["id"] == "m1")
    assert (
        shown(html, "total_eur")[1] == f"{fmt_number(round(may['total_eur'] + m1['total_eur'], 2), 'it')} €"
    )
    assert 'id="chart-day"' in html and 'id="chart-month"' in html
    # plotly.js under its hashed name, fetched by the chart loader once the page has loaded
    assert re.search(r'window\.CONDIVISA_PLOTLY = "/static/plotly\.[0-9a-f]{12}\.min\.js"', html)
    assert 'data-testid="best-hours"' in html


def test_member_sees_only_their_own_pods(platform):
    c = client(platform, "rossi")
    html = c.get("/members/m1").text
    assert "IT001E00000001" in html
    for other in ("IT001E00000002", "Famiglia Bianchi", "IT001E00000005"):
        assert other not in html


def test_other_member_page_is_404_like_a_missing_one(platform):
    c = client(platform, "rossi")
    other = c.get("/members/m2")
    absent = c.get("/members/zz-does-not-exist")
    assert other.status_code == absent.status_code == 404
    assert other.text.replace("m2", "") == absent.text.replace("zz-does-not-exist", "")  # nothing leaks
    assert "Famiglia Bianchi" not in other.text
    assert c.get("/members/m2/statement.csv").status_code == 404
    assert c.get("/community").status_code == 404
    assert c.get("/community/report.html").status_code == 404
    denied = platform.app.state.auth.audit_log(action="access_denied", actor="rossi")
    assert any(e["target"] == "member:m2" for e in denied)


def test_month_switch(platform):
    c = client(platform, "rossi")
    june = c.get("/members/m1").text  # latest month by default
    assert (
        "giugno 2024" in june
        and 'data-testid="prev-month"' in june
        and 'data-testid="next-month"' not in june
    )
    may = c.get("/members/m1?month=2024-05").text
    m1 = next(m for m in engine_month(platform, "2024-05")["members"] if m["id"] == "m1")
    assert shown(may, "total_eur")[0] == f"{fmt_number(m1['total_eur'], 'it')} €"
    assert 'data-testid="next-month"' in may
    empty = c.get("/members/m1?month=2023-01")
    assert empty.status_code == 200 and "Nessun dato" in empty.text


def test_language_query_cookie_and_header(platform):
    c = client(platform, "rossi")
    assert "Il tuo prelievo" in c.get("/members/m1").text
    r = c.get("/members/m1?lang=en")
    assert "Your withdrawal" in r.text and r.cookies.get("condivisa_lang") == "en"
    assert "Your withdrawal" in c.get("/members/m1").text  # remembered by the cookie
    assert "Your withdrawal" in client(platform, "bianchi", lang="en-GB,en;q=0.8").get("/members/m2").text


def test_statement_downloads(platform):
    c = client(platform, "rossi")
    r = c.get("/members/m1/statement.csv?month=2024-06")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="statement-m1-2024-06.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    m1 = next(m for m in engine_month(platform, "2024-06")["members"] if m["id"] == "m1")
    assert [x["month"] for x in rows] == ["2024-05", "2024-06", "2024"] and float(rows[1]["total_eur"]) == m1[
        "total_eur"
    ]
    html = c.get("/members/m1/statement.html?month=2024-06&lang=en")
    assert html.status_code == 200 and "Statement" in html.text
    # a light page (no plotly.js inlined); with Chromium its charts are still SVG images
    assert len(html.content) < 600_000 and "<script" not in html.text
    exports = platform.app.state.auth.audit_log(action="data_export", actor="rossi")
    assert {e["detail"]["format"] for e in exports} >= {"csv", "html"}


def test_referente_sees_everything_and_data_quality(platform):
    c = client(platform, "ref")
    assert c.get("/", follow_redirects=False).headers["location"] == "/community"
    html = c.get("/community?month=2024-06").text
    result = engine_month(platform, "2024-06")
    payees = [*result["members"], result["community_account"], *result["external_producers"]]
    grand = sum(round(m["total_eur"] * 100) for m in payees) / 100  # the total row
    assert shown(html, "total_eur") == [fmt_number(m["total_eur"], "it") for m in payees] + [
        fmt_number(grand, "it")
    ]
    assert shown(html, "premium_eur")[0] == f"{fmt_number(result['totals']['premium_eur'], 'it')} €"
    for m in platform.community.members:
        assert m.name in html
    # data quality: devices never heard from over MQTT are silent; the rejected message and its reason are
    # listed
    assert 'data-testid="data-quality"' in html
    assert re.search(r'data-testid="silent-count">7<', html)
    assert re.search(r'data-testid="dead-letter-count">1<', html) and "mqtt:test" in html
    assert "is not of type" in html
    assert c.get("/members/m4").status_code == 200  # staff may open any member
    assert c.get("/community/report.html?month=2024-05").status_code == 200


def test_logout(platform):
    c = client(platform, "rossi")
    page = c.get("/members/m1").text
    assert 'action="/logout"' in page and 'data-testid="logout"' in page  # a POST form, not a link
    r = c.post("/logout", data={"csrf_token": form_token(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.get("/members/m1", follow_redirects=False).status_code == 303


def test_silent_devices_rule():
    now = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
    ago = lambda minutes: now - dt.timedelta(minutes=minutes)  # noqa: E731
    rows = [
        {"du_id": "a", "last_received_at": ago(59), "last_start": ago(70)},  # reading ended 55 min ago: fine
        {"du_id": "b", "last_received_at": ago(61), "last_start": ago(76)},  # nothing for 61 min: silent
        {"du_id": "c", "last_received_at": None, "last_start": None},  # never: silent, listed first
        {"du_id": "d", "last_received_at": ago(1), "last_start": ago(200)},
    ]  # sends, but its data ended 185 min ago
    out = silent_devices(rows, now)
    assert [r["du_id"] for r in out] == ["c", "d", "b"]
    # d: newest quarter hour 200 min ago ends 185 min ago -> 3.083 h; b: max(61, 76 - 15) = 61 min -> 1.017 h
    assert out[1]["silent_for_h"] == pytest.approx(185 / 60) and out[2]["silent_for_h"] == pytest.approx(
        61 / 60
    )


def test_gaps_rule():
    result = {
        "data_quality": {
            "pods": [
                {"pod": "A", "missing_intervals": 0, "duplicate_rows_dropped": 0},
                {"pod": "B", "missing_intervals": 3, "duplicate_rows_dropped": 0},
            ]
        }
    }
    assert [g["pod"] for g in gaps_from_result(result)] == ["B"]


def test_gap_in_the_store_shows_up(tmp_path):
    p = build_platform(tmp_path, bad_messages=0)
    import sqlalchemy as sa

    with p.store.engine.begin() as conn:  # lose 8 quarter hours of POD ...02 on 2024-06-01
        conn.execute(
            sa.text(
                "DELETE FROM measurements WHERE pod = 'IT001E00000002' AND start_utc >= '2024-06-01 04:00' "
                "AND start_utc < '2024-06-01 06:00'"
            )
        )
    html = client(p, "ref").get("/community?month=2024-06").text
    assert re.search(r'data-testid="gap-count">1<', html)
    assert re.search(r"IT001E00000002</td><td class=\"n\">8 / 192", html)


def test_case_study_results_for_the_referente(platform, tmp_path):
    import json

    summary = {
        "case": "is-corrias",
        "load_model": {"name": "arera", "region": "Sardegna", "classes": {"N-1": "1.5-3", "N-8": "3-4.5"}},
        "cases": [
            {
                "name": "base",
                "production_kwh": 28744.0,
                "shared_kwh": 11000.0,
                "sharing_pct": 38.27,
                "premium_eur": 1320.0,
            },
            {
                "name": "battery_5kwh",
                "production_kwh": 28744.0,
                "shared_kwh": 17000.0,
                "sharing_pct": 59.14,
                "premium_eur": 2040.0,
            },
        ],
        "economics": [
            {
                "case": "base",
                "scenario": "low",
                "investment_eur": 18000,
                "npv_eur": 1234.5,
                "dpbt_years": 12.3,
                "irr": 0.071,
            }
        ],
    }
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    c = client(platform, "ref")
    assert 'data-testid="cases"' not in c.get("/community").text  # nothing configured: no section
    dash = platform.app.state.dashboard
    saved = dash.files
    dash.files = dataclasses.replace(saved, case_summary_file=path)
    try:
        html = c.get("/community").text
    finally:
        dash.files = saved
    section = html[html.index('data-testid="cases"') :]
    # 59.14 % shown with one decimal, Italian style; IRR 0.071 -> 7,1 %
    # case names in words (condivisa.casestudy.verdict.case_label)
    assert "batteria da 5 kWh per appartamento" in section and "59,1" in section and "28.744" in section
    assert "7,1 %" in section
    # which load model the case used, one line in the panel
    assert re.search(
        r'data-testid="case-load-model">Consumi: profili ARERA \(Sardegna; classi 1.5-3, 3-4.5 kW\)<', section
    )


def test_platform_without_community_file_explains(tmp_path):
    from condivisa.app.http_app import create_app
    from condivisa.app.settings import load_settings

    app = create_app(
        load_settings(database_url=f"sqlite:///{tmp_path / 'c.db'}", allowed_hosts=["testserver"])
    )
    app.state.store.upgrade()
    app.state.auth.create_user("ref", PASSWORD, "referente")
    c = TestClient(app)
    assert login(c, "ref").status_code == 303
    r = c.get("/community")
    assert r.status_code == 503 and "community file" in r.text


def test_pages_follow_new_data(tmp_path):
    from condivisa.ingest.tables import ingest_frame

    p = build_platform(tmp_path, bad_messages=0)
    c = client(p, "rossi")
    before = shown(c.get("/members/m1?month=2024-06").text, "member_withdrawn_kwh")[0]
    assert (
        shown(c.get("/members/m1?month=2024-06").text, "member_withdrawn_kwh")[0] == before
    )  # cached page, same data
    # the DU re-sends one quarter hour of m1's POD with 10 kWh more: the page shows the revised month
    row = p.measurements[(p.measurements["pod"] == "IT001E00000001")].iloc[[-1]].copy()
    row["withdrawn_kwh"] += 10.0
    assert ingest_frame(p.store, row.reset_index(drop=True), source="test-revision").revised == 1
    after = shown(c.get("/members/m1?month=2024-06").text, "member_withdrawn_kwh")[0]
    assert after != before
    # 2024-06-02 23:45 is in the day settled: the engine on the revised data gives the new figure
    revised = p.measurements.copy()
    revised.loc[row.index, "withdrawn_kwh"] += 10.0
    p.measurements = revised
    m1 = next(m for m in engine_month(p, "2024-06")["members"] if m["id"] == "m1")
    assert after == f"{fmt_number(m1['withdrawn_kwh'], 'it', 1)} kWh"
