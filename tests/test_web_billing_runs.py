"""The billing runs on the dashboard (issue #16): a month in a final run shows "Rendiconto n. N-m1 ·
definitivo" and its download is the numbered statement while the inputs match; otherwise the amounts are
provisional. The referente's page lists the runs (read-only)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from condivisa.billing import runs
from condivisa.formats.urbandataset.types import Reading
from condivisa.outputs.sources import inputs_from_store
from test_web import login
from web_helpers import build_platform


@pytest.fixture
def platform(tmp_path):
    p = build_platform(tmp_path, bad_messages=0)
    stored = inputs_from_store(p.store, p.community, prices_csv=p.settings.prices_file)
    runs.finalize(p.store, stored, ("2024-05",), fill="zero", created_by="referente@test")
    return p


def _client(platform, user: str, lang: str = "it") -> TestClient:
    c = TestClient(platform.app, headers={"accept-language": lang})
    assert login(c, user).status_code == 303
    return c


def test_member_page_and_statement_are_numbered_when_in_a_final_run(platform):
    c = _client(platform, "rossi")
    page = c.get("/members/m1?month=2024-05&lang=it").text
    assert 'data-testid="br-run"' in page and "Rendiconto n. 1-m1 · definitivo" in page
    assert "importi provvisori" not in page
    june = c.get("/members/m1?month=2024-06&lang=it").text
    assert 'data-testid="br-provisional"' in june
    assert "importi provvisori: non ancora chiusi in un run definitivo" in june
    en = c.get("/members/m1?month=2024-05&lang=en").text
    assert "Statement no. 1-m1 · final" in en

    r = c.get("/members/m1/statement.html?month=2024-05&lang=it")
    assert r.status_code == 200
    assert 'data-testid="run-label"' in r.text and "Rendiconto n. 1-m1" in r.text
    assert 'data-testid="provisional-banner"' not in r.text
    assert "rendiconto-1-m1-2024-05.html" in r.headers["content-disposition"]
    r = c.get("/members/m1/statement.html?month=2024-06&lang=it")
    assert 'data-testid="provisional-banner"' in r.text and 'data-testid="run-label"' not in r.text


def test_a_statement_whose_data_changed_since_the_run_is_provisional(platform):
    pod = platform.community.consumption_pods[0]
    noon = dt.datetime(2024, 5, 30, 10, 0, tzinfo=dt.UTC)
    frame = platform.measurements
    old = frame[(frame["pod"] == pod) & (frame["start"] == noon)]["withdrawn_kwh"].item()
    assert (
        platform.store.ingest_records([Reading(pod, noon, old + 2.0, 0.0)], source="distributor").revised == 1
    )
    c = _client(platform, "rossi")
    r = c.get("/members/m1/statement.html?month=2024-05&lang=it")
    assert r.status_code == 200
    assert 'data-testid="provisional-banner"' in r.text and 'data-testid="run-label"' not in r.text


def test_the_referente_sees_the_runs(platform):
    c = _client(platform, "ref")
    page = c.get("/community?month=2024-05&lang=it").text
    assert 'data-testid="br-runs"' in page
    section = page.split('data-testid="br-runs"', 1)[1].split("</section>", 1)[0]
    assert 'data-run="1"' in section and "definitivo" in section and "2024-05" in section
    assert "referente@test" in section
    assert "<form" not in section  # read-only


def test_without_runs_the_referente_is_told(tmp_path):
    p = build_platform(tmp_path, bad_messages=0)
    c = _client(p, "ref", "en")
    page = c.get("/community?month=2024-05&lang=en").text
    assert "No final run stored yet." in page
