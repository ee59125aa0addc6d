"""Anti-CSRF tokens of the dashboard's forms (login, logout) through the real app and store."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from condivisa.web.csrf import CSRF_COOKIE
from test_web import client, form_token, login
from web_helpers import PASSWORD, build_platform


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    return build_platform(tmp_path_factory.mktemp("csrf"), bad_messages=0)


def _post_login(c: TestClient, **data):
    return c.post("/login", data={"username": "rossi", "password": PASSWORD, **data}, follow_redirects=False)


def test_login_form_sets_a_nonce_cookie_and_a_token(platform):
    c = TestClient(platform.app)
    r = c.get("/login")
    assert CSRF_COOKIE in r.cookies and "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    token = form_token(r.text)
    assert len(token) == 64
    again = c.get("/login")  # the browser keeps its nonce: same token, no new cookie
    assert form_token(again.text) == token and "set-cookie" not in again.headers


@pytest.mark.parametrize("case", ["missing", "wrong", "no-cookie", "other-browser"])
def test_login_without_the_right_token_is_403(platform, case):
    c = TestClient(platform.app, headers={"accept-language": "en"})
    token = form_token(c.get("/login").text)
    if case == "missing":
        r = _post_login(c)
    elif case == "wrong":
        r = _post_login(c, csrf_token=token[:-1] + ("0" if token[-1] != "0" else "1"))
    elif case == "no-cookie":
        c.cookies.clear()
        r = _post_login(c, csrf_token=token)
    else:  # a token taken from another browser's login page does not match this browser's nonce
        other = form_token(TestClient(platform.app).get("/login").text)
        assert other != token
        r = _post_login(c, csrf_token=other)
    assert r.status_code == 403, r.text
    assert "CSRF" in r.text and "Reload the page" in r.text
    assert "condivisa_session" not in r.cookies
    assert c.get("/members/m1", follow_redirects=False).status_code == 303  # not logged in
    refused = platform.app.state.auth.audit_log(action="csrf_rejected", actor="rossi")
    assert refused and refused[0]["target"] == "login"


def test_login_with_the_right_token_works(platform):
    c = TestClient(platform.app)
    before = len(platform.app.state.auth.audit_log(action="login", actor="rossi", limit=1000))
    r = login(c, "rossi")
    assert r.status_code == 303 and r.headers["location"] == "/" and "condivisa_session" in r.cookies
    assert c.get("/members/m1").status_code == 200
    assert len(platform.app.state.auth.audit_log(action="login", actor="rossi", limit=1000)) == before + 1


def test_logout_by_get_has_no_effect(platform):
    c = client(platform, "rossi", lang="en")
    r = c.get("/logout", follow_redirects=False)
    assert r.status_code == 200 and 'data-testid="logout-confirm"' in r.text and 'method="post"' in r.text
    assert c.get("/members/m1").status_code == 200  # still logged in
    anonymous = TestClient(platform.app).get("/logout", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"


def test_logout_post_needs_the_session_token(platform):
    c = client(platform, "rossi")
    token = form_token(c.get("/members/m1").text)
    other = form_token(client(platform, "rossi").get("/members/m1").text)  # the same person's other session
    assert other != token
    for data in ({}, {"csrf_token": "x" * 64}, {"csrf_token": other}):
        r = c.post("/logout", data=data, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text, data
        assert c.get("/members/m1").status_code == 200  # still logged in
    r = c.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.get("/members/m1", follow_redirects=False).status_code == 303
    assert platform.app.state.auth.audit_log(action="csrf_rejected", actor="rossi")[0]["target"] == "logout"


def test_logout_confirm_page_button_works(platform):
    c = client(platform, "bianchi")
    page = c.get("/logout").text
    r = c.post("/logout", data={"csrf_token": form_token(page)}, follow_redirects=False)
    assert r.status_code == 303
    assert c.get("/members/m2", follow_redirects=False).status_code == 303


def test_secret_is_shared_through_the_database(platform, monkeypatch):
    """Two app processes on one database sign alike (a form from one is accepted by the other);
    CONDIVISA_SECRET_KEY replaces the database's key."""
    from condivisa.app.http_app import create_app

    monkeypatch.delenv("CONDIVISA_SECRET_KEY", raising=False)
    c1 = TestClient(platform.app)
    token = form_token(c1.get("/login").text)
    second = create_app(platform.settings, store=platform.store, community=platform.community)
    c2 = TestClient(second)
    c2.cookies.set(CSRF_COOKIE, c1.cookies[CSRF_COOKIE])
    assert _post_login(c2, csrf_token=token).status_code == 303

    monkeypatch.setenv("CONDIVISA_SECRET_KEY", "k" * 40)
    third = TestClient(create_app(platform.settings, store=platform.store, community=platform.community))
    third.cookies.set(CSRF_COOKIE, c1.cookies[CSRF_COOKIE])
    assert form_token(third.get("/login").text) != token
    assert _post_login(third, csrf_token=token).status_code == 403
