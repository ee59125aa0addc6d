"""Distributor data on the dashboard (/community/distributor) through the real app: referente only, the upload
with its anti-CSRF token, a bad file storing nothing, the reconciliation and the money on the page."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from condivisa.formats.distributor import write_portal_export
from condivisa.store.distributor import imported_files
from test_web import client, form_token
from web_helpers import build_platform

POD = "IT001E00000003"  # m3's


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    return build_platform(tmp_path_factory.mktemp("dist-web"), bad_messages=0)


def _export(platform, factor: float, day: dt.date = dt.date(2024, 6, 1)) -> bytes:
    frame = platform.measurements
    mine = frame[frame["pod"] == POD].set_index("start")["withdrawn_kwh"]
    local = mine[pd.DatetimeIndex(mine.index).tz_convert("Europe/Rome").date == day]
    path = platform.settings.database_url.replace("sqlite:///", "")
    out = f"{path}.{factor}.csv"
    write_portal_export((local * factor).round(3), out)
    with open(out, "rb") as fh:
        return fh.read()


def _files(platform) -> list[dict]:
    with platform.store.read() as conn:
        return imported_files(conn)


def test_only_the_referente_sees_and_uploads(platform):
    anonymous = TestClient(platform.app)
    r = anonymous.get("/community/distributor", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    member = client(platform, "rossi")
    assert member.get("/community/distributor").status_code == 404
    r = member.post("/community/distributor", data={"csrf_token": "x"}, follow_redirects=False)
    assert r.status_code == 404 and _files(platform) == []
    ref = client(platform, "ref")
    page = ref.get("/community/distributor")
    assert page.status_code == 200 and 'data-testid="dist-form"' in page.text
    assert 'href="/community/distributor"' in ref.get("/community").text


def test_upload_needs_the_token_a_bad_file_stores_nothing_and_a_good_one_counts(platform):
    ref = client(platform, "ref")
    good = _export(platform, 1.05)
    files = [("files", ("m3-giugno.csv", good, "text/csv"))]
    data = {"pod": POD, "direction": "withdrawal"}
    assert (
        ref.post("/community/distributor", data={**data, "csrf_token": "forged"}, files=files).status_code
        == 403
    )
    token = form_token(ref.get("/community/distributor").text)
    bad = good.replace(b'"0,', b'"0.', 1)
    r = ref.post(
        "/community/distributor",
        data={**data, "csrf_token": token},
        files=[("files", ("ok.csv", good, "text/csv")), ("files", ("bad.csv", bad, "text/csv"))],
    )
    assert r.status_code == 400 and "has a decimal point" in r.text and "bad.csv" in r.text
    assert "nothing was imported" in r.text and _files(platform) == []
    before = platform.app.state.dashboard.book().month("2024-06").result.member_row("m3")
    r = ref.post(
        "/community/distributor", data={**data, "csrf_token": token}, files=files, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/community/distributor?imported=96"
    (f,) = _files(platform)
    assert f["pod"] == POD and f["imported_by"] == "ref" and f["new_values"] == 96
    # the money follows the distributor's data at once (the dashboard's cache knows of the import)
    after = platform.app.state.dashboard.book().month("2024-06").result.member_row("m3")
    assert after["withdrawn_kwh"] > before["withdrawn_kwh"]
    page = ref.get("/community/distributor?month=2024-06").text
    row = re.search(rf'<tr data-pod="{POD}" data-direction="withdrawal".*?</tr>', page, re.S)
    assert row is not None and "⚠" in row.group(0)  # the device reads 4.8 % low: to check
    assert 'data-testid="dist-mix"' in page and "dati del distributore" in page
    community = ref.get("/community?month=2024-06").text
    assert 'data-testid="source-mix"' in community and "dati del distributore" in community
    again = ref.post(
        "/community/distributor", data={**data, "csrf_token": token}, files=files, follow_redirects=False
    )
    assert again.headers["location"] == "/community/distributor?imported=0" and len(_files(platform)) == 1
