"""The GSE ledger (condivisa.billing.ledger, ledger_report, `condivisa ledger`): validation, idempotence,
one transaction, expected figures equal to the settlement's, overdue on hand-worked dates, documents."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import sqlalchemy as sa
import time_machine
from typer.testing import CliRunner

from condivisa.billing import ledger
from condivisa.billing.ledger import (
    LedgerError,
    entry_document,
    list_entries,
    make_entry,
    parse_amount_cents,
    read_document,
    record_entry,
)
from condivisa.billing.ledger_report import (
    ExpectedMonth,
    expected_months,
    ledger_view,
    reconcile,
    record_demo_payment,
)
from condivisa.cli import app
from condivisa.domain.gse_calendar import default_due_on
from condivisa.kernel.money import to_cents
from condivisa.kernel.timegrid import ROME
from condivisa.outputs.sources import inputs_from_files
from condivisa.store.auth_tables import AuditEntry
from condivisa.store.ledger_tables import GseLedgerEntry
from condivisa.store.store import Store
from conftest import EXAMPLE_COMMUNITY, ROOT

MEASUREMENTS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"
COMMUNITY = "CER Esempio Sud"
TODAY = dt.date(2024, 9, 15)


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    s.upgrade()
    yield s
    s.close()


@pytest.fixture(scope="module")
def book():
    inputs = inputs_from_files(EXAMPLE_COMMUNITY, MEASUREMENTS, PRICES)
    return inputs.settled_months(as_of=dt.date(2024, 7, 1))


def _count(store, table=GseLedgerEntry) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table.__table__)).scalar_one()


def _advance(**kw) -> ledger.LedgerEntry:
    args = {
        "kind": "advance",
        "month": "2024-06",
        "amount": "312.40",
        "paid_on": "2024-08-30",
        "today": TODAY,
    }
    return make_entry(COMMUNITY, **{**args, **kw})


# ---------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        ({"kind": "advanse"}, "kind", "did you mean advance?"),
        ({"kind": "conguaglo"}, "kind", "did you mean yearly_balance?"),
        ({"amount": "312.405"}, "amount", "more than 2 decimals"),
        ({"amount": "1.234,56"}, "amount", "without a thousands separator"),
        ({"amount": "tre euro"}, "amount", "not an amount"),
        ({"amount": "-5"}, "amount", "record it as a correction"),
        ({"month": "2024-13"}, "month", "YYYY-MM"),
        ({"month": "06/2024"}, "month", "YYYY-MM"),
        ({"paid_on": "30/08/2024"}, "paid_on", "YYYY-MM-DD"),
        ({"paid_on": "2024-09-16"}, "paid_on", "after today"),
        ({"paid_on": "2024-05-31"}, "paid_on", "before the period 2024-06 starts"),
        ({"paid_on": None}, "status", "give paid_on"),
        ({"kind": "yearly_balance"}, "month", "give the year (e.g. 2024)"),
        ({"status": "payed"}, "status", "did you mean paid?"),
        ({"status": "communicated"}, "communicated_on", "day of the GSE's notice"),
    ],
)
def test_a_malformed_entry_names_the_field_and_the_fix(kw, field, words):
    with pytest.raises(LedgerError) as err:
        _advance(**kw)
    assert err.value.field == field and words in str(err.value), str(err.value)


def test_amounts_kinds_and_periods_that_are_accepted():
    assert (
        parse_amount_cents("312.40") == parse_amount_cents("312,4") == parse_amount_cents("€ 312.40") == 31240
    )
    assert parse_amount_cents("-0.05") == -5 and parse_amount_cents(7) == 700
    assert _advance(kind="acconto").kind == "advance"
    balance = make_entry(COMMUNITY, kind="conguaglio", year=2024, amount="-12.30", communicated_on="2025-03-01",
                         today=dt.date(2025, 3, 2))  # fmt: skip
    assert (balance.kind, balance.period, balance.status, balance.amount_cents) == (
        "yearly_balance", "2024", "communicated", -1230)  # fmt: skip
    assert _advance(kind="correction", amount="-3.10").amount_cents == -310


def test_documents_are_checked():
    assert read_document("C:\\scans\\gse 06.PDF", b"%PDF-1.4").content_type == "application/pdf"
    assert read_document("C:\\scans\\gse 06.PDF", b"%PDF-1.4").name == "gse 06.PDF"
    for name, data, words in (
        ("gse.exe", b"MZ", "attach a"),
        ("gse.pdf", b"", "is empty"),
        ("gse.pdf", b"x" * (ledger.MAX_DOCUMENT_BYTES + 1), "more than 5 MiB"),
    ):
        with pytest.raises(LedgerError, match=words):
            read_document(name, data)


# ---------------------------------------------------------------------------------------------- the store


def test_recording_twice_changes_nothing(store):
    first = record_entry(store, _advance(reference="GSE-123"), actor="ref")
    again = record_entry(store, _advance(reference="GSE-123"), actor="ref")
    assert first.created and not again.created and again.entry_id == first.entry_id
    assert _count(store) == 1
    with store.read() as conn:  # one audit line, written with the entry
        actions = conn.execute(sa.select(AuditEntry.__table__.c.action)).scalars().all()
    assert actions.count(ledger.AUDIT_ACTION) == 1
    (entry,) = list_entries(store, COMMUNITY)
    assert (entry.amount_cents, entry.paid_on, entry.created_by) == (31240, dt.date(2024, 8, 30), "ref")
    # without a reference the natural key is period + kind + status + amount + date
    record_entry(store, _advance())
    record_entry(store, _advance())
    assert _count(store) == 2


def test_the_same_reference_with_another_amount_is_refused(store):
    record_entry(store, _advance(reference="GSE-123"))
    with pytest.raises(LedgerError, match="already recorded .* kind correction") as err:
        record_entry(store, _advance(reference="GSE-123", amount="300.00"))
    assert err.value.field == "reference" and _count(store) == 1


def test_one_transaction_nothing_is_left_when_the_audit_line_fails(store, monkeypatch):
    calls = {"n": 0}
    real_now = ledger.clock.now

    def failing_now():
        calls["n"] += 1
        if calls["n"] == 2:  # the entry's created_at went through, the audit line's does not
            raise RuntimeError("disk full")
        return real_now()

    monkeypatch.setattr(ledger.clock, "now", failing_now)
    with pytest.raises(RuntimeError, match="disk full"):
        record_entry(store, _advance())
    assert _count(store) == 0 and _count(store, AuditEntry) == 0


def test_document_round_trip(store):
    data = b"%PDF-1.4\n" + bytes(range(256)) * 40
    doc = read_document("prospetto-GSE-2024-06.pdf", data)
    out = record_entry(store, _advance(document=doc), doc)
    (entry,) = list_entries(store, COMMUNITY)
    assert entry.document_sha256 == hashlib.sha256(data).hexdigest() and entry.document_bytes == len(data)
    back = entry_document(store, COMMUNITY, out.entry_id)
    assert back is not None and back.data == data and back.sha256 == entry.document_sha256
    assert back.content_type == "application/pdf" and back.name == "prospetto-GSE-2024-06.pdf"
    assert entry_document(store, "Another CER", out.entry_id) is None
    assert entry_document(store, COMMUNITY, out.entry_id + 1) is None


# ---------------------------------------------------------------------------------------------- expected


def test_expected_equals_the_settlement_to_the_cent(book):
    result = book.month("2024-06").result
    (june,) = expected_months(book)
    totals = result.to_dict()["totals"]
    assert june.premium_cents == to_cents(totals["premium_eur"]) == 28041
    assert june.valorisation_cents == to_cents(totals["valorisation_eur"]) == 5408
    assert june.gse_fees_cents == to_cents(result.to_dict()["gse_fees"]["total_eur"]) == 2131
    assert june.sale_cents == to_cents(totals["sale_eur"])
    assert june.expected_cents == 31318 and june.provisional  # 2024 not closed as of 2024-07-01
    # the same money, read off the allocation table: what the GSE pays is what its payees receive from it
    payees = book.month("2024-06").payees()
    by_payee = sum(
        to_cents(p.money.premium_eur) + to_cents(p.money.valorisation_eur) + to_cents(p.money.gse_fees_eur)
        for p in payees
    )
    assert by_payee == june.expected_cents
    (row,) = ledger_view([_advance()], book, TODAY)
    assert (row.expected_cents, row.received_cents, row.variance_cents) == (31318, 31240, -78)
    assert not row.overdue and row.provisional


def test_a_closed_year_has_its_yearly_balance_row_and_is_final():
    inputs = inputs_from_files(EXAMPLE_COMMUNITY, MEASUREMENTS, PRICES)
    closed = inputs.settled_months(as_of=dt.date(2025, 1, 1))
    balance = make_entry(COMMUNITY, kind="yearly_balance", year=2024, amount="0.00", paid_on="2025-06-30",
                         today=dt.date(2025, 7, 1))  # fmt: skip
    june, year = ledger_view([balance], closed, dt.date(2025, 7, 1))
    assert (june.period, june.provisional, june.overdue) == ("2024-06", False, True)  # nothing ever paid
    assert (year.period, year.kind, year.provisional) == ("2024", "yearly_balance", False)
    assert year.expected_cents == 0  # one month only: the year settled at once equals its month
    assert year.received_cents == 0 and year.variance_cents == 0


# ---------------------------------------------------------------------------------------------- overdue


def _month(month: str, cents: int = 10000) -> ExpectedMonth:
    return ExpectedMonth(month, cents, 0, 0, 0)


@pytest.mark.parametrize(
    ("month", "days", "due", "on_time", "late"),
    [
        # December + 60 days lands on 29 February of a leap year; the next day is the 1st of March
        ("2023-12", 60, dt.date(2024, 2, 29), dt.date(2024, 2, 29), dt.date(2024, 3, 1)),
        # February of a leap year ends on the 29th; one day later is the 1st of March
        ("2024-02", 1, dt.date(2024, 3, 1), dt.date(2024, 3, 1), dt.date(2024, 3, 2)),
        # June + 60: 30 June + 60 days = 29 August
        ("2024-06", 60, dt.date(2024, 8, 29), dt.date(2024, 8, 29), dt.date(2024, 8, 30)),
        # not a leap year: 31 December 2024 + 60 days = 1 March 2025
        ("2024-12", 60, dt.date(2025, 3, 1), dt.date(2025, 3, 1), dt.date(2025, 3, 2)),
    ],
)
def test_overdue_on_hand_worked_dates(month, days, due, on_time, late):
    assert default_due_on(month, days) == due
    (row,) = reconcile([], [_month(month)], on_time, payment_days=days)
    assert row.due_on == due and not row.overdue
    (row,) = reconcile([], [_month(month)], late, payment_days=days)
    assert row.overdue and row.variance_cents == -10000


def test_a_payment_a_zero_month_or_the_gse_due_date_stop_the_alarm():
    paid = make_entry(COMMUNITY, kind="advance", month="2023-12", amount="50", paid_on="2024-03-05",
                      today=dt.date(2024, 4, 1))  # fmt: skip
    (row,) = reconcile([paid], [_month("2023-12")], dt.date(2024, 4, 1))
    assert not row.overdue and row.received_cents == 5000 and row.variance_cents == -5000
    (row,) = reconcile([], [_month("2023-12", 0)], dt.date(2024, 4, 1))
    assert not row.overdue  # nothing expected: nothing late
    told = make_entry(COMMUNITY, kind="advance", month="2023-12", amount="100", communicated_on="2024-02-01",
                      due_on="2024-03-31", today=dt.date(2024, 4, 1))  # fmt: skip
    (row,) = reconcile([told], [_month("2023-12")], dt.date(2024, 3, 31))
    assert row.due_on == dt.date(2024, 3, 31) and not row.overdue and row.communicated_cents == 10000
    (row,) = reconcile([told], [_month("2023-12")], dt.date(2024, 4, 1))
    assert row.overdue


def test_the_clock_decides_today_and_the_future(book):
    with time_machine.travel(dt.datetime(2024, 8, 30, 0, 30, tzinfo=ROME), tick=False):
        (row,) = ledger_view([], book)
        assert row.overdue and row.due_on == dt.date(2024, 8, 29)
        with pytest.raises(LedgerError, match="after today"):
            make_entry(COMMUNITY, kind="advance", month="2024-06", amount="1", paid_on="2024-08-31")
    with time_machine.travel(dt.datetime(2024, 8, 29, 23, 30, tzinfo=ROME), tick=False):
        (row,) = ledger_view([], book)
        assert not row.overdue


def test_the_demo_payment_is_recorded_once(store, book):
    first = record_demo_payment(store, book, dt.date(2024, 8, 30))
    assert record_demo_payment(store, book, dt.date(2024, 9, 2)) == first
    (entry,) = list_entries(store, COMMUNITY)
    assert (entry.period, entry.amount_cents, entry.status) == ("2024-06", 31300, "paid")


# ---------------------------------------------------------------------------------------------- the CLI


def test_cli_add_list_report(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    Store(url).upgrade()
    runner = CliRunner()
    doc = tmp_path / "gse.pdf"
    doc.write_bytes(b"%PDF-1.4 GSE")
    base = ["ledger", "add", "-c", str(EXAMPLE_COMMUNITY), "--database", url]
    args = [*base, "--month", "2024-06", "--kind", "advance", "--amount", "312.40", "--paid-on", "2024-08-30"]
    r = runner.invoke(app, [*args, "--reference", "GSE-123", "--document", str(doc)])
    assert r.exit_code == 0 and "recorded entry 1" in r.output, r.output
    r = runner.invoke(app, [*args, "--reference", "GSE-123", "--document", str(doc)])
    assert r.exit_code == 0 and "already recorded as entry 1" in r.output
    bad = [*base, "--month", "2024-06", "--kind", "advanse", "--amount", "1", "--paid-on", "2024-08-30"]
    r = runner.invoke(app, bad)
    assert r.exit_code == 2 and "--kind" in r.output and "did you mean advance?" in r.output
    r = runner.invoke(app, ["ledger", "list", "-c", str(EXAMPLE_COMMUNITY), "--database", url])
    assert r.exit_code == 0 and "GSE-123" in r.output and "312.40" in r.output
    out = tmp_path / "back.pdf"
    r = runner.invoke(
        app, ["ledger", "document", "1", "-c", str(EXAMPLE_COMMUNITY), "--database", url, "-o", str(out)]
    )
    assert r.exit_code == 0 and out.read_bytes() == doc.read_bytes()
    report = ["ledger", "report", "-c", str(EXAMPLE_COMMUNITY), "--database", url, "-p", str(PRICES)]
    r = runner.invoke(app, [*report, "-m", str(MEASUREMENTS), "--as-of", "2024-09-15", "--csv"])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[1].startswith("2024-06,313.18,") and ",312.40,-0.78,2024-08-29,False,True" in lines[1]
    r = runner.invoke(app, [*report, "-m", str(MEASUREMENTS), "--as-of", "2024-09-15"])
    assert r.exit_code == 0 and "313.18" in r.output and "provisional" in r.output


def test_with_the_rid_contracts_the_sale_is_expected_too(book):
    (june,) = expected_months(book, include_sale=True)
    assert june.expected_cents == 31318 + june.sale_cents == 31318 + 407097
    (row,) = ledger_view([], book, TODAY, include_sale=True)
    assert row.expected_cents == 438415 and row.sale_cents == 407097


def test_the_migration_matches_the_model(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from condivisa.store.models import Base

    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    ours = [d for d in diffs if "gse_ledger_entries" in repr(d)]
    assert ours == []
    with store.engine.connect() as conn:
        assert "gse_ledger_entries" in sa.inspect(conn).get_table_names()


@pytest.mark.postgres
def test_on_postgresql_too(pg_url):
    pg = Store(pg_url)
    try:
        pg.upgrade()
        doc = read_document("gse.pdf", b"%PDF-1.4 \x00\xff")
        first = record_entry(pg, _advance(reference="PG-1", document=doc), doc)
        assert not record_entry(pg, _advance(reference="PG-1", document=doc), doc).created
        (entry,) = list_entries(pg, COMMUNITY)
        assert entry.paid_on == dt.date(2024, 8, 30) and entry.amount_cents == 31240
        back = entry_document(pg, COMMUNITY, first.entry_id)
        assert back is not None and back.data == doc.data
    finally:
        pg.close()
