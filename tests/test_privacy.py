"""GDPR: member export, erasure with keyed pseudonymisation, aggregate exports without POD codes, retention
purge — on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pandas as pd
import pytest

from condivisa.auth.privacy import (
    aggregate_export,
    erase_member,
    load_key,
    member_export,
    pseudonym,
    purge_expired,
    write_member_export,
)
from condivisa.auth.service import AuthError, AuthService
from condivisa.domain.config import load_community
from condivisa.formats.urbandataset.types import Reading
from condivisa.store.store import Store

UTC = dt.timezone.utc
KEY = bytes(range(32))
T0 = dt.datetime(2024, 6, 3, 10, 0, tzinfo=UTC)  # 12:00 in Rome


@pytest.fixture
def store(db_url, example_community_path):
    s = Store(db_url)
    s.upgrade()
    community = load_community(example_community_path)
    s.register_devices(community)
    s.community = community
    yield s
    s.close()


def q(i: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=15 * i)


def load_hour(store: Store) -> None:
    """One hour (4 quarter hours): m1 withdraws 0.25 kWh/q, m2 0.5 kWh/q, m3's plant (pv1) injects 0.6 kWh/q.
    Then one more quarter hour (q4) with only m1 and m2 reporting."""
    for i in range(4):
        store.ingest_records(
            [Reading("IT001E00000001", q(i), 0.25, 0.0, du_id="DU-0001")], source="test", device_id="DU-0001"
        )
        store.ingest_records(
            [Reading("IT001E00000002", q(i), 0.5, 0.0, du_id="DU-0002")], source="test", device_id="DU-0002"
        )
        store.ingest_records(
            [Reading("IT001E00000100", q(i), 0.0, 0.6, du_id="DU-0100")], source="test", device_id="DU-0100"
        )
    store.ingest_records(
        [
            Reading("IT001E00000001", q(4), 0.3, 0.0, du_id="DU-0001"),
            Reading("IT001E00000002", q(4), 0.3, 0.0, du_id="DU-0002"),
        ],
        source="test",
    )


def test_pseudonym_is_hmac_sha256_rfc4231_vector():
    # RFC 4231 test case 1: HMAC-SHA256(key = 0x0b * 20, "Hi There") = b0344c61d8db38535ca8afceaf0bf12b...
    assert pseudonym("Hi There", b"\x0b" * 20) == "PSEUDO-b0344c61d8db38535ca8afce"
    assert pseudonym("IT001E00000001", KEY) != pseudonym("IT001E00000001", KEY[::-1])
    with pytest.raises(ValueError, match="16 bytes"):
        pseudonym("x", b"short")


def test_load_key(tmp_path, monkeypatch):
    monkeypatch.delenv("CONDIVISA_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ValueError, match="no pseudonymisation key"):
        load_key()
    (tmp_path / "k").write_text(KEY.hex())
    assert load_key(tmp_path / "k") == KEY
    monkeypatch.setenv("CONDIVISA_PSEUDONYM_KEY", "zz")
    with pytest.raises(ValueError, match="not hexadecimal"):
        load_key()


def test_member_export_has_all_and_only_their_data(store, tmp_path):
    load_hour(store)
    auth = AuthService(store)
    auth.create_user("rossi", "rossi-pass-1", "member", member_id="m1")
    auth.login("rossi", "rossi-pass-1")
    result = {
        "period": {"from": "2024-06-01"},
        "members": [{"id": "m1", "total_eur": 1.5}, {"id": "m2", "total_eur": 9}],
    }
    exp = member_export(store, store.community, "m1", result=result)
    assert exp["member"]["name"] == "Famiglia Rossi"
    assert len(exp["measurements"]) == 5 and {r["pod"] for r in exp["measurements"]} == {"IT001E00000001"}
    assert [d["du_id"] for d in exp["devices"]] == ["DU-0001"]
    assert exp["statements"] == [{"id": "m1", "total_eur": 1.5, "period": {"from": "2024-06-01"}}]
    assert [a["action"] for a in exp["audit_log"]] == ["login"] and exp["accounts"][0]["username"] == "rossi"
    [jfile] = write_member_export(exp, tmp_path / "m1.json", "json")
    text = jfile.read_text()
    assert "IT001E00000002" not in text and "Bianchi" not in text
    assert json.loads(text)["member"]["id"] == "m1"
    files = write_member_export(exp, tmp_path / "m1", "csv")
    csv = pd.read_csv(files[1])
    assert len(csv) == 5 and csv["withdrawn_kwh"].sum() == pytest.approx(4 * 0.25 + 0.3)
    assert csv["start"].iloc[0] == "2024-06-03 12:00:00+02:00"  # Europe/Rome in exports
    # the plant owner gets the plant's readings too
    assert {r["pod"] for r in member_export(store, store.community, "m3")["measurements"]} == {
        "IT001E00000100"
    }
    with pytest.raises(KeyError):
        member_export(store, store.community, "nobody")


def test_erasure_pseudonymises_and_keeps_totals(store):
    load_hour(store)
    before = aggregate_export(store, min_pods=1)
    auth = AuthService(store)
    auth.create_user("rossi", "rossi-pass-1", "member", member_id="m1")
    auth.login("rossi", "rossi-pass-1")
    store.add_dead_letter(
        gzip.compress(b'{"pod": "IT001E00000001"}'), [{"path": "$", "reason": "x"}], source="test"
    )
    store.add_dead_letter(b'{"pod": "IT001E00000002"}', [{"path": "$", "reason": "x"}], source="test")
    rep = erase_member(store, store.community, "m1", key=KEY, actor="referente")
    alias = pseudonym("IT001E00000001", KEY)
    assert rep.pods == {"IT001E00000001": alias} and rep.measurements == 5 and rep.users_deleted == 1
    assert rep.dead_letters_deleted == 1 and rep.audit_entries_pseudonymised >= 2  # user_created + login
    frame = store.measurements()
    assert "IT001E00000001" not in set(frame["pod"]) and (frame["pod"] == alias).sum() == 5
    assert frame.loc[frame["pod"] == alias, "du_id"].isna().all()
    assert "DU-0001" not in {d["du_id"] for d in store.devices()}
    assert [json.loads(bytes(d["payload"])) for d in store.dead_letters()] == [{"pod": "IT001E00000002"}]
    assert "rossi" not in {e["actor"] for e in auth.audit_log(limit=1000)} | {
        e["target"] for e in auth.audit_log(limit=1000)
    }
    with pytest.raises(AuthError):
        auth.login("rossi", "rossi-pass-1")
    assert auth.audit_log(action="erasure")[0]["target"] == "member:m1"
    # the settlement evidence is intact: the same totals, hour by hour
    pd.testing.assert_frame_equal(aggregate_export(store, min_pods=1), before)
    # m2 untouched
    assert (frame["pod"] == "IT001E00000002").sum() == 5


def test_aggregate_export_hand_worked(store):
    load_hour(store)
    agg = aggregate_export(store, min_pods=3)
    # 12:00 Rome: withdrawn 4*0.25 + 4*0.5 = 3.0 kWh, injected 4*0.6 = 2.4 kWh, shared = min(2.4, 3.0) = 2.4
    # kWh.
    # 13:00 has only 2 PODs reporting (< 3): suppressed.
    assert list(agg.columns) == ["start", "pods_reporting", "withdrawn_kwh", "injected_kwh", "shared_kwh"]
    assert len(agg) == 1
    row = agg.iloc[0]
    assert row["start"] == pd.Timestamp("2024-06-03 12:00", tz="Europe/Rome")
    assert (row["pods_reporting"], row["withdrawn_kwh"], row["injected_kwh"], row["shared_kwh"]) == (
        3,
        3.0,
        2.4,
        2.4,
    )
    text = agg.to_csv()
    assert "IT001" not in text and "DU-" not in text
    # daily: the 13:00 quarter hour (0.6 kWh withdrawn, nothing injected, shared 0) joins the day
    day = aggregate_export(store, freq="D", min_pods=3).iloc[0]
    assert (day["withdrawn_kwh"], day["injected_kwh"], day["shared_kwh"]) == (3.6, 2.4, 2.4)
    assert aggregate_export(store, freq="MS", min_pods=4).empty
    with pytest.raises(ValueError, match="freq"):
        aggregate_export(store, freq="W")


def test_purge_expired(store):
    now = dt.datetime.now(UTC)
    old = store.add_dead_letter(b"old", [], source="t", received_at=now - dt.timedelta(days=91))
    new = store.add_dead_letter(b"new", [], source="t", received_at=now - dt.timedelta(days=89))
    auth = AuthService(store)
    auth.create_api_token("p", scope_pods=["IT001E00000001"], ttl=dt.timedelta(seconds=1))
    auth.create_api_token("q", scope_pods=["IT001E00000001"])
    counts = purge_expired(store, now=now + dt.timedelta(days=31))
    assert counts["tokens"] == 1
    assert counts["dead_letters"] == 2  # at now+31 d, both are older than 90 days
    assert purge_expired(store, now=now)["dead_letters"] == 0
    assert {old, new}.isdisjoint({d["id"] for d in store.dead_letters()})
    assert len(auth.tokens()) == 1


def test_erasure_removes_the_members_flexibility_traces(store):
    """Issue #19: the member's Home Assistant credential and ranking pseudonym go; their event invitations
    stay (the settlement evidence) under their alias; another member's are untouched."""
    import sqlalchemy as sa

    from condivisa.auth.mqtt_acl import member_username
    from condivisa.store.communities import community_slug
    from condivisa.store.engagement import opt_in
    from condivisa.store.flex_events import create_event, get_event
    from condivisa.store.flex_tables import EngagementOptIn

    slug = community_slug(store.community.name)
    auth = AuthService(store)
    for m in ("m1", "m2"):
        auth.create_device_credential(member_username(slug, m), slug, kind="member", actor="referente")
        opt_in(store.engine, store.community, m)
    start = dt.datetime(2025, 6, 2, 11, tzinfo=dt.UTC)
    create_event(
        store.engine, event_id="ev-1", community=slug, starts_at=start, ends_at=start + dt.timedelta(hours=2),
        invitations=[("m1", "DU-0001"), ("m2", "DU-0002")], created_by="referente",
    )  # fmt: skip
    erase_member(store, store.community, "m1", key=KEY, actor="referente")
    names = {c["du_id"] for c in auth.device_credentials()}
    assert member_username(slug, "m1") not in names and member_username(slug, "m2") in names
    with store.engine.connect() as conn:
        left = {r[0] for r in conn.execute(sa.select(EngagementOptIn.member_id))}
    assert left == {"m2"}
    invited = {(i.member_id, i.du_id) for i in get_event(store.engine, "ev-1").invitations}
    assert ("m2", "DU-0002") in invited and not any(m == "m1" or d == "DU-0001" for m, d in invited)
