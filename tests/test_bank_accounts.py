"""Members' bank accounts (issue #16, item 6): IBANs validated with schwifty, shown masked, personal data in
the member's export and deleted by the erasure (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from condivisa.auth.privacy import erase_member, member_export
from condivisa.billing.bank_accounts import BankAccountError, accounts, mask_iban, remove_account, set_account
from condivisa.cli import app
from condivisa.domain.config import load_community
from condivisa.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "community.yaml"
IBAN = "IT60X0542811101000000123456"
KEY = bytes(range(32))
runner = CliRunner()


@pytest.fixture(scope="module")
def community():
    return load_community(CONFIG)


@pytest.fixture
def store(db_url, community):
    s = Store(db_url)
    s.upgrade()
    s.register_devices(community)
    yield s
    s.close()


def test_set_list_replace_remove(store, community):
    acc = set_account(
        store, community, "m1", iban="it60 x054 2811 1010 0000 0123 456", holder=" Mario Rossi "
    )
    assert (acc.iban, acc.holder, acc.bic) == (IBAN, "Mario Rossi", None)
    set_account(store, community, "m1", iban=IBAN, holder="Anna Rossi", bic="BLOPIT22")
    stored = accounts(store, community)
    assert list(stored) == ["m1"] and stored["m1"].holder == "Anna Rossi" and stored["m1"].bic == "BLOPIT22"
    assert IBAN not in stored["m1"].masked and stored["m1"].masked.startswith("IT60")
    assert remove_account(store, community, "m1") and not remove_account(store, community, "m1")
    assert accounts(store, community) == {}


@pytest.mark.parametrize(
    ("member", "iban", "bic", "message"),
    [
        ("m2", "IT60X0542811101000000123457", None, r"m2: IBAN .* not valid.*checksum"),
        ("m2", "IT60X05428", None, "m2: IBAN"),
        ("m2", "XX00", None, "m2: IBAN"),
        ("m2", IBAN, "NOT A BIC", "m2: BIC"),
        ("m9", IBAN, None, "m9: not a member"),
    ],
)
def test_bad_bank_details_are_refused_naming_the_member(store, community, member, iban, bic, message):
    with pytest.raises(BankAccountError, match=message):
        set_account(store, community, member, iban=iban, holder="X", bic=bic)
    assert accounts(store, community) == {}


def test_mask_iban():
    assert mask_iban(IBAN) == "IT60 **** **** **** **** **** 456"
    assert mask_iban("IT60") == "****"


def test_bank_details_are_exported_and_erased(store, community):
    set_account(store, community, "m1", iban=IBAN, holder="Mario Rossi")
    set_account(store, community, "m2", iban="IT37Y0542811101000000123457", holder="Bianchi")
    export = member_export(store, community, "m1")
    assert [(a["iban"], a["holder"]) for a in export["bank_accounts"]] == [(IBAN, "Mario Rossi")]
    assert member_export(store, community, "m3")["bank_accounts"] == []
    report = erase_member(store, community, "m1", key=KEY)
    assert report.bank_accounts_deleted == 1
    assert list(accounts(store, community)) == ["m2"]  # only the erased member's
    assert member_export(store, community, "m1")["bank_accounts"] == []


def test_cli_members_bank(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    base = ["members", "bank"]
    r = runner.invoke(
        app, [*base, "set", "m1", "-c", str(CONFIG), "--iban", IBAN, "--holder", "Rossi", "--database", db]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [*base, "set", "m2", "-c", str(CONFIG), "--iban", IBAN[:-1] + "7", "--holder", "B", "--database", db],
    )
    assert r.exit_code == 2 and "m2: IBAN" in r.output and "checksum" in r.output
    r = runner.invoke(app, [*base, "list", "-c", str(CONFIG), "--database", db])
    assert r.exit_code == 0 and "IT60 **** **** **** **** **** 456" in r.output and IBAN not in r.output
    assert "m2" in r.output and "none" in r.output
    r = runner.invoke(app, [*base, "remove", "m1", "-c", str(CONFIG), "--database", db])
    assert r.exit_code == 0 and "removed" in r.output
