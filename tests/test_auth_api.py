"""FastAPI dependencies: 401 without a valid token, 403 without the role, and the same 404 for another
member's data as for data that does not exist (nothing leaks)."""

from __future__ import annotations

from typing import Annotated

import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient

from condivisa.auth.deps import (
    NOT_FOUND,
    SESSION_COOKIE,
    current_principal,
    install_auth,
    require_member_access,
    require_pod_access,
    require_role,
)
from condivisa.auth.principal import Principal
from condivisa.auth.service import AuthService
from condivisa.domain.community import Community, ConfigurationType, Member, Plant, Pod
from condivisa.domain.tariffs import Zone
from condivisa.store.auth_tables import create_auth_tables

MEMBERS = {"M01": ["IT001E00000001"], "M02": ["IT001E00000002"]}


@pytest.fixture
def community():
    import datetime as dt

    members = tuple(Member(id=m, pods=tuple(Pod(p) for p in pods)) for m, pods in MEMBERS.items())
    plant = Plant(id="PV1", pod="IT001E00000099", owner="M02", power_kw=20.0)
    return Community(
        name="cer-test",
        configuration=ConfigurationType.CER,
        zone=Zone.CENTRE,
        constituted=dt.date(2024, 1, 1),
        members=members,
        plants=(plant,),
    )


@pytest.fixture
def client(sqlite_url, community):
    engine = sa.create_engine(sqlite_url)
    create_auth_tables(engine)
    service = AuthService(engine, community=community)
    service.create_user("anna", "anna-pass-1", "member", member_id="M01")
    service.create_user("rita", "rita-pass-1", "referente")
    service.create_user("root", "root-pass-1", "admin")
    app = FastAPI()
    install_auth(app, service)

    @app.get("/members/{member_id}")
    def member(member_id: str, who: Annotated[Principal, Depends(require_member_access)]):
        if member_id not in MEMBERS:
            raise HTTPException(404, NOT_FOUND)  # the endpoint's own "absent" answer
        return {"member": member_id, "by": who.username}

    @app.get("/pods/{pod}")
    def pod(pod: str, who: Annotated[Principal, Depends(require_pod_access)]):
        if pod not in {p for ps in MEMBERS.values() for p in ps} | {"IT001E00000099"}:
            raise HTTPException(404, NOT_FOUND)
        return {"pod": pod}

    @app.get("/admin")
    def admin(who: Annotated[Principal, Depends(require_role("admin"))]):
        return {"ok": who.username}

    @app.get("/me2")
    def me2(who: Annotated[Principal, Depends(current_principal)]):
        return {"u": who.username}

    with TestClient(app) as c:
        c.service = service
        yield c
    engine.dispose()


def _login(client, user, pw) -> str:
    r = client.post("/api/v1/auth/login", json={"username": user, "password": pw})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_no_token_or_bad_token_is_401(client):
    for headers in ({}, {"Authorization": "Bearer cdv_nope"}, {"Authorization": "Basic YTpi"}):
        r = client.get("/me2", headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_login_wrong_password_is_401_same_as_unknown_user(client):
    a = client.post("/api/v1/auth/login", json={"username": "anna", "password": "wrong-wrong"})
    b = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong-wrong"})
    assert a.status_code == b.status_code == 401 and a.json() == b.json()


def test_member_sees_only_own_data_and_denials_do_not_leak(client):
    h = {"Authorization": f"Bearer {_login(client, 'anna', 'anna-pass-1')}"}
    assert client.get("/members/M01", headers=h).json() == {"member": "M01", "by": "anna"}
    other = client.get("/members/M02", headers=h)
    absent = client.get("/members/M99", headers=h)
    assert other.status_code == absent.status_code == 404 and other.json() == absent.json() == {
        "detail": NOT_FOUND
    }
    assert client.get("/pods/IT001E00000001", headers=h).status_code == 200
    pod_other = client.get("/pods/IT001E00000002", headers=h)
    pod_absent = client.get("/pods/IT001E00000777", headers=h)
    assert pod_other.status_code == pod_absent.status_code == 404 and pod_other.json() == pod_absent.json()
    assert client.get("/admin", headers=h).status_code == 403
    denied = client.service.audit_log(action="access_denied")
    assert {e["target"] for e in denied} >= {"member:M02", "pod:IT001E00000002", "role:admin"}


def test_plant_owner_reads_plant_pod(client):
    h = {"Authorization": f"Bearer {_login(client, 'anna', 'anna-pass-1')}"}
    assert client.get("/pods/IT001E00000099", headers=h).status_code == 404  # M02's plant
    client.service.create_user("bea", "bea-pass-12", "member", member_id="M02")
    h2 = {"Authorization": f"Bearer {_login(client, 'bea', 'bea-pass-12')}"}
    assert client.get("/pods/IT001E00000099", headers=h2).status_code == 200


def test_referente_and_admin(client):
    h = {"Authorization": f"Bearer {_login(client, 'rita', 'rita-pass-1')}"}
    assert client.get("/members/M02", headers=h).status_code == 200
    assert client.get("/members/M99", headers=h).status_code == 404  # truly absent, same answer
    assert client.get("/admin", headers=h).status_code == 403
    h = {"Authorization": f"Bearer {_login(client, 'root', 'root-pass-1')}"}
    assert client.get("/admin", headers=h).json() == {"ok": "root"}


def test_cookie_session_and_logout(client):
    r = client.post("/api/v1/auth/login", json={"username": "anna", "password": "anna-pass-1"})
    set_cookie = r.headers["set-cookie"]
    assert SESSION_COOKIE in set_cookie and "HttpOnly" in set_cookie and "samesite=lax" in set_cookie.lower()
    assert client.get("/api/v1/auth/me").json()["username"] == "anna"  # TestClient keeps the cookie
    assert client.post("/api/v1/auth/logout").status_code == 204
    client.cookies.set(SESSION_COOKIE, r.json()["token"])  # replaying the old cookie does not work
    assert client.get("/api/v1/auth/me").status_code == 401


def test_api_token_principal_is_not_a_reader(client):
    token = client.service.create_api_token("acme", scope_pods=["IT001E00000001"])
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/me2", headers=h).json() == {"u": "acme"}
    assert client.get("/members/M01", headers=h).status_code == 404
    assert client.get("/admin", headers=h).status_code == 403
