"""``condivisa settle`` through Typer's CliRunner, on the bundled example files and on broken copies."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from condivisa.cli import app

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "community.yaml"
MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"
runner = CliRunner()

MONTH_KEYS = {
    "injected_kwh",
    "withdrawn_kwh",
    "shared_kwh",
    "incentivised_shared_kwh",
    "premium_eur",
    "valorisation_eur",
    "sale_eur",
}
MEMBER_KEYS = {
    "id",
    "withdrawn_kwh",
    "injected_kwh",
    "premium_eur",
    "valorisation_eur",
    "sale_eur",
    "fees_eur",
    "total_eur",
}


def _run(*args):
    return runner.invoke(app, ["settle", "--config", str(CONFIG), *args])


def test_json_result_has_the_fields_of_the_issue(tmp_path):
    out = tmp_path / "result.json"
    r = _run("--measurements", str(MEAS), "--prices", str(PRICES), "--out", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert MONTH_KEYS <= set(doc["totals"]) and [m["month"] for m in doc["months"]] == ["2024-06"]
    assert MONTH_KEYS <= set(doc["months"][0])
    assert [m["id"] for m in doc["members"]] == ["m1", "m2", "m3", "m4", "m5"]
    assert all(MEMBER_KEYS <= set(m) for m in doc["members"])
    pods = {q["pod"]: q for q in doc["data_quality"]["pods"]}
    assert set(pods) == {f"IT001E0000000{i}" for i in range(1, 6)} | {"IT001E00000100", "IT001E00000101"}
    assert all(q["missing_intervals"] == 0 and q["expected_intervals"] == 2880 for q in pods.values())
    # everything paid out adds up to the totals, to the cent
    payees = doc["members"] + [doc["community_account"]] + doc["external_producers"]
    for key in ("premium_eur", "valorisation_eur", "sale_eur"):
        assert sum(round(p[key] * 100) for p in payees) == round(doc["totals"][key] * 100)


def test_table_csv_and_member_statement():
    r = _run("--measurements", str(MEAS), "--prices", str(PRICES), "--format", "table")
    assert r.exit_code == 0, r.output
    assert "Allocation" in r.output and "Officina Neri srl" in r.output and "2024-06" in r.output
    c = _run("--measurements", str(MEAS), "--prices", str(PRICES), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(c.output)))
    assert [x["id"] for x in rows] == ["m1", "m2", "m3", "m4", "m5", "community"]
    s = _run("--measurements", str(MEAS), "--prices", str(PRICES), "--member", "m5")
    assert s.exit_code == 0 and "Statement of m5" in s.output and "Fees" in s.output


def test_from_to_and_quarter_interval():
    week = _run(
        "--measurements", str(MEAS), "--prices", str(PRICES), "--from", "2024-06-03", "--to", "2024-06-09"
    )
    month = _run("--measurements", str(MEAS), "--prices", str(PRICES))
    quarter = _run("--measurements", str(MEAS), "--prices", str(PRICES), "--interval", "quarter")
    w, m, q = (json.loads(x.output) for x in (week, month, quarter))
    assert w["period"] == {"from": "2024-06-03", "to": "2024-06-09", "interval": "hour"}
    assert 0 < w["totals"]["shared_kwh"] < m["totals"]["shared_kwh"]
    # within an hour the quarter hours can only match production and consumption worse, never better
    assert q["totals"]["shared_kwh"] <= m["totals"]["shared_kwh"]


def _broken(tmp_path, transform, name="m.csv", source=MEAS):
    lines = source.read_text().splitlines(keepends=True)
    p = tmp_path / name
    p.write_text("".join(transform(lines)))
    return p


@pytest.mark.parametrize(
    "transform,match",
    [
        (lambda ls: ls[:5] + [ls[4].replace(",0.", ",9.", 1)] + ls[5:], "conflicting rows"),
        (lambda ls: ls[:3] + [ls[3].replace("0.0", "-1.0", 1)] + ls[4:], "line 4"),
        (
            lambda ls: ls[:2] + [ls[2].replace("IT001E00000001", "IT999", 1)] + ls[3:],
            "pod 'IT999' is not a POD",
        ),
        (lambda ls: ls[:2] + [ls[2].replace(":15:00", ":07:00", 1)] + ls[3:], "off the quarter-hour grid"),
        (lambda ls: ls[:10] + ls[11:], r"missing quarter hours for 1 POD\(s\): IT001E00000001 \(1\)"),
    ],
)
def test_bad_measurements_exit_non_zero_with_a_clear_message(tmp_path, transform, match):
    p = _broken(tmp_path, transform)
    r = _run("--measurements", str(p), "--prices", str(PRICES))
    assert r.exit_code != 0
    flat = r.output.replace("\n", "")
    assert str(p) in flat and re.search(match, flat)


def test_fill_makes_missing_data_explicit(tmp_path):
    p = _broken(tmp_path, lambda ls: ls[:10] + ls[11:])
    r = _run("--measurements", str(p), "--prices", str(PRICES), "--fill", "interpolate")
    assert r.exit_code == 0, r.output
    q = {x["pod"]: x for x in json.loads(r.output)["data_quality"]["pods"]}
    assert q["IT001E00000001"]["missing_intervals"] == 1 and q["IT001E00000001"]["filled_intervals"] == 1


def test_exact_duplicates_are_reported(tmp_path):
    p = _broken(tmp_path, lambda ls: ls[:5] + [ls[4], ls[4]] + ls[5:])
    r = _run("--measurements", str(p), "--prices", str(PRICES))
    assert r.exit_code == 0, r.output
    q = {x["pod"]: x for x in json.loads(r.output)["data_quality"]["pods"]}
    assert q["IT001E00000001"]["duplicate_rows_dropped"] == 2


def test_missing_price_hour_names_the_price_file_and_hour(tmp_path):
    p = _broken(tmp_path, lambda ls: ls[:6] + ls[7:], name="p.csv", source=PRICES)
    r = _run("--measurements", str(MEAS), "--prices", str(p))
    assert r.exit_code != 0
    flat = r.output.replace("\n", "")
    assert str(p) in flat and "2024-06-01T05:00:00+02:00" in flat


def test_needs_exactly_one_source():
    r = _run("--prices", str(PRICES))
    assert r.exit_code != 0 and "exactly one of" in r.output


def test_database_source_gives_the_same_result_as_the_csv(tmp_path, sqlite_url):
    from condivisa.domain.config import load_community
    from condivisa.formats.csv_io import read_measurements
    from condivisa.formats.urbandataset.types import Reading
    from condivisa.store import store as store_mod

    community = load_community(CONFIG)
    frame = read_measurements(MEAS)
    first_week = frame[frame["start"] < "2024-06-08T00:00:00+02:00"]
    store = store_mod.Store(sqlite_url)
    store.upgrade()
    store.register_devices(community)
    readings = [
        Reading(pod=p, start=s.to_pydatetime(), withdrawn_kwh=w, injected_kwh=i)
        for p, s, w, i in first_week.itertuples(index=False)
    ]
    store.ingest_records(readings, source="test", cross_check=False)
    store.close()
    args = ("--prices", str(PRICES), "--from", "2024-06-01", "--to", "2024-06-07")
    db = _run("--database", sqlite_url, *args)
    assert db.exit_code == 0, db.output
    from_csv = _run("--measurements", str(MEAS), *args)
    a, b = json.loads(db.output), json.loads(from_csv.output)
    assert a["totals"] == b["totals"] and a["members"] == b["members"]
