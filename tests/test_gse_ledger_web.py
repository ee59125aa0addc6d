"""The GSE ledger on the dashboard (/community/ledger) through the real app: referente only, the same 404
for absent and not-yours, the form with its anti-CSRF token, a malformed entry storing nothing, the
document's round trip."""

from __future__ import annotations

import hashlib
import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from condivisa.billing.ledger import MAX_DOCUMENT_BYTES, list_entries
from condivisa.billing.ledger_report import expected_months
from condivisa.store.ledger_tables import GseLedgerEntry
from test_web import client, form_token
from web_helpers import build_platform


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    return build_platform(tmp_path_factory.mktemp("ledger-web"), bad_messages=0)


def _count(platform) -> int:
    with platform.store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(GseLedgerEntry.__table__)).scalar_one()


def _post(c: TestClient, token: str, files=None, **fields):
    data = {"csrf_token": token, "kind": "advance", "month": "2024-06", "amount": "1.00", **fields}
    return c.post("/community/ledger", data=data, files=files, follow_redirects=False)


def test_only_the_referente_sees_the_ledger(platform):
    anonymous = TestClient(platform.app)
    for path in ("/community/ledger", "/community/ledger/1/document"):
        r = anonymous.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    member = client(platform, "rossi")
    ref = client(platform, "ref")
    absent = ref.get("/community/ledger/999999/document")
    for path in ("/community/ledger", "/community/ledger/1/document", "/community/ledger/999999/document"):
        r = member.get(path)
        assert r.status_code == 404 and 'data-testid="ledger"' not in r.text, path
    assert absent.status_code == 404 and ref.get("/community/ledger/not-a-number/document").status_code == 404
    r = member.post("/community/ledger", data={"csrf_token": "x", "amount": "1"}, follow_redirects=False)
    assert r.status_code == 404 and _count(platform) == 0
    page = ref.get("/community/ledger")
    assert page.status_code == 200 and 'data-testid="ledger-table"' in page.text
    assert 'href="/community/ledger"' in ref.get("/community").text


def test_the_page_shows_the_settlement_as_expected(platform):
    ref = client(platform, "ref", lang="en")
    html = ref.get("/community/ledger").text
    book = platform.app.state.dashboard.book()
    for month in expected_months(book):
        row = re.search(rf'<tr data-period="{month.month}".*?</tr>', html, re.S).group(0)
        shown = re.search(r'data-key="expected_eur">([^<]*)<', row).group(1)
        assert shown == f"{month.expected_cents / 100:,.2f}", (month, shown)
    assert 'data-period="2024"' in html  # 2024 is closed (the real clock is later): its yearly balance row


def test_the_form_needs_the_csrf_token_and_records_once_with_its_document(platform):
    ref = client(platform, "ref")
    before = _count(platform)
    assert _post(ref, "forged", paid_on="2024-08-30").status_code == 403 and _count(platform) == before
    token = form_token(ref.get("/community/ledger").text)
    data = b"%PDF-1.4\n" + bytes(range(256)) * 10
    files = {"document": ("prospetto GSE.pdf", data, "application/pdf")}
    r = _post(ref, token, files=files, amount="312.40", paid_on="2024-08-30", reference="GSE-W-1")
    assert r.status_code == 303 and r.headers["location"].startswith("/community/ledger?recorded="), r.text
    again = _post(ref, token, files=files, amount="312.40", paid_on="2024-08-30", reference="GSE-W-1")
    assert again.status_code == 303 and again.headers["location"] == r.headers["location"]
    assert _count(platform) == before + 1
    (entry,) = [e for e in list_entries(platform.store, platform.community.name) if e.reference == "GSE-W-1"]
    assert entry.created_by == "ref" and entry.document_sha256 == hashlib.sha256(data).hexdigest()
    page = ref.get(r.headers["location"]).text
    assert 'data-testid="ledger-recorded"' in page and f'href="/community/ledger/{entry.id}/document"' in page
    got = ref.get(f"/community/ledger/{entry.id}/document")
    assert got.status_code == 200 and got.content == data
    assert hashlib.sha256(got.content).hexdigest() == entry.document_sha256
    assert (
        got.headers["content-type"] == "application/pdf"
        and "attachment" in got.headers["content-disposition"]
    )
    assert client(platform, "bianchi").get(f"/community/ledger/{entry.id}/document").status_code == 404


def test_a_malformed_entry_stores_nothing_and_says_the_fix(platform):
    ref = client(platform, "ref", lang="en")
    token = form_token(ref.get("/community/ledger").text)
    before = _count(platform)
    r = _post(ref, token, kind="advanse", paid_on="2024-08-30")
    assert (
        r.status_code == 400 and "did you mean advance?" in r.text and 'data-testid="ledger-error"' in r.text
    )
    r = _post(ref, token, amount="12.345", paid_on="2024-08-30")
    assert r.status_code == 400 and "more than 2 decimals" in r.text and 'value="12.345"' in r.text
    files = {"document": ("virus.exe", b"MZ", "application/octet-stream")}
    assert _post(ref, token, files=files, paid_on="2024-08-30").status_code == 400
    big = {"document": ("big.pdf", b"x" * (MAX_DOCUMENT_BYTES + 1), "application/pdf")}
    assert _post(ref, token, files=big, paid_on="2024-08-30").status_code in (400, 413)
    assert _count(platform) == before
