"""The platform HTTP app: /api/v1 push and reads, gzip, field-level errors, dead letters, healthz.
Runs on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
from fastapi.testclient import TestClient

from condivisa.app.http_app import create_app
from condivisa.app.settings import Settings
from condivisa.domain.config import load_community
from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.store.store import Store

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)  # 10:00 in Rome (CEST, UTC+2)
Q = dt.timedelta(minutes=15)
JSON = {"Content-Type": "application/json"}  # what a push must declare


def reading(du: str, pod: str, k: int, w: float, i: float = 0.0, wt: float = 1000.0, it: float = 0.0) -> dict:
    return {
        "du_id": du,
        "pod": pod,
        "start": T0 + k * Q,
        "withdrawn_kwh": w,
        "injected_kwh": i,
        "withdrawn_total_kwh": wt,
        "injected_total_kwh": it,
    }


def message(*readings: dict) -> bytes:
    return json.dumps(build_m1_dataset(readings, producer_id="test-platform")).encode()


# Two DUs, two quarter hours each; totalizers advance by exactly the quarter-hour energy.
TWO_BY_TWO = message(
    reading("DU-0001", "IT001E00000001", 0, 0.25, wt=100.25),
    reading("DU-0001", "IT001E00000001", 1, 0.5, wt=100.75),
    reading("DU-0002", "IT001E00000002", 0, 0.1, wt=50.1),
    reading("DU-0002", "IT001E00000002", 1, 0.2, wt=50.3),
)


@pytest.fixture
def client(db_url, example_community_path):
    store = Store(db_url)
    store.upgrade()
    community = load_community(example_community_path)
    store.register_devices(community)
    settings = Settings(
        database_url=db_url,
        community="cer-test",
        gateway_users={"scps": "s3cret"},
        api_auth_required=False,
        allowed_hosts=["testserver"],
    )
    app = create_app(settings, store=store, community=community)
    with TestClient(app, headers=JSON) as c:
        c.store = store
        yield c
    store.close()


def test_push_stores_then_duplicate_is_not_stored_twice(client):
    r = client.post("/api/v1/urbandatasets", content=TWO_BY_TWO, headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert (r.json()["accepted"], r.json()["stored"], r.json()["duplicates"]) == (True, 4, 0)
    again = client.post("/api/v1/urbandatasets", content=TWO_BY_TWO)
    assert again.status_code == 200
    assert (again.json()["stored"], again.json()["duplicates"]) == (0, 4)
    assert client.store.counts()["measurements"] == 4


def test_gzip_body_is_accepted(client):
    r = client.post(
        "/api/v1/urbandatasets",
        content=gzip.compress(TWO_BY_TWO),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["stored"] == 4


def test_gzip_bomb_and_unknown_encoding_are_refused(db_url, example_community_path):
    store = Store(db_url)
    store.upgrade()
    settings = Settings(
        database_url=db_url,
        community="cer-test",
        max_body_bytes=4096,
        api_auth_required=False,
        allowed_hosts=["testserver"],
    )
    client = TestClient(create_app(settings, store=store, community=load_community(example_community_path)))
    bomb = gzip.compress(b" " * 100_000)  # ~100 bytes that expand to 100 kB > 4 kB
    assert (
        client.post("/api/v1/urbandatasets", content=bomb, headers={"Content-Encoding": "gzip"}).status_code
        == 413
    )
    assert (
        client.post("/api/v1/urbandatasets", content=b"x", headers={"Content-Encoding": "br"}).status_code
        == 415
    )
    assert (
        client.post(
            "/api/v1/urbandatasets", content=b"notgzip", headers={"Content-Encoding": "gzip"}
        ).status_code
        == 400
    )


def test_invalid_payload_gives_field_errors_and_a_dead_letter(client):
    doc = json.loads(TWO_BY_TWO)
    del doc["UrbanDataset"]["context"]
    raw = json.dumps(doc).encode()
    r = client.post("/api/v1/urbandatasets", content=raw)
    assert r.status_code == 422
    body = r.json()
    assert body["accepted"] is False and body["stored"] == 0
    assert body["detail"] and all({"loc", "msg"} <= set(d) for d in body["detail"])
    assert any("context" in d["msg"] or "context" in ".".join(d["loc"]) for d in body["detail"])
    letters = client.get("/api/v1/dead-letters").json()
    assert len(letters) == 1 and letters[0]["payload_text"] == raw.decode()
    assert letters[0]["source"].startswith("rest:")
    assert client.store.counts()["measurements"] == 0


def test_not_json_is_rejected_with_a_reason(client):
    r = client.post("/api/v1/urbandatasets", content=b"{not json")
    assert r.status_code == 422
    assert r.json()["rejected"][0]["reason"]


def test_pod_measurements_json_and_csv(client):
    client.post("/api/v1/urbandatasets", content=TWO_BY_TWO)
    # 10:00-10:30 Rome = 08:00-08:30 UTC: both quarter hours of DU-0001
    r = client.get(
        "/api/v1/pods/IT001E00000001/measurements",
        params={"from": "2025-06-01T10:00", "to": "2025-06-01T10:30"},
    )
    assert r.status_code == 200, r.text
    rows = r.json()["measurements"]
    assert [m["withdrawn_kwh"] for m in rows] == [0.25, 0.5]
    assert rows[0]["start"] == "2025-06-01T10:00:00+02:00"
    # a narrower window [10:15, 10:30) keeps only the second quarter hour
    r = client.get(
        "/api/v1/pods/IT001E00000001/measurements",
        params={"from": "2025-06-01T10:15", "to": "2025-06-01T10:30", "format": "csv"},
    )
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0] == "pod,start,withdrawn_kwh,injected_kwh"
    assert lines[1:] == ["IT001E00000001,2025-06-01T10:15:00+02:00,0.5,0.0"]


def test_pod_measurements_errors(client):
    assert client.get("/api/v1/pods/IT999/measurements").status_code == 404
    r = client.get("/api/v1/pods/IT001E00000001/measurements", params={"from": "yesterday-ish"})
    assert r.status_code == 422 and "from" in r.text
    r = client.get(
        "/api/v1/pods/IT001E00000001/measurements", params={"from": "2025-06-02", "to": "2025-06-01"}
    )
    assert r.status_code == 422


def test_devices_last_seen(client):
    client.post("/api/v1/urbandatasets", content=TWO_BY_TWO)
    devices = {d["du_id"]: d for d in client.get("/api/v1/devices").json()}
    assert devices["DU-0001"]["last_start"].startswith("2025-06-01T08:15:00")
    assert devices["DU-0005"]["last_received_at"] is None  # registered, never heard


def test_healthz_and_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "mqtt": "n/a"}
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/urbandatasets" in paths and "/UrbanDatasetGateway/push" in paths


def test_command_without_worker_is_503(client):
    assert client.post("/api/v1/devices/DU-0001/commands", json={"cmd": "resend"}).status_code == 503


def test_api_auth_required_uses_condivisa_auth(sqlite_url, example_community_path):
    """With api_auth_required the /api/v1 routes take condivisa.auth's dependencies: no token -> 401, a
    referente may not push (only admins and platform tokens write: 403), a member may not list devices (403)
    nor read another member's POD (404), staff may."""
    from condivisa.auth.service import AuthService

    store = Store(sqlite_url)
    store.upgrade()
    community = load_community(example_community_path)
    store.register_devices(community)
    auth = AuthService(store, community=community)
    auth.create_user("anna", "a-long-password-1", "referente")
    auth.create_user("rossi", "a-long-password-2", "member", member_id="m1")
    auth.create_user("root", "a-long-password-3", "admin")
    staff, _ = auth.login("anna", "a-long-password-1")
    admin, _ = auth.login("root", "a-long-password-3")
    member, _ = auth.login("rossi", "a-long-password-2")
    app = create_app(
        Settings(database_url=sqlite_url, api_auth_required=True, allowed_hosts=["testserver"]),
        store=store,
        community=community,
    )
    with TestClient(app, headers=JSON) as c:
        assert c.post("/api/v1/urbandatasets", content=TWO_BY_TWO).status_code == 401
        r = c.post("/api/v1/urbandatasets", content=TWO_BY_TWO, headers={"Authorization": f"Bearer {staff}"})
        assert r.status_code == 403
        r = c.post("/api/v1/urbandatasets", content=TWO_BY_TWO, headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 201
        assert c.get("/api/v1/devices").status_code == 401
        assert c.get("/api/v1/devices", headers={"Authorization": f"Bearer {member}"}).status_code == 403
        assert c.get("/api/v1/devices", headers={"Authorization": f"Bearer {staff}"}).status_code == 200
        own = c.get(
            "/api/v1/pods/IT001E00000001/measurements",
            headers={"Authorization": f"Bearer {member}"},
            params={"from": "2025-06-01T10:00", "to": "2025-06-01T10:30"},
        )
        assert own.status_code == 200 and len(own.json()["measurements"]) == 2
        other = c.get(
            "/api/v1/pods/IT001E00000002/measurements", headers={"Authorization": f"Bearer {member}"}
        )
        assert other.status_code == 404
    store.close()
