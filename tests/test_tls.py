"""TLS: a CA made by the test signs the server certificate; Mosquitto on a free TLS port and uvicorn over
HTTPS are reached by clients that trust that CA, and refused by clients that do not."""

from __future__ import annotations

import getpass
import queue
import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import uvicorn
from fastapi import FastAPI
from paho.mqtt.enums import CallbackAPIVersion

from condivisa.auth.tls import (
    client_context,
    make_ca,
    make_server_cert,
    mosquitto_tls_listener,
    uvicorn_ssl_kwargs,
)
from condivisa.transports.mqtt.broker import free_port
from mqtt_helpers import wait_port

MOSQUITTO = "/usr/sbin/mosquitto"


@pytest.fixture
def pki(tmp_path):
    ca = make_ca(tmp_path / "pki")
    server = make_server_cert(ca, tmp_path / "pki", ["127.0.0.1", "localhost"])
    other_ca = make_ca(tmp_path / "other")  # a CA the server does not use
    return ca, server, other_ca


def test_certificates(pki):
    from cryptography import x509

    ca, server, _ = pki
    cert = x509.load_pem_x509_certificate(server.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert cert.issuer == x509.load_pem_x509_certificate(ca.cert.read_bytes()).subject
    assert (server.key.stat().st_mode & 0o777) == 0o600 and (ca.key.stat().st_mode & 0o777) == 0o600
    # 397 days: the CA/Browser Forum maximum for a server certificate
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 397
    with pytest.raises(ValueError):
        make_server_cert(ca, server.cert.parent, [])


def _mqtt_client(port: int, ctx: ssl.SSLContext | None):
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if ctx is not None:
        c.tls_set_context(ctx)
    got: queue.Queue = queue.Queue()
    connected = threading.Event()
    c.on_connect = lambda cl, u, f, rc, p: connected.set()
    c.on_message = lambda cl, u, m: got.put((m.topic, m.payload))
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c, connected, got


@pytest.mark.mosquitto
@pytest.mark.skipif(
    shutil.which(MOSQUITTO) is None and not Path(MOSQUITTO).exists(), reason="no mosquitto binary"
)
def test_mosquitto_over_tls(pki, tmp_path, sqlite_url, monkeypatch):
    ca, server, other_ca = pki
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"user {getpass.getuser()}\nper_listener_settings false\nallow_anonymous true\n"
        + mosquitto_tls_listener(ca.cert, server, port=port, host="127.0.0.1")
    )
    log = open(tmp_path / "mosquitto.log", "w")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    clients = []
    try:
        wait_port(port)
        c, connected, got = _mqtt_client(port, client_context(ca.cert))
        clients.append(c)
        assert connected.wait(10), "client trusting the CA could not connect"
        c.subscribe("t/tls", qos=1)
        time.sleep(0.3)
        c.publish("t/tls", b"secret reading", qos=1).wait_for_publish(10)
        assert got.get(timeout=10) == ("t/tls", b"secret reading")
        # a client trusting another CA is refused by its own certificate check
        with pytest.raises(ssl.SSLError):
            bad = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            bad.tls_set_context(client_context(other_ca.cert))
            bad.connect("127.0.0.1", port)
        # plain MQTT on the TLS port does not get through
        plain, plain_connected, _ = _mqtt_client(port, None)
        clients.append(plain)
        assert not plain_connected.wait(1.5)
        # the platform's ingest worker (mqtts:// in the settings) trusts the CA through $SSL_CERT_FILE
        from condivisa.app.runtime import mqtt_ingest_worker
        from condivisa.store.store import Store

        monkeypatch.setenv("SSL_CERT_FILE", str(ca.cert))
        store = Store(sqlite_url)
        store.upgrade()
        worker = mqtt_ingest_worker(store, "127.0.0.1", port, tls=True, client_id="tls-worker").start()
        try:
            assert worker.wait_connected(10)
        finally:
            worker.stop(2)
            store.close()
    finally:
        for c in clients:
            c.disconnect()
            c.loop_stop()
        proc.terminate()
        proc.wait(10)
        log.close()


def test_https_with_uvicorn(pki):
    ca, server, other_ca = pki
    app = FastAPI()

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_ssl_kwargs(server)
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        wait_port(port)
        r = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=client_context(ca.cert))
        assert r.status_code == 200 and r.json() == {"ok": True}
        r = httpx.get(f"https://localhost:{port}/healthz", verify=client_context(ca.cert))
        assert r.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/healthz", verify=client_context(other_ca.cert))
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz")  # plain HTTP on the HTTPS port
    finally:
        srv.should_exit = True
        thread.join(10)
