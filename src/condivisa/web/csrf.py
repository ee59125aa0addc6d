"""Anti-CSRF tokens of the dashboard's state-changing forms (login, logout).

Rules (``docs/security.md``, OWASP CSRF Prevention Cheat Sheet):

- **signed double-submit** for the login form (nobody is logged in yet): ``GET /login`` gives the browser a
  random nonce in the ``condivisa_csrf`` cookie (HttpOnly, SameSite=Strict) and puts
  ``HMAC-SHA256(secret, "login" | nonce)`` in the form; the ``POST`` must bring both, and they must match;
- **per-session token** for forms of a logged-in person (logout): ``HMAC-SHA256(secret, "session" |
  SHA-256(session token))`` — it changes with every login and cannot be computed without the session cookie
  (HttpOnly, so page scripts of another site cannot read it) and the secret;
- ``secret`` is the platform's key (:func:`condivisa.auth.app_secret.app_secret`); tokens are compared with
  :func:`hmac.compare_digest`. A POST with a missing or wrong token gets **403** and is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from fastapi import Request, Response

from condivisa.auth.app_secret import app_secret
from condivisa.auth.deps import SESSION_COOKIE

CSRF_COOKIE = "condivisa_csrf"
CSRF_FIELD = "csrf_token"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")

#: what a refused form says (it/en)
MESSAGES = {
    "csrf_failed": {
        "it": "Richiesta rifiutata: il modulo è scaduto o non viene da questa pagina (protezione CSRF). "
        "Ricarica la pagina e riprova.",
        "en": "Request refused: the form has expired or did not come from this site (CSRF protection). "
        "Reload the page and try again.",
    },
    "logout_confirm": {"it": "Vuoi uscire da condivisa?", "en": "Do you want to sign out of condivisa?"},
}


def message(key: str, lang: str) -> str:
    entry = MESSAGES[key]
    return entry.get(lang) or entry["en"]


def secret(request: Request) -> bytes:
    """The app's signing secret, read once per app (``app.state.csrf_secret``)."""
    state = request.app.state
    key = getattr(state, "csrf_secret", None)
    if key is None:
        key = app_secret(state.store, "csrf")
        state.csrf_secret = key
    return key


def _sign(key: bytes, purpose: str, value: str) -> str:
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def login_token(request: Request) -> tuple[str, str | None]:
    """The token of the login form, and the new nonce to set (:func:`set_nonce_cookie`) when the browser
    has none yet (else ``None``)."""
    nonce = request.cookies.get(CSRF_COOKIE, "")
    fresh = None
    if not _NONCE.match(nonce):
        nonce = fresh = secrets.token_urlsafe(32)
    return _sign(secret(request), "login", nonce), fresh


def set_nonce_cookie(request: Request, response: Response, nonce: str | None) -> None:
    if nonce:
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )


def session_token(request: Request, session: str | None = None) -> str | None:
    """The token of forms shown to the holder of session cookie ``session`` (default: the request's)."""
    session = session or request.cookies.get(SESSION_COOKIE)
    if not session:
        return None
    return _sign(secret(request), "session", hashlib.sha256(session.encode()).hexdigest())


def login_ok(request: Request, token: str | None) -> bool:
    nonce = request.cookies.get(CSRF_COOKIE, "")
    if not token or not _NONCE.match(nonce):
        return False
    return hmac.compare_digest(token.encode(), _sign(secret(request), "login", nonce).encode())


def session_ok(request: Request, token: str | None) -> bool:
    expected = session_token(request)
    return bool(token and expected) and hmac.compare_digest(token.encode(), expected.encode())
