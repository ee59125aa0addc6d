"""Shared fixtures. Tests marked ``postgres`` / ``mosquitto`` use the real local servers:
they are skipped when the server is unreachable, except under CI (CI=true), where they fail."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXAMPLE_COMMUNITY = ROOT / "examples" / "community.yaml"
PG_ADMIN_URL = os.environ.get(
    "CONDIVISA_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MOSQUITTO_HOST, MOSQUITTO_PORT = "127.0.0.1", int(os.environ.get("CONDIVISA_TEST_MQTT_PORT", "1883"))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _need(host: str, port: int, what: str) -> None:
    if not _reachable(host, port):
        if os.environ.get("CI"):
            pytest.fail(f"{what} at {host}:{port} is not reachable (CI must start it)")
        pytest.skip(f"{what} at {host}:{port} is not reachable")


@pytest.fixture
def shared_dir() -> Path:
    return SHARED


@pytest.fixture
def example_community_path() -> Path:
    return EXAMPLE_COMMUNITY


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database for one test, dropped afterwards. Yields a SQLAlchemy URL."""
    _need("127.0.0.1", 5432, "PostgreSQL")
    import sqlalchemy as sa

    name = f"condivisa_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'condivisa.db'}"


@pytest.fixture
def mosquitto():
    """(host, port) of the real Mosquitto broker, and a unique topic prefix for this test."""
    _need(MOSQUITTO_HOST, MOSQUITTO_PORT, "Mosquitto")
    return MOSQUITTO_HOST, MOSQUITTO_PORT, f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """A fresh database, once SQLite and once the real PostgreSQL: a test using it runs on both."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def _registered_store(url: str, community_path: Path):
    from condivisa.domain.config import load_community
    from condivisa.store.store import Store

    s = Store(url)
    s.upgrade()
    s.register_devices(load_community(community_path))
    yield s
    s.close()


@pytest.fixture
def store(sqlite_url, example_community_path):
    """A SQLite store with the example community's PODs and DUs registered (modules may define their own)."""
    yield from _registered_store(sqlite_url, example_community_path)


@pytest.fixture
def db_store(db_url, example_community_path):
    """:func:`store` on SQLite and on PostgreSQL (:func:`db_url`)."""
    yield from _registered_store(db_url, example_community_path)


@pytest.fixture(params=["embedded", pytest.param("mosquitto", marks=pytest.mark.mosquitto)])
def broker(request):
    """(host, port, mqtt5, community slug) of a running broker: the embedded one, then the real Mosquitto."""
    if request.param == "embedded":
        from condivisa.transports.mqtt.broker import EmbeddedBroker

        with EmbeddedBroker(port=0) as b:
            yield b.host, b.port, False, f"emb-{uuid.uuid4().hex[:8]}"
    else:
        host, port, prefix = request.getfixturevalue("mosquitto")
        yield host, port, True, prefix
