"""Rule 12 of #14: the statement's tax view (Agenzia delle Entrate, Ris. 37/E of 22/07/2024).

Hand-worked first: the example community's m3 (an SME that owns pv1 and receives its sale) and m1 (a family,
consumer only), with their June 2024 money written out; then the same regrouping on the settlement result of
the example community, on every output (HTML/PDF statement, CSV, the CLI table), in both languages, and for a
commercial community. A label with its source, not tax advice.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re

import pytest
from rich.console import Console

from condivisa.domain.community import LegalForm, MemberCategory
from condivisa.domain.config import ConfigError, community_from_dict, load_community, read_yaml_file
from condivisa.formats.csv_io import read_measurements, read_prices
from condivisa.outputs import report
from condivisa.outputs.i18n import fmt_number
from condivisa.outputs.monthly import SettledMonths
from condivisa.outputs.statement import Money, member_statement, statement_table
from condivisa.outputs.tax_view import SOURCE_COMMERCIAL, SOURCE_NON_COMMERCIAL, TAX_KEYS, TaxView
from conftest import EXAMPLE_COMMUNITY, ROOT

MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"
MONTH = "2024-06"

# m3's June 2024 money as the example community settled it when this test was written (premium 41.87,
# valorisation 8.97, sale of pv1's injection 258.36): the sale is income, 41.87 + 8.97 = 50.84 is passed on
M3 = Money(premium_eur=41.87, valorisation_eur=8.97, sale_eur=258.36, fees_eur=0.0, total_eur=309.20)
# m1, a family with no plant: premium 9.34 + valorisation 2.22 = 11.56, nothing of it is income
M1 = Money(premium_eur=9.34, valorisation_eur=2.22, sale_eur=0.0, fees_eur=0.0, total_eur=11.56)
# m5, a later member who paid 1.64 € of annual fee
M5 = Money(premium_eur=116.42, valorisation_eur=27.66, sale_eur=0.0, fees_eur=-1.64, total_eur=142.44)


def _cents(x: float) -> int:
    return round(x * 100)


@pytest.fixture(scope="module")
def community():
    return load_community(EXAMPLE_COMMUNITY)


@pytest.fixture(scope="module")
def commercial(community):
    return dataclasses.replace(community, legal_form=LegalForm.COMMERCIAL)


@pytest.fixture(scope="module")
def data(community):
    return read_measurements(MEAS, known_pods=community.all_pods), read_prices(PRICES)


@pytest.fixture(scope="module")
def book(community, data):
    return SettledMonths(community, *data)


def test_hand_worked_m3_producer_receiving_the_sale():
    view = TaxView.of(M3, LegalForm.NON_COMMERCIAL, MemberCategory.SME)
    assert view.tax_income_eur == 258.36  # corrispettivo per la vendita di energia: reddito
    assert view.tax_passed_on_eur == 50.84  # premio 41.87 + valorizzazione 8.97 restituiti (Ris. 37/E/2024)
    assert view.tax_community_income_eur == 0.0 and view.tax_fees_eur == 0.0
    assert view.tax_total_eur == 309.20 == M3.total_eur
    assert view.line_keys == ("tax_income_eur", "tax_passed_on_eur", "tax_fees_eur", "tax_total_eur")
    # an SME is an enterprise: the note on business income, then the disclaimer
    assert view.note_keys == ("tax_enterprise_note", "tax_disclaimer")
    assert view.source == SOURCE_NON_COMMERCIAL and "37/E del 22/07/2024" in view.source


def test_hand_worked_m1_consumer_and_m5_with_fees():
    m1 = TaxView.of(M1, LegalForm.NON_COMMERCIAL, MemberCategory.PRIVATE)
    assert (m1.tax_income_eur, m1.tax_passed_on_eur, m1.tax_total_eur) == (0.0, 11.56, 11.56)
    assert m1.note_keys == ("tax_disclaimer",)  # a family: no business income
    m5 = TaxView.of(M5, LegalForm.NON_COMMERCIAL, MemberCategory.ENTERPRISE)
    # 116.42 + 27.66 = 144.08 passed on; the fee is its own line; 144.08 − 1.64 = 142.44
    assert (m5.tax_passed_on_eur, m5.tax_fees_eur, m5.tax_total_eur) == (144.08, -1.64, 142.44)


def test_hand_worked_commercial_community_everything_is_its_income():
    view = TaxView.of(M3, LegalForm.COMMERCIAL, MemberCategory.SME)
    assert view.tax_community_income_eur == 309.20  # 41.87 + 8.97 + 258.36
    assert view.tax_income_eur == view.tax_passed_on_eur == 0.0
    assert view.line_keys == ("tax_community_income_eur", "tax_fees_eur", "tax_total_eur")
    assert view.note_keys == ("tax_disclaimer",) and view.source == SOURCE_COMMERCIAL
    assert "art. 81" in view.source


def test_groups_add_in_whole_cents():
    # 0.1 + 0.2 is 0.30000000000000004 in floats; in cents it is 30
    view = TaxView.of(
        Money(premium_eur=0.1, valorisation_eur=0.2, total_eur=0.3),
        LegalForm.NON_COMMERCIAL,
        MemberCategory.PRIVATE,
    )
    assert (
        view.tax_passed_on_eur == 0.3
        and str(TaxView.of(Money(), LegalForm.COMMERCIAL, MemberCategory.PRIVATE).tax_fees_eur) == "0.0"
    )
    assert list(view.amounts()) == list(TAX_KEYS)


@pytest.mark.parametrize("member_id", ["m1", "m2", "m3", "m4", "m5"])
def test_the_tax_view_is_the_settlement_result(community, data, member_id):
    from condivisa.engines.settlement import settle

    result = settle(community, *data)
    row = result.member_row(member_id)
    view = member_statement(community, member_id, result).tax_month
    assert view.tax_income_eur == row["sale_eur"]
    assert _cents(view.tax_passed_on_eur) == _cents(row["premium_eur"]) + _cents(row["valorisation_eur"])
    assert view.tax_fees_eur == row["fees_eur"] and view.tax_total_eur == row["total_eur"]
    if member_id == "m3":  # the producer: pv1's sale goes to its owner (rules.sale: producers)
        assert view.tax_income_eur > 0


def test_legal_form_in_the_community_file():
    raw = read_yaml_file(EXAMPLE_COMMUNITY)
    assert community_from_dict(raw).legal_form is LegalForm.NON_COMMERCIAL  # the default
    assert community_from_dict({**raw, "legal_form": "commercial"}).legal_form is LegalForm.COMMERCIAL
    with pytest.raises(
        ConfigError, match=r"legal_form: 'comercial' is not one of non_commercial, commercial"
    ):
        community_from_dict({**raw, "legal_form": "comercial"})
    with pytest.raises(ConfigError, match=r"legal_from: unknown key \(did you mean legal_form\?\)"):
        community_from_dict({**raw, "legal_from": "commercial"})


def _keyed(html: str, key: str) -> list[str]:
    return re.findall(rf'data-key="{key}">([^<]*)<', html)


def test_statement_html_in_both_languages(book):
    s = book.statement("m3", MONTH)
    for lang in ("it", "en"):
        html = report.member_statement_html(book, "m3", MONTH, lang)
        box = html.split('data-testid="tax-view"')[1].split("</section>")[0]
        # month, then year (one month of data: the same figures)
        assert _keyed(box, "tax_income_eur") == [fmt_number(s.money.sale_eur, lang)] * 2
        assert _keyed(box, "tax_passed_on_eur") == [fmt_number(s.tax_month.tax_passed_on_eur, lang)] * 2
        assert _keyed(box, "tax_total_eur") == [fmt_number(s.money.total_eur, lang)] * 2
        assert "tax_community_income_eur" not in box
        assert "Agenzia delle Entrate, Risoluzione n. 37/E del 22/07/2024" in box
    assert "Corrispettivo per la vendita di energia (reddito)" in report.member_statement_html(
        book, "m1", MONTH
    )
    it = report.member_statement_html(book, "m3", MONTH, "it")
    assert "Premio e valorizzazione restituiti (Ris. AdE 37/E/2024)" in it
    assert "Informazione, non consulenza fiscale." in it and "reddito d&#39;impresa" in it
    en = report.member_statement_html(book, "m1", MONTH, "en")
    assert "Information, not tax advice" in en and "Premium and valorisation passed on" in en
    assert "Enterprise member" not in en  # m1 is a family


def test_statement_csv_columns(book):
    rows = list(csv.DictReader(io.StringIO(report.member_statement_csv(book, "m3", MONTH))))
    s = book.statement("m3", MONTH)
    assert [r["month"] for r in rows] == [MONTH, "2024"]
    for r in rows:
        assert r["tax_income_eur"] == f"{s.money.sale_eur:.2f}" == r["sale_eur"]
        assert _cents(float(r["tax_passed_on_eur"])) == _cents(float(r["premium_eur"])) + _cents(
            float(r["valorisation_eur"])
        )
        assert r["tax_community_income_eur"] == "0.00"
        assert (
            r["tax_source"].startswith("Agenzia delle Entrate")
            and "non consulenza fiscale" in r["tax_source"]
        )


def test_commercial_community_on_every_output(commercial, data):
    book = SettledMonths(commercial, *data)
    s = book.statement("m3", MONTH)
    assert s.tax_month.tax_community_income_eur == _cents(s.money.total_eur) / 100
    html = report.member_statement_html(book, "m3", MONTH, "it")
    box = html.split('data-testid="tax-view"')[1].split("</section>")[0]
    assert _keyed(box, "tax_community_income_eur") == [fmt_number(s.money.total_eur, "it")] * 2
    assert "tax_income_eur" not in box and "reddito della comunità (ente commerciale)" in box
    assert "TUIR (DPR 917/1986), art. 81" in box
    rows = list(csv.DictReader(io.StringIO(report.member_statement_csv(book, "m3", MONTH))))
    assert (
        rows[0]["tax_community_income_eur"] == f"{s.money.total_eur:.2f}"
        and rows[0]["tax_income_eur"] == "0.00"
    )
    assert rows[0]["tax_source"].startswith("TUIR")
    text = _table_text(s)
    assert "income of the community (commercial entity)" in text and "art. 81" in text


def _table_text(statement) -> str:
    console = Console(width=200, record=True)
    console.print(statement_table(statement))
    return console.export_text()


def test_cli_table_shows_the_tax_view(community, data):
    from condivisa.engines.settlement import settle

    s = member_statement(community, "m3", settle(community, *data))
    text = _table_text(s)
    line = next(x for x in text.splitlines() if "Sale of energy: income" in x)
    assert f"{s.money.sale_eur:,.2f} €" in line
    line = next(x for x in text.splitlines() if "Premium and valorisation passed on" in x)
    assert f"{s.tax_month.tax_passed_on_eur:,.2f} €" in line
    assert "Source: Agenzia delle Entrate, Risoluzione n. 37/E del 22/07/2024" in text
    assert "not tax advice" in text
    assert s.as_dict()["tax_view"]["lines"]["tax_income_eur"] == s.money.sale_eur


@pytest.mark.browser
@pytest.mark.slow
def test_the_printed_statement_shows_the_tax_view(book):
    """The PDF is the statement printed by Chromium: in print media the tax view is on the page."""
    if not report.chromium_available():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing under CI")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    html = report.member_statement_html(book, "m3", MONTH, "it")
    assert report.html_to_pdf(html)[:5] == b"%PDF-"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=report.CHROMIUM, args=report.CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_content(html, wait_until="load")
            page.emulate_media(media="print")
            box = page.locator('[data-testid="tax-view"]')
            assert box.is_visible()
            assert "Corrispettivo per la vendita di energia (reddito)" in box.inner_text()
            assert "Informazione, non consulenza fiscale." in box.inner_text()
        finally:
            browser.close()
