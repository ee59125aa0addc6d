"""After a GDPR erasure nothing names the member any more (#13, finding 9): not a table, not a dead letter in
any encoding, not the audit log (pseudonymised, not deleted), not /api/v1/devices, not the running
dashboard, not the broker's files, not SQLite's bytes on disk. Real SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import queue
import re
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from condivisa.app.http_app import create_app
from condivisa.app.settings import Settings
from condivisa.auth.erasure_scan import mentions, needle_pattern, text_mentions
from condivisa.auth.mqtt_acl import embedded_broker_plugins, write_mosquitto_files
from condivisa.auth.privacy import erase_member, pseudonym
from condivisa.auth.service import AuthService
from condivisa.domain.config import load_community
from condivisa.formats.urbandataset.types import Reading
from condivisa.store.auth_tables import AuditAction
from condivisa.store.store import Store
from condivisa.transports.mqtt.broker import free_port

UTC = dt.timezone.utc
KEY = bytes(range(32))
T0 = dt.datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
POD, DU, USER, NAME = "IT001E00000001", "DU-0001", "rossi", "Famiglia Rossi"
ERASED = (POD, DU, USER, NAME)
PASSWORD = "rossi-pass-1"


def escaped(text: str) -> str:
    """Every digit as a JSON \\u escape."""
    return "".join(f"\\u{ord(c):04x}" if c.isdigit() else c for c in text)


#: dead letters that mention the member, each in another encoding
MENTIONING = {
    "plain": json.dumps({"pod": POD}).encode(),
    "json-escaped": ('{"pod": "' + escaped(POD) + '"}').encode(),
    "utf-16": json.dumps({"pod": POD}).encode("utf-16"),
    "scps-string": json.dumps({"resource_id": "r", "dataset": json.dumps({"du": escaped(DU)})}).encode(),
    "gzip": gzip.compress(json.dumps({"lines": [{"du_id": DU}]}).encode()),
    "lower-case": json.dumps({"pod": POD.lower()}).encode(),
}


@pytest.fixture
def erased(db_url, example_community_path, tmp_path):
    """A store where m1 (POD1, DU-0001, user rossi) lived a while, then was erased."""
    store = Store(db_url)
    store.upgrade()
    community = load_community(example_community_path)
    store.register_devices(community)
    for i in range(4):
        for pod, du in ((POD, DU), ("IT001E00000002", "DU-0002")):
            store.ingest_records(
                [Reading(pod, T0 + dt.timedelta(minutes=15 * i), 0.25, 0.0, du_id=du)],
                source=f"mqtt:condivisa/cer/du/{du}/up",
                device_id=du,
            )
    auth = AuthService(store, community=community)
    auth.create_user(USER, PASSWORD, "member", member_id="m1")
    auth.create_user("ref", "ref-pass-12", "referente")
    for _ in range(3):
        auth.login(USER, PASSWORD, ip="192.0.2.7")
    auth.audit("ref", AuditAction.DATA_EXPORT, "member:m1", {"path": "/members/m1/statement.csv"})
    auth.audit("ref", AuditAction.ACCESS_DENIED, f"pod:{POD}", {"du": DU, "name": NAME})
    passwords = {du: auth.create_device_credential(du, "cer", kind="du") for du in (DU, "DU-0002")}
    token = auth.create_api_token("platform-x", scope_pods=[POD, "IT001E00000002"], scope_dus=[DU])
    for raw in MENTIONING.values():
        store.add_dead_letter(raw, [{"path": "$", "reason": "x"}], source="rest:/api/v1/urbandatasets")
    store.add_dead_letter(b"{oops", [{"path": "$", "reason": f"unknown POD {POD}"}], source="t")
    keep = store.add_dead_letter(json.dumps({"pod": "IT001E00000002"}).encode(), [], source="t")
    broker_dir = tmp_path / "broker"
    write_mosquitto_files(auth.device_credentials(), broker_dir, port=free_port(), host="127.0.0.1")
    report = erase_member(store, community, "m1", key=KEY, actor="ref", broker_dir=broker_dir)
    yield {
        "store": store,
        "community": community,
        "auth": auth,
        "report": report,
        "keep": keep,
        "broker_dir": broker_dir,
        "passwords": passwords,
        "token": token,
    }
    store.close()


def rows_of_every_table(store: Store):
    """(table, column, value) of every cell of every table in the database."""
    insp = sa.inspect(store.engine)
    with store.read() as conn:
        for name in insp.get_table_names():
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            for row in conn.execute(sa.select(table)):
                for col, value in row._mapping.items():
                    yield name, col, value


def test_no_table_names_the_erased_member(erased):
    pattern = needle_pattern(ERASED)
    found = []
    for table, col, value in rows_of_every_table(erased["store"]):
        if isinstance(value, (bytes, bytearray, memoryview)):
            hit = mentions(bytes(value), pattern)  # decoded every way: gzip, UTF-16, escapes, ...
        else:
            text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
            hit = text_mentions(text, pattern)
            is_erasure_record = table == "auth_audit_log" and col == "target" and value == "member:m1"
            if not is_erasure_record and re.search(r"(?<![A-Za-z0-9_])m1(?![A-Za-z0-9_])", text):
                hit = hit or (table, col) != ("measurements", "meter")
        if hit:
            found.append((table, col, value if not isinstance(value, bytes) else value[:60]))
    assert found == []


def test_dead_letters_in_every_encoding_are_gone_and_counted(erased):
    letters = erased["store"].dead_letters()
    assert [d["id"] for d in letters] == [erased["keep"]]
    assert erased["report"].dead_letters_deleted == len(MENTIONING) + 1


def test_audit_entries_are_pseudonymised_not_deleted(erased):
    log = erased["auth"].audit_log(limit=1000)
    alias = pseudonym(USER, KEY, "erased-")
    logins = [e for e in log if e["action"] == "login"]
    assert len(logins) == 3 and all(e["actor"] == alias and e["ip"] is None for e in logins)
    export = next(e for e in log if e["action"] == "data_export")
    assert export["target"] == "member:" + pseudonym(
        "m1", KEY, "PSEUDM-"
    ) and "/members/PSEUDM-" in json.dumps(export["detail"])
    denied = next(e for e in log if e["action"] == "access_denied")
    assert denied["target"] == "pod:" + pseudonym(POD, KEY) and denied["detail"]["du"].startswith("PSEUDU-")
    assert denied["detail"]["name"] == "(erased)"
    # the erasure record: the member id only, and the pseudonyms the dashboard needs
    record = erased["auth"].audit_log(action="erasure")[0]
    assert record["target"] == "member:m1" and record["detail"]["pod_aliases"] == [pseudonym(POD, KEY)]
    assert erased["report"].audit_entries_pseudonymised >= 6


def test_devices_api_and_device_activity_forget_the_du(erased, db_url):
    store = erased["store"]
    assert DU not in {d["du_id"] for d in store.device_last_seen()}
    assert POD not in {d["pod"] for d in store.device_last_seen()}
    settings = Settings(
        database_url=db_url, community="cer", api_auth_required=False, allowed_hosts=["testserver"]
    )
    with TestClient(create_app(settings, store=store, community=erased["community"])) as c:
        body = c.get("/api/v1/devices").text
    assert DU not in body and POD not in body and "DU-0002" in body
    # no API token may write the erased POD or DU any more
    token = next(t for t in erased["auth"].tokens() if t["name"] == "platform-x")
    assert POD not in json.dumps(token, default=str) and DU not in json.dumps(token, default=str)
    assert erased["report"].registry["device_credentials_revoked"] == 1


def test_the_erased_du_is_refused_by_the_broker(erased):
    from condivisa.transports.mqtt.broker import EmbeddedBroker

    text = (erased["broker_dir"] / "passwd").read_text() + (erased["broker_dir"] / "acl").read_text()
    assert DU not in text and "DU-0002" in text and erased["report"].broker_clients_removed == 1
    assert DU not in {c["du_id"] for c in erased["auth"].device_credentials()}
    with EmbeddedBroker(port=0, plugins=embedded_broker_plugins(erased["broker_dir"])) as broker:
        assert connect(broker.port, DU, erased["passwords"][DU]).is_failure
        assert not connect(broker.port, "DU-0002", erased["passwords"]["DU-0002"]).is_failure


def connect(port: int, user: str, password: str):
    """The CONNACK reason code a client with these credentials gets."""
    got: queue.Queue = queue.Queue()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv311)
    c.username_pw_set(user, password)
    c.on_connect = lambda cl, u, f, rc, p: got.put(rc)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    try:
        return got.get(timeout=10)
    finally:
        c.disconnect()
        c.loop_stop()


def test_sqlite_bytes_on_disk_and_wal_forget_the_member(erased, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite files only")
    assert erased["report"].sqlite_checkpoint == "complete"
    path = Path(db_url.removeprefix("sqlite:///"))
    for f in (path, path.with_name(path.name + "-wal")):
        if f.exists():
            data = f.read_bytes()
            for needle in (POD, DU, NAME):
                assert needle.encode() not in data, (f.name, needle)


def test_running_dashboard_forgets_the_member_at_once(tmp_path):
    from web_helpers import PASSWORD as WEB_PASSWORD
    from web_helpers import build_platform

    p = build_platform(tmp_path)
    c = TestClient(p.app)
    token = re.search(r'name="csrf_token" value="([^"]*)"', c.get("/login").text).group(1)
    r = c.post(
        "/login",
        data={"username": "ref", "password": WEB_PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    before = c.get("/members/m1?month=2024-06")
    community_before = c.get("/community?month=2024-06").text
    assert before.status_code == 200 and NAME in before.text and NAME in community_before
    money = re.compile(r'data-key="(?:total_eur|premium_eur)">([^<]*)<')
    m2_before = money.findall(c.get("/members/m2?month=2024-06").text)
    erase_member(p.store, p.community, "m1", key=KEY, actor="ref")
    assert c.get("/members/m1?month=2024-06").status_code == 404
    assert c.get("/members/m1/statement.csv?month=2024-06").status_code == 404
    after = c.get("/community?month=2024-06").text
    assert NAME not in after and POD not in after
    # everyone else's money and the community's are the same: the readings stayed, under pseudonyms
    assert m2_before and money.findall(c.get("/members/m2?month=2024-06").text) == m2_before
    assert money.findall(community_before) and money.findall(after) == money.findall(community_before)
