"""The platform app with ``api_auth_required``: platform tokens write only their PODs, members read only
their own PODs, and every denial looks the same whether or not the POD exists."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient

from condivisa.app.http_app import create_app
from condivisa.app.settings import Settings
from condivisa.auth.service import AuthService
from condivisa.domain.config import load_community
from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.store.store import Store

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


def message(du: str, pod: str, k: int = 0) -> bytes:
    r = {
        "du_id": du,
        "pod": pod,
        "start": T0 + dt.timedelta(minutes=15 * k),
        "withdrawn_kwh": 0.25,
        "injected_kwh": 0.0,
    }
    return json.dumps(build_m1_dataset([r], producer_id="acme")).encode()


@pytest.fixture
def client(db_url, example_community_path):
    store = Store(db_url)
    store.upgrade()
    community = load_community(example_community_path)
    store.register_devices(community)
    app = create_app(
        Settings(
            database_url=db_url, community="cer-test", api_auth_required=True, allowed_hosts=["testserver"]
        ),
        store=store,
        community=community,
    )
    auth: AuthService = app.state.auth
    auth.create_user("rossi", "rossi-pass-1", "member", member_id="m1")
    auth.create_user("rita", "rita-pass-1", "referente")
    with TestClient(app) as c:
        c.store, c.svc = store, auth
        yield c
    store.close()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def login(client, user, pw) -> str:
    return client.post("/api/v1/auth/login", json={"username": user, "password": pw}).json()["token"]


def test_push_needs_a_writer(client):
    assert (
        client.post("/api/v1/urbandatasets", content=message("DU-0001", "IT001E00000001")).status_code == 401
    )
    member = bearer(login(client, "rossi", "rossi-pass-1"))
    assert (
        client.post(
            "/api/v1/urbandatasets", content=message("DU-0001", "IT001E00000001"), headers=member
        ).status_code
        == 403
    )
    assert client.store.counts()["measurements"] == 0


def test_platform_token_writes_only_its_pods(client):
    token = client.svc.create_api_token("acme", scope_pods=["IT001E00000001"])
    ok = client.post(
        "/api/v1/urbandatasets", content=message("DU-0001", "IT001E00000001"), headers=bearer(token)
    )
    assert ok.status_code == 201 and ok.json()["stored"] == 1
    other = client.post(
        "/api/v1/urbandatasets", content=message("DU-0002", "IT001E00000002"), headers=bearer(token)
    )
    assert other.status_code == 422
    [reason] = [d["msg"] for d in other.json()["detail"]]
    assert reason == "the sender is not authorised to write POD IT001E00000002 read by DU DU-0002"
    letter = client.store.dead_letters(1)[0]
    assert bytes(letter["payload"]) == message("DU-0002", "IT001E00000002")
    # one foreign line spoils the whole message: nothing of it is stored
    mixed = json.dumps(
        build_m1_dataset(
            [
                {
                    "du_id": "DU-0001",
                    "pod": "IT001E00000001",
                    "start": T0 + dt.timedelta(minutes=15),
                    "withdrawn_kwh": 0.1,
                    "injected_kwh": 0.0,
                },
                {
                    "du_id": "DU-0002",
                    "pod": "IT001E00000002",
                    "start": T0 + dt.timedelta(minutes=15),
                    "withdrawn_kwh": 0.1,
                    "injected_kwh": 0.0,
                },
            ],
            producer_id="acme",
        )
    ).encode()
    assert client.post("/api/v1/urbandatasets", content=mixed, headers=bearer(token)).status_code == 422
    assert client.store.counts()["measurements"] == 1
    # a token bound to a DU cannot write a POD through another DU
    du_token = client.svc.create_api_token("gw", scope_dus=["DU-0001"])
    assert (
        client.post(
            "/api/v1/urbandatasets", content=message("DU-0009", "IT001E00000001", 2), headers=bearer(du_token)
        ).status_code
        == 422
    )


def test_a_du_token_writes_only_the_pod_of_its_du(client):
    """A token bound to DU-0002 may not write POD ...01 (DU-0001's, another member's) in lines that name
    DU-0002: the POD is not that DU's, so the message is refused with the reason, not stored and flagged."""
    token = client.svc.create_api_token("du-2", scope_dus=["DU-0002"])
    r = client.post(
        "/api/v1/urbandatasets", content=message("DU-0002", "IT001E00000001", 3), headers=bearer(token)
    )
    assert r.status_code == 422, r.text
    assert "not authorised to write POD IT001E00000001" in r.text
    assert client.store.counts()["measurements"] == 0
    ok = client.post(
        "/api/v1/urbandatasets", content=message("DU-0002", "IT001E00000002", 3), headers=bearer(token)
    )
    assert ok.status_code == 201, ok.text  # its own DU's POD: stored
    # an unregistered DU in the token's scope writes nothing
    ghost = client.svc.create_api_token("du-9", scope_dus=["DU-0009"])
    r = client.post(
        "/api/v1/urbandatasets", content=message("DU-0009", "IT001E00000002", 4), headers=bearer(ghost)
    )
    assert r.status_code == 422, r.text


def test_member_reads_own_pod_only_without_leaks(client):
    token = client.svc.create_api_token("acme", scope_pods=["IT001E00000001", "IT001E00000002"])
    for du, pod in (("DU-0001", "IT001E00000001"), ("DU-0002", "IT001E00000002")):
        assert (
            client.post("/api/v1/urbandatasets", content=message(du, pod), headers=bearer(token)).status_code
            == 201
        )
    member = bearer(login(client, "rossi", "rossi-pass-1"))
    q = "?from=2025-06-01&to=2025-06-02"
    own = client.get(f"/api/v1/pods/IT001E00000001/measurements{q}", headers=member)
    assert own.status_code == 200 and len(own.json()["measurements"]) == 1
    other = client.get(f"/api/v1/pods/IT001E00000002/measurements{q}", headers=member)
    absent = client.get(f"/api/v1/pods/IT009E99999999/measurements{q}", headers=member)
    assert other.status_code == absent.status_code == 404 and other.json() == absent.json()
    assert client.get("/api/v1/devices", headers=member).status_code == 403
    assert client.get("/api/v1/dead-letters", headers=member).status_code == 403
    client.cookies.clear()  # the logins above left a session cookie in the test client
    assert client.get(f"/api/v1/pods/IT001E00000001/measurements{q}").status_code == 401
    ref = bearer(login(client, "rita", "rita-pass-1"))
    assert client.get(f"/api/v1/pods/IT001E00000002/measurements{q}", headers=ref).status_code == 200
    assert client.get("/api/v1/devices", headers=ref).status_code == 200
    # a referente asking for an absent POD gets the same answer as a member asking for someone else's
    assert client.get(f"/api/v1/pods/IT009E99999999/measurements{q}", headers=ref).json() == other.json()
