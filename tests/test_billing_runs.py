"""Billing runs (issue #16, item 5): previews are not stored, final runs are numbered, immutable (in the code
and in the database, SQLite and PostgreSQL), atomic, never change when the data change; corrections post
credit/debit notes that add up to the cent; statements issued from final runs; the yearly summary."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from typer.testing import CliRunner

from condivisa.billing import run_records, runs
from condivisa.billing.credit_notes import credit_notes
from condivisa.billing.inputs_hash import changed_parts, inputs_digest
from condivisa.billing.run_lines import RunLine, combine, total_cents
from condivisa.billing.run_records import RunError, get_run, list_runs
from condivisa.billing.statements import run_statement_html
from condivisa.billing.yearly_summary import summary_csv, yearly_summary
from condivisa.cli import app
from condivisa.domain.community import Rules
from condivisa.formats.urbandataset.types import Reading
from condivisa.ingest.tables import ingest_frame
from condivisa.outputs.report import member_statement_html
from condivisa.outputs.sources import inputs_from_files, inputs_from_store
from condivisa.store.billing_tables import BILLING_TABLES, Base
from condivisa.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "community.yaml"
MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"
JUNE = ("2024-06",)
runner = CliRunner()


@pytest.fixture(scope="module")
def inputs():
    return inputs_from_files(CONFIG, MEAS, PRICES)


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    s.upgrade()
    yield s
    s.close()


def _with_more_withdrawal(inputs, pod="IT001E00000001", when="2024-06-10T12:00:00+02:00", extra_kwh=2.0):
    """The inputs with one daytime quarter hour of ``pod`` withdrawing ``extra_kwh`` more."""
    m = inputs.measurements.copy()
    at = (m["pod"] == pod) & (m["start"] == dt.datetime.fromisoformat(when))
    assert at.sum() == 1
    m.loc[at, "withdrawn_kwh"] += extra_kwh
    return dataclasses.replace(inputs, measurements=m)


def _snapshot(store, number=1):
    run = get_run(store, "CER Esempio Sud", number)
    return run.inputs_sha256, run.lines, run.created_at, run.rules, run.tariffs


# ------------------------------------------------------------------------------------------ schema
def test_migration_matches_billing_models(store):
    names = {t.name for t in BILLING_TABLES}
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    ours = [d for d in diffs if names & set(re.findall(r"'(\w+)'", repr(d)))]
    assert ours == []


# ------------------------------------------------------------------------------------------ preview
def test_preview_is_not_stored_and_is_the_monthly_settlement(store, inputs):
    draft = runs.preview(inputs, JUNE)
    assert list_runs(store, "CER Esempio Sud") == []
    book = inputs.settled_months(as_of=dt.date(2024, 7, 1))
    expected = [RunLine.of(p, "2024-06") for p in book.month("2024-06").payees()]
    assert list(draft.lines) == expected
    assert draft.total_cents == total_cents(expected) == 438415
    assert runs.preview(inputs, JUNE).inputs_sha256 == draft.inputs_sha256  # recomputed freely, same result


def test_preview_of_a_month_without_data_is_refused(inputs):
    with pytest.raises(RunError, match="no measurements in 2024-07"):
        runs.preview(inputs, ("2024-06", "2024-07"))


# ------------------------------------------------------------------------------------------ final runs
def test_finalize_is_numbered_and_a_period_is_finalised_once(store, inputs):
    run = runs.finalize(store, inputs, JUNE, created_by="test")
    assert (run.number, run.kind, run.months, run.created_by) == (1, "final", JUNE, "test")
    assert run.inputs_sha256 == runs.preview(inputs, JUNE).inputs_sha256
    assert run.rules["premium_consumers"] == 0.75
    assert run.tariffs["yearly"]["2024"]["values"]["tras_e_eur_per_mwh"] == 10.57
    assert run.inputs["measurement_rows"] == 20160 and run.inputs["price_hours"] == 720
    with pytest.raises(RunError, match=r"already in final run n\. 1.*runs correct 1"):
        runs.finalize(store, inputs, JUNE)
    assert [r.number for r in list_runs(store, "CER Esempio Sud")] == [1]


def test_an_open_month_cannot_be_finalised(store, inputs, monkeypatch):
    from condivisa.kernel import clock

    monkeypatch.setattr(clock, "today", lambda: dt.date(2024, 6, 20))
    with pytest.raises(RunError, match="not over yet"):
        runs.finalize(store, inputs, JUNE)
    assert list_runs(store, "CER Esempio Sud") == []


def test_a_crash_during_finalize_leaves_nothing(store, inputs, monkeypatch):
    real = run_records.insert_line
    calls = {"n": 0}

    def failing(conn, run_id, line):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut between two line inserts")
        real(conn, run_id, line)

    monkeypatch.setattr(run_records, "insert_line", failing)
    with pytest.raises(RuntimeError, match="power cut"):
        runs.finalize(store, inputs, JUNE)
    with store.read() as conn:
        counts = [
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in BILLING_TABLES[:2]
        ]
    assert counts == [0, 0]
    monkeypatch.setattr(run_records, "insert_line", real)
    assert runs.finalize(store, inputs, JUNE).number == 1  # the number was not used up


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE billing_runs SET number = 7",
        "UPDATE billing_runs SET inputs_sha256 = 'x'",
        "DELETE FROM billing_runs",
        "UPDATE billing_run_lines SET premium_cents = premium_cents + 1, total_cents = total_cents + 1",
        "DELETE FROM billing_run_lines",
        "INSERT INTO billing_run_lines (run_id, payee_id, kind, month, premium_cents, valorisation_cents, "
        "sale_cents, fees_cents, gse_fees_cents, total_cents) "
        "SELECT id, 'm9', 'member', '2024-06', 100, 0, 0, 0, 0, 100 FROM billing_runs",
    ],
)
def test_the_database_refuses_to_change_a_final_run(store, inputs, statement):
    runs.finalize(store, inputs, JUNE)
    before = _snapshot(store)
    with pytest.raises(sa.exc.DBAPIError, match="final billing run"):
        with store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert _snapshot(store) == before


def test_postgresql_refuses_truncate_of_runs(store, inputs):
    if store.dialect != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite has none)")
    runs.finalize(store, inputs, JUNE)
    for table in ("billing_run_lines", "billing_runs"):
        with pytest.raises(sa.exc.DBAPIError, match="final billing run"):
            with store.engine.begin() as conn:
                conn.execute(sa.text(f"TRUNCATE {table} CASCADE"))
    assert len(get_run(store, "CER Esempio Sud", 1).lines) == 6


# ------------------------------------------------------------------------------------------ data change
def test_final_run_stays_identical_after_the_stored_data_change(db_store):
    frame = inputs_from_files(CONFIG, MEAS, PRICES).measurements
    ingest_frame(db_store, frame, source="csv:test")
    community = inputs_from_files(CONFIG, MEAS, PRICES).community
    stored = inputs_from_store(db_store, community, prices_csv=PRICES)
    run = runs.finalize(db_store, stored, JUNE)
    assert run.inputs_sha256 == runs.preview(inputs_from_files(CONFIG, MEAS, PRICES), JUNE).inputs_sha256
    before = _snapshot(db_store)
    noon = dt.datetime(2024, 6, 10, 10, 0, tzinfo=dt.UTC)  # 12:00 in Rome: the plants produce
    old = frame[(frame["pod"] == "IT001E00000001") & (frame["start"] == noon)]["withdrawn_kwh"].item()
    out = db_store.ingest_records([Reading("IT001E00000001", noon, old + 2.0, 0.0)], source="distributor")
    assert out.revised == 1
    assert _snapshot(db_store) == before  # the final run reads the same

    changed = inputs_from_store(db_store, community, prices_csv=PRICES)
    with pytest.raises(RunError, match=r"measurements changed.*runs correct 1"):
        runs.verify(changed, run)
    outcome = runs.correct(db_store, changed, 1)
    fresh = runs.preview(changed, JUNE)
    assert outcome.run is not None and outcome.run.kind == "correction" and outcome.run.number == 2
    assert outcome.changed == ("measurements",)
    assert outcome.run.corrects_number == 1 and outcome.run.inputs_sha256 == fresh.inputs_sha256
    assert total_cents(outcome.run.lines) == fresh.total_cents - total_cents(run.lines)
    in_force = combine([*run.lines, *outcome.run.lines])
    assert {k: v.total_cents for k, v in in_force.items()} == {ln.key: ln.total_cents for ln in fresh.lines}
    assert _snapshot(db_store) == before
    assert runs.correct(db_store, changed, 1).run is None  # nothing more to correct


# ------------------------------------------------------------------------------------------ corrections
def test_correction_credit_notes_sum_to_the_cent(store, inputs):
    final = runs.finalize(store, inputs, JUNE)
    assert runs.correct(store, inputs, 1).run is None
    rules = dataclasses.replace(inputs.community.rules, premium_producers=0.2, premium_consumers=0.65)
    changed = _with_more_withdrawal(
        dataclasses.replace(inputs, community=dataclasses.replace(inputs.community, rules=rules))
    )
    outcome = runs.correct(store, changed, 1)
    assert set(outcome.changed) == {"measurements", "rules"}
    fresh = runs.preview(changed, JUNE)
    notes = outcome.run.lines
    assert notes and all(not n.is_zero for n in notes)
    for part in ("premium_cents", "valorisation_cents", "sale_cents", "fees_cents", "gse_fees_cents"):
        assert sum(getattr(n, part) for n in notes) == sum(getattr(x, part) for x in fresh.lines) - sum(
            getattr(x, part) for x in final.lines
        )
    assert total_cents(notes) == fresh.total_cents - total_cents(final.lines)
    assert any(n.total_cents > 0 for n in notes) and any(n.total_cents < 0 for n in notes)  # credit and debit
    # a second change: the notes are against what is in force (the final run plus the first correction)
    again = _with_more_withdrawal(changed, pod="IT001E00000002", extra_kwh=1.0)
    second = runs.correct(store, again, 1).run
    latest = runs.preview(again, JUNE)
    in_force = combine([*final.lines, *outcome.run.lines, *second.lines])
    assert {k: v for k, v in in_force.items() if not v.is_zero} == {ln.key: ln for ln in latest.lines}
    assert second.number == 3 and second.corrects_number == 1
    assert runs.correct(store, again, 3).run is None  # a correction's number means its final run


def test_credit_notes_of_a_payee_that_left():
    old = [RunLine("m1", "member", "2024-06", 500, 100), RunLine("m2", "member", "2024-06", 300, 0, 0, -20)]
    new = [RunLine("m1", "member", "2024-06", 650, 150)]
    notes = credit_notes(old, new)
    assert notes == [
        RunLine("m1", "member", "2024-06", 150, 50),
        RunLine("m2", "member", "2024-06", -300, 0, 0, 20),
    ]
    assert total_cents(notes) == total_cents(new) - total_cents(old) == -80


def test_the_fingerprint_covers_what_changes_the_money(inputs):
    part = inputs.measurements
    digest, parts = inputs_digest(inputs.community, part, inputs.prices, list(JUNE), None)
    members = tuple(dataclasses.replace(m, name="X", email="x@example.org") for m in inputs.community.members)
    renamed = dataclasses.replace(inputs.community, members=members)
    assert inputs_digest(renamed, part, inputs.prices, list(JUNE), None)[0] == digest  # personal fields: no
    prices = inputs.prices.copy()
    prices.iloc[10] += 0.01
    other = inputs_digest(inputs.community, part, prices, list(JUNE), None)[1]
    assert changed_parts(parts, other) == ["prices"]
    ruled = dataclasses.replace(inputs.community, rules=Rules(premium_producers=0.15, premium_community=0.1))
    assert changed_parts(parts, inputs_digest(ruled, part, inputs.prices, list(JUNE), None)[1]) == ["rules"]
    overrides = dataclasses.replace(inputs.community, tariff_overrides={"tras_e_eur_per_mwh": 11.0})
    assert "regulated values" in changed_parts(
        parts, inputs_digest(overrides, part, inputs.prices, list(JUNE), None)[1]
    )
    assert changed_parts(
        parts, inputs_digest(inputs.community, part, inputs.prices, list(JUNE), "zero")[1]
    ) == ["fill"]
    shuffled = part.sample(frac=1.0, random_state=1)
    assert inputs_digest(inputs.community, shuffled, inputs.prices, list(JUNE), None)[0] == digest


# ------------------------------------------------------------------------------------------ statements
def test_statements_are_numbered_from_final_runs_and_provisional_otherwise(store, inputs):
    book = inputs.settled_months(as_of=dt.date(2024, 7, 1))
    preview_html = member_statement_html(book, "m1", "2024-06", "it")
    assert 'data-testid="provisional-banner"' in preview_html and "PROVVISORIO" in preview_html
    assert "Rendiconto n." not in preview_html
    run = runs.finalize(store, inputs, JUNE)
    html = run_statement_html(store, inputs, run, "m1", "2024-06", "it")
    assert "Rendiconto n. 1-m1" in html and 'data-testid="provisional-banner"' not in html
    en = run_statement_html(store, inputs, run, "m1", "2024-06", "en")
    assert "Statement no. 1-m1" in en and "Rendiconto" not in en
    changed = _with_more_withdrawal(inputs)
    with pytest.raises(RunError, match="runs correct 1"):
        run_statement_html(store, changed, run, "m1", "2024-06")
    correction = runs.correct(store, changed, 1).run
    assert "Rendiconto n. 2-m1" in run_statement_html(store, changed, correction, "m1", "2024-06")
    with pytest.raises(RunError, match="not 2024-05"):
        run_statement_html(store, inputs, run, "m1", "2024-05")


# ------------------------------------------------------------------------------------------ yearly summary
def test_yearly_summary_hand_checked(store, inputs):
    runs.finalize(store, inputs, JUNE)
    (m1,) = yearly_summary(store, inputs.community, 2024, "m1")
    # June 2024 of the example community, m1 (Famiglia Rossi): premium 8.63 €, valorisation 2.22 €
    assert m1.line.money().as_dict() == {
        "premium_eur": 8.63,
        "valorisation_eur": 2.22,
        "sale_eur": 0.0,
        "fees_eur": 0.0,
        "gse_fees_eur": 0.0,
        "total_eur": 10.85,
    }
    assert (m1.months, m1.runs) == (("2024-06",), (1,))
    (m5,) = yearly_summary(store, inputs.community, 2024, "m5")
    assert (m5.line.fees_cents, m5.line.total_cents) == (-164, 13357)  # the later member's fee of June
    changed = _with_more_withdrawal(inputs)
    runs.correct(store, changed, 1)
    fresh = {ln.payee_id: ln for ln in runs.preview(changed, JUNE).lines}
    rows = yearly_summary(store, inputs.community, 2024)
    assert [r.member_id for r in rows] == ["m1", "m2", "m3", "m4", "m5"]
    assert all(r.line.total_cents == fresh[r.member_id].total_cents for r in rows)
    assert rows[0].runs == (1, 2)
    csv_text = summary_csv(rows)
    assert csv_text.splitlines()[0].startswith("member,name,year,premium_eur")
    assert yearly_summary(store, inputs.community, 2023, "m1")[0].line.total_cents == 0


# ------------------------------------------------------------------------------------------ CLI
def _cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_runs_cannot_alter_a_final_run(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    common = ["-c", CONFIG, "-p", PRICES, "-m", MEAS, "--database", db]
    r = _cli("runs", "preview", "--month", "2024-06", *common)
    assert r.exit_code == 0, r.output
    assert "PROVVISORIO" in r.output
    r = _cli("runs", "finalize", "--month", "2024-06", *common)
    assert r.exit_code == 0, r.output
    assert "stored final run n. 1" in r.output
    with Store(db) as s:
        before = _snapshot(s)
    # every verb of ``runs`` on the final run: none changes it
    r = _cli("runs", "finalize", "--month", "2024-06", *common)
    assert r.exit_code == 2 and "runs correct 1" in r.output
    r = _cli("runs", "correct", "1", *common)
    assert r.exit_code == 0 and "nothing to correct" in r.output
    for verb in (["list"], ["show", "1"], ["show", "1", "-f", "json"], ["yearly-summary", "--year", "2024"]):
        r = _cli("runs", *verb, "-c", CONFIG, "--database", db)
        assert r.exit_code == 0, r.output
    r = _cli("runs", "distribute", "1", "-c", CONFIG, "--database", db, "--gse-paid", "300")
    assert r.exit_code == 0 and "300.00" in r.output
    # without --gse-paid: what the GSE ledger says it paid for the run's months, or a clear refusal
    r = _cli("runs", "distribute", "1", "-c", CONFIG, "--database", db)
    assert r.exit_code == 2 and "no GSE payment for 2024-06…2024-06 in the ledger" in r.output
    r = _cli(
        "ledger",
        "add",
        "-c",
        CONFIG,
        "--database",
        db,
        "--month",
        "2024-06",
        "--kind",
        "advance",
        "--amount",
        "250.00",
        "--paid-on",
        "2024-08-30",
        "--reference",
        "GSE-T-1",
    )
    assert r.exit_code == 0, r.output
    r = _cli("runs", "distribute", "1", "-c", CONFIG, "--database", db)
    assert r.exit_code == 0 and "GSE paid 250.00 €" in r.output
    r = _cli(
        "runs", "statement", "1", "--member", "m1", "--month", "2024-06", *common, "-o", tmp_path / "s.html"
    )
    assert r.exit_code == 0, r.output
    assert "Rendiconto n. 1-m1" in (tmp_path / "s.html").read_text(encoding="utf-8")
    for bad in (["delete", "1"], ["update", "1"], ["amend", "1"], ["edit", "1"], ["remove", "1"]):
        assert _cli("runs", *bad, "-c", CONFIG, "--database", db).exit_code != 0
    with Store(db) as s:
        assert _snapshot(s) == before
    verbs = set(re.findall(r"│ (\w[\w-]*) ", _cli("runs", "--help").output))
    assert verbs == {
        "preview",
        "finalize",
        "close-year",
        "correct",
        "list",
        "show",
        "statement",
        "distribute",
        "yearly-summary",
    }


def test_the_store_api_has_no_way_to_change_a_run():
    names = {n for mod in (runs, run_records) for n in dir(mod) if not n.startswith("_")}
    assert not {n for n in names if re.search(r"(^|_)(update|delete|remove|edit|amend|alter|set)(_|$)", n)}


def test_cli_errors_are_red_on_stderr_with_exit_2(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    r = _cli("runs", "show", "4", "-c", CONFIG, "--database", db)
    assert r.exit_code == 2 and "no billing run n. 4" in r.output
    r = _cli(
        "runs", "preview", "--month", "2024-13", "-c", CONFIG, "-p", PRICES, "-m", MEAS, "--database", db
    )
    assert r.exit_code == 2 and "2024-13" in r.output


def test_inputs_changed_but_no_money_did_records_an_empty_correction(store, inputs):
    runs.finalize(store, inputs, JUNE)
    m = inputs.measurements.copy()
    night = (m["pod"] == "IT001E00000001") & (
        m["start"] == dt.datetime.fromisoformat("2024-06-10T02:00:00+02:00")
    )
    m.loc[night, "withdrawn_kwh"] += 0.5  # no production at night: no shared energy, no money
    outcome = runs.correct(store, dataclasses.replace(inputs, measurements=m), 1)
    assert outcome.run is not None and outcome.run.lines == () and "no payee's money" in outcome.message
    with pytest.raises(sa.exc.DBAPIError, match="already has all its lines"):
        with store.engine.begin() as conn:
            run_records.insert_line(conn, outcome.run.id, RunLine("m1", "member", "2024-06", 1))


def test_two_finalize_at_once_give_one_final_run(store, inputs):
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_):
        try:
            return runs.finalize(store, inputs, JUNE).number
        except RunError as exc:
            return str(exc)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(attempt, range(2)))
    assert sorted(results, key=str)[0] == 1 and "already in final run n. 1" in str(results)
    assert [r.number for r in list_runs(store, "CER Esempio Sud")] == [1]


def test_migration_downgrades_and_upgrades_again(store, inputs):
    from alembic import command

    runs.finalize(store, inputs, JUNE)
    cfg = store.alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0902_auth_login_throttle")
    assert "billing_runs" not in sa.inspect(store.engine).get_table_names()
    store.upgrade()
    assert list_runs(store, "CER Esempio Sud") == []
    assert runs.finalize(store, inputs, JUNE).number == 1
    with pytest.raises(sa.exc.DBAPIError, match="final billing run"):  # the triggers are back
        with store.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM billing_runs"))


def test_the_http_api_has_no_way_to_change_a_run(tmp_path, inputs):
    from fastapi.testclient import TestClient

    from web_helpers import PASSWORD, build_platform

    platform = build_platform(tmp_path, bad_messages=0)
    runs.finalize(platform.store, inputs, JUNE)
    before = _snapshot(platform.store)
    paths = platform.app.openapi()["paths"]
    assert paths and not [p for p in paths if re.search(r"run|billing|payout", p)]
    c = TestClient(platform.app)
    token = re.search(r'name="csrf_token" value="([^"]*)"', c.get("/login").text).group(1)
    form = {"username": "ref", "password": PASSWORD, "csrf_token": token}
    assert c.post("/login", data=form, follow_redirects=False).status_code == 303  # the referente
    for path in ("/api/runs/1", "/api/v1/runs/1", "/runs/1", "/api/billing/runs/1"):
        for method in ("DELETE", "PUT", "PATCH", "POST"):
            assert c.request(method, path, json={"number": 9}).status_code in (403, 404, 405)
    assert _snapshot(platform.store) == before
