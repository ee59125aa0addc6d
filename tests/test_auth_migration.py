"""The auth tables come from the Alembic history (single head) and match the models exactly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from condivisa.auth.service import AuthService
from condivisa.store import store as store_mod
from condivisa.store.auth_tables import AUTH_TABLES, Base


@pytest.fixture
def store(db_url):
    s = store_mod.Store(db_url)
    s.upgrade()
    yield s
    s.close()


def test_single_alembic_head():
    s = store_mod.Store("sqlite://")
    heads = ScriptDirectory.from_config(s.alembic_config()).get_heads()
    assert len(heads) == 1, f"the migration history has several heads: {heads}"


def test_migration_matches_auth_models(store):
    auth_names = {t.name for t in AUTH_TABLES}
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    ours = [d for d in diffs if auth_names & {getattr(x, "name", None) for x in _objects(d)}]
    assert ours == []


def _objects(diff):
    items = diff if isinstance(diff, list) else [diff]
    for item in items:
        if isinstance(item, tuple):
            for x in item:
                yield x
                table = getattr(x, "table", None)
                if table is not None:
                    yield table


def test_auth_service_on_an_upgraded_store(store):
    auth = AuthService(store)
    auth.create_user("root", "root-pass-1", "admin")
    token, who = auth.login("root", "root-pass-1")
    assert auth.principal_for_token(token) == who and who.role == "admin"
