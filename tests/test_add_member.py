"""Adding a member (issue #17, item 10): the referente's form ``/community/members/new`` through the real app,
the community file edit (:mod:`condivisa.domain.community_edit`) and ``condivisa members add``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
import shutil

import pytest
import yaml
from fastapi.testclient import TestClient

from condivisa.auth.rules_audit import rules_history
from condivisa.domain.community_edit import MemberEditError, NewMember, insert_member_text, with_new_member
from condivisa.domain.config import load_community
from conftest import EXAMPLE_COMMUNITY
from web_helpers import build_platform

PATH = "/community/members/new"
DAYS = (dt.date(2024, 6, 1),)
GOOD = {
    "id": "m6",
    "name": "Famiglia Gialli",
    "category": "private",
    "founder": "no",
    "joined": "2024-06-15",
    "pod": "IT001E00000006",
    "contract_power_kw": "4,5",
    "device": "DU-0006",
    "email": "gialli@example.it",
    "username": "",
}


def form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]*)"', html).group(1)


def client(platform, user: str | None = None) -> TestClient:
    c = TestClient(platform.app, headers={"accept-language": "it"})
    if user:
        token = form_token(c.get("/login").text)
        r = c.post(
            "/login",
            data={"username": user, "password": "correct-horse-42", "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    return c


@pytest.fixture
def platform(tmp_path):
    """The example platform serving a copy of the example community file (the tests write to it)."""
    p = build_platform(tmp_path, days=DAYS, bad_messages=0)
    folder = tmp_path / "cer"
    folder.mkdir()
    path = folder / "community.yaml"
    shutil.copyfile(EXAMPLE_COMMUNITY, path)
    p.app.state.dashboard_files = dataclasses.replace(p.app.state.dashboard_files, community_file=path)
    p.path = path
    return p


def post(c: TestClient, data: dict, token: str | None = None):
    if token is None:
        token = form_token(c.get(PATH).text)
    return c.post(PATH, data={**data, "csrf_token": token}, follow_redirects=False)


def usernames(platform) -> set[str]:
    return {u["username"] for u in platform.app.state.auth.users()}


def assert_nothing_written(platform, before: bytes) -> None:
    assert platform.path.read_bytes() == before
    assert not (platform.path.parent / "history").exists()
    assert "m6" not in usernames(platform)
    assert "DU-0006" not in {d["du_id"] for d in platform.store.devices()}


# ----------------------------------------------------------------------------------------- access


def test_form_is_for_staff_only(platform):
    anon = TestClient(platform.app)
    assert anon.get(PATH, follow_redirects=False).status_code == 303
    member = client(platform, "rossi")
    r = member.get(PATH)
    assert r.status_code == 404
    before = platform.path.read_bytes()
    r = member.post(PATH, data={**GOOD, "csrf_token": form_token(member.get("/").text)})
    assert r.status_code == 404
    assert_nothing_written(platform, before)
    denied = platform.app.state.auth.audit_log(action="access_denied", actor="rossi")
    assert any(e["target"] == "community:members:new" for e in denied)
    ref = client(platform, "ref")
    page = ref.get(PATH)
    assert page.status_code == 200
    assert 'data-testid="member-form"' in page.text and "Aggiungi un socio" in page.text
    assert "Privato (persona fisica)" in page.text  # categories in Italian
    assert "Add a member" in ref.get(PATH + "?lang=en").text
    assert 'href="/community/members/new"' in ref.get("/community").text


def test_csrf_token_required(platform):
    ref = client(platform, "ref")
    before = platform.path.read_bytes()
    assert post(ref, GOOD, token="").status_code == 403
    assert post(ref, GOOD, token="x" * 64).status_code == 403
    assert_nothing_written(platform, before)
    assert platform.app.state.auth.audit_log(action="csrf_rejected", actor="ref")


# ----------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"pod": "IT001E0000006"}, "pod", "is not a POD code"),  # 7 digits: a typo
        ({"pod": "it001e00000006"}, "pod", "upper case"),
        ({"id": "m1"}, "id", "already a member"),
        ({"id": "m 6"}, "id", "1-64 characters"),
        ({"pod": "IT001E00000002"}, "pod", "already in the community (member m2)"),
        ({"pod": "IT001E00000100"}, "pod", "already in the community (plant pv1)"),
        ({"device": "DU-0001"}, "device", "already registered"),
        ({"username": "ref"}, "username", "already exists"),
        ({"joined": ""}, "joined", "needs the day they joined"),
        ({"joined": "15/06/2024"}, "joined", "non è una data"),
        ({"contract_power_kw": "tre"}, "contract_power_kw", "non è un numero"),
        ({"contract_power_kw": "-3"}, "contract_power_kw", "> 0"),
        ({"email": "gialli"}, "email", "not an e-mail"),
        ({"name": "Gialli\x00"}, "name", "one line of text"),
        ({"category": "corp"}, "category", "is not one of"),
    ],
)
def test_refusals_show_the_field_and_write_nothing(platform, change, field, says):
    ref = client(platform, "ref")
    before = platform.path.read_bytes()
    r = post(ref, {**GOOD, **change})
    assert r.status_code == 400, r.text
    assert f'data-field="{field}"' in r.text
    assert says in html.unescape(r.text)
    assert 'name="pod" value="' in r.text  # the form again, with what was typed
    assert_nothing_written(platform, before)
    assert not platform.app.state.auth.audit_log(action="member_added")


def test_the_files_own_validation_applies(platform):
    """A file the loader would refuse is refused with the loader's path and message (here a typo'd key of
    another member, with its did-you-mean): nothing written."""
    text = platform.path.read_text(encoding="utf-8").replace(
        "kind: consumption}]}", "kidn: consumption}]}", 1
    )
    platform.path.write_text(text, encoding="utf-8")
    before = platform.path.read_bytes()
    r = post(client(platform, "ref"), GOOD)
    assert r.status_code == 400
    assert 'data-field="members[0].pods[0].kidn"' in r.text and "did you mean kind?" in r.text
    assert_nothing_written(platform, before)


def test_a_du_the_store_binds_to_another_pod_is_refused(platform):
    platform.store.register(devices=[("DU-0006", "IT001E00000001", "m1")])
    before = platform.path.read_bytes()
    r = post(client(platform, "ref"), GOOD)
    assert r.status_code == 400 and "registered in the store for another POD" in r.text
    assert platform.path.read_bytes() == before


# ----------------------------------------------------------------------------------------- success


def test_adding_a_member(platform):
    ref = client(platform, "ref")
    before = platform.path.read_bytes()
    r = post(ref, GOOD)
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers["cache-control"]
    password = re.search(r'data-testid="new-password">([^<]+)<', r.text).group(1)
    assert re.search(r'data-testid="new-username">m6<', r.text)
    assert len(password) >= 16

    # the file: re-loadable, two lines added, comments kept, the previous version in history/
    c = load_community(platform.path)
    m6 = c.member("m6")
    assert (m6.name, m6.category.value, m6.founder, m6.joined) == (
        "Famiglia Gialli",
        "private",
        False,
        dt.date(2024, 6, 15),
    )
    assert m6.email == "gialli@example.it" and m6.pods[0].contract_power_kw == 4.5
    assert any(d.id == "DU-0006" and d.pod == "IT001E00000006" for d in c.devices)
    old_lines, new_lines = (
        before.decode().splitlines(),
        platform.path.read_text(encoding="utf-8").splitlines(),
    )
    assert len(new_lines) == len(old_lines) + 2
    assert [x for x in new_lines if x not in old_lines] == [
        "  - {id: m6, name: Famiglia Gialli, email: gialli@example.it, category: private, founder: false, "
        "joined: 2024-06-15, pods: [{pod: IT001E00000006, kind: consumption, contract_power_kw: 4.5}]}",
        "  - {id: DU-0006, pod: IT001E00000006}",
    ]
    backups = list((platform.path.parent / "history").iterdir())
    assert len(backups) == 1 and backups[0].read_bytes() == before
    assert backups[0].name.startswith("community.") and backups[0].suffix == ".yaml"
    assert f"history/{backups[0].name}" in r.text

    # the store knows the POD and the DU
    assert ("DU-0006", "IT001E00000006", "m6") in {
        (d["du_id"], d["pod"], d["member_id"]) for d in platform.store.devices()
    }
    assert "IT001E00000006" in platform.store.known_pods()

    # the running app sees the member at once
    assert platform.app.state.community.member("m6")
    assert platform.app.state.auth.community.member("m6")
    page = ref.get("/community")
    assert "Famiglia Gialli" in page.text and "IT001E00000006" in page.text
    assert 'data-testid="history-member">socio m6 aggiunto<' in page.text
    assert ref.get("/members/m6").status_code == 200

    # the member signs in with the password shown once and sees their own page
    member = TestClient(platform.app)
    token = form_token(member.get("/login").text)
    r = member.post(
        "/login", data={"username": "m6", "password": password, "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    assert member.get("/", follow_redirects=False).headers["location"] == "/members/m6"
    assert member.get("/members/m6").status_code == 200
    assert member.get("/members/m1").status_code == 404

    # the audit log and the rules history
    [entry] = platform.app.state.auth.audit_log(action="member_added")
    assert (entry["actor"], entry["target"]) == ("ref", "member:m6")
    assert "gialli" not in str(entry["detail"]).lower() and "IT001E" not in str(entry["detail"])
    created = platform.app.state.auth.audit_log(action="user_created", actor="ref")
    assert any(e["target"] == "m6" for e in created)
    history = rules_history(platform.store, c.name)
    assert history[0]["action"] == "community_file_changed"
    assert (history[0]["change"], history[0]["member"], history[0]["actor"]) == ("member_added", "m6", "ref")
    assert [h["action"] for h in history].count("rules_changed") == 0  # the rules did not change

    # a second member: a second backup, both members in the file
    r = post(ref, {**GOOD, "id": "m7", "pod": "IT001E00000007", "device": "", "founder": "yes", "joined": ""})
    assert r.status_code == 200, r.text
    c = load_community(platform.path)
    assert c.member("m7").founder and c.member("m6")
    assert len(list((platform.path.parent / "history").iterdir())) == 2


# ----------------------------------------------------------------------------------------- the file edit


def new(**kw) -> NewMember:
    return NewMember(**{"id": "m6", "pod": "IT001E00000006", "joined": dt.date(2024, 6, 1), **kw})


def test_with_new_member_is_pure():
    raw = yaml.safe_load(EXAMPLE_COMMUNITY.read_text(encoding="utf-8"))
    out = with_new_member(raw, new(device="DU-0006"))
    assert len(out["members"]) == len(raw["members"]) + 1 and len(out["devices"]) == len(raw["devices"]) + 1
    assert out["members"][-1]["pods"] == [{"pod": "IT001E00000006", "kind": "consumption"}]
    with pytest.raises(MemberEditError, match="already a member") as exc:
        with_new_member(raw, new(id="m2"))
    assert exc.value.where == "id"


def test_block_style_file_keeps_its_comments():
    text = (
        "# my community\nname: x\nconfiguration: CER\nzone: south\nconstituted: 2024-01-01\n"
        "members:\n  - id: m1   # the first\n    founder: true\n    pods:\n      - IT001E00000001\n"
        "# the plants follow\nplants: []\n"
    )
    out, kept = insert_member_text(text, new(device="DU-0006"))
    assert kept
    assert out.startswith(text.split("# the plants")[0])
    assert "# the plants follow\nplants: []\n" in out and "  - id: m1   # the first\n" in out
    assert out.endswith("devices:\n  - {id: DU-0006, pod: IT001E00000006}\n")
    assert yaml.safe_load(out)["members"][1]["id"] == "m6"


def test_a_flow_style_members_list_is_dumped_again():
    text = "name: x\nconfiguration: CER\nzone: south\nconstituted: 2024-01-01\nmembers: [{id: m1, founder: true}]\n"
    out, kept = insert_member_text(text, new())
    assert not kept and out.startswith("# community file rewritten by condivisa")
    assert [m["id"] for m in yaml.safe_load(out)["members"]] == ["m1", "m6"]


# ----------------------------------------------------------------------------------------- the CLI


def test_cli_members_add(tmp_path):
    from typer.testing import CliRunner

    from condivisa.cli import app

    path = tmp_path / "community.yaml"
    shutil.copyfile(EXAMPLE_COMMUNITY, path)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    args = ["members", "add", "--config", str(path), "--id", "m6", "--pod", "IT001E00000006"]
    r = CliRunner().invoke(app, [*args, "--joined", "2024-06-01", "--device", "DU-0006", "--database", url])
    assert r.exit_code == 0, r.output
    password = re.search(r"initial password \(shown once\): (\S+)", r.output).group(1)
    assert load_community(path).member("m6")
    from condivisa.auth.service import AuthService
    from condivisa.store.store import Store

    store = Store(url)
    assert AuthService(store).login("m6", password)[1].member_id == "m6"
    r = CliRunner().invoke(app, [*args, "--joined", "2024-06-01", "--database", url])
    assert r.exit_code == 2 and "already a member" in r.output
    r = CliRunner().invoke(app, [*args[:-3], "m7", "--pod", "IT001E0000007", "--database", url])
    assert r.exit_code == 2
