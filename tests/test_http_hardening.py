"""#13 findings 2, 8 (HTTP), 15 and 16: the HTTP front door, attacked as the issue did, against the real
``condivisa serve`` process set up as the README says (SQLite), or the real app under uvicorn.

Each test repeats the attack and shows that it now fails, with the reason in the answer: anonymous reads and
writes (401), a foreign ``Host`` (400, DNS rebinding), a cross-site ``text/plain`` write (415, kept as a dead
letter), a gzip bomb (413, its dead letter capped), ``X-Forwarded-For`` from anyone (ignored), plain HTTP only
(HTTPS with ``--tls-cert``), pages without browser rules (CSP, no framing, ``no-store``), ``/healthz``
waiting for a writer's lock or for heavy pushes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from condivisa.app.http_app import create_app
from condivisa.app.settings import Settings, load_settings
from condivisa.auth.service import AuthService
from condivisa.domain.config import load_community
from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.store.store import Store
from condivisa.transports.http.body import REFUSED_HEAD_BYTES
from condivisa.transports.http.headers import allowed_host_names, host_allowed, host_name
from condivisa.transports.mqtt.broker import free_port
from conftest import EXAMPLE_COMMUNITY

UTC = dt.UTC
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
Q = dt.timedelta(minutes=15)
ADMIN_PASSWORD = "an-admin-password-1"
JSON = {"Content-Type": "application/json"}


def message(du: str = "DU-0001", pod: str = "IT001E00000001", n: int = 1, first: int = 0) -> bytes:
    rows = [
        {
            "du_id": du,
            "pod": pod,
            "start": T0 + (first + k) * Q,
            "withdrawn_kwh": 0.25,
            "injected_kwh": 0.0,
            "withdrawn_total_kwh": 100.0 + 0.25 * (first + k + 1),
            "injected_total_kwh": 0.0,
        }
        for k in range(n)
    ]
    return json.dumps(build_m1_dataset(rows, producer_id="acme")).encode()


def prepared_store(url: str) -> tuple[Store, str]:
    """The README's steps before ``serve``: migrate, register the community, add an admin; also a platform API
    token bound to DU-0001 (returned)."""
    store = Store(url)
    store.upgrade()
    community = load_community(EXAMPLE_COMMUNITY)
    store.register_devices(community)
    auth = AuthService(store, community=community)
    auth.create_user("root", ADMIN_PASSWORD, "admin")
    return store, auth.create_api_token("acme cloud", scope_dus=["DU-0001"])


class Serve:
    """``condivisa serve --no-mqtt --config examples/community.yaml`` on a SQLite file, as a child process with
    none of the machine's CONDIVISA_* settings (but ``env``)."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.db = f"sqlite:///{tmp_path / 'platform.db'}"
        self.store, self.token = prepared_store(self.db)
        self.port, self.log = free_port(), tmp_path / "serve.log"
        self.args, self.env = args, env or {}
        self.base = f"{'https' if '--tls-cert' in args else 'http'}://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, verify: object = True) -> Serve:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONDIVISA_")} | self.env
        command = [
            sys.executable,
            "-m",
            "condivisa",
            "serve",
            "--no-mqtt",
            "--config",
            str(EXAMPLE_COMMUNITY),
        ]
        command += ["--database", self.db, "--port", str(self.port), "--log-level", "warning", *self.args]
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(
                command, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=self.log.parent
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1, verify=verify).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(self.log.read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.store.close()

    def admin(self) -> str:
        r = httpx.post(
            f"{self.base}/api/v1/auth/login", json={"username": "root", "password": ADMIN_PASSWORD}
        )
        assert r.status_code == 200, r.text
        return r.json()["token"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The platform as the README starts it: no option about security at all."""
    server = Serve(tmp_path_factory.mktemp("served")).start()
    yield server
    server.stop()


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


# ------------------------------------------------------------------ finding 2: closed by default
def test_default_settings_require_authentication(monkeypatch):
    monkeypatch.delenv("CONDIVISA_API_AUTH_REQUIRED", raising=False)
    assert Settings().api_auth_required is True


def test_readme_deployment_refuses_anonymous_reads_and_writes(served):
    base, before = served.base, served.store.counts()["measurements"]
    for path in (
        "/api/v1/devices",
        "/api/v1/dead-letters",
        "/api/v1/pods/IT001E00000001/measurements",
        "/api/v1/pods/IT001E00000001/measurements?format=csv",
    ):
        r = httpx.get(base + path)
        assert r.status_code == 401 and r.json()["detail"], (path, r.text)
    r = httpx.post(f"{base}/api/v1/urbandatasets", content=message(first=500), headers=JSON)
    assert r.status_code == 401 and r.json()["detail"]
    assert served.store.counts()["measurements"] == before


def test_cross_site_text_plain_write_is_refused_and_kept_as_a_dead_letter(served):
    """A page of another site may POST text/plain without asking the browser's permission (no CORS
    preflight): even with a valid token such a push is refused, and what it carried is kept with the
    reason."""
    body, before = message(first=600), served.store.counts()["measurements"]
    r = httpx.post(
        f"{served.base}/api/v1/urbandatasets",
        content=body,
        headers=bearer(served.token, **{"Content-Type": "text/plain", "Origin": "https://evil.example"}),
    )
    assert r.status_code == 415, r.text
    assert "application/json" in r.json()["detail"] and r.json()["dead_letter_id"]
    letter = served.store.dead_letter(r.json()["dead_letter_id"])
    assert bytes(letter["payload"]) == body and "text/plain" in json.dumps(letter["reasons"])
    assert served.store.counts()["measurements"] == before
    ok = httpx.post(f"{served.base}/api/v1/urbandatasets", content=gzip.compress(body),
                    headers=bearer(served.token, **JSON, **{"Content-Encoding": "gzip"}))  # fmt: skip
    assert ok.status_code == 201 and ok.json()["stored"] == 1


def test_foreign_host_header_is_refused(served):
    """DNS rebinding: a name of the attacker's resolving to this machine. The platform answers only to its
    own names."""
    evil = {"Host": "rebind.evil.example"}
    r = httpx.get(f"{served.base}/healthz", headers=evil)
    assert r.status_code == 400 and "rebind.evil.example" in r.json()["detail"]
    before = served.store.counts()["measurements"]
    r = httpx.post(f"{served.base}/api/v1/urbandatasets", content=message(first=700),
                   headers=bearer(served.token, **JSON, **evil))  # fmt: skip
    assert r.status_code == 400 and "allowed_hosts" in r.json()["detail"]
    assert served.store.counts()["measurements"] == before
    for name in (f"127.0.0.1:{served.port}", f"localhost:{served.port}", "LOCALHOST"):
        assert httpx.get(f"{served.base}/healthz", headers={"Host": name}).status_code == 200, name


def test_allowed_hosts_setting_admits_the_public_name(sqlite_url):
    store, _ = prepared_store(sqlite_url)
    settings = Settings(database_url=sqlite_url, allowed_hosts=["energia.example.org", "*.cer.example"])
    with TestClient(create_app(settings, store=store), base_url="http://energia.example.org") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"Host": "portale.cer.example:443"}).status_code == 200
        assert c.get("/healthz", headers={"Host": "energia.example.org.evil.example"}).status_code == 400
    store.close()
    assert host_name("[::1]:8000") == "::1" and host_name("Example.ORG:443") == "example.org"
    allowed = allowed_host_names("0.0.0.0", ["energia.example.org"])
    assert "0.0.0.0" not in allowed and host_allowed("::1", allowed)
    assert not host_allowed("cer.example", ["*.cer.example"])


def test_insecure_no_auth_is_explicit_and_said_loudly(tmp_path):
    server = Serve(tmp_path, "--insecure-no-auth").start()
    try:
        assert httpx.get(f"{server.base}/api/v1/devices").status_code == 200
        assert "WARNING: /api/v1 without authentication" in " ".join(server.log.read_text().split())
    finally:
        server.stop()


def test_gateway_push_wants_json(sqlite_url):
    store, _ = prepared_store(sqlite_url)
    settings = Settings(
        database_url=sqlite_url, gateway_users={"scps": "scps-pass"}, allowed_hosts=["testserver"]
    )
    with TestClient(create_app(settings, store=store)) as c:
        token = c.post(
            "/UrbanDatasetGateway/login", json={"username": "scps", "password": "scps-pass"}
        ).json()
        push = {"resource_id": "x", "dataset": json.loads(message())}
        auth = bearer(token["token"])
        r = c.post(
            "/UrbanDatasetGateway/push",
            content=json.dumps(push),
            headers={**auth, "Content-Type": "text/plain"},
        )
        assert r.status_code == 415 and r.json()["code"] == "02" and "application/json" in r.json()["detail"]
        assert store.dead_letter(r.json()["dead_letter_id"])["source"].startswith("scps:/push")
        assert c.post("/UrbanDatasetGateway/push", json=push, headers=auth).json()["code"] == "00"
    store.close()


# ------------------------------------------------------------------ finding 8 (HTTP): bombs and heavy pushes
def test_gzip_bomb_is_refused_at_the_inflation_cap_and_its_dead_letter_is_capped(served):
    bomb = gzip.compress(b'{"UrbanDataset": "' + b"A" * (15 * 1024 * 1024) + b'"}', compresslevel=9)
    assert len(bomb) < 20 * 1024  # ~15 KB on the wire, 15 MiB inflated (under max_body_bytes, 16 MiB)
    r = httpx.post(f"{served.base}/api/v1/urbandatasets", content=bomb, timeout=30,
                   headers=bearer(served.token, **JSON, **{"Content-Encoding": "gzip"}))  # fmt: skip
    assert r.status_code == 413 and "gzip bomb" in r.json()["detail"], r.text
    letter = served.store.dead_letter(r.json()["dead_letter_id"])
    assert 0 < len(bytes(letter["payload"])) <= REFUSED_HEAD_BYTES
    assert bytes(letter["payload"]).startswith(b'{"UrbanDataset": "AAAA')


@pytest.mark.slow
def test_three_big_pushes_leave_healthz_answering(served):
    """Three concurrent 9,000-line pushes: inflating, parsing and storing run off the event loop, and the
    health check reads without the write lock, so ``/healthz`` keeps answering while they are in flight (the
    issue saw it wait 15 s; here none of its answers may take a third of that)."""
    token = served.admin()
    pairs = (("DU-0002", "IT001E00000002"), ("DU-0003", "IT001E00000003"), ("DU-0004", "IT001E00000004"))
    bodies = [gzip.compress(message(du, pod, 9000, first=2000)) for du, pod in pairs]
    answers: list[int] = []
    health: list[tuple[float, float, int, str]] = []
    done = threading.Event()

    def push(body: bytes) -> None:
        headers = bearer(token, **JSON, **{"Content-Encoding": "gzip"})
        r = httpx.post(f"{served.base}/api/v1/urbandatasets", content=body, headers=headers, timeout=120)
        answers.append(r.status_code)

    def probe() -> None:
        with httpx.Client(base_url=served.base, timeout=60) as c:
            while not done.is_set():
                asked = time.monotonic()
                r = c.get("/healthz")
                health.append((asked, time.monotonic(), r.status_code, r.json()["database"]))
                time.sleep(0.05)

    pushers = [threading.Thread(target=push, args=(b,)) for b in bodies]
    prober = threading.Thread(target=probe)
    prober.start()
    for t in pushers:
        t.start()
    for t in pushers:
        t.join(180)
    finished = time.monotonic()
    done.set()
    prober.join(60)
    assert answers == [201, 201, 201]
    during = [h for h in health if h[1] < finished]
    assert len(during) >= 3 and all(code == 200 and db == "ok" for *_, code, db in health), health
    assert max(answered - asked for asked, answered, *_ in health) < 5.0, health


# ------------------------------------------------------------------ finding 16: /healthz and the write lock
def test_healthz_answers_while_a_writer_holds_the_sqlite_lock(sqlite_url):
    """A long write transaction (BEGIN IMMEDIATE on another connection) makes a push wait; ``/healthz`` does
    not wait with it: it answers "ok" while the lock is still held and the push still pending."""
    store, token = prepared_store(sqlite_url)
    settings = Settings(database_url=sqlite_url, allowed_hosts=["testserver"])
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    with TestClient(create_app(settings, store=store)) as c:
        holder.execute("BEGIN IMMEDIATE")
        pushed: list[int] = []
        pusher = threading.Thread(
            target=lambda: pushed.append(
                c.post("/api/v1/urbandatasets", content=message(), headers=bearer(token, **JSON)).status_code
            )
        )
        pusher.start()
        try:
            r = c.get("/healthz")
            assert r.status_code == 200 and r.json()["database"] == "ok"
            assert pusher.is_alive() and pushed == []  # the write still waits for the lock
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        pusher.join(60)
        assert pushed == [201]
    store.close()


@pytest.mark.postgres
def test_healthz_reports_a_database_that_does_not_answer_as_busy(pg_url):
    import sqlalchemy as sa

    store, _ = prepared_store(pg_url)
    settings = Settings(database_url=pg_url, allowed_hosts=["testserver"])
    blocker = sa.create_engine(pg_url)
    with TestClient(create_app(settings, store=store)) as c, blocker.connect() as conn:
        conn.execute(sa.text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
        r = c.get("/healthz")
        assert r.status_code == 503 and r.json()["database"].startswith("busy")
        conn.rollback()
        assert c.get("/healthz").json()["database"] == "ok"
    blocker.dispose()
    store.close()


# ------------------------------------------------------------------ finding 16: browser rules on every answer
def test_security_headers_on_pages_statements_and_api(tmp_path, served):
    from web_helpers import PASSWORD, build_platform

    platform = build_platform(tmp_path)
    c = TestClient(platform.app)
    page = c.get("/login")
    form = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    c.post("/login", data={"username": "rossi", "password": PASSWORD, "csrf_token": form})
    answers = {
        "page": c.get("/members/m1?month=2024-06"),
        "statement": c.get("/members/m1/statement.csv?month=2024-06"),
        "login": page,
        "api": httpx.get(f"{served.base}/api/v1/devices", headers=bearer(served.admin())),
    }
    for what, r in answers.items():
        assert r.status_code == 200, (what, r.text[:300])
        h = r.headers
        assert "default-src 'self'" in h["content-security-policy"], what
        assert "frame-ancestors 'none'" in h["content-security-policy"], what
        assert (h["x-frame-options"], h["x-content-type-options"]) == ("DENY", "nosniff"), what
        assert h["referrer-policy"] == "same-origin" and h["cache-control"] == "no-store", what
    assert "max-age" in c.get("/static/plotly.min.js").headers["cache-control"]  # the bundle stays cached


# ------------------------------------------------------------------ finding 15: HTTPS and forwarded headers
def test_serve_speaks_https_with_tls_cert_and_key(tmp_path):
    from condivisa.auth.tls import client_context, make_ca, make_server_cert

    ca = make_ca(tmp_path / "pki")
    cert = make_server_cert(ca, tmp_path / "pki", ["127.0.0.1", "localhost"])
    server = Serve(tmp_path, "--tls-cert", str(cert.cert), "--tls-key", str(cert.key))
    context = client_context(ca.cert)
    server.start(verify=context)
    try:
        r = httpx.get(f"{server.base}/healthz", verify=context)
        assert r.status_code == 200 and r.headers["strict-transport-security"].startswith("max-age=")
        login = httpx.post(f"{server.base}/api/v1/auth/login", verify=context,
                           json={"username": "root", "password": ADMIN_PASSWORD})  # fmt: skip
        assert login.status_code == 200 and "secure" in login.headers["set-cookie"].lower()
        with pytest.raises(httpx.HTTPError):  # plain HTTP is not spoken on that port
            httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
    finally:
        server.stop()


def test_tls_cert_needs_its_key():
    from typer.testing import CliRunner

    from condivisa.cli import app

    res = CliRunner().invoke(app, ["serve", "--no-mqtt", "--tls-cert", "cert.pem"])
    assert res.exit_code == 2 and "http_tls_key_file" in res.output


def _login_ip(base: str, store: Store, headers: dict[str, str]) -> tuple[str | None, httpx.Response]:
    r = httpx.post(
        f"{base}/api/v1/auth/login", headers=headers, json={"username": "root", "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 200, r.text
    entries = AuthService(store).audit_log(action="login", actor="root")
    return entries[0]["ip"], r


def test_forwarded_for_is_believed_only_from_trusted_proxies(served, tmp_path):
    spoof = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    ip, r = _login_ip(served.base, served.store, spoof)
    assert ip == "127.0.0.1" and "secure" not in r.headers["set-cookie"].lower()  # the peer, not the header

    import uvicorn

    from condivisa.commands.serve import uvicorn_config

    store, _ = prepared_store(f"sqlite:///{tmp_path / 'proxied.db'}")
    settings = load_settings(database_url=store.url, http_port=free_port(), trusted_proxies=["127.0.0.1"])
    server = uvicorn.Server(uvicorn_config(create_app(settings, store=store), settings, "warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        ip, r = _login_ip(f"http://127.0.0.1:{settings.http_port}", store, spoof)
        assert ip == "203.0.113.7" and "secure" in r.headers["set-cookie"].lower()  # the proxy's word
    finally:
        server.should_exit = True
        thread.join(15)
        store.close()
