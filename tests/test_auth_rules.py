"""Audit of allocation-rule changes: canonical JSON + SHA-256 per community, ``rules_recorded`` /
``rules_changed`` events with a readable diff, recorded by the dashboard and by ``condivisa serve``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from condivisa.auth.rules_audit import canonical_json, record_rules, rules_diff, rules_history, rules_sha256
from condivisa.auth.service import AuthService
from condivisa.domain.community import Beneficiary, ConsumersBy
from condivisa.domain.config import load_community
from condivisa.store.auth_tables import CommunityRules
from conftest import EXAMPLE_COMMUNITY

ORIGINAL_PREMIUM = "premium: {producers: 0.10, community: 0.15, consumers: 0.75, consumers_by: consumption}"


def changed_yaml(tmp_path, name: str = "changed.yaml"):
    """The example community with hand-made rule changes: producers 0.10 → 0.20, consumers 0.75 → 0.65,
    sale producers → community, annual fee 20 → 25."""
    text = EXAMPLE_COMMUNITY.read_text()
    assert ORIGINAL_PREMIUM in text and "sale: producers" in text and "annual_fee_eur: 20," in text
    text = (
        text.replace(
            ORIGINAL_PREMIUM,
            "premium: {producers: 0.20, community: 0.15, consumers: 0.65, consumers_by: consumption}",
        )
        .replace("sale: producers", "sale: community")
        .replace("annual_fee_eur: 20,", "annual_fee_eur: 25,")
    )
    path = tmp_path / name
    path.write_text(text)
    return path


EXPECTED_DIFF = {
    "premium.producers": "0.1 → 0.2",
    "premium.consumers": "0.75 → 0.65",
    "sale": "producers → community",
    "later_members.annual_fee_eur": "20.0 → 25.0",
}


@pytest.fixture
def store(db_url):
    from condivisa.store.store import Store

    s = Store(db_url)
    s.upgrade()
    yield s
    s.close()


def test_canonical_json_and_hash():
    community = load_community(EXAMPLE_COMMUNITY)
    text = canonical_json(community.rules)
    data = json.loads(text)
    assert list(data) == sorted(data) and " " not in text
    assert (
        data["premium_producers"] == 0.1
        and data["consumers_by"] == "consumption"
        and data["enterprise_cap"] is True
    )
    assert rules_sha256(community.rules) == hashlib.sha256(text.encode()).hexdigest()
    # the same rules written differently (0.1 for 0.10, another key order) hash alike
    yaml = EXAMPLE_COMMUNITY.read_text().replace(
        ORIGINAL_PREMIUM,
        "premium: {consumers_by: consumption, consumers: 0.75, community: 0.15, producers: 0.1}",
    )
    assert yaml != EXAMPLE_COMMUNITY.read_text()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "c.yaml").write_text(yaml)
        assert rules_sha256(load_community(Path(d) / "c.yaml").rules) == rules_sha256(community.rules)
    other = dataclasses.replace(community.rules, consumers_by=ConsumersBy.UNIFORM)
    assert rules_sha256(other) != rules_sha256(community.rules)


def test_rules_diff_is_readable():
    assert rules_diff(
        {"sale": "producers", "premium_producers": 0.1, "enterprise_cap": True},
        {"sale": "community", "premium_producers": 0.1, "enterprise_cap": False, "new_key": 3},
    ) == {"sale": "producers → community", "enterprise_cap": "true → false", "new_key": "— → 3"}


def test_record_first_unchanged_changed_and_back(store, tmp_path):
    auth = AuthService(store)
    original = load_community(EXAMPLE_COMMUNITY)
    changed = load_community(changed_yaml(tmp_path))
    assert changed.name == original.name

    first = record_rules(store, original, actor="condivisa serve", source="community.yaml")
    assert (first.status, first.sha256) == ("recorded", rules_sha256(original.rules))
    again = record_rules(store.engine, original, actor="dashboard")  # an Engine works too
    assert again.status == "unchanged"
    events = auth.audit_log(action="rules_recorded")
    assert len(events) == 1 and events[0]["actor"] == "condivisa serve"
    assert (
        events[0]["target"] == f"community:{original.name}"
        and events[0]["detail"]["source"] == "community.yaml"
    )
    assert auth.audit_log(action="rules_changed") == []

    rec = record_rules(store, changed, actor="condivisa serve", source="changed.yaml")
    assert rec.status == "changed" and rec.diff == EXPECTED_DIFF and rec.previous_sha256 == first.sha256
    [event] = auth.audit_log(action="rules_changed")
    assert event["actor"] == "condivisa serve" and event["detail"]["diff"] == EXPECTED_DIFF
    assert (event["detail"]["old_sha256"], event["detail"]["sha256"]) == (
        first.sha256,
        rules_sha256(changed.rules),
    )
    assert event["detail"]["rules"]["sale"] == "community" and "@" in event["detail"]["by"]
    with store.engine.connect() as c:
        row = c.execute(sa.select(CommunityRules.__table__)).one()
    assert row.sha256 == rules_sha256(changed.rules) and row.rules_json == canonical_json(changed.rules)
    assert row.recorded_by == "condivisa serve"

    assert record_rules(store, changed, actor="dashboard").status == "unchanged"
    back = record_rules(store, original, actor="dashboard")
    assert back.status == "changed" and back.diff == {
        k: " → ".join(reversed(v.split(" → "))) for k, v in EXPECTED_DIFF.items()
    }
    history = rules_history(store, original.name)
    assert [h["action"] for h in history] == ["rules_changed", "rules_changed", "rules_recorded"]
    assert [h["actor"] for h in history] == ["dashboard", "condivisa serve", "condivisa serve"]


def test_each_community_has_its_own_rules(store):
    community = load_community(EXAMPLE_COMMUNITY)
    other = dataclasses.replace(
        community,
        name="Altra CER",
        rules=dataclasses.replace(community.rules, valorisation=Beneficiary.COMMUNITY),
    )
    assert record_rules(store, community).status == "recorded"
    assert record_rules(store, other).status == "recorded"  # not a change of the first community
    assert record_rules(store, community).status == "unchanged"
    assert [h["action"] for h in rules_history(store, "Altra CER")] == ["rules_recorded"]


def test_dashboard_records_and_shows_the_rule_changes(tmp_path):
    from fastapi.testclient import TestClient

    from condivisa.app.http_app import create_app
    from test_web import client
    from web_helpers import build_platform

    p = build_platform(tmp_path, bad_messages=0)
    html = client(p, "ref").get("/community").text  # the dashboard loads the community: first rules recorded
    card = html[html.index('data-testid="rules-history"') :]
    assert 'data-action="rules_recorded"' in card and "prime regole registrate" in card
    assert 'data-action="rules_changed"' not in card

    # the community file is edited and the platform started again on the same database
    changed = load_community(changed_yaml(tmp_path))
    app2 = create_app(p.settings, store=p.store, community=changed)
    c2 = TestClient(app2, headers={"accept-language": "en"})
    from test_web import login

    assert login(c2, "ref").status_code == 303
    html = c2.get("/community").text
    card = html[html.index('data-testid="rules-history"') :]
    assert card.index('data-action="rules_changed"') < card.index(
        'data-action="rules_recorded"'
    )  # newest first
    for key, change in EXPECTED_DIFF.items():
        assert f"<code>{key}</code>: {change}" in card
    [event] = app2.state.auth.audit_log(action="rules_changed")
    assert event["actor"] == "dashboard" and event["detail"]["diff"] == EXPECTED_DIFF
    assert client(p, "rossi").get("/community").status_code == 404  # members do not see the community page


def _serve_once(config, db_url: str, cwd) -> str:
    """``condivisa serve --no-api --no-mqtt`` until it has loaded the community, then Ctrl-C."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "condivisa",
            "serve",
            "--no-api",
            "--no-mqtt",
            "--config",
            str(config),
            "--database",
            db_url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
    )
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("database:"):  # serve says which database it uses
                break
        time.sleep(0.3)  # its signal handlers
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return "".join(lines) + rest


def test_condivisa_serve_records_rule_changes(tmp_path, sqlite_url):
    out = _serve_once(EXAMPLE_COMMUNITY, sqlite_url, tmp_path)
    assert "stopped." in out, out
    changed = changed_yaml(tmp_path)
    out = _serve_once(changed, sqlite_url, tmp_path)
    assert "allocation rules changed" in out and "premium.producers" in out, out
    history = rules_history(sqlite_url, load_community(EXAMPLE_COMMUNITY).name)
    assert [(h["action"], h["actor"]) for h in history] == [
        ("rules_changed", "condivisa serve"),
        ("rules_recorded", "condivisa serve"),
    ]
    assert history[0]["diff"] == EXPECTED_DIFF and history[0]["source"] == str(changed)
    assert re.fullmatch(r"[0-9a-f]{64}", history[0]["sha256"])
