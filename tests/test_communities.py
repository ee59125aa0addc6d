"""Communities in the store (issue #18, item 1): versions, POD memberships with dates (members move), the rules
audit, the ``condivisa communities`` command, adding a member to a stored community, and the first community
adopting a one-community platform's rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from typer.testing import CliRunner

from condivisa.auth.communities import ensure_community, remove_community, save_community
from condivisa.auth.member_admin import MemberEditError, NewMember, add_member_stored
from condivisa.auth.service import AuthService
from condivisa.cli import app
from condivisa.domain.config import ConfigError
from condivisa.kernel.timegrid import ROME
from condivisa.store import communities as catalog
from condivisa.store.auth_tables import AuditEntry, User
from condivisa.store.store import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "community.yaml"


def community_file(tmp_path: Path, name: str, pod_prefix: str, du_prefix: str) -> Path:
    """The example community renamed, with its own POD codes and DU ids."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = (
        text.replace("CER Esempio Sud", name).replace("IT001E0000", pod_prefix).replace("DU-000", du_prefix)
    )
    path = tmp_path / f"{catalog.community_slug(name)}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def db(db_url):
    with Store(db_url) as store:
        store.upgrade()
        yield store


@pytest.fixture
def files(tmp_path):
    return (
        community_file(tmp_path, "CER Alfa", "IT001E0000", "DA-000"),
        community_file(tmp_path, "CER Beta", "IT002E0000", "DB-000"),
    )


def at(day: str):
    return time_machine.travel(dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=ROME), tick=False)


def test_two_communities_versions_and_rules_audit(db, files):
    a, b = files
    first = save_community(db, a, actor="test", create=True)
    assert (first.record.slug, first.record.version, first.changed) == ("cer-alfa", 1, True)
    save_community(db, b, actor="test", create=True)
    assert [r.slug for r in catalog.list_communities(db.engine)] == ["cer-alfa", "cer-beta"]
    # the same text again stores nothing
    again = save_community(db, a, actor="test", create=False)
    assert (again.changed, again.record.version) == (False, 1)
    # a rules change is version 2 and a rules_changed audit entry of the community's name
    a.write_text(
        a.read_text()
        .replace("producers: 0.10", "producers: 0.20")
        .replace("consumers: 0.75", "consumers: 0.65")
    )
    change = save_community(db, a, actor="test", create=False)
    assert change.record.version == 2 and change.rules is not None and change.rules.status == "changed"
    history = catalog.versions(db.engine, "cer-alfa")
    assert [v["version"] for v in history] == [1, 2] and history[0]["rules_sha256"] != history[1][
        "rules_sha256"
    ]
    assert "producers: 0.20" in catalog.version_text(db.engine, "cer-alfa")
    assert "producers: 0.10" in catalog.version_text(db.engine, "cer-alfa", 1)
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(AuditEntry.action, AuditEntry.community)).all()
    assert ("community_updated", "cer-alfa") in rows and ("community_added", "cer-beta") in rows
    # the PODs and DUs are registered with their community
    devices = {d["du_id"]: d for d in db.devices()}
    with db.engine.connect() as conn:
        owners = dict(conn.execute(sa.text("SELECT du_id, community FROM devices")).all())
    assert owners["DA-0001"] == "cer-alfa" and owners["DB-0001"] == "cer-beta" and "DA-0001" in devices


def test_a_pod_belongs_to_one_community_at_a_time(db, files, tmp_path):
    a, _ = files
    save_community(db, a, actor="test", create=True)
    thief = community_file(tmp_path, "CER Gamma", "IT001E0000", "DG-000")  # the same PODs as Alfa
    with pytest.raises(catalog.CommunityStoreError, match="IT001E00000001 belongs to community 'cer-alfa'"):
        save_community(db, thief, actor="test", create=True)
    assert [r.slug for r in catalog.list_communities(db.engine)] == ["cer-alfa"]  # nothing of Gamma stored
    assert catalog.memberships(db.engine, community="cer-gamma") == []
    # the same name under another slug is refused too (billing is keyed by name)
    with pytest.raises(catalog.CommunityStoreError, match="already community 'cer-alfa'"):
        save_community(db, a, actor="test", slug="other", create=True)


def test_a_member_moves_with_dates(db, files):
    a, b = files
    with at("2026-03-01"):
        save_community(db, a, actor="test", create=True)
        save_community(db, b, actor="test", create=True)
    assert catalog.pod_community(db.engine, "IT001E00000005", dt.date(2026, 3, 1)) == "cer-alfa"
    # m5 (Officina Neri, joined 2024-03-01) leaves Alfa: its last day there is 14 March
    a.write_text(a.read_text().replace("joined: 2024-03-01,", "joined: 2024-03-01, left: 2026-03-14,"))
    with at("2026-03-15"):
        save_community(db, a, actor="test", create=False)
    # and joins Beta: a joined date before 15 March would count its energy in both communities
    newcomer = (
        "  - {id: m9, name: Officina Neri srl, category: enterprise, founder: false, joined: JOINED, "
        "millesimi: 0, pods: [{pod: IT001E00000005, kind: consumption}]}\nplants:"
    )
    original = b.read_text()
    b.write_text(original.replace("plants:", newcomer.replace("JOINED", "2026-03-01"), 1))
    with at("2026-03-20"), pytest.raises(catalog.CommunityStoreError, match="until 2026-03-15"):
        save_community(db, b, actor="test", create=False)
    assert catalog.get_community(db.engine, "cer-beta").version == 1  # nothing stored
    b.write_text(original.replace("plants:", newcomer.replace("JOINED", "2026-03-15"), 1))
    with at("2026-03-20"):
        save_community(db, b, actor="test", create=False)
    history = catalog.memberships(db.engine, pod="IT001E00000005")
    assert [(m.community, m.member_id, m.valid_from, m.valid_to) for m in history] == [
        ("cer-alfa", "m5", dt.date(2024, 3, 1), dt.date(2026, 3, 15)),
        ("cer-beta", "m9", dt.date(2026, 3, 15), None),
    ]
    assert catalog.pod_community(db.engine, "IT001E00000005", dt.date(2026, 3, 14)) == "cer-alfa"
    assert catalog.pod_community(db.engine, "IT001E00000005", dt.date(2026, 3, 15)) == "cer-beta"


def test_a_pod_dropped_from_the_file_ends_today(db, files):
    a, _ = files
    with at("2026-03-01"):
        save_community(db, a, actor="test", create=True)
    text = a.read_text()
    line = next(x for x in text.splitlines() if "IT001E00000004" in x and "m4" in x)
    a.write_text(text.replace(line + "\n", "").replace("  - {id: DA-0004, pod: IT001E00000004}\n", ""))
    a.write_text(a.read_text().replace("owner: m4", "owner: community"))
    with at("2026-03-10"):
        save_community(db, a, actor="test", create=False)
    (m,) = catalog.memberships(db.engine, pod="IT001E00000004")
    assert (m.valid_from, m.valid_to) == (dt.date(2024, 1, 1), dt.date(2026, 3, 10))


def test_a_member_who_left_ends_on_the_day_after(db, files):
    a, _ = files
    text = a.read_text().replace("joined: 2024-03-01,", "joined: 2024-03-01, left: 2026-02-28,")
    a.write_text(text)
    with at("2026-12-01"):
        save_community(db, a, actor="test", create=True)
    (m,) = catalog.memberships(db.engine, pod="IT001E00000005")
    assert (m.valid_from, m.valid_to) == (dt.date(2024, 3, 1), dt.date(2026, 3, 1))  # 29 Feb does not exist


def test_remove_and_add_again(db, files):
    a, _ = files
    with at("2026-01-01"):
        save_community(db, a, actor="test", create=True)
    with at("2026-06-30"):
        remove_community(db, "cer-alfa", actor="test")
    assert catalog.list_communities(db.engine) == []
    assert catalog.get_community(db.engine, "cer-alfa").removed_at is not None
    assert {m.valid_to for m in catalog.memberships(db.engine, community="cer-alfa")} == {
        dt.date(2026, 6, 30)
    }
    with pytest.raises(catalog.CommunityStoreError, match="not served"):
        remove_community(db, "cer-alfa", actor="test")
    with at("2026-07-01"):
        change = ensure_community(db, a, actor="test")  # served again: version 2, new memberships
    assert change.record.version == 2 and change.record.active
    assert catalog.pod_community(db.engine, "IT001E00000001", dt.date(2026, 7, 1)) == "cer-alfa"
    # the new membership starts where the last one ended (never before it; the file says 2024-01-01)
    history = catalog.memberships(db.engine, pod="IT001E00000001")
    assert [(m.valid_from, m.valid_to) for m in history] == [
        (dt.date(2024, 1, 1), dt.date(2026, 6, 30)),
        (dt.date(2026, 6, 30), None),
    ]


def test_the_first_community_adopts_a_one_community_platform(db, files):
    service = AuthService(db)
    service.create_user("anna", "password-1", "referente")
    service.create_user("root", "password-1", "admin")
    a, b = files
    save_community(db, a, actor="test", create=True)
    save_community(db, b, actor="test", create=True)
    with db.engine.connect() as conn:
        rows = dict(conn.execute(sa.select(User.username, User.community)).all())
    assert rows == {"anna": "cer-alfa", "root": None}  # the admin stays the platform's


def test_add_a_member_to_a_stored_community(db, files):
    a, b = files
    save_community(db, a, actor="test", create=True)
    save_community(db, b, actor="test", create=True)
    new = NewMember(id="m6", pod="IT002E00000006", founder=True, name="Famiglia Gialli")
    added = add_member_stored(db, "cer-beta", new, actor="referente-b")
    assert added.backup is None and added.password
    assert catalog.get_community(db.engine, "cer-beta").version == 2
    assert "m6" in {m.id for m in catalog.load_current(db.engine, "cer-beta").members}
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(User.community).where(User.username == "m6")).scalar() == "cer-beta"
    assert catalog.pod_community(db.engine, "IT002E00000006") == "cer-beta"
    with pytest.raises(MemberEditError, match="another community"):
        add_member_stored(db, "cer-beta", NewMember(id="m7", pod="IT001E00000002", founder=True), actor="x")
    assert catalog.get_community(db.engine, "cer-beta").version == 2  # nothing stored


def test_cli(tmp_path, files):
    a, b = files
    url = f"sqlite:///{tmp_path / 'p.db'}"
    runner = CliRunner()
    out = runner.invoke(app, ["communities", "list", "--database", url])
    assert out.exit_code == 0 and "no communities yet" in out.output
    for f in (a, b):
        out = runner.invoke(app, ["communities", "add", str(f), "--database", url])
        assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["communities", "add", str(a), "--database", url])
    assert out.exit_code == 2 and "already served" in out.output
    typo = tmp_path / "typo.yaml"
    typo.write_text(a.read_text().replace("rules:", "rulez:"))
    out = runner.invoke(app, ["communities", "update", str(typo), "--database", url])
    assert out.exit_code == 2 and "rulez" in out.output and "did you mean rules" in out.output
    assert str(typo) in out.output
    out = runner.invoke(app, ["communities", "list", "--database", url], env={"COLUMNS": "200"})
    assert "cer-alfa" in out.output and "cer-beta" in out.output
    out = runner.invoke(app, ["communities", "show", "cer-beta", "--database", url], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "IT002E00000001" in out.output and "IT001E00000001" not in out.output
    out = runner.invoke(app, ["communities", "export", "cer-beta", "--database", url])
    assert out.output == b.read_text()
    out = runner.invoke(app, ["communities", "remove", str(b), "--database", url])
    assert out.exit_code == 0 and "no longer served" in out.output
    out = runner.invoke(app, ["communities", "list", "--database", url], env={"COLUMNS": "200"})
    assert "cer-beta" not in out.output


def test_a_stored_file_is_checked_like_a_file():
    with pytest.raises(ConfigError, match="community x: membrs: unknown key"):
        catalog.parse_community_text(EXAMPLE.read_text().replace("members:", "membrs:"), "community x")
