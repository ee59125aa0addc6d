"""Device ACLs: generated Mosquitto password/ACL files enforced by a real Mosquitto of our own and by the
embedded amqtt broker — a DU cannot publish on another DU's topic nor read another DU's commands."""

from __future__ import annotations

import getpass
import queue
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from condivisa.auth.hashing import verify_mosquitto_hash
from condivisa.auth.mqtt_acl import (
    READ,
    WRITE,
    Grant,
    acl_for,
    acl_text,
    client_grants,
    embedded_broker_plugins,
    filter_within,
    is_allowed,
    mosquitto_conf_text,
    parse_acl,
    parse_password_file,
    write_mosquitto_files,
)
from condivisa.auth.service import AuthService
from condivisa.store.auth_tables import create_auth_tables
from condivisa.transports.mqtt.broker import free_port
from mqtt_helpers import wait_port

MOSQUITTO = "/usr/sbin/mosquitto"
COMMUNITY = "cer-test"
BASE = f"condivisa/{COMMUNITY}"
OTHER = "cer-altra"  # a second community of the same platform
OTHER_BASE = f"condivisa/{OTHER}"


# ------------------------------------------------------------------ pure rules
def test_grants_of_a_du_and_of_the_worker():
    assert client_grants("DU1", "du", community="c") == [
        Grant(WRITE, "condivisa/c/du/DU1/up"),
        Grant(READ, "condivisa/c/du/DU1/cmd"),
        Grant(READ, "condivisa/c/du/DU1/ack"),
        Grant(WRITE, "condivisa/c/du/DU1/reply"),  # its replies to commands (issue #19)
    ]
    # the worker serves every community of the platform, whatever its credential's community
    assert client_grants("ingest", "worker", community="c") == [
        Grant(READ, "condivisa/+/+/+/up"),
        Grant(READ, "condivisa/+/du/+/reply"),
        Grant(WRITE, "condivisa/+/+/+/ack"),
        Grant(WRITE, "condivisa/+/+/+/cmd"),
        Grant(WRITE, "condivisa/+/member/+/#"),  # the members' Home Assistant topics (issue #19)
    ]
    assert client_grants("DU9", "du", community="other")[0] == Grant(WRITE, "condivisa/other/du/DU9/up")
    with pytest.raises(ValueError, match="community"):
        client_grants("DU1", "du", community="")
    with pytest.raises(ValueError, match="one MQTT topic level"):
        client_grants("DU/1", "du", community="c")


@pytest.mark.parametrize(
    "sub, allowed, expected",
    [
        ("a/b/c", "a/b/c", True),
        ("a/b/c", "a/+/c", True),
        ("a/+/c", "a/+/c", True),
        ("a/+/c", "a/b/c", False),  # the wildcard subscription is wider than the grant
        ("a/#", "a/b/c", False),
        ("a/b/c", "a/#", True),
        ("a/b", "a/b/c", False),
        ("a/b/c/d", "a/b/c", False),
        ("a/b/c", "a/b/#", True),
    ],
)
def test_filter_within(sub, allowed, expected):
    assert filter_within(sub, allowed) is expected


def test_acl_decisions():
    creds = [
        {"du_id": "DU1", "community": "c"},
        {"du_id": "DU2", "community": "c"},
        {"du_id": "ingest", "community": "c", "kind": "worker"},
    ]
    acl = parse_acl(acl_text(acl_for(creds)))  # the file round-trips
    assert acl == acl_for(creds)
    assert is_allowed(acl, "DU1", WRITE, "condivisa/c/du/DU1/up")
    assert not is_allowed(acl, "DU1", WRITE, "condivisa/c/du/DU2/up")
    assert not is_allowed(acl, "DU1", WRITE, "condivisa/c/du/DU1/cmd")
    assert is_allowed(acl, "DU1", READ, "condivisa/c/du/DU1/cmd", subscribe=True)
    assert not is_allowed(acl, "DU1", READ, "condivisa/c/du/+/cmd", subscribe=True)
    assert not is_allowed(acl, "DU1", READ, "condivisa/c/du/DU2/cmd")
    assert is_allowed(acl, "ingest", READ, "condivisa/c/du/+/up", subscribe=True)
    assert is_allowed(acl, "ingest", WRITE, "condivisa/c/du/DU2/cmd")
    assert not is_allowed(acl, "nobody", READ, "condivisa/c/du/DU1/cmd")
    assert not is_allowed(acl, None, WRITE, "condivisa/c/du/DU1/up")


_LEVELS = st.sampled_from(["condivisa", "c", "x", "du", "gw", "DU1", "DU2", "up", "cmd", "ack", "+", "#", ""])


@settings(max_examples=300, deadline=None)
@given(levels=st.lists(_LEVELS, min_size=1, max_size=6))
def test_acl_property_a_du_touches_only_its_own_topics(levels):
    """For any topic or filter: DU1 may publish only on its own uplink, and read (receive or subscribe)
    only its own cmd and ack topics."""
    topic = "/".join(levels)
    acl = acl_for([{"du_id": "DU1", "community": "c"}, {"du_id": "DU2", "community": "c"}])
    own = {"condivisa/c/du/DU1/cmd", "condivisa/c/du/DU1/ack"}
    assert is_allowed(acl, "DU1", WRITE, topic) == (topic == "condivisa/c/du/DU1/up")
    if "+" not in topic and "#" not in topic:
        assert is_allowed(acl, "DU1", READ, topic) == (topic in own)
    assert is_allowed(acl, "DU1", READ, topic, subscribe=True) == (topic in own)


# ------------------------------------------------------------------ brokers
@pytest.fixture
def acl_dir(tmp_path, sqlite_url):
    """Credentials for DU1, DU2 and the ingest worker, and the generated files."""
    engine = sa.create_engine(sqlite_url)
    create_auth_tables(engine)
    auth = AuthService(engine)
    pw = {
        "DU1": auth.create_device_credential("DU1", COMMUNITY),
        "DU2": auth.create_device_credential("DU2", COMMUNITY),
        "ingest": auth.create_device_credential("ingest", COMMUNITY, kind="worker"),
        "DU9": auth.create_device_credential("DU9", OTHER),
    }
    auth.create_device_credential("DU3", COMMUNITY)
    auth.revoke_device("DU3")  # a revoked DU is not in the files
    out = tmp_path / "mqtt"
    paths = write_mosquitto_files(
        auth.device_credentials(), out, port=free_port(), host="127.0.0.1", run_as=getpass.getuser()
    )
    users = parse_password_file(paths["passwd"].read_text())
    assert set(users) == {"DU1", "DU2", "DU9", "ingest"} and verify_mosquitto_hash(pw["DU1"], users["DU1"])
    engine.dispose()
    return out, paths, pw


class Client:
    """A connected paho client collecting the messages it receives and the results of its requests."""

    def __init__(self, port: int, user: str | None, password: str | None, *, v5: bool) -> None:
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}", protocol=proto
        )
        if user:
            self.c.username_pw_set(user, password)
        self.messages: queue.Queue = queue.Queue()
        self.connack: queue.Queue = queue.Queue()
        self.subacks: queue.Queue = queue.Queue()
        self.pubacks: dict[int, object] = {}
        self.c.on_connect = lambda c, u, f, rc, p: self.connack.put(rc)
        self.c.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.put(list(rcs))
        self.c.on_publish = lambda c, u, mid, rc, p: self.pubacks.__setitem__(mid, rc)
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        self.rc = self.connack.get(timeout=10)

    @property
    def ok(self) -> bool:
        return not self.rc.is_failure

    def subscribe(self, topic: str) -> bool:
        self.c.subscribe(topic, qos=1)
        rcs = self.subacks.get(timeout=10)
        return not rcs[0].is_failure

    def publish(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(10)

    def received(self, wait_s: float = 0.6) -> list:
        time.sleep(wait_s)
        out = []
        while not self.messages.empty():
            out.append(self.messages.get())
        return out

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _prove_isolation(port: int, pw: dict, *, v5: bool) -> None:
    clients = []
    try:
        assert not Client(port, None, None, v5=v5).ok, "anonymous client admitted"
        assert not Client(port, "DU1", "wrong-password", v5=v5).ok, "wrong password admitted"
        worker = Client(port, "ingest", pw["ingest"], v5=v5)
        du1 = Client(port, "DU1", pw["DU1"], v5=v5)
        du2 = Client(port, "DU2", pw["DU2"], v5=v5)
        du9 = Client(port, "DU9", pw["DU9"], v5=v5)  # a DU of the other community
        clients += [worker, du1, du2, du9]
        assert worker.ok and du1.ok and du2.ok and du9.ok
        assert worker.subscribe("condivisa/+/du/+/up")  # the worker reads every community's uplinks
        assert du9.subscribe(f"{OTHER_BASE}/du/DU9/ack")
        assert du1.subscribe(f"{BASE}/du/DU1/cmd") and du2.subscribe(f"{BASE}/du/DU2/cmd")
        # DU1 may not subscribe to DU2's commands, nor to everybody's, nor to the uplinks
        for topic in (f"{BASE}/du/DU2/cmd", f"{BASE}/du/+/cmd", f"{BASE}/#", f"{BASE}/du/+/up"):
            du1.subscribe(topic)  # Mosquitto may grant the SUBACK; what matters is what DU1 then receives
        du1.publish(f"{BASE}/du/DU1/up", b"mine")
        du1.publish(f"{BASE}/du/DU2/up", b"forged")  # impersonating DU2
        du1.publish(f"{BASE}/du/DU2/cmd", b"forged-cmd")  # commanding DU2
        du1.publish(f"{OTHER_BASE}/du/DU1/up", b"other-community")  # its own id, another community's topic
        du9.publish(f"{BASE}/du/DU9/up", b"other-way")  # DU9 on cer-test's topic
        assert worker.received() == [(f"{BASE}/du/DU1/up", b"mine")]
        du9.publish(f"{OTHER_BASE}/du/DU9/up", b"nine")
        assert worker.received() == [(f"{OTHER_BASE}/du/DU9/up", b"nine")]
        worker.publish(f"{OTHER_BASE}/du/DU9/ack", b'{"accepted":true}')  # the answer in DU9's community
        assert du9.received() == [(f"{OTHER_BASE}/du/DU9/ack", b'{"accepted":true}')]
        du9.subscribe(f"{BASE}/du/+/cmd")  # may be granted a SUBACK; must receive nothing of cer-test
        worker.publish(f"{BASE}/du/DU2/cmd", b'{"cmd":"resend"}')
        worker.publish(f"{BASE}/du/DU1/cmd", b'{"cmd":"ping"}')
        assert du2.received() == [(f"{BASE}/du/DU2/cmd", b'{"cmd":"resend"}')]  # not DU1's forged command
        # only its own command (possibly once per overlapping granted subscription): nothing of DU2's, no
        # uplinks
        got = du1.received(0.1)
        assert got and set(got) == {(f"{BASE}/du/DU1/cmd", b'{"cmd":"ping"}')}
        assert du9.received(0.1) == []
    finally:
        for c in clients:
            c.close()


@pytest.mark.mosquitto
@pytest.mark.skipif(
    shutil.which(MOSQUITTO) is None and not Path(MOSQUITTO).exists(), reason="no mosquitto binary"
)
def test_real_mosquitto_enforces_generated_files(acl_dir, tmp_path):
    out, paths, pw = acl_dir
    conf = paths["mosquitto.conf"]
    port = int(conf.read_text().split("listener ")[1].split()[0])
    log = open(tmp_path / "mosquitto.log", "w")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        _prove_isolation(port, pw, v5=True)
        _prove_isolation(port, pw, v5=False)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_embedded_broker_enforces_the_same_files(acl_dir):
    from condivisa.transports.mqtt.broker import EmbeddedBroker

    out, _, pw = acl_dir
    with EmbeddedBroker(port=0, plugins=embedded_broker_plugins(out)) as broker:
        _prove_isolation(broker.port, pw, v5=False)  # amqtt 0.12 speaks MQTT 3.1.1


@pytest.mark.mosquitto
def test_worker_answers_only_under_the_senders_own_topics(mosquitto, sqlite_url, example_community_path):
    """An MQTT 5 Response Topic pointing at another DU's command topic is ignored: the worker writes on every
    DU's cmd/ack topics, so honouring it would let one DU inject messages into another's commands."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from condivisa.app.runtime import mqtt_ingest_worker
    from condivisa.domain.config import load_community
    from condivisa.store.store import Store
    from condivisa.transports.mqtt.topics import TopicLayout
    from mqtt_helpers import one_reading, wait_until

    host, port, community = mosquitto
    layout = TopicLayout(community)
    store = Store(sqlite_url)
    store.upgrade()
    store.register_devices(load_community(example_community_path))
    worker = mqtt_ingest_worker(
        store, host, port, layout=layout, client_id=f"w-{uuid.uuid4().hex[:6]}"
    ).start()
    spy = Client(port, None, None, v5=True)
    try:
        assert worker.wait_connected(10)
        assert spy.subscribe(f"condivisa/{community}/#")
        for k, target in enumerate((layout.cmd("DU-0002"), f"{layout.ack('DU-0001')}/mine")):
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = target
            spy.c.publish(layout.up("DU-0001"), one_reading(k), qos=1, properties=props).wait_for_publish(10)
        assert wait_until(lambda: worker.stats.acked == 2, 20)
        topics = [t for t, _ in spy.received(0.5) if not t.endswith("/up")]
        assert topics == [layout.ack("DU-0001"), f"{layout.ack('DU-0001')}/mine"]
    finally:
        spy.close()
        worker.stop(2)
        store.close()


@pytest.mark.slow
def test_serve_with_embedded_broker_enforces_device_credentials(tmp_path, sqlite_url, example_community_path):
    """`condivisa serve` with the embedded broker and CONDIVISA_MQTT_EMBEDDED_ACL_DIR: a DU's own uplink is
    stored, a forged uplink on another DU's topic never reaches the worker."""
    import os
    import sys

    from condivisa.domain.config import load_community
    from condivisa.store.store import Store
    from condivisa.transports.mqtt.topics import TopicLayout
    from mqtt_helpers import one_reading, wait_until

    community = load_community(example_community_path)
    store = Store(sqlite_url)
    store.upgrade()
    store.register_devices(community)
    auth = AuthService(store)
    worker_pw = auth.create_device_credential("condivisa-ingest", COMMUNITY, kind="worker")
    pw = {d: auth.create_device_credential(d, COMMUNITY) for d in ("DU-0001", "DU-0002")}
    write_mosquitto_files(auth.device_credentials(), tmp_path / "acl")
    port = free_port()
    env = dict(
        os.environ,
        CONDIVISA_MQTT_EMBEDDED_ACL_DIR=str(tmp_path / "acl"),
        CONDIVISA_MQTT_EMBEDDED_PORT=str(port),
        CONDIVISA_MQTT_USERNAME="condivisa-ingest",
        CONDIVISA_MQTT_PASSWORD=worker_pw,
        CONDIVISA_MQTT_CLIENT_ID=f"acl-{uuid.uuid4().hex[:6]}",
    )
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "condivisa",
            "serve",
            "--no-api",
            "--database",
            sqlite_url,
            "--community",
            COMMUNITY,
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    text = lambda: (tmp_path / "serve.log").read_text(errors="replace")  # noqa: E731
    layout = TopicLayout(COMMUNITY)
    du1 = None
    try:
        assert wait_until(lambda: "MQTT worker connected" in text() or proc.poll() is not None, 60), text()
        assert proc.poll() is None, text()
        assert not Client(port, "DU-0001", "wrong-password", v5=False).ok
        du1 = Client(port, "DU-0001", pw["DU-0001"], v5=False)
        du1.publish(layout.up("DU-0002"), one_reading(0, du="DU-0002", pod="IT001E00000002"))  # forged
        du1.publish(layout.up("DU-0001"), one_reading(1))
        assert wait_until(lambda: store.counts()["measurements"] >= 1, 30), text()
        time.sleep(1.0)
        assert set(store.measurements_frame()["pod"]) == {"IT001E00000001"}
    finally:
        if du1 is not None:
            du1.close()
        proc.terminate()
        proc.wait(30)
        log.close()
        store.close()


def test_generated_mosquitto_conf_never_drops_queued_messages(tmp_path):
    """Mosquitto's default (1000 queued messages per client) silently drops QoS 1 messages of a worker that
    falls behind: the generated configuration raises the limit to a million
    (test_real_mosquitto_enforces_generated_files
    runs a real Mosquitto on it; with 0, "no limit", Mosquitto 2.0.11 stopped delivering messages there)."""
    lines = mosquitto_conf_text(tmp_path).splitlines()
    assert "max_queued_messages 1000000" in lines
    assert lines.index("max_queued_messages 1000000") < lines.index(
        next(x for x in lines if x.startswith("listener"))
    )
