"""Reports: the member statement and the community report show exactly the settlement engine's numbers."""

from __future__ import annotations

import csv
import io
import os
import re

import pytest
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.engines.settlement import settle
from condivisa.formats.csv_io import read_measurements, read_prices
from condivisa.outputs import report
from condivisa.outputs.i18n import fmt_number
from condivisa.outputs.monthly import SettledMonths, month_bounds
from condivisa.outputs.sources import flat_prices
from conftest import EXAMPLE_COMMUNITY, ROOT

MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"


@pytest.fixture(scope="module")
def community():
    from condivisa.domain.config import load_community

    return load_community(EXAMPLE_COMMUNITY)


@pytest.fixture(scope="module")
def data(community):
    return read_measurements(MEAS, known_pods=community.all_pods), read_prices(PRICES)


@pytest.fixture(scope="module")
def book(community, data):
    return SettledMonths(community, *data)


@pytest.fixture(scope="module")
def engine_result(community, data):
    return settle(community, *data).to_dict()


def test_fmt_number_by_language():
    # 1234.5 -> Italian thousands '.' and decimal ',' ; English the other way round
    assert fmt_number(1234.5, "it") == "1.234,50"
    assert fmt_number(1234.5, "en") == "1,234.50"
    assert fmt_number(float("nan"), "en") == "—"


def test_month_bounds_are_local_midnights():
    lo, hi = month_bounds("2024-10")
    # October 2024 in Rome: 1 Oct 00:00 +02:00 to 1 Nov 00:00 +01:00 -> 31 days + 1 hour (DST ends)
    assert lo.isoformat() == "2024-10-01T00:00:00+02:00" and hi.isoformat() == "2024-11-01T00:00:00+01:00"
    assert (hi - lo).total_seconds() == 31 * 86400 + 3600
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_bounds("2024-13")


def test_book_month_equals_the_engine(book, engine_result):
    assert book.months == ["2024-06"]
    # the example data is exactly June: the month's settlement is the engine's settlement of the file
    assert book.result("2024-06")["totals"] == engine_result["totals"]
    rows = [line.as_dict() for line in book.member_months("m1")]
    m1 = next(m for m in engine_result["members"] if m["id"] == "m1")
    assert rows[0]["premium_eur"] == m1["premium_eur"] and rows[0]["total_eur"] == m1["total_eur"]
    # the member's shared part of the charts (pro rata to withdrawal) is the engine's member shared energy
    assert rows[0]["shared_kwh"] == m1["shared_kwh"] and rows[0]["withdrawn_kwh"] == m1["withdrawn_kwh"]
    # ... and the hourly flows of the charts give the same figure (pro rata to withdrawal; engine rounds to
    # Wh)
    f = book.flows("2024-06", "m1")
    assert f["member_shared_kwh"].sum() == pytest.approx(m1["shared_kwh"], abs=5e-4)
    assert f["member_withdrawn_kwh"].sum() == pytest.approx(m1["withdrawn_kwh"], abs=5e-4)


def _shown(html: str, key: str) -> list[str]:
    return re.findall(rf'data-key="{key}">([^<]*)<', html)


def test_member_statement_shows_the_engine_numbers(book, engine_result):
    html = report.member_statement_html(book, "m3", "2024-06", "it")
    m3 = next(m for m in engine_result["members"] if m["id"] == "m3")
    # month tiles then year tiles: both equal the engine's (one month of data)
    for key in ("premium_eur", "valorisation_eur", "total_eur"):
        assert _shown(html, key)[:2] == [f"{fmt_number(m3[key], 'it')} €"] * 2
    assert _shown(html, "sale_eur")[0] == f"{fmt_number(m3['sale_eur'], 'it')} €"
    assert _shown(html, "member_shared_kwh")[0] == f"{fmt_number(m3['shared_kwh'], 'it', 1)} kWh"
    # it is that member's statement only: no other member's name or POD
    assert "Azienda Agricola Verdi" in html and "IT001E00000003" in html
    for other in ("Famiglia Rossi", "IT001E00000001", "Officina Neri"):
        assert other not in html
    assert "<script>" in html and "Plotly" in html  # plotly.js inlined: the file opens offline


def test_statement_language(book):
    en = report.member_statement_html(book, "m1", "2024-06", "en")
    assert "Statement" in en and "June 2024" in en and "Rendiconto" not in en
    it = report.member_statement_html(book, "m1", "2024-06", "xx")  # unknown -> Italian
    assert "Rendiconto" in it and "giugno 2024" in it


def test_community_report_lists_every_member(book, engine_result):
    html = report.community_report_html(book, "2024-06", "en")
    # every member, then the community account, then the total row (= the sum over every payee)
    rows = [
        *engine_result["members"],
        engine_result["community_account"],
        *engine_result["external_producers"],
    ]
    totals = [fmt_number(m["total_eur"], "en") for m in rows]
    grand = sum(round(r["total_eur"] * 100) for r in rows) / 100
    assert _shown(html, "total_eur") == [*totals, fmt_number(grand, "en")]
    assert _shown(html, "premium_eur")[0] == f"{fmt_number(engine_result['totals']['premium_eur'], 'en')} €"


def test_statement_csv(book, engine_result):
    rows = list(csv.DictReader(io.StringIO(report.member_statement_csv(book, "m5", "2024-06"))))
    m5 = next(m for m in engine_result["members"] if m["id"] == "m5")
    # the month, then the year's total (one month so far: the same figures); fees paid are negative
    assert [r["month"] for r in rows] == ["2024-06", "2024"] and rows[0]["member"] == "m5"
    assert float(rows[0]["fees_eur"]) == m5["fees_eur"] < 0 and float(rows[0]["total_eur"]) == m5["total_eur"]
    assert rows[1]["total_eur"] == rows[0]["total_eur"]


def test_errors_name_month_and_member(book):
    with pytest.raises(report.ReportError, match="month 2024-07: no measurements"):
        report.member_statement_html(book, "m1", "2024-07")
    with pytest.raises(report.ReportError, match="member 'zz'"):
        report.member_statement_html(book, "zz", "2024-06")


def test_flat_prices_cover_the_measured_hours(data):
    m, _ = data
    p = flat_prices(m, 100.0)
    # June 2024: 30 days · 24 h = 720 hourly prices of 100 €/MWh
    assert len(p) == 720 and set(p) == {100.0}


def test_cli_member_csv_and_html(tmp_path):
    runner = CliRunner()
    args = ["report", "member", "m2", "-c", str(EXAMPLE_COMMUNITY), "-m", str(MEAS), "-p", str(PRICES)]
    res = runner.invoke(app, [*args, "-f", "csv", "-o", str(tmp_path / "s.csv")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "s.csv").read_text().startswith("member,month,")
    res = runner.invoke(app, [*args, "--lang", "en", "-o", str(tmp_path / "s.html")])
    assert res.exit_code == 0, res.output
    assert "Famiglia Bianchi" in (tmp_path / "s.html").read_text()


def test_cli_errors(tmp_path):
    runner = CliRunner()
    base = ["report", "member", "nobody", "-c", str(EXAMPLE_COMMUNITY), "-m", str(MEAS), "-p", str(PRICES)]
    res = runner.invoke(app, base)
    assert res.exit_code == 2 and "member 'nobody'" in res.output
    res = runner.invoke(app, ["report", "community", "-c", str(EXAMPLE_COMMUNITY), "-m", str(MEAS)])
    assert res.exit_code != 0 and "--prices" in res.output


@pytest.mark.browser
@pytest.mark.slow
def test_pdf_from_chromium(book):
    if not report.chromium_available():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing under CI")
        pytest.skip("Chromium is not installed")
    pdf = report.html_to_pdf(report.member_statement_html(book, "m1", "2024-06", "en"))
    assert pdf[:5] == b"%PDF-" and len(pdf) > 10_000


def test_cli_from_the_database(tmp_path):
    from web_helpers import build_platform

    p = build_platform(tmp_path, bad_messages=0)
    out = tmp_path / "s.csv"
    res = CliRunner().invoke(
        app,
        [
            "report",
            "member",
            "m1",
            "-c",
            str(EXAMPLE_COMMUNITY),
            "--database",
            p.settings.database_url,
            "-p",
            str(tmp_path / "prices.csv"),
            "--month",
            "2024-05",
            "-f",
            "csv",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    lo, hi = month_bounds("2024-05")
    m = p.measurements
    may = settle(
        p.community, m[(m["start"] >= lo) & (m["start"] < hi)].reset_index(drop=True), p.prices
    ).to_dict()
    m1 = next(x for x in may["members"] if x["id"] == "m1")
    row = list(csv.DictReader(io.StringIO(out.read_text())))[0]
    assert row["month"] == "2024-05" and float(row["total_eur"]) == m1["total_eur"]
    res = CliRunner().invoke(
        app,
        [
            "report",
            "member",
            "m1",
            "-c",
            str(EXAMPLE_COMMUNITY),
            "--database",
            p.settings.database_url,
            "-m",
            str(MEAS),
            "-p",
            str(PRICES),
        ],
    )
    assert res.exit_code != 0 and "exactly one of" in res.output
