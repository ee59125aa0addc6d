"""The HTTP front door's two ASGI middlewares, both outside FastAPI's routing so that every answer goes
through them:

- :class:`HostGuard` answers **400** (with the reason) to a request whose ``Host`` header is not one of the
  names the platform answers to (:func:`allowed_host_names`): a page of another site that made its own name
  resolve to this machine ("DNS rebinding") cannot talk to the platform through the visitor's browser;
- :class:`SecurityHeaders` adds to every answer the browser rules of :data:`SECURITY_HEADERS` (a Content
  Security Policy, no framing, no MIME sniffing, no referrer to other sites), ``Cache-Control: no-store``
  unless the route set its own (pages, statements and API answers carry personal data), and, over HTTPS,
  ``Strict-Transport-Security``.

The policy allows inline scripts and styles: the charts are Plotly figures, rendered as an inline
``<script>`` each, and the templates use ``style`` attributes. Everything else is this origin only: no
plug-ins, no ``<base>``, forms post only here, scripts may not send data anywhere else (``connect-src``), and
nobody may frame the pages.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the names every platform answers to, whatever it is configured with
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
#: listen addresses that are not a name a client uses
_WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::", "[::]"})

#: the dashboard's Content Security Policy (module docstring)
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
#: ``/docs`` and ``/redoc`` run Swagger UI and ReDoc from the platform's own files
#: (:mod:`condivisa.transports.http.api_docs`), with their inline start-up scripts: no CDN
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
DOCS_PATHS = ("/docs", "/redoc")
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: sent over HTTPS only (a browser ignores it over HTTP): 180 days
STRICT_TRANSPORT_SECURITY = "max-age=15552000"


def allowed_host_names(http_host: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The ``Host`` names the platform answers to: :data:`LOOPBACK_HOSTS`, the address it listens on
    (``http_host``, unless a wildcard such as ``0.0.0.0``) and ``extra`` (the ``allowed_hosts`` setting;
    ``"*"`` allows any name, ``"*.example.org"`` any name under ``example.org``). Lowercase, without ports."""
    names = [*LOOPBACK_HOSTS]
    if http_host.strip().lower() not in _WILDCARD_ADDRESSES:
        names.append(http_host)
    names.extend(extra)
    out: list[str] = []
    for name in names:
        clean = name.strip().lower().removeprefix("[").removesuffix("]")
        if clean and clean not in out:
            out.append(clean)
    return tuple(out)


def host_name(header: str) -> str:
    """The name of a ``Host`` header value, lowercase, without the port or IPv6 brackets
    (``"[::1]:8000"`` → ``"::1"``, ``"Example.org:443"`` → ``"example.org"``)."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def host_allowed(name: str, allowed: Iterable[str]) -> bool:
    """Whether ``name`` (see :func:`host_name`) is one of ``allowed`` (see :func:`allowed_host_names`)."""
    for pattern in allowed:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class HostGuard:
    """ASGI middleware: 400 with a JSON reason for a request whose ``Host`` is not in ``allowed``."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app, self.allowed = app, tuple(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"host")
        name = host_name(header) if header is not None else ""
        if name and host_allowed(name, self.allowed):
            await self.app(scope, receive, send)
            return
        shown = f"Host {header[:100]!r}" if header is not None else "no Host header"
        body = json.dumps(
            {
                "detail": f"{shown}: this platform does not answer to that name "
                "(the operator lists the names in the allowed_hosts setting)"
            }
        ).encode()
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """ASGI middleware: the module docstring's headers on every HTTP answer (a header the route set wins)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        wanted = dict(SECURITY_HEADERS)
        if path in DOCS_PATHS:
            wanted["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        if scope.get("scheme") == "https":
            wanted["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
        wanted["Cache-Control"] = "no-store"
        extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in wanted.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(k).lower() for k, _ in headers}
                headers.extend((k, v) for k, v in extra if k not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
