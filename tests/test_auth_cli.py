"""The security and privacy commands, end to end on a SQLite file."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from condivisa.auth.hashing import verify_mosquitto_hash
from condivisa.auth.mqtt_acl import parse_password_file
from condivisa.auth.service import AuthService
from condivisa.cli import app
from condivisa.store.store import Store


@pytest.fixture
def env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("CONDIVISA_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    return url


def run(*args, input=None):
    result = CliRunner().invoke(app, list(args), input=input)
    return result


def test_users_tokens_and_audit(env, example_community_path):
    r = run(
        "users",
        "add",
        "anna",
        "--role",
        "member",
        "--member",
        "m1",
        "--config",
        str(example_community_path),
        "--password-stdin",
        input="pass-word-1\n",
    )
    assert r.exit_code == 0, r.output
    r = run(
        "users",
        "add",
        "x",
        "--role",
        "member",
        "--member",
        "m99",
        "--config",
        str(example_community_path),
        "--password-stdin",
        input="pass-word-1\n",
    )
    assert r.exit_code == 2 and "not in the community" in r.output
    assert "anna" in run("users", "list").output
    store = Store(env)
    token, who = AuthService(store).login("anna", "pass-word-1")
    assert who.member_id == "m1"
    r = run("tokens", "create", "acme", "--pods", "IT001E00000001,IT001E00000002")
    assert r.exit_code == 0
    api = r.stdout.strip().splitlines()[-1]
    assert AuthService(store).principal_for_token(api).may_write(pod="IT001E00000002")
    assert run("tokens", "create", "nothing").exit_code == 2
    [tid] = [t["id"] for t in AuthService(store).tokens() if t["name"] == "acme"]
    assert "acme" in run("tokens", "list").output
    assert run("tokens", "revoke", str(tid)).exit_code == 0
    assert run("tokens", "revoke", str(tid)).exit_code == 2
    assert AuthService(store).principal_for_token(api) is None
    assert run("users", "revoke", "anna").exit_code == 0
    assert AuthService(store).principal_for_token(token) is None
    audit = run("users", "audit", "--limit", "100").output
    assert "user_disabled" in audit and "token_created" in audit
    store.close()


def test_mqtt_acl_command(env, example_community_path, tmp_path):
    r = run("mqtt-acl", "--out", "acl", "--config", str(example_community_path))
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(tmp_path / "acl" / "new-credentials.csv")))
    assert [x["username"] for x in rows][:2] == ["condivisa-ingest", "DU-0001"] and len(rows) == 8
    users = parse_password_file((tmp_path / "acl" / "passwd").read_text())
    assert all(verify_mosquitto_hash(x["password"], users[x["username"]]) for x in rows)
    acl = (tmp_path / "acl" / "acl").read_text()
    assert "topic write condivisa/cer-esempio-sud/du/DU-0001/up" in acl
    # a second run keeps the credentials and writes no new secrets
    (tmp_path / "acl" / "new-credentials.csv").unlink()
    assert run("mqtt-acl", "--out", "acl", "--config", str(example_community_path)).exit_code == 0
    assert not (tmp_path / "acl" / "new-credentials.csv").exists()
    assert parse_password_file((tmp_path / "acl" / "passwd").read_text()) == users


def test_privacy_commands(env, example_community_path, tmp_path):
    cfg = str(example_community_path)
    assert run("privacy", "export", "m1", "--config", cfg, "--out", "m1.json").exit_code == 0
    assert json.loads((tmp_path / "m1.json").read_text())["member"]["name"] == "Famiglia Rossi"
    assert run("privacy", "export", "m99", "--config", cfg, "--out", "x.json").exit_code == 2
    assert "data_export" in run("users", "audit").output
    r = run("privacy", "erase", "m1", "--config", cfg, "--yes")
    assert r.exit_code == 2 and "pseudonymisation key" in r.output
    (tmp_path / "key").write_text("ab" * 32)
    r = run("privacy", "erase", "m1", "--config", cfg, "--key-file", "key", "--yes")
    assert r.exit_code == 0 and "PSEUDO-" in r.output
    assert run("privacy", "aggregate", "--out", "agg.csv", "--freq", "D").exit_code == 0
    assert (
        (tmp_path / "agg.csv")
        .read_text()
        .startswith("start,pods_reporting,withdrawn_kwh,injected_kwh,shared_kwh")
    )
    assert run("privacy", "aggregate", "--out", "agg.csv", "--freq", "W").exit_code == 2
    assert run("privacy", "purge").exit_code == 0
