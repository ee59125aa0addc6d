"""One platform, two communities (issue #18): every route answers another community's member, POD, DU, dead
letter or ledger entry exactly as an absent one (same status, same body), a referente sees only their
community, a member only themself, a platform API token only its community's PODs; a platform admin sees
both. The communities are added through ``save_community`` (as ``condivisa communities add`` does), the app
serves what the store holds (no community file), and a community added while it runs is served without a
restart."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import time_machine
from fastapi.routing import _IncludedRouter
from fastapi.testclient import TestClient

from condivisa.app.http_app import create_app
from condivisa.app.settings import load_settings
from condivisa.auth.audit import read_audit_log
from condivisa.auth.communities import save_community
from condivisa.auth.service import AuthService
from condivisa.billing.ledger import make_entry, read_document, record_entry
from condivisa.domain.config import load_community
from condivisa.formats.csv_io import write_prices
from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.formats.urbandataset.types import Reading
from condivisa.ingest.tables import ingest_frame
from condivisa.store.store import Store
from conftest import EXAMPLE_COMMUNITY
from web_helpers import DAYS, synthetic_measurements, synthetic_prices

UTC = dt.timezone.utc
DU_READING = dt.datetime(2024, 5, 29, 8, 0, tzinfo=UTC)
PRICE_DAYS = (DU_READING.date(), *DAYS)
PW = "correct-horse-42"
GW = "/UrbanDatasetGateway"
#: B is A's example file with another name, other PODs, DUs and people, and one more member (m6): the member
#: ids m1…m5 are the same in both on purpose (ids are scoped by community)
B_EDITS = {
    "CER Esempio Sud": "CER Borgo Nord",
    "IT001E": "IT002E",
    "DU-0": "DU-9",
    "Famiglia Rossi": "Famiglia Esposito",
    "Famiglia Bianchi": "Famiglia Ferrari",
    "Azienda Agricola Verdi": "Azienda Agricola Gallo",
    "Comune di Esempio": "Comune di Borgo",
    "Officina Neri srl": "Officina Conti srl",
}
B_EXTRA_MEMBER = (
    "  - {id: m6, name: Famiglia Lombardi, category: private, founder: true, millesimi: 100, "
    "pods: [{pod: IT002E00000006, kind: consumption}]}\n"
)
A_PEOPLE = ("Famiglia Rossi", "Famiglia Bianchi", "Azienda Agricola Verdi", "Comune di Esempio")
B_PEOPLE = ("Famiglia Esposito", "Famiglia Ferrari", "Azienda Agricola Gallo", "Famiglia Lombardi")


def community_files(tmp_path: Path) -> tuple[Path, Path]:
    text = EXAMPLE_COMMUNITY.read_text(encoding="utf-8")
    a = tmp_path / "a.yaml"
    a.write_text(text, encoding="utf-8")
    b_text = text
    for old, new in B_EDITS.items():
        b_text = b_text.replace(old, new)
    b_text = b_text.replace("plants:\n", B_EXTRA_MEMBER + "plants:\n", 1)
    b = tmp_path / "b.yaml"
    b.write_text(b_text, encoding="utf-8")
    return a, b


@dataclass
class Two:
    app: object
    store: Store
    auth: AuthService
    a: object  # the Community models
    b: object
    letter_a: int
    letter_b: int
    entry_a: int
    entry_b: int
    token_a: str
    token_b: str


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def session_of(auth: AuthService, username: str) -> dict:
    token, _ = auth.login(username, PW)
    return bearer(token)


def ledger_entry(store: Store, community_name: str) -> int:
    doc = read_document("gse.pdf", b"%PDF-1.4 " + community_name.encode())
    entry = make_entry(
        community_name, kind="advance", month="2024-05", amount="12.40", paid_on="2024-07-30", document=doc
    )
    return record_entry(store, entry, doc, actor="test").entry_id


def build_two(tmp_path: Path, url: str) -> Two:
    """The store with communities ``a`` and ``b`` (module docstring), readings of both, a dead letter and a
    GSE ledger entry of each, the people and tokens of both; the app serving the store (no community file)."""
    path_a, path_b = community_files(tmp_path)
    store = Store(url)
    store.upgrade()
    save_community(store, path_a, actor="test", slug="a", create=True)
    save_community(store, path_b, actor="test", slug="b", create=True)
    a, b = load_community(path_a), load_community(path_b)
    for community in (a, b):
        ingest_frame(store, synthetic_measurements(community), source="test")
        du = community.devices[0]  # and one quarter hour of a DU, the day before (the gateway's UserDeviceID)
        store.ingest_records([Reading(du.pod, DU_READING, 0.1, 0.0, du_id=du.id)], source="test",
                             device_id=du.id)  # fmt: skip
    letter_a = store.add_dead_letter(b'{"a": "letter of A"}', [{"path": "$", "reason": "x"}], source="t",
                                     community="a")  # fmt: skip
    letter_b = store.add_dead_letter(b'{"b": "letter of B"}', [{"path": "$", "reason": "x"}], source="t",
                                     community="b")  # fmt: skip
    entry_a, entry_b = ledger_entry(store, a.name), ledger_entry(store, b.name)
    write_prices(synthetic_prices(PRICE_DAYS), tmp_path / "prices.csv")
    settings = load_settings(
        database_url=url,
        prices_file=str(tmp_path / "prices.csv"),
        allowed_hosts=["testserver"],
        api_auth_required=True,
    )
    app = create_app(settings, store=store)
    auth: AuthService = app.state.auth
    auth.create_user("admin", PW, "admin")  # no community: a platform admin
    auth.create_user("ref-a", PW, "referente", community="a")
    auth.create_user("ref-b", PW, "referente", community="b")
    auth.create_user("m1-a", PW, "member", "m1", community="a")
    auth.create_user("m1-b", PW, "member", "m1", community="b")
    token_a = auth.create_api_token("tok-a", scope_pods=["IT001E00000001", "IT001E00000002"], community="a")
    token_b = auth.create_api_token("tok-b", scope_pods=["IT002E00000001"], community="b")
    return Two(app, store, auth, a, b, letter_a, letter_b, entry_a, entry_b, token_a, token_b)


@pytest.fixture
def two(tmp_path):
    world = build_two(tmp_path, f"sqlite:///{tmp_path / 'condivisa.db'}")
    with TestClient(world.app) as c:
        c.world = world
        yield c
    world.store.close()


# ---------------------------------------------------------------------------------------------- the routes
def flat_routes(app) -> list[tuple[str, frozenset[str]]]:
    """Every route of ``app`` as ``(path, methods)``, included routers flattened."""

    def walk(routes):
        for r in routes:
            if isinstance(r, _IncludedRouter):
                yield from walk(r.effective_candidates())
                continue
            orig = getattr(r, "original_route", r)
            path = getattr(r, "path", None) or getattr(getattr(r, "starlette_route", None), "path", None)
            path = path or getattr(orig, "path", "")
            yield path, frozenset(getattr(orig, "methods", None) or ())

    return list(walk(app.routes))


#: path parameters that name no community's data (a file format, the hash of a static bundle)
NOT_IDS = {"/static/plotly.{digest}.min.js": "the bundle's hash", "/community/report.{fmt}": "a format"}
#: how each route with a path parameter is asked for an id: ``(method, kind, url template, json body)``;
#: ``kind`` says which ids (member, pod, du, entry) fill ``{id}``
ID_ROUTES = {
    "/api/v1/pods/{pod}/measurements": [
        ("GET", "pod", "/api/v1/pods/{id}/measurements?from=2024-05-30&to=2024-06-03", None),
        ("GET", "pod", "/api/v1/pods/{id}/measurements?from=2024-05-30&to=2024-06-03&format=csv", None),
    ],
    "/api/v1/devices/{du_id}/commands": [
        ("POST", "du", "/api/v1/devices/{id}/commands", {"cmd": "resend", "from": "2024-06-01T00:00:00Z"})
    ],
    "/members/{member_id}": [
        ("GET", "member", "/members/{id}", None),
        ("GET", "member", "/members/{id}?month=2024-05", None),
        ("GET", "member", "/members/{id}?month=2024-06&community=b", None),
    ],
    "/members/{member_id}/statement.{fmt}": [
        ("GET", "member", "/members/{id}/statement.csv?month=2024-05", None),
        ("GET", "member", "/members/{id}/statement.html?month=2024-05", None),
    ],
    "/community/ledger/{entry_id}/document": [("GET", "entry", "/community/ledger/{id}/document", None)],
}
#: ids named in a query string or a JSON body rather than in the path
QUERY_ID_ROUTES = [
    ("GET", "letter", "/api/v1/dead-letters?id={id}", None),
    *[
        ("POST", kind, f"{GW}/{verb}", body)
        for kind in ("pod", "du")
        for verb, body in (
            ("basicRequest", {"resource_id": "{id}"}),
            ("lastRequest", {"resource_id": "{id}"}),
            ("specificRequest", {"resource_id": "{id}", "timestamp": "2024-06-01T10:00:00"}),
            (
                "searchingRequest",
                {
                    "resource_id": "{id}",
                    "period_start": "2024-05-29T00:00:00",
                    "period_end": "2024-06-03T00:00:00",
                },
            ),
            (
                "deepSearchingRequest",
                {
                    "resource_id": "{id}",
                    "period_start": "2024-05-29T00:00:00",
                    "period_end": "2024-06-03T00:00:00",
                },
            ),
            ("delete", {"resource_id": "{id}", "timestamp": "2024-06-01T10:00:00"}),
        )
    ],
    (
        "POST",
        "du",
        f"{GW}/searchingByPropertyRequest",
        {
            "resource_id": "any",
            "property_name": "UserDeviceID",
            "property_value": "{id}",
            "period_start": "2024-05-29T00:00:00",
            "period_end": "2024-06-03T00:00:00",
        },
    ),
]


def ids(world: Two) -> dict[str, tuple[str, str, str]]:
    """``{kind: (own id, B's id, absent id)}`` for the callers of community A."""
    return {
        # m6 is a member of B only; m1 is in both (A's m1 is the caller's own for the member)
        "member": ("m1", "m6", "m9"),
        "pod": ("IT001E00000001", "IT002E00000001", "IT009E00000001"),
        "du": ("DU-0001", "DU-9001", "DU-7001"),
        "entry": (str(world.entry_a), str(world.entry_b), str(10_000 + world.entry_b)),
        "letter": (str(world.letter_a), str(world.letter_b), str(10_000 + world.letter_b)),
    }


def fill(value, ident: str):
    if isinstance(value, str):
        return value.replace("{id}", ident)
    if isinstance(value, dict):
        return {k: fill(v, ident) for k, v in value.items()}
    return value


def ask(c: TestClient, headers: dict, method: str, url: str, body, ident: str):
    url, body = fill(url, ident), fill(body, ident)
    if method == "GET":
        return c.get(url, headers=headers, follow_redirects=False)
    return c.post(url, headers=headers, json=body, follow_redirects=False)


def gateway_headers(c: TestClient, world: Two, role: str) -> dict:
    """How ``role`` calls the SCPS gateway: a gateway login of the person, or the platform token."""
    if role == "token-a":
        return bearer(world.token_a)
    user = {"ref-a": "ref-a", "member-a": "m1-a"}[role]
    r = c.post(f"{GW}/login", json={"username": user, "password": PW})
    assert r.status_code == 200 and r.json()["code"] == "00", r.text
    return bearer(r.json()["token"])


#: the kinds of ids of their own each role may see, on the API and dashboard / through the gateway (a
#: platform token reads its PODs through the gateway only; a member's DU selects their POD there)
MAY_SEE_OWN = {
    "ref-a": ({"member", "pod", "du", "entry", "letter"}, {"pod", "du"}),
    "member-a": ({"member", "pod"}, {"pod", "du"}),
    "token-a": (set(), {"pod"}),
}


def test_every_route_with_an_id_is_covered(two):
    """A route with a path parameter that the mapping below does not know fails here: a new route must say
    how its ids are scoped (and be checked across communities)."""
    with_params = {
        (path, method)
        for path, methods in flat_routes(two.app)
        if "{" in path and path not in NOT_IDS
        for method in methods - {"HEAD"}
    }
    covered = {(path, case[0]) for path, cases in ID_ROUTES.items() for case in cases}
    assert with_params - covered == set()
    assert covered <= with_params  # the mapping names no route that is gone


@pytest.mark.parametrize("role", ["ref-a", "member-a", "token-a"])
def test_another_communitys_ids_answer_as_absent_ones(two, role):
    world: Two = two.world
    with time_machine.travel(dt.datetime(2024, 6, 2, 12, 0, tzinfo=UTC)):  # basicRequest: the last 24 hours
        check_ids_across_communities(two, world, role)


def check_ids_across_communities(two: TestClient, world: Two, role: str) -> None:
    person = {"ref-a": "ref-a", "member-a": "m1-a"}.get(role)
    rest = session_of(world.auth, person) if person else bearer(world.token_a)
    gw = gateway_headers(two, world, role)
    checked = 0
    cases = [case for cases in ID_ROUTES.values() for case in cases] + QUERY_ID_ROUTES
    for method, kind, url, body in cases:
        headers = gw if url.startswith(GW) else rest
        own, theirs, absent = ids(world)[kind]
        got_b = ask(two, headers, method, url, body, theirs)
        got_absent = ask(two, headers, method, url, body, absent)
        where = f"{role} {method} {fill(url, theirs)}"
        assert got_b.status_code == got_absent.status_code, where
        # a page may echo its own path (the language links): that is the only difference allowed
        path_b, path_absent = (fill(url, i).split("?")[0].encode() for i in (theirs, absent))
        assert got_b.content.replace(path_b, path_absent) == got_absent.content, where
        for name in B_PEOPLE + (world.b.name,):
            assert name not in got_b.text, where
        on_gateway = url.startswith(GW)
        if not on_gateway:  # refused, not merely answered alike (a command to B's DU never reaches a worker)
            assert got_b.status_code in (403, 404), where
        if kind in MAY_SEE_OWN[role][on_gateway] and not url.endswith("/delete"):
            got_own = ask(two, headers, method, url, body, own)
            assert got_own.status_code != 404, where
            if on_gateway:  # their own resource's readings
                assert got_own.json()["code"] == "03", (where, got_own.text)
        checked += 1
    assert checked == sum(len(v) for v in ID_ROUTES.values()) + len(QUERY_ID_ROUTES)


def test_a_referente_sees_their_community_only(two):
    world: Two = two.world
    ref_a = session_of(world.auth, "ref-a")
    for url in ("/community", "/community?community=b", "/community?community=b&month=2024-06", "/"):
        page = two.get(url, headers=ref_a, follow_redirects=True)
        assert page.status_code == 200, url
        assert world.a.name in page.text and world.b.name not in page.text, url
        assert all(n in page.text for n in A_PEOPLE) and not any(n in page.text for n in B_PEOPLE), url
    # A's m1 is A's Famiglia Rossi, whatever B's m1 is called
    m1 = two.get("/members/m1?community=b", headers=ref_a)
    assert "Famiglia Rossi" in m1.text and "Famiglia Esposito" not in m1.text
    report = two.get("/community/report.html?month=2024-05&community=b", headers=ref_a)
    assert report.status_code == 200 and world.a.name in report.text and world.b.name not in report.text
    ledger = two.get("/community/ledger?community=b", headers=ref_a)
    assert f"/community/ledger/{world.entry_a}/document" in ledger.text
    assert f"/community/ledger/{world.entry_b}/document" not in ledger.text
    # the API: A's DUs and dead letters only
    devices = two.get("/api/v1/devices?community=b", headers=ref_a).json()
    assert {d["du_id"] for d in devices} == {d.id for d in world.a.devices}
    letters = two.get("/api/v1/dead-letters?community=b", headers=ref_a).json()
    assert [x["id"] for x in letters] == [world.letter_a]
    assert two.get("/platform", headers=ref_a).status_code == 404
    assert two.get("/platform/select?community=b", headers=ref_a).status_code == 404
    # referente B: the mirror image
    ref_b = session_of(world.auth, "ref-b")
    page = two.get("/community", headers=ref_b)
    assert world.b.name in page.text and world.a.name not in page.text
    assert "Famiglia Esposito" in two.get("/members/m1", headers=ref_b).text
    assert [x["id"] for x in two.get("/api/v1/dead-letters", headers=ref_b).json()] == [world.letter_b]


def test_the_gateway_reads_the_callers_community_only(two):
    world: Two = two.world
    window = {"resource_id": "SCP-1_X-1_UD-2.0_1", "period_start": "2024-06-01T00:00:00",
              "period_end": "2024-06-01T01:00:00"}  # fmt: skip

    def pods(role: str) -> set[str]:
        r = two.post(f"{GW}/searchingRequest", headers=gateway_headers(two, world, role), json=window).json()
        assert r["code"] == "03", r
        return {p["val"] for doc in r["dataset"] for line in doc["UrbanDataset"]["values"]["line"]
                for p in line["property"] if p["name"] == "PODID"}  # fmt: skip

    assert pods("ref-a") == set(world.a.all_pods)
    assert pods("member-a") == {"IT001E00000001"}
    assert pods("token-a") == {"IT001E00000001", "IT001E00000002"}


def test_a_member_sees_themself_only(two):
    world: Two = two.world
    member = session_of(world.auth, "m1-a")
    home = two.get("/", headers=member, follow_redirects=True)
    assert home.status_code == 200 and "Famiglia Rossi" in home.text and "Famiglia Esposito" not in home.text
    # the member of B with the same id sees B's m1
    other = session_of(world.auth, "m1-b")
    page = two.get("/members/m1?community=a", headers=other)
    assert page.status_code == 200 and "Famiglia Esposito" in page.text and "Famiglia Rossi" not in page.text
    assert two.get("/members/m6", headers=other).status_code == 404  # a member of their community, not them


def test_a_platform_admin_sees_both_and_chooses(two):
    world: Two = two.world
    admin = session_of(world.auth, "admin")
    listing = two.get("/platform", headers=admin)
    assert listing.status_code == 200 and world.a.name in listing.text and world.b.name in listing.text
    # none chosen yet: off to /platform
    assert two.get("/community", headers=admin, follow_redirects=False).headers["location"] == "/platform"
    for slug, mine, theirs in (("a", world.a, world.b), ("b", world.b, world.a)):
        page = two.get(f"/community?community={slug}", headers=admin)
        assert mine.name in page.text and theirs.name not in page.text
    chosen = two.get("/platform/select?community=b", headers=admin, follow_redirects=False)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/community"
    page = two.get("/community", headers=admin)  # the cookie the client kept
    assert world.b.name in page.text and world.a.name not in page.text
    assert "Famiglia Lombardi" in two.get("/members/m6", headers=admin).text
    two.cookies.clear()
    assert two.get("/platform/select?community=zz", headers=admin).status_code == 404
    devices = {d["du_id"] for d in two.get("/api/v1/devices", headers=admin).json()}
    assert devices == {d.id for d in world.a.devices} | {d.id for d in world.b.devices}
    letters = {x["id"] for x in two.get("/api/v1/dead-letters", headers=admin).json()}
    assert {world.letter_a, world.letter_b} <= letters
    r = two.get("/api/v1/pods/IT002E00000001/measurements?from=2024-06-01&to=2024-06-02", headers=admin)
    assert r.status_code == 200 and len(r.json()["measurements"]) == 96


# ---------------------------------------------------------------------------------------------- tokens
def message(du: str, pod: str, k: int = 0) -> bytes:
    t0 = dt.datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
    r = {"du_id": du, "pod": pod, "start": t0 + dt.timedelta(minutes=15 * k), "withdrawn_kwh": 0.25,
         "injected_kwh": 0.0}  # fmt: skip
    return json.dumps(build_m1_dataset([r], producer_id="acme")).encode()


def test_a_token_of_a_writes_no_pod_of_b(two):
    world: Two = two.world
    headers = {**bearer(world.token_a), "Content-Type": "application/json"}
    before = world.store.counts()["measurements"]
    foreign = two.post("/api/v1/urbandatasets", content=message("DU-9001", "IT002E00000001"), headers=headers)
    absent = two.post("/api/v1/urbandatasets", content=message("DU-7001", "IT009E00000001"), headers=headers)
    assert foreign.status_code == absent.status_code == 422
    reasons = [d["msg"] for d in foreign.json()["detail"]]
    assert reasons == ["the sender is not authorised to write POD IT002E00000001 read by DU DU-9001"]
    assert [
        d["msg"].replace("IT009E", "IT002E").replace("DU-7", "DU-9") for d in absent.json()["detail"]
    ] == (reasons)
    ok = two.post("/api/v1/urbandatasets", content=message("DU-0001", "IT001E00000001"), headers=headers)
    assert ok.status_code == 201, ok.text
    assert world.store.counts()["measurements"] == before + 1
    # through the gateway too
    push = {"resource_id": "x", "dataset": json.loads(message("DU-9001", "IT002E00000001", 1))}
    r = two.post(f"{GW}/push", headers=bearer(world.token_a), json=push).json()
    assert r["code"] == "02" and "not authorised to write POD IT002E00000001" in r["detail"], r
    assert world.store.counts()["measurements"] == before + 1


def test_a_token_of_a_cannot_be_bound_to_a_pod_of_b(two):
    auth = two.world.auth
    with pytest.raises(ValueError, match="IT002E00000001"):
        auth.create_api_token("bad", scope_pods=["IT001E00000001", "IT002E00000001"], community="a")
    with pytest.raises(ValueError, match="DU-9001"):
        auth.create_api_token("bad", scope_dus=["DU-9001"], community="a")


# ---------------------------------------------------------------------------------------------- the audit log
def test_audit_entries_carry_the_community(two):
    world: Two = two.world
    engine = world.store.engine
    session_of(world.auth, "ref-b")
    [login] = [e for e in read_audit_log(engine, community="b", action="login") if e["actor"] == "ref-b"]
    assert login["community"] == "b"
    assert not [e for e in read_audit_log(engine, community="a", limit=1000) if e["actor"] == "ref-b"]
    # refusals of B's people are B's entries: a member of B asking for another member, an API member read
    member_b = session_of(world.auth, "m1-b")
    assert two.get("/members/m2", headers=member_b).status_code == 404
    assert two.get("/api/v1/devices", headers=member_b).status_code == 403
    denied = read_audit_log(engine, community="b", action="access_denied", actor="m1-b")
    assert {e["target"] for e in denied} == {"member:m2", "role:admin,referente"}
    ref_a = session_of(world.auth, "ref-a")
    assert two.get("/members/m6", headers=ref_a).status_code == 404
    assert two.get("/api/v1/pods/IT002E00000001/measurements", headers=ref_a).status_code == 404
    refused = read_audit_log(engine, action="access_denied", actor="ref-a")
    assert {(e["target"], e["community"]) for e in refused} == {
        ("member:m6", "a"),
        ("pod:IT002E00000001", "a"),
    }


# ---------------------------------------------------------------------------------------------- no restart
def test_a_community_added_while_serving_is_served_at_once(tmp_path):
    path_a, path_b = community_files(tmp_path)
    url = f"sqlite:///{tmp_path / 'condivisa.db'}"
    store = Store(url)
    store.upgrade()
    save_community(store, path_a, actor="test", slug="a", create=True)
    write_prices(synthetic_prices(PRICE_DAYS), tmp_path / "prices.csv")
    settings = load_settings(database_url=url, prices_file=str(tmp_path / "prices.csv"),
                             allowed_hosts=["testserver"], api_auth_required=True)  # fmt: skip
    app = create_app(settings, store=store)
    auth: AuthService = app.state.auth
    auth.create_user("ref-a", PW, "referente", community="a")
    try:
        with TestClient(app) as c:
            ref_a = session_of(auth, "ref-a")
            page = c.get("/community", headers=ref_a)
            assert page.status_code == 200 and "CER Esempio Sud" in page.text
            assert app.state.tenants.slugs() == ["a"]
            # `condivisa communities add b.yaml` in another process, while this one serves
            save_community(store, path_b, actor="cli", slug="b", create=True)
            ingest_frame(store, synthetic_measurements(load_community(path_b)), source="test")
            app.state.tenants.invalidate()  # what the next poll (at most a second later) does
            auth.create_user("ref-b", PW, "referente", community="b")
            assert app.state.tenants.slugs() == ["a", "b"]
            page = c.get("/community", headers=session_of(auth, "ref-b"))
            assert (
                page.status_code == 200
                and "CER Borgo Nord" in page.text
                and "CER Esempio Sud" not in page.text
            )
            assert all(n in page.text for n in B_PEOPLE) and not any(n in page.text for n in A_PEOPLE)
            page = c.get("/community", headers=ref_a)
            assert "CER Esempio Sud" in page.text and "CER Borgo Nord" not in page.text
            assert not any(n in page.text for n in B_PEOPLE)
    finally:
        store.close()


@pytest.mark.postgres
def test_another_communitys_ids_answer_as_absent_ones_on_postgres(tmp_path, pg_url):
    world = build_two(tmp_path, pg_url)
    try:
        with TestClient(world.app) as c:
            c.world = world
            test_another_communitys_ids_answer_as_absent_ones(c, "ref-a")
            test_a_referente_sees_their_community_only(c)
    finally:
        world.store.close()
