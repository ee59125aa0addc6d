"""A person's own account: ``GET /account/password`` (the form) and ``POST /account/password`` (change it).

Rules: only for someone logged in; the form carries the session's anti-CSRF token (:mod:`condivisa.web.csrf`;
a POST without it gets 403 and is audited); the current password is checked under the login brake (a wrong
one is a failed login, :mod:`condivisa.auth.lockout`); the new one needs
:data:`~condivisa.auth.service.MIN_PASSWORD_LENGTH` characters, as ``condivisa users create`` requires, and
typed twice; the change signs out every other session and is audited (``password_changed``).
"""

from __future__ import annotations

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from condivisa.auth.deps import SESSION_COOKIE
from condivisa.auth.service import MIN_PASSWORD_LENGTH, AuthError
from condivisa.web import csrf, session
from condivisa.web.pages import render_page, resolve_lang, to_login
from condivisa.web.pages_session import csrf_refused


def _form(request: Request, who, lang: str, status_code: int = 200, **context) -> HTMLResponse:
    return render_page(
        request,
        "page_account.html",
        lang,
        status_code=status_code,
        who=who,
        min_length=MIN_PASSWORD_LENGTH,
        **context,
    )


def password_form(request: Request) -> Response:
    """``GET /account/password``: the form."""
    who = session.principal(request)
    if who is None:
        return to_login()
    return _form(request, who, resolve_lang(request))


def password_post(
    request: Request,
    current_password: str = Form(""),
    new_password: str = Form(""),
    new_password_repeat: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    """``POST /account/password``: change the password (200 with a confirmation, 400 with the reason)."""
    lang = resolve_lang(request)
    who = session.principal(request)
    if who is None:
        return to_login()
    if not csrf.session_ok(request, csrf_token):
        return csrf_refused(request, lang, "password_change", who.username)
    if len(new_password) < MIN_PASSWORD_LENGTH:
        return _form(request, who, lang, 400, error="mp_password_short")
    if new_password != new_password_repeat:
        return _form(request, who, lang, 400, error="mp_password_mismatch")
    try:
        session.auth_service(request).change_password(
            who.username,
            current_password,
            new_password,
            keep_token=request.cookies.get(SESSION_COOKIE),
            ip=request.client.host if request.client else None,
        )
    except AuthError:
        return _form(request, who, lang, 400, error="mp_password_wrong")
    except ValueError:
        return _form(request, who, lang, 400, error="mp_password_short")
    return _form(request, who, lang, changed=True)
