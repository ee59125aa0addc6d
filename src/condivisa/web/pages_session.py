"""The dashboard's door: ``/`` (to the right page for who is logged in), ``/login`` and ``/logout``.

Both forms carry an anti-CSRF token (:mod:`condivisa.web.csrf`); ``GET /logout`` only shows the sign-out
button, ``POST /logout`` signs out.
"""

from __future__ import annotations

from typing import Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from condivisa.store.auth_tables import AuditAction
from condivisa.web import csrf, session
from condivisa.web.pages import not_found, render_page, resolve_lang, to_login


def login_page(request: Request, lang: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The login form with a fresh anti-CSRF token (and its nonce cookie)."""
    token, nonce = csrf.login_token(request)
    out = render_page(request, "page_login.html", lang, status_code=status_code, csrf_token=token, **context)
    csrf.set_nonce_cookie(request, out, nonce)
    return out


def csrf_refused(request: Request, lang: str, what: str, username: str | None = None) -> HTMLResponse:
    """403 for a form POST with a missing or wrong anti-CSRF token (audited)."""
    session.auth_service(request).audit(
        (username or "-")[:128],
        AuditAction.CSRF_REJECTED,
        what,
        {
            "path": request.url.path,
            "origin": request.headers.get("origin"),
            "referer": request.headers.get("referer"),
        },
        request.client.host if request.client else None,
    )
    return render_page(
        request, "page_error.html", lang, status_code=403, code=403, message=csrf.message("csrf_failed", lang)
    )


def login_form(request: Request) -> HTMLResponse:
    """``GET /login``: the form."""
    return login_page(request, resolve_lang(request), failed=False)


def login_post(
    request: Request, username: str = Form(""), password: str = Form(""), csrf_token: str = Form("")
) -> Response:
    """``POST /login``: on success the session cookie and off to ``/``; else the form again (401)."""
    lang = resolve_lang(request)
    if not csrf.login_ok(request, csrf_token):
        return csrf_refused(request, lang, "login", username)
    out = RedirectResponse("/", status_code=303)
    if not username or not password or session.login(request, out, username, password) is None:
        return login_page(request, lang, status_code=401, failed=True, username=username)
    return out


def logout_confirm(request: Request) -> Response:
    """No effect: a logged-in person gets a page with the sign-out button (a POST form)."""
    who = session.principal(request)
    if who is None:
        return to_login()
    lang = resolve_lang(request)
    return render_page(
        request, "page_logout.html", lang, who=who, question=csrf.message("logout_confirm", lang)
    )


def logout(request: Request, csrf_token: str = Form("")) -> Response:
    """``POST /logout``: end the session, off to the login form."""
    if not csrf.session_ok(request, csrf_token):
        who = session.principal(request)
        return csrf_refused(request, resolve_lang(request), "logout", who.username if who else None)
    out = to_login()
    session.logout(request, out)
    return out


def home(request: Request) -> Response:
    """``/``: staff to the community page, a member to their own page, nobody to the login form."""
    who = session.principal(request)
    if who is None:
        return to_login()
    if session.is_staff(who):
        return RedirectResponse("/community", status_code=303)
    if who.member_id:
        return RedirectResponse(f"/members/{who.member_id}", status_code=303)
    return not_found(request, resolve_lang(request), who)
