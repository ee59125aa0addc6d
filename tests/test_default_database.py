"""Issue #13 finding 14: the README's own flow used to lock the referente out.

``db register``, ``users add`` and ``mqtt-acl`` defaulted to ``./condivisa.db`` while ``serve`` defaulted to
``./var/condivisa.db``: the users and device credentials just created were not the ones ``serve`` read. Now
every command resolves the database the same way (:func:`condivisa.store.location.resolve_database_url`).
These tests run the README's commands in an empty folder without ``--database`` (through Typer's runner, and
``serve`` as a real process) and check they all use one file, and that ``serve`` lets the referente just
created log in.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from condivisa.app.settings import Settings
from condivisa.cli import app
from condivisa.store.location import describe_database, resolve_database_url, sqlite_file
from condivisa.store.store import DEFAULT_URL

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "referente-pass-1"


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """An empty working folder with the example community file, and no ``CONDIVISA_*`` variables."""
    for name in list(os.environ):
        if name.startswith("CONDIVISA_"):
            monkeypatch.delenv(name)
    shutil.copy(ROOT / "examples" / "community.yaml", tmp_path / "community.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def readme_flow() -> None:
    """The README's "Running a community for real" steps that write to the database, without --database."""
    run("db", "upgrade")
    run("db", "register", "--config", "community.yaml")
    run("users", "add", "referente", "--role", "referente", "--password-stdin", stdin=PASSWORD + "\n")
    run("mqtt-acl", "--config", "community.yaml", "--out", "var/mqtt")


def contents(db_file: Path) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{db_file}")
    try:
        with engine.connect() as conn:
            count = lambda table: conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()  # noqa: E731
            return {t: count(t) for t in ("auth_users", "auth_device_credentials", "devices", "pods")}
    finally:
        engine.dispose()


def test_one_default_for_every_command_and_serve(folder):
    assert DEFAULT_URL == "sqlite:///./var/condivisa.db"
    assert Settings().database_url == DEFAULT_URL == resolve_database_url()  # serve's settings, the store's
    readme_flow()
    assert not (folder / "condivisa.db").exists()
    db = folder / "var" / "condivisa.db"
    found = contents(db)
    assert found["auth_users"] == 1 and found["auth_device_credentials"] >= 2  # the worker and the DUs
    assert found["devices"] >= 1 and found["pods"] >= 1
    assert sqlite_file(resolve_database_url()).resolve() == db.resolve()
    assert describe_database(resolve_database_url()) == f"SQLite file {db.resolve()}"


def test_the_environment_variable_wins_everywhere(folder, monkeypatch):
    elsewhere = folder / "data" / "cer.db"
    monkeypatch.setenv("CONDIVISA_DATABASE_URL", f"sqlite:///{elsewhere}")
    readme_flow()
    assert not (folder / "var" / "condivisa.db").exists()  # created nowhere but in $CONDIVISA_DATABASE_URL
    assert contents(elsewhere)["auth_users"] == 1
    assert Settings().database_url == resolve_database_url() == f"sqlite:///{elsewhere}"


def test_a_postgresql_url_is_read_as_psycopg_and_described_without_its_password():
    url = resolve_database_url("postgresql://anna:secret@db.example.org/cer")
    assert url == "postgresql+psycopg://anna:secret@db.example.org/cer"
    assert describe_database(url) == "postgresql+psycopg://anna:***@db.example.org/cer"
    assert sqlite_file("sqlite:///:memory:") is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_says_which_database_and_lets_the_new_referente_log_in(folder):
    """The whole README flow: ``serve`` (a real process, no --database) prints the file the other commands
    wrote, and the referente created by ``users add`` logs in there."""
    readme_flow()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDIVISA_")}
    cmd = [sys.executable, "-m", "condivisa", "serve", "--config", "community.yaml", "--no-mqtt"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)],
        cwd=folder,
        env={**env, "COLUMNS": "300"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("database:"):
                break
        db = (folder / "var" / "condivisa.db").resolve()
        assert lines and lines[-1].startswith(f"database: SQLite file {db}"), "".join(lines)
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
                time.sleep(0.2)
        r = httpx.post(
            f"{base}/UrbanDatasetGateway/login",
            json={"username": "referente", "password": PASSWORD},
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["code"] == "00", r.text
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
