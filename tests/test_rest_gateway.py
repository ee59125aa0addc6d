"""SCPS Communication 2.0 UrbanDatasetGateway: login, push, reads rebuilt from the store, codes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient

from condivisa.app.http_app import create_app
from condivisa.app.settings import Settings
from condivisa.domain.config import load_community
from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.formats.urbandataset.parse import parse_urbandataset
from condivisa.store.store import Store

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)  # 10:00 Europe/Rome (UTC+2)
Q = dt.timedelta(minutes=15)
GW = "/UrbanDatasetGateway"


def dataset(k0: int = 0) -> dict:
    rows = [
        {"du_id": du, "pod": pod, "start": T0 + k * Q, "withdrawn_kwh": 0.1 * (k + 1), "injected_kwh": 0.0}
        for du, pod in (("DU-0001", "IT001E00000001"), ("DU-0002", "IT001E00000002"))
        for k in (k0, k0 + 1)
    ]
    return build_m1_dataset(rows, producer_id="SolutionX-1")


@pytest.fixture
def gw(db_url, example_community_path):
    store = Store(db_url)
    store.upgrade()
    community = load_community(example_community_path)
    store.register_devices(community)
    app = create_app(
        Settings(database_url=db_url, gateway_users={"scps": "s3cret"}, allowed_hosts=["testserver"]),
        store=store,
        community=community,
    )
    with TestClient(app) as c:
        yield c
    store.close()


def login(c: TestClient) -> dict:
    r = c.post(f"{GW}/login", json={"username": "scps", "password": "s3cret"})
    assert r.status_code == 200 and r.json()["code"] == "00"
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_test_needs_no_login(gw):
    assert gw.get(f"{GW}/test").json() == {"code": "00", "message": "Successful"}
    assert gw.post(f"{GW}/test").json()["code"] == "00"


def test_login_wrong_password_and_missing_token(gw):
    r = gw.post(f"{GW}/login", json={"username": "scps", "password": "nope"})
    assert r.status_code == 401 and r.json()["code"] == "01"
    r = gw.post(f"{GW}/isAlive")
    assert r.status_code == 401 and r.json()["code"] == "01"
    r = gw.post(f"{GW}/login", json={"username": "scps"})
    assert r.json()["code"] == "02" and "password" in r.json()["detail"]


def test_is_alive_and_logout(gw):
    h = login(gw)
    assert gw.post(f"{GW}/isAlive", headers=h).json() == {
        "code": "00",
        "message": "Successful",
        "username": "scps",
    }
    assert gw.post(f"{GW}/logout", headers=h).json()["code"] == "00"
    assert gw.post(f"{GW}/isAlive", headers=h).status_code == 401  # token revoked


def test_push_then_duplicate_then_invalid(gw):
    h = login(gw)
    body = {"resource_id": "SCP-1_SolutionX-1_M1ElectricUserDevice-2.0_20250601000000", "dataset": dataset()}
    r = gw.post(f"{GW}/push", json=body, headers=h).json()
    assert r["code"] == "00" and "stored 4" in r["detail"]
    r = gw.post(f"{GW}/push", json=body, headers=h).json()
    assert r["code"] == "00" and "stored 0, duplicates 4" in r["detail"]
    bad = json.loads(json.dumps(body))
    bad["dataset"]["UrbanDataset"]["values"]["line"][0]["property"][0]["val"] = 7  # val must be a string
    r = gw.post(f"{GW}/push", json=bad, headers=h).json()
    assert r["code"] == "02" and "line[0]" in r["detail"]
    assert gw.post(f"{GW}/push", json=body).status_code == 401


def test_reads_rebuild_the_stored_dataset(gw):
    h = login(gw)
    gw.post(f"{GW}/push", json={"resource_id": "r", "dataset": dataset()}, headers=h)
    # searching [10:00, 10:30) Rome civil time returns one M1 dataset with the 4 lines pushed
    r = gw.post(
        f"{GW}/searchingRequest",
        headers=h,
        json={
            "resource_id": "any",
            "period_start": "2025-06-01T10:00:00",
            "period_end": "2025-06-01T10:30:00",
        },
    ).json()
    assert r["code"] == "03" and len(r["dataset"]) == 1
    parsed = parse_urbandataset(r["dataset"][0])
    assert sorted((x.pod, x.start, round(x.withdrawn_kwh, 6)) for x in parsed.readings) == sorted(
        (pod, T0 + k * Q, round(0.1 * (k + 1), 6))
        for pod in ("IT001E00000001", "IT001E00000002")
        for k in (0, 1)
    )
    # a POD as resource_id narrows to that POD; specificRequest takes the quarter hour at 10:15
    r = gw.post(
        f"{GW}/specificRequest",
        headers=h,
        json={"resource_id": "IT001E00000002", "timestamp": "2025-06-01T10:15:00"},
    ).json()
    lines = parse_urbandataset(r["dataset"]).readings
    assert [(x.pod, round(x.withdrawn_kwh, 6)) for x in lines] == [("IT001E00000002", 0.2)]
    # by property: only DU-0001's lines
    r = gw.post(
        f"{GW}/searchingByPropertyRequest",
        headers=h,
        json={
            "resource_id": "any",
            "property_name": "UserDeviceID",
            "property_value": "DU-0001",
            "period_start": "2025-06-01T00:00:00",
            "period_end": "2025-06-02T00:00:00",
        },
    ).json()
    assert {x.du_id for x in parse_urbandataset(r["dataset"][0]).readings} == {"DU-0001"}


def test_last_request_answers_one_dataset_whatever_its_age(gw):
    """SCPS Communication 2.0: ``dataset`` is one UrbanDataset (not a list), the last one generated for the
    resource, even when it is older than 24 hours (these readings are of June 2025)."""
    h = login(gw)
    gw.post(f"{GW}/push", json={"resource_id": "r", "dataset": dataset()}, headers=h)
    gw.post(f"{GW}/push", json={"resource_id": "r", "dataset": dataset(8)}, headers=h)
    r = gw.post(f"{GW}/lastRequest", headers=h, json={"resource_id": "IT001E00000001"})
    assert r.status_code == 200 and r.json()["code"] == "03" and isinstance(r.json()["dataset"], dict)
    starts = [x.start for x in parse_urbandataset(r.json()["dataset"]).readings]
    assert starts == [T0 + k * Q for k in (0, 1, 8, 9)]  # the whole civil day of the latest reading
    r = gw.post(f"{GW}/lastRequest", headers=h, json={"resource_id": "IT001E00000003"})
    assert r.status_code == 404 and r.json()["code"] == "04"  # no UrbanDataset to answer with


def test_no_data_bad_period_and_delete(gw):
    h = login(gw)
    r = gw.post(f"{GW}/basicRequest", headers=h, json={"resource_id": "x"}).json()
    assert r["code"] == "04" and r["dataset"] == []  # the list verbs always carry their list
    r = gw.post(
        f"{GW}/searchingRequest",
        headers=h,
        json={"resource_id": "x", "period_start": "2025-06-02T00:00:00", "period_end": "2025-06-01T00:00:00"},
    ).json()
    assert r["code"] == "02"
    r = gw.post(f"{GW}/specificRequest", headers=h, json={"resource_id": "x", "timestamp": "not a time"})
    assert r.status_code == 400 and r.json()["code"] == "02"  # a single verb's 200 holds an UrbanDataset
    assert (
        gw.post(
            f"{GW}/delete", headers=h, json={"resource_id": "x", "timestamp": "2025-06-01T10:00:00"}
        ).json()["code"]
        == "06"
    )


# -- the gateway applies the same principals and scopes as /api/v1 -------------------------------------------
@pytest.fixture
def people(gw):
    """The gateway app with a member (m1, POD ...01), a referente and a platform token scoped to POD ...01;
    the static SCPS user has already stored both PODs' readings."""
    auth = gw.app.state.auth
    auth.create_user("rossi", "rossi-pass-1", "member", member_id="m1")
    auth.create_user("rita", "rita-pass-1", "referente")
    token = auth.create_api_token("acme", scope_pods=["IT001E00000001"])
    assert (
        gw.post(f"{GW}/push", headers=login(gw), json={"resource_id": "x", "dataset": dataset()}).json()[
            "code"
        ]
        == "00"
    )
    gw.platform_token = token
    return gw


def as_user(c: TestClient, username: str, password: str) -> dict:
    r = c.post(f"{GW}/login", json={"username": username, "password": password})
    assert r.status_code == 200 and r.json()["code"] == "00", r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def pods_read(c: TestClient, headers: dict) -> set[str]:
    """The PODs in what a searchingRequest over the stored morning returns to ``headers``'s caller."""
    r = c.post(
        f"{GW}/searchingRequest",
        headers=headers,
        json={
            "resource_id": "SCP-1_X-1_UD-2.0_1",
            "period_start": "2025-06-01T00:00:00",
            "period_end": "2025-06-02T00:00:00",
        },
    ).json()
    if r["code"] == "04":
        return set()
    assert r["code"] == "03", r
    return {rd.pod for doc in r["dataset"] for rd in parse_urbandataset(doc).readings}


def test_a_member_reads_only_their_own_pod_through_the_gateway(people):
    member = as_user(people, "rossi", "rossi-pass-1")
    assert pods_read(people, member) == {"IT001E00000001"}  # not IT001E00000002, whatever the ResourceID
    r = people.post(f"{GW}/basicRequest", headers=member, json={"resource_id": "IT001E00000002"}).json()
    assert r["code"] == "04"  # another member's POD asked by name: nothing
    assert pods_read(people, as_user(people, "rita", "rita-pass-1")) == {"IT001E00000001", "IT001E00000002"}


def test_people_never_push_through_the_gateway(people):
    for who in (("rossi", "rossi-pass-1"), ("rita", "rita-pass-1")):
        r = people.post(
            f"{GW}/push", headers=as_user(people, *who), json={"resource_id": "x", "dataset": dataset(8)}
        )
        assert r.json()["code"] == "06", r.text
    assert people.app.state.store.counts()["measurements"] == 4  # nothing revised, nothing added


def test_a_scoped_platform_token_pushes_and_reads_only_its_pods(people):
    platform = {"Authorization": f"Bearer {people.platform_token}"}
    r = people.post(f"{GW}/push", headers=platform, json={"resource_id": "x", "dataset": dataset(4)}).json()
    assert r["code"] == "02" and "not authorised to write POD IT001E00000002" in r["detail"], r
    assert people.app.state.store.counts()["measurements"] == 4  # the whole message refused
    own = build_m1_dataset(
        [
            {
                "du_id": "DU-0001",
                "pod": "IT001E00000001",
                "start": T0 + 6 * Q,
                "withdrawn_kwh": 0.2,
                "injected_kwh": 0.0,
            }
        ],
        producer_id="acme",
    )
    assert (
        people.post(f"{GW}/push", headers=platform, json={"resource_id": "x", "dataset": own}).json()["code"]
        == "00"
    )
    assert pods_read(people, platform) == {"IT001E00000001"}


def test_a_static_gateway_user_is_locked_after_five_wrong_passwords(gw):
    for _ in range(5):
        assert gw.post(f"{GW}/login", json={"username": "scps", "password": "wrong"}).json()["code"] == "01"
    r = gw.post(f"{GW}/login", json={"username": "scps", "password": "s3cret"})
    assert r.status_code == 401 and r.json()["code"] == "01"  # the right password is refused while locked


def test_the_static_lockout_ends_after_its_window():
    from condivisa.transports.http.gateway import LOCKOUT_WINDOW_S, MAX_FAILED_LOGINS, GatewayAuth

    now = [1000.0]
    auth = GatewayAuth({"scps": "s3cret"}, 3600, clock=lambda: now[0])
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert auth.login("scps", "wrong") is None
    assert auth.login("scps", "s3cret") is not None  # four wrong: not locked yet
    assert auth.login("scps", "wrong") is None  # the fifth
    assert auth.login("scps", "s3cret") is None
    now[0] += LOCKOUT_WINDOW_S + 1
    assert auth.login("scps", "s3cret") is not None
