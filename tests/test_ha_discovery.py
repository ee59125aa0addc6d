"""Home Assistant for a member (issue #19, item 5): discovery payloads, and on a real Mosquitto of our own
with generated password and ACL files, the publisher's messages retained on member A's topics, which member
B can neither read nor write."""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from condivisa.app.ha_publisher import MemberValues, connect, member_messages, publish_community
from condivisa.auth.hashing import mosquitto_hash
from condivisa.auth.mqtt_acl import (
    READ,
    WRITE,
    Grant,
    acl_for,
    client_grants,
    is_allowed,
    member_username,
    mosquitto_conf_text,
    write_mosquitto_files,
)
from condivisa.transports.mqtt.broker import free_port
from condivisa.transports.mqtt.ha_discovery import MemberTopics, discovery_configs, states
from mqtt_helpers import wait_port
from test_mqtt_acl import MOSQUITTO, Client

C = "cer-test"
A = f"condivisa/{C}/member/fam-rossi"
B = f"condivisa/{C}/member/fam-bianchi"


# ------------------------------------------------------------------ payloads
def test_discovery_payloads_of_one_member():
    t = MemberTopics(C, "fam-rossi")
    assert t.discovery_prefix == f"{A}/ha"
    device = {
        "identifiers": ["condivisa_cer-test_fam-rossi"],
        "name": "condivisa Famiglia Rossi",
        "manufacturer": "condivisa",
        "model": "comunità energetica cer-test",
    }
    assert discovery_configs(t, "Famiglia Rossi") == {
        f"{A}/ha/sensor/energia_condivisa_oggi/config": {
            "name": "energia condivisa oggi",
            "unique_id": "condivisa_cer-test_fam-rossi_energia_condivisa_oggi",
            "object_id": "condivisa_energia_condivisa_oggi",
            "state_topic": f"{A}/state/energia_condivisa_oggi",
            "unit_of_measurement": "kWh",
            "device_class": "energy",
            "state_class": "total_increasing",
            "device": device,
        },
        f"{A}/ha/sensor/surplus_comunita_adesso/config": {
            "name": "surplus della comunità adesso",
            "unique_id": "condivisa_cer-test_fam-rossi_surplus_comunita_adesso",
            "object_id": "condivisa_surplus_comunita_adesso",
            "state_topic": f"{A}/state/surplus_comunita_adesso",
            "unit_of_measurement": "kW",
            "device_class": "power",
            "state_class": "measurement",
            "device": device,
        },
        f"{A}/ha/binary_sensor/buon_momento_per_consumare/config": {
            "name": "buon momento per consumare",
            "unique_id": "condivisa_cer-test_fam-rossi_buon_momento_per_consumare",
            "object_id": "condivisa_buon_momento_per_consumare",
            "state_topic": f"{A}/state/buon_momento_per_consumare",
            "payload_on": "ON",
            "payload_off": "OFF",
            "device": device,
        },
    }
    assert states(t, shared_today_kwh=3.14159, community_spare_kw=-0.0001, good_time=True) == {
        f"{A}/state/energia_condivisa_oggi": "3.142",
        f"{A}/state/surplus_comunita_adesso": "0.000",
        f"{A}/state/buon_momento_per_consumare": "ON",
    }
    msgs = member_messages(MemberValues("fam-rossi", 1.5, 40.0, False), C)
    assert list(msgs)[:3] == list(discovery_configs(t))  # configs before states
    assert json.loads(msgs[f"{A}/ha/sensor/surplus_comunita_adesso/config"])["name"] == (
        "surplus della comunità adesso"
    )
    assert msgs[f"{A}/state/buon_momento_per_consumare"] == b"OFF"
    with pytest.raises(ValueError, match="one MQTT topic level"):
        MemberTopics(C, "a/b")
    with pytest.raises(ValueError, match="finite"):
        states(t, shared_today_kwh=float("nan"), community_spare_kw=0, good_time=False)


def test_member_grants_read_only_their_own_topics():
    user = member_username(C, "fam-rossi")
    assert user == "member@cer-test@fam-rossi"
    assert client_grants(user, "member", community=C) == [Grant(READ, f"{A}/#")]
    with pytest.raises(ValueError, match="member credential"):
        client_grants("fam-rossi", "member", community=C)  # not named member@<community>@<id>
    with pytest.raises(ValueError, match="member credential"):
        client_grants(member_username("cer-altra", "fam-rossi"), "member", community=C)
    acl = acl_for(
        [
            {"du_id": user, "community": C, "kind": "member"},
            {"du_id": member_username(C, "fam-bianchi"), "community": C, "kind": "member"},
            {"du_id": "ingest", "community": C, "kind": "worker"},
        ]
    )
    assert is_allowed(acl, user, READ, f"{A}/ha/#", subscribe=True)
    assert is_allowed(acl, user, READ, f"{A}/state/energia_condivisa_oggi")
    assert not is_allowed(acl, user, READ, f"{B}/state/energia_condivisa_oggi")
    assert not is_allowed(acl, user, READ, f"condivisa/{C}/member/+/#", subscribe=True)
    assert not is_allowed(acl, user, READ, f"condivisa/{C}/du/DU1/cmd")
    assert not is_allowed(acl, user, WRITE, f"{A}/state/energia_condivisa_oggi")  # read only
    assert is_allowed(acl, "ingest", WRITE, f"{A}/ha/sensor/energia_condivisa_oggi/config")
    assert is_allowed(acl, "ingest", WRITE, f"{B}/state/buon_momento_per_consumare")


# ------------------------------------------------------------------ the real Mosquitto
@pytest.mark.mosquitto
@pytest.mark.skipif(
    shutil.which(MOSQUITTO) is None and not Path(MOSQUITTO).exists(), reason="no mosquitto binary"
)
def test_discovery_retained_for_member_a_and_hidden_from_member_b(tmp_path):
    pw = {"ingest": "worker-pw", "A": "rossi-pw", "B": "bianchi-pw"}
    ua, ub = member_username(C, "fam-rossi"), member_username(C, "fam-bianchi")
    creds = [
        {"du_id": "ingest", "community": C, "kind": "worker", "password_hash": mosquitto_hash(pw["ingest"])},
        {"du_id": ua, "community": C, "kind": "member", "password_hash": mosquitto_hash(pw["A"])},
        {"du_id": ub, "community": C, "kind": "member", "password_hash": mosquitto_hash(pw["B"])},
    ]
    out = tmp_path / "mqtt"
    port = free_port()
    paths = write_mosquitto_files(creds, out, port=port, host="127.0.0.1", run_as=getpass.getuser())
    conf = paths["mosquitto.conf"]
    # member credentials exist: the generated configuration accepts retained messages by itself
    assert "retain_available true" in conf.read_text()
    assert conf.read_text() == mosquitto_conf_text(
        out, port=port, host="127.0.0.1", run_as=getpass.getuser(), retain_available=True
    )
    log = open(tmp_path / "mosquitto.log", "w")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    clients: list[Client] = []
    publisher = None
    try:
        wait_port(port)
        wait_port(port + 2)
        # the platform publishes on its own listener, before any member is connected
        publisher = connect("127.0.0.1", port + 2, "ingest", pw["ingest"], client_id="condivisa-ha")
        members = [
            MemberValues("fam-rossi", 2.5, 41.2, True, name="Famiglia Rossi"),
            MemberValues("fam-bianchi", 0.75, 41.2, True),
        ]
        assert publish_community(publisher, C, members) == 12  # 3 configs + 3 states each
        expected_a = member_messages(members[0], C)

        # a fresh subscriber with A's credentials gets A's configs and states, retained
        a = Client(port, ua, pw["A"], v5=False)
        clients.append(a)
        assert a.ok
        assert a.subscribe(f"{A}/ha/#") and a.subscribe(f"{A}/state/#")
        got = dict(a.received(1.0))
        assert got == expected_a
        config = json.loads(got[f"{A}/ha/sensor/energia_condivisa_oggi/config"])
        assert config["device"]["manufacturer"] == "condivisa" and config["unit_of_measurement"] == "kWh"
        assert got[f"{A}/state/energia_condivisa_oggi"] == b"2.500"

        # B: its credentials read nothing of A's, retained or new, and cannot write there
        # (the broker names a member's session after its username: one connection of B at a time)
        for v5 in (False, True):
            b = Client(port, ub, pw["B"], v5=v5)
            clients.append(b)
            assert b.ok
            for topic in (f"{A}/#", f"{A}/ha/sensor/energia_condivisa_oggi/config", f"condivisa/{C}/#"):
                b.subscribe(topic)  # Mosquitto may grant the SUBACK; what matters is what B receives
            # the wide subscription brings B its own retained messages, and nothing of A's
            got_b = b.received(1.0)
            assert got_b and all(topic.startswith(f"{B}/") for topic, _ in got_b)
            b.publish(f"{A}/state/energia_condivisa_oggi", b"999")
            b.publish(f"{A}/ha/sensor/energia_condivisa_oggi/config", b"{}")
            publisher.publish(f"{A}/state/surplus_comunita_adesso", b"1.000", qos=1).wait_for_publish(10)
            assert b.received(0.5) == []  # a new message on A's topics does not reach B either
            b.close()
            clients.remove(b)
        # B's forgeries never reached A (only the platform's new state did)
        assert a.received(0.5) == [(f"{A}/state/surplus_comunita_adesso", b"1.000")] * 2
        # a new retained state from the platform reaches A
        info = publisher.publish(f"{A}/state/energia_condivisa_oggi", b"2.750", qos=1, retain=True)
        info.wait_for_publish(10)
        assert a.received(0.5) == [(f"{A}/state/energia_condivisa_oggi", b"2.750")]
        # A itself may not write, even on its own topics
        a.publish(f"{A}/state/energia_condivisa_oggi", b"123")
        assert a.received(0.5) == []
        a.close()
        clients.remove(a)
        fresh = Client(port, ua, pw["A"], v5=True)
        clients.append(fresh)
        assert fresh.subscribe(f"{A}/state/energia_condivisa_oggi")
        assert fresh.received(0.8) == [(f"{A}/state/energia_condivisa_oggi", b"2.750")]
    finally:
        for c in clients:
            c.close()
        if publisher is not None:
            publisher.disconnect()
            publisher.loop_stop()
        proc.terminate()
        proc.wait(10)
        log.close()
