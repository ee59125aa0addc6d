"""Issue #17 items 5, 7, 8, 9: Italian words on the referente's pages, the case study's verdict, tables that fit
the terminal, numbers in the user's locale and the small things (footer, offline /docs, ?month=, exit codes,
hints, one rule for silent devices)."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.outputs.terminal import cli_lang, cli_number, fit_table

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "community.yaml"
MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"


# --- numbers in the user's locale ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "lang", "text"),
    [
        ({"LANG": "it_IT.UTF-8"}, "it", "1.234,56"),
        ({"LANG": "en_GB.UTF-8"}, "en", "1,234.56"),
        ({"LC_ALL": "it_IT.UTF-8", "LANG": "en_US.UTF-8"}, "it", "1.234,56"),  # LC_ALL wins
        ({"LC_NUMERIC": "en_US.UTF-8", "LANG": "it_IT.UTF-8"}, "en", "1,234.56"),
        ({}, "en", "1,234.56"),
        ({"LANG": "C.UTF-8"}, "en", "1,234.56"),
    ],
)
def test_cli_numbers_follow_the_locale(env, lang, text):
    assert cli_lang(env) == lang
    assert cli_number(1234.56, 2, cli_lang(env)) == text


def _settle_doc(extra: list[str] | None = None) -> dict:
    r = CliRunner().invoke(
        app, ["settle", "-c", str(CONFIG), "-m", str(MEAS), "-p", str(PRICES), *(extra or [])]
    )
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


# --- tables that fit the terminal ---------------------------------------------------------------------------


def _render(renderable, width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_settle_tables_fold_at_80_columns_with_whole_headers(monkeypatch):
    from condivisa.outputs.result_text import result_tables

    monkeypatch.setenv("LANG", "en_US.UTF-8")
    doc = _settle_doc()
    narrow = _render(result_tables(doc, width=80), 80)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    # whole headers, one block per payee, categories in words, nothing cut with "…"
    for head in ("Valorisation €", "Withdrawn kWh", "GSE fees €", "Total €"):
        assert head in narrow
    assert "…" not in narrow and "public body" in narrow and "public_b" not in narrow
    assert "m4 Comune di Esempio" in narrow and "Officina Neri srl" in narrow
    # a wide terminal keeps the tables as tables
    wide = _render(result_tables(doc, width=220), 220)
    assert "┃ Month" in wide and "Valorisation €" in wide


def test_settle_table_uses_the_terminal_width_and_the_locale():
    args = ["settle", "-c", str(CONFIG), "-m", str(MEAS), "-p", str(PRICES), "--format", "table"]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "80", "LANG": "it_IT.UTF-8", "LC_ALL": ""})
    assert r.exit_code == 0, r.output
    assert max(len(line) for line in r.output.splitlines()) <= 80
    assert "Valorisation €" in r.output and "Allocation" in r.output
    assert "42.799,0" in r.output  # injected kWh, Italian style
    r = CliRunner().invoke(app, args, env={"COLUMNS": "80", "LANG": "en_US.UTF-8", "LC_ALL": ""})
    assert "42,799.0" in r.output


def test_fit_table_keeps_a_table_that_fits():
    from rich.table import Table

    t = Table("a", "b")
    t.add_row("1", "2")
    assert fit_table(t, 80) is t


def test_demo_summary_has_plain_headers_and_fits(monkeypatch):
    from condivisa.commands.demo import _summary
    from condivisa.outputs.sources import inputs_from_files

    monkeypatch.setenv("LANG", "it_IT.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_NUMERIC", raising=False)
    inputs = inputs_from_files(CONFIG, MEAS, PRICES)
    book = inputs.settled_months(as_of=dt.date(2024, 7, 1))
    text = _render(_summary(book, inputs.community, "2024-06", width=80), 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "wd kWh" not in text and "sh kWh" not in text and "valor. €" not in text
    assert "withdrawn kWh" in text and "shared kWh" in text and "valorisation €" in text
    assert re.search(r"\d\.\d{3},\d", text)  # Italian thousands and decimals
    wide = _render(_summary(book, inputs.community, "2024-06", width=200), 200)
    assert "┃ payee" in wide and "Famiglia Rossi (m1)" in wide


def test_demo_progress_bars_count_the_same_unit():
    """Both bars count MQTT messages: the sending bar ends at the messages sent, which the storing bar waits
    for (not quarter hours against messages)."""
    from condivisa.sim import demo_traffic

    src = Path(demo_traffic.__file__).read_text(encoding="utf-8")
    assert 'on_progress(counts["mqtt_messages"], counts["mqtt_messages"])' in src
    demo_src = (ROOT / "src" / "condivisa" / "commands" / "demo.py").read_text(encoding="utf-8")
    assert "DUs sending (MQTT messages)" in demo_src and "platform storing (MQTT messages)" in demo_src


# --- exit codes and hints -----------------------------------------------------------------------------------


def test_settle_and_report_exit_2_for_the_same_error(tmp_path):
    missing = tmp_path / "nope.csv"
    s = CliRunner().invoke(app, ["settle", "-c", str(CONFIG), "-m", str(missing), "-p", str(PRICES)])
    r = CliRunner().invoke(
        app, ["report", "community", "-c", str(CONFIG), "-m", str(missing), "-p", str(PRICES)]
    )
    assert s.exit_code == 2 and r.exit_code == 2, (s.output, r.output)


def test_missing_data_hint_names_the_option():
    r = CliRunner().invoke(
        app,
        [
            "settle",
            "-c",
            str(CONFIG),
            "-m",
            str(MEAS),
            "-p",
            str(PRICES),
            "--from",
            "2024-06-01",
            "--to",
            "2024-07-02",
        ],
    )
    assert r.exit_code == 2
    assert "--fill zero" in r.output and "fill 'zero'" not in r.output


def test_from_before_the_first_reading_talks_about_the_readings():
    r = CliRunner().invoke(
        app,
        [
            "settle",
            "-c",
            str(CONFIG),
            "-m",
            str(MEAS),
            "-p",
            str(PRICES),
            "--from",
            "2024-05-20",
            "--fill",
            "zero",
        ],
    )
    assert r.exit_code == 2
    assert "readings" in r.output and "2024-06-01" in r.output and "price" not in r.output


# --- one rule for silent devices ----------------------------------------------------------------------------


def test_db_devices_and_the_dashboard_agree_on_silent_devices(monkeypatch):
    from condivisa.commands import db
    from condivisa.kernel import clock
    from condivisa.web.data import silent_devices

    now = dt.datetime(2024, 6, 3, 12, 0, tzinfo=dt.UTC)
    rows = [
        # sends, but only old readings: silent for both
        {"du_id": "DU-OLD", "pod": "P1", "member_id": "m1", "registered": True,
         "last_received_at": now - dt.timedelta(minutes=5), "last_start": now - dt.timedelta(hours=5)},
        {"du_id": "DU-OK", "pod": "P2", "member_id": "m2", "registered": True,
         "last_received_at": now - dt.timedelta(minutes=5), "last_start": now - dt.timedelta(minutes=30)},
        {"du_id": "DU-QUIET", "pod": "P3", "member_id": "m3", "registered": True,
         "last_received_at": now - dt.timedelta(hours=3), "last_start": now - dt.timedelta(hours=3)},
        {"du_id": "DU-NEVER", "pod": "P4", "member_id": "m4", "registered": True,
         "last_received_at": None, "last_start": None},
    ]  # fmt: skip

    class FakeStore:
        def device_last_seen(self):
            return rows

        def close(self):
            pass

    monkeypatch.setattr(db, "_open", lambda database: FakeStore())
    monkeypatch.setattr(clock, "now", lambda: now)
    r = CliRunner().invoke(app, ["db", "devices"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    status = {line.split("│")[1].strip(): line.split("│")[-2].strip() for line in r.output.splitlines()
              if line.startswith("│")}  # fmt: skip
    dashboard = {d["du_id"] for d in silent_devices(rows, now)}
    assert dashboard == {"DU-OLD", "DU-QUIET", "DU-NEVER"}
    assert {k for k, v in status.items() if v != "ok"} == dashboard
    assert status["DU-NEVER"] == "never seen" and status["DU-OLD"] == "silent"


# --- the case study's verdict -------------------------------------------------------------------------------

SUMMARY = {
    "cases": [
        {"name": "base", "capacity_kwh_per_flat": 0.0, "controller": "none", "production_kwh": 28744.0,
         "shared_kwh": 15409.0, "sharing_pct": 53.6, "premium_eur": 1849.0, "bill_eur": 8430.0},
        {"name": "battery_3kwh", "capacity_kwh_per_flat": 3.0, "controller": "heuristic",
         "production_kwh": 28744.0, "shared_kwh": 22143.0, "sharing_pct": 77.0, "premium_eur": 2657.0,
         "bill_eur": 8610.0},
        {"name": "optimal_5kwh", "capacity_kwh_per_flat": 5.0, "controller": "optimal", "production_kwh": 28744.0,
         "shared_kwh": 26980.0, "sharing_pct": 93.9, "premium_eur": 3238.0, "bill_eur": 8700.0},
    ],
    "economics": [
        {"case": "base", "scenario": "low", "investment_eur": 18000, "npv_eur": 40456.2, "dpbt_years": 4.263,
         "irr": 0.262},
        {"case": "battery_3kwh", "scenario": "low", "investment_eur": 35256, "npv_eur": 30130.28,
         "dpbt_years": 8.07, "irr": 0.14},
        {"case": "optimal_5kwh", "scenario": "low", "investment_eur": 42408, "npv_eur": 28941.22,
         "dpbt_years": 9.093, "irr": 0.124},
        {"case": "base", "scenario": "high", "investment_eur": 18000, "npv_eur": 1.0, "dpbt_years": 19.0,
         "irr": 0.01},
    ],
    "ideal_kit_cost": [
        {"case": "battery_3kwh", "scenario": "low", "kit_cost_eur": 2157.0, "ideal_kit_cost_eur": 321.73},
        {"case": "optimal_5kwh", "scenario": "low", "kit_cost_eur": 3051.0, "ideal_kit_cost_eur": 575.8},
    ],
}  # fmt: skip


def test_the_verdict_is_computed_from_the_summary():
    from condivisa.casestudy.verdict import battery_verdict

    v = battery_verdict(SUMMARY)
    assert v is not None and not v.worth_it
    assert (v.battery_case, v.scenario) == ("battery_3kwh", "low")  # the battery with the highest NPV
    it = v.sentence("it")
    assert it.startswith("La batteria conviene? No:")
    for figure in ("40.456 €", "4,3 anni", "30.130 €", "8,1 anni", "322 €", "2.157 €"):
        assert figure in it, (figure, it)
    en = v.sentence("en")
    assert en.startswith("Is a battery worth it? No:") and "40,456 €" in en and "322 €" in en

    better = json.loads(json.dumps(SUMMARY))
    better["economics"][1]["npv_eur"] = 50000.0
    v = battery_verdict(better)
    assert v.worth_it and v.sentence("it").startswith("La batteria conviene? Sì:")
    assert "Converrebbe" not in v.sentence("it")
    assert battery_verdict({"cases": SUMMARY["cases"][:1], "economics": SUMMARY["economics"][:1]}) is None


def test_case_names_in_words():
    from condivisa.casestudy.verdict import case_label, scenario_label

    assert case_label("base") == "solo impianto, senza batteria"
    assert case_label("battery_3kwh") == "batteria da 3 kWh per appartamento"
    assert case_label("optimal_5kwh") == "batteria da 5 kWh per appartamento, gestione ottimizzata"
    assert case_label("battery_5kwh", "en") == "5 kWh battery per flat"
    assert scenario_label("medium") == "prezzi medi" and scenario_label("custom") == "custom"


def test_case_run_prints_the_verdict():
    from condivisa.commands.case import verdict_lines

    lines = verdict_lines(SUMMARY, "it")
    assert lines[0].startswith("[bold]La batteria conviene? No:")
    assert "bollette salgono" in lines[1] and "autoconsumo virtuale" in lines[1]
    assert verdict_lines({"cases": [], "economics": []}, "it") == []


# --- rejected messages in words -----------------------------------------------------------------------------


def test_rejected_messages_say_what_to_do():
    from condivisa.web.rejections import rejection_action

    invalid = {"id": 7, "device_id": "DU-0103", "reasons": [{"path": "$", "reason": "unreadable payload"}]}
    assert rejection_action(invalid) == (
        "Il dispositivo DU-0103 ha inviato un messaggio non valido: nessuna azione, se si ripete contattare "
        "l'installatore"
    )
    unknown = {
        "id": 9,
        "device_id": "DU-1",
        "reasons": [{"reason": "POD IT9 is not registered in this community"}],
    }
    text = rejection_action(unknown)
    assert "IT9" in text and "community.yaml" in text and "condivisa db replay 9" in text
    foreign = {"device_id": None, "reasons": [{"reason": "the sender is not authorised to write POD IT5"}]}
    assert rejection_action(foreign).startswith(
        "Un dispositivo non identificato"
    ) and "IT5" in rejection_action(foreign)
    future = {"device_id": "DU-2", "reasons": [{"reason": "quarter hour x ends after ...: a future reading"}]}
    assert "orologio" in rejection_action(future)
    assert rejection_action(invalid, "en").startswith("Device DU-0103 sent an invalid message")


# --- the pages ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    from web_helpers import build_platform

    return build_platform(tmp_path_factory.mktemp("words"))


def _client(platform, user=None, lang="it"):
    from test_web import client

    return client(platform, user, lang)


def test_login_and_404_have_no_empty_generated_footer(platform):
    login = _client(platform).get("/login")
    missing = _client(platform, "ref").get("/members/nobody")  # the dashboard's 404 page
    assert missing.status_code == 404
    for html in (login.text, missing.text):
        footer = re.search(r"<footer>(.*?)</footer>", html, re.S).group(1)
        assert "Generato il" not in footer and footer.strip() == "condivisa"


def test_docs_are_served_from_this_machine(platform):
    c = _client(platform)
    page = c.get("/docs")
    assert page.status_code == 200
    assert "cdn.jsdelivr" not in page.text and "unpkg" not in page.text
    assert "/docs/static/swagger-ui-bundle.js" in page.text and "/openapi.json" in page.text
    js = c.get("/docs/static/swagger-ui-bundle.js")
    css = c.get("/docs/static/swagger-ui.css")
    assert js.status_code == 200 and len(js.content) > 100_000 and css.status_code == 200
    redoc = c.get("/redoc")
    assert redoc.status_code == 200 and "/docs/static/redoc.standalone.js" in redoc.text
    assert "fonts.googleapis" not in redoc.text and "cdn.jsdelivr" not in redoc.text
    assert c.get("/docs/static/redoc.standalone.js").status_code == 200


def test_docs_without_the_bundle_list_the_operations():
    from fastapi import FastAPI

    from condivisa.transports.http.api_docs import plain_docs_html

    demo = FastAPI(title="t", docs_url=None)

    @demo.get("/things", summary="List things")
    def things():
        return []

    html = plain_docs_html(demo)
    assert (
        "GET /things" in html and "List things" in html and "/openapi.json" in html and "<script" not in html
    )


def test_community_page_in_italian(platform):
    c = _client(platform, "ref")
    html = c.get("/community?month=2024-06").text
    # roles, member categories and plant owners in words
    assert re.search(r'data-testid="whoami">ref \(referente\)<', html)
    registry = html[html.index('data-testid="registry"') :]
    assert "Privato (persona fisica)" in registry and "Ente pubblico o locale" in registry
    assert ">private<" not in registry and ">public_body<" not in registry
    assert "fotovoltaico" in registry
    # local times, no UTC; the rejected message says what to do, the technical reason beneath
    quality = html[
        html.index('data-testid="data-quality"') : html.index(
            "</section>", html.index('data-testid="data-quality"')
        )
    ]
    assert " UTC" not in quality
    assert (
        'data-testid="dead-letter-action"><strong>Il dispositivo DU-0002 ha inviato un messaggio non valido: '
        "nessuna azione, se si ripete contattare l&#39;installatore</strong>"
    ) in quality
    assert "dettaglio tecnico" in quality


def test_rules_history_shows_no_os_user_or_host(platform):
    c = _client(platform, "ref")
    html = c.get("/community").text
    card = html[html.index('data-testid="rules-history"') :]
    card = card[: card.index("</section>")]
    assert "all&#39;avvio della dashboard" in card and "dal file community.yaml" in card
    assert "@" not in card and socket.gethostname() not in card and " UTC" not in card
    assert str(CONFIG.parent) not in card  # the file's name alone, not its path


def test_invalid_month_says_so_and_the_selector_agrees(platform):
    c = _client(platform, "ref")
    html = c.get("/community?month=giugno").text
    assert re.search(r'data-testid="month-note">«giugno» non è un mese', html)
    from condivisa.outputs.i18n import month_label

    shown = month_label(re.search(r'<option value="([^"]+)" selected', html).group(1), "it")
    note = re.search(r'data-testid="month-note">([^<]*)<', html).group(1)
    assert f"è mostrato {shown}" in note and f"<strong>{shown}</strong>" in html  # note, selector, heading
    # a well-formed month without data: the selector shows that month, marked, as the heading does
    html = c.get("/community?month=2023-01").text
    assert re.search(r'<option value="2023-01" selected>gennaio 2023 \(nessun dato\)</option>', html)
    assert "<strong>gennaio 2023</strong>" in html


def test_the_case_panel_answers_the_battery_question(platform, tmp_path):
    import dataclasses

    path = tmp_path / "summary.json"
    path.write_text(json.dumps(SUMMARY))
    c = _client(platform, "ref")
    assert 'data-testid="case-verdict"' not in c.get("/community").text  # nothing configured yet
    dash = platform.app.state.dashboard
    saved = dash.files
    dash.files = dataclasses.replace(saved, case_summary_file=path)
    try:
        html = c.get("/community").text
    finally:
        dash.files = saved
    section = html[html.index('data-testid="cases"') :]
    verdict = re.search(r'data-testid="case-verdict"[^>]*><strong>([^<]*)<', section).group(1)
    assert verdict.startswith("La batteria conviene? No:") and "322 €" in verdict and "2.157 €" in verdict
    assert "bollette salgono" in section
    economics = section[section.index('data-testid="case-economics"') :]
    assert "Guadagno netto in 20 anni (€)" in economics and "Anni per ripagarsi" in economics
    assert ">NPV (€)<" not in economics and ">DPBT<" not in economics and ">IRR<" not in economics
    assert "solo impianto, senza batteria" in economics and "prezzi bassi" in economics
    assert "valore attuale netto" in section  # the one-line explanation


# --- charts -------------------------------------------------------------------------------------------------


def test_dashboard_charts_use_italian_numbers_and_dates():
    import numpy as np
    import pandas as pd

    from condivisa.outputs.charts import flows_figure, members_figure

    cols = ["injected_kwh", "withdrawn_kwh", "shared_kwh", "member_withdrawn_kwh", "member_shared_kwh"]
    hours = pd.date_range("2024-06-01", periods=48, freq="h", tz="Europe/Rome")
    fig = flows_figure(pd.DataFrame({c: np.ones(48) for c in cols}, index=hours), "it")
    assert fig.layout.separators == ",." and fig.layout.xaxis.tickformat == "%d/%m"
    assert fig.layout.xaxis.hoverformat == "%d/%m/%Y %H:%M"
    days = pd.date_range("2024-06-01", periods=24 * 10, freq="h", tz="Europe/Rome")
    fig = flows_figure(pd.DataFrame({c: np.ones(240) for c in cols}, index=days), "it")
    assert fig.layout.xaxis.hoverformat == "%d/%m/%Y"
    assert (
        flows_figure(pd.DataFrame({c: np.ones(48) for c in cols}, index=hours), "en").layout.separators
        is None
    )
    money = members_figure([{"id": "m1", "name": "A", "premium_eur": 1.5}], "it")
    assert money.layout.separators == ",." and money.layout.xaxis.tickformat is None  # not a date axis


def test_case_plots_are_italian_with_a_0_100_charge_axis_and_fit_a_phone(shared_dir, tmp_path):
    path = shared_dir / "cases" / "is-corrias.yaml"
    if not path.exists():
        pytest.skip("shared case file not present")
    from condivisa.casestudy.casefile import load_case
    from condivisa.casestudy.plots import figures, write_html
    from condivisa.casestudy.runner import run_case

    figs = figures(run_case(load_case(path)), "it")
    day = figs["typical_day_battery_5kwh"]
    soc = [t for t in day.data if t.name == "carica delle batterie (%)"]
    assert len(soc) == 12 and max(float(max(t.y)) for t in soc) <= 100.0 + 1e-6
    secondary = [
        a for k, a in day.layout.to_plotly_json().items() if k.startswith("yaxis") and a.get("overlaying")
    ]
    assert secondary and all(a["range"] == [0, 105] for a in secondary)
    assert day.layout.separators == ",." and day.layout.width is None
    assert "gen" in [a.text for a in day.layout.annotations]  # Italian month names
    assert all(f.layout.width is None for f in figs.values())
    names = {t.name for t in figs["monthly_sharing"].data}
    assert "solo impianto, senza batteria" in names
    write_html(figs["monthly_sharing"], tmp_path / "m.html")
    html = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert 'name="viewport"' in html and '"responsive": true' in html.replace("true}", "true }").replace(
        '"responsive":true', '"responsive": true'
    )
