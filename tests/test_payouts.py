"""Payouts (issue #16, item 6) and the distribution of what the GSE paid (item 5): the pain.001.001.03 file
validates against its XSD and its sums are the run's, to the cent; skipped payees and IBAN errors name the
member; what the GSE paid is split by the final run's keys exactly (a property test)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from condivisa.billing import runs
from condivisa.billing.bank_accounts import set_account
from condivisa.billing.distribution import distribute, gse_cents
from condivisa.billing.payouts import PayoutError, payout_plan, sepa_xml
from condivisa.billing.run_lines import RunLine, per_payee
from condivisa.cli import app
from condivisa.kernel import clock
from condivisa.outputs.sources import inputs_from_files
from condivisa.store.billing_tables import MemberBankAccount
from condivisa.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "community.yaml"
MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
DEBTOR = "IT25O0306909606100000012345"
IBANS = {
    "m1": "IT60X0542811101000000123456",
    "m3": "IT37Y0542811101000000123457",
    "m4": "IT13 P020 0802 4350 0010 1234 567",
}
XSD = resources.files("sepaxml") / "schemas" / "pain.001.001.03.xsd"
runner = CliRunner()


@pytest.fixture(scope="module")
def inputs():
    return inputs_from_files(CONFIG, MEAS, PRICES)


@pytest.fixture
def store(db_url, inputs):
    s = Store(db_url)
    s.upgrade()
    for member, iban in IBANS.items():
        set_account(s, inputs.community, member, iban=iban, holder=f"Holder {member}")
    yield s
    s.close()


def _sums(xml: bytes) -> dict:
    root = ET.fromstring(xml)
    amounts = [Decimal(a.text) for a in root.iterfind(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", NS)]
    return {
        "header_sum": Decimal(root.find(".//p:GrpHdr/p:CtrlSum", NS).text),
        "header_n": int(root.find(".//p:GrpHdr/p:NbOfTxs", NS).text),
        "batch_sum": Decimal(root.find(".//p:PmtInf/p:CtrlSum", NS).text),
        "amounts": amounts,
        "ibans": [e.text for e in root.iterfind(".//p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:IBAN", NS)],
        "e2e": [e.text for e in root.iterfind(".//p:CdtTrfTxInf/p:PmtId/p:EndToEndId", NS)],
    }


def test_pain001_validates_and_its_sums_are_the_runs(store, inputs):
    run = runs.finalize(store, inputs, ("2024-06",))
    plan = payout_plan(store, inputs.community, run)
    xml = sepa_xml(
        plan, debtor_name="CER Esempio Sud", debtor_iban=DEBTOR, execution_date=dt.date(2024, 8, 1)
    )
    xmlschema.XMLSchema(str(XSD)).validate(xml.decode("utf-8"))  # independently of sepaxml's own check
    sums = _sums(xml)
    totals = {pid: line.total_cents for pid, line in per_payee(run.lines).items()}
    assert [t.member_id for t in plan.transfers] == ["m1", "m3", "m4"]
    assert sums["amounts"] == [Decimal(totals[m]) / 100 for m in ("m1", "m3", "m4")]
    assert sums["header_sum"] == sums["batch_sum"] == sum(sums["amounts"]) == Decimal(plan.total_cents) / 100
    assert sums["header_n"] == 3
    assert sums["ibans"] == [IBANS["m1"], IBANS["m3"], IBANS["m4"].replace(" ", "")]
    assert sums["e2e"] == ["CER-R1-m1", "CER-R1-m3", "CER-R1-m4"]
    skipped = {s.member_id: s.reason for s in plan.skipped}
    assert skipped["m2"].startswith("no bank account") and skipped["m5"].startswith("no bank account")
    assert "own money" in skipped["community"]


def test_a_correction_pays_credit_notes_and_skips_debit_notes(store, inputs):
    runs.finalize(store, inputs, ("2024-06",))
    m = inputs.measurements.copy()
    noon = (m["start"].dt.hour == 12) & (m["start"].dt.day == 10)
    m.loc[noon & (m["pod"] == "IT001E00000001"), "withdrawn_kwh"] += 3.0  # more shared energy: credit
    m.loc[noon & (m["pod"] == "IT001E00000100"), "injected_kwh"] *= 0.5  # m3's plant sold less: debit
    correction = runs.correct(store, dataclasses.replace(inputs, measurements=m), 1).run
    plan = payout_plan(store, inputs.community, correction)
    notes = {ln.payee_id: ln.total_cents for ln in correction.lines}
    assert notes["m1"] > 0 and any(v < 0 for v in notes.values())
    assert [t.member_id for t in plan.transfers] == [p for p in ("m1", "m3", "m4") if notes.get(p, 0) > 0]
    negative = [s for s in plan.skipped if s.amount_cents < 0 and s.member_id != "community"]
    assert negative and all("negative balance" in s.reason for s in negative)
    xml = sepa_xml(plan, debtor_name="CER", debtor_iban=DEBTOR, execution_date=dt.date(2024, 9, 2))
    assert "rettifica n. 2-m1" in xml.decode("utf-8")


def test_with_the_gse_payment_the_transfers_are_the_distribution(store, inputs):
    run = runs.finalize(store, inputs, ("2024-06",))
    plan = payout_plan(store, inputs.community, run, gse_paid_cents=30000)
    d = plan.distribution
    assert sum(gse_cents(ln) for ln in d.lines) == 30000
    by_payee = {ln.payee_id: ln.total_cents for ln in d.lines}
    assert {t.member_id: t.amount_cents for t in plan.transfers} == {
        m: by_payee[m] for m in ("m1", "m3", "m4")
    }
    no_sale = payout_plan(store, inputs.community, run, exclude_sale=True)
    sale = {pid: ln.sale_cents for pid, ln in per_payee(run.lines).items()}
    full = {t.member_id: t.amount_cents for t in payout_plan(store, inputs.community, run).transfers}
    assert {t.member_id: t.amount_cents for t in no_sale.transfers} == {m: full[m] - sale[m] for m in full}


def test_iban_errors_name_the_member(store, inputs):
    run = runs.finalize(store, inputs, ("2024-06",))
    with store.engine.begin() as conn:  # a bad IBAN written behind the validation's back
        t = MemberBankAccount.__table__
        conn.execute(sa.update(t).where(t.c.member_id == "m3").values(iban="IT37Y0542811101000000123458"))
    with pytest.raises(PayoutError, match="m3: IBAN .* not valid"):
        payout_plan(store, inputs.community, run)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(t).where(t.c.member_id == "m3"))
    plan = payout_plan(store, inputs.community, run)
    with pytest.raises(PayoutError, match="debtor"):
        sepa_xml(
            plan, debtor_name="CER", debtor_iban="IT25O0306909606100000012346", execution_date=dt.date.today()
        )
    with pytest.raises(PayoutError, match="BIC"):
        sepa_xml(
            plan, debtor_name="CER", debtor_iban=DEBTOR, debtor_bic="NOTABIC!", execution_date=dt.date.today()
        )


def test_cli_payouts_sepa(tmp_path, inputs, monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: dt.date(2024, 7, 15))
    db = f"sqlite:///{tmp_path / 'c.db'}"
    r = runner.invoke(
        app,
        ["runs", "finalize", "--month", "2024-06", "-c", CONFIG, "-p", PRICES, "-m", MEAS, "--database", db],
    )
    assert r.exit_code == 0, r.output
    for member, iban in IBANS.items():
        r = runner.invoke(
            app,
            [
                "members",
                "bank",
                "set",
                member,
                "-c",
                CONFIG,
                "--iban",
                iban,
                "--holder",
                member,
                "--database",
                db,
            ],
        )
        assert r.exit_code == 0, r.output
    out = tmp_path / "payouts.xml"
    args = ["payouts", "sepa", "--run", "1", "-c", CONFIG, "--debtor-name", "CER Esempio Sud", "--out", out]
    r = runner.invoke(app, [str(a) for a in [*args, "--debtor-iban", DEBTOR, "--database", db]])
    assert r.exit_code == 0, r.output
    assert "3 transfers" in r.output and "skipped: no bank account" in r.output
    sums = _sums(out.read_bytes())
    assert ET.fromstring(out.read_bytes()).find(".//p:ReqdExctnDt", NS).text == "2024-07-16"
    assert sums["header_sum"] == sum(sums["amounts"])
    assert IBANS["m1"] not in r.output  # masked on screen
    r = runner.invoke(app, [str(a) for a in [*args, "--debtor-iban", DEBTOR[:-1] + "6", "--database", db]])
    assert r.exit_code == 2 and "debtor" in r.output
    r = runner.invoke(
        app, [str(a) for a in [*args, "--debtor-iban", DEBTOR, "--gse-paid", "12.345", "--database", db]]
    )
    assert r.exit_code == 2 and "2 decimals" in r.output


# ------------------------------------------------------------------------------------------ distribution
def test_distribution_of_the_example_month(inputs):
    draft = runs.preview(inputs, ("2024-06",))
    d = distribute(draft.lines, 30000)
    assert d.expected_cents == 28041 + 5408 - 2131  # premium + valorisation − GSE fees
    assert d.difference_cents == 30000 - 31318
    assert sum(gse_cents(ln) for ln in d.lines) == 30000
    before = {ln.payee_id: ln for ln in d.expected}
    for ln in d.lines:  # the sale and the fees are not the GSE's CACER money: untouched
        assert (ln.sale_cents, ln.fees_cents, ln.gse_fees_cents) == (
            before[ln.payee_id].sale_cents,
            before[ln.payee_id].fees_cents,
            before[ln.payee_id].gse_fees_cents,
        )
    rid = distribute(draft.lines, 30000, rid_paid_cents=400000)
    assert sum(ln.sale_cents for ln in rid.lines) == 400000
    assert distribute(draft.lines, d.expected_cents).lines == d.expected  # paid as expected: nothing moves


@st.composite
def _lines(draw):
    n = draw(st.integers(1, 8))
    out = []
    for i in range(n):
        out.append(
            RunLine(
                f"p{i}",
                "community" if i == 0 else "member",
                "2024-06",
                premium_cents=draw(st.integers(0, 500_000)),
                valorisation_cents=draw(st.integers(0, 100_000)),
                sale_cents=draw(st.integers(0, 900_000)),
                fees_cents=draw(st.integers(-5_000, 5_000)),
                gse_fees_cents=-draw(st.integers(0, 3_000)) if i == 0 else 0,
            )
        )
    return out


@settings(max_examples=300, deadline=None)
@given(lines=_lines(), paid=st.integers(0, 2_000_000))
def test_parts_sum_to_the_paid_amount_and_stay_within_a_cent_of_proportional(lines, paid):
    d = distribute(lines, paid)
    assert sum(gse_cents(ln) for ln in d.lines) == paid
    weights = [ln.premium_cents + ln.valorisation_cents for ln in lines]
    total_w = sum(weights)
    diff = paid - d.expected_cents
    for before, after, w in zip(lines, d.lines, weights):
        exact = gse_cents(before) + (
            Decimal(diff) * w / total_w if total_w else Decimal(diff if before.kind == "community" else 0)
        )
        assert abs(Decimal(gse_cents(after)) - exact) <= 1
        assert after.total_cents - before.total_cents == gse_cents(after) - gse_cents(before)
        assert (after.sale_cents, after.fees_cents) == (before.sale_cents, before.fees_cents)
