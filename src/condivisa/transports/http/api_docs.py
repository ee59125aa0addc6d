"""The API documentation pages ``/docs`` (Swagger UI) and ``/redoc``, served from this machine: their files
(Swagger UI 5, which reads FastAPI's OpenAPI 3.1, and ReDoc) come from the ``fastapi-offline`` package's
``static`` folder, served under ``/docs/static/``, so the pages work on a box without internet (FastAPI's
default pages load them from a CDN and stay blank offline). Only the files are used, not the package's code.
Without the package, ``/docs`` is a plain HTML list of the operations with a link to ``/openapi.json`` and
``/redoc`` is not served.
"""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_URL = "/docs/static"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")


def swagger_ui_dir() -> Path | None:
    """The folder with ``swagger-ui-bundle.js``, ``swagger-ui.css`` and ``redoc.standalone.js`` (the
    ``fastapi-offline`` package's ``static``, found without importing it), or None."""
    spec = importlib.util.find_spec("fastapi_offline")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "static"
        if all((path / name).is_file() for name in ASSETS):
            return path
    return None


def plain_docs_html(app: FastAPI) -> str:
    """The operations of ``app``'s OpenAPI document as a plain HTML list (no script, no external file)."""
    spec = app.openapi()
    rows = []
    for path, ops in sorted(spec.get("paths", {}).items()):
        for method, op in ops.items():
            summary = html.escape(op.get("summary") or "")
            rows.append(f"<li><code>{html.escape(method.upper())} {html.escape(path)}</code> {summary}</li>")
    title = html.escape(spec.get("info", {}).get("title", "API"))
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head><body>"
        f"<h1>{title}</h1><p>The full description: <a href='{app.openapi_url}'>{app.openapi_url}</a> "
        "(OpenAPI JSON).</p><ul>" + "".join(rows) + "</ul></body></html>"
    )


def install_api_docs(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` on local files (module docstring); call on an app made with ``docs_url=None,
    redoc_url=None``."""
    folder = swagger_ui_dir()
    if folder is not None:
        app.mount(STATIC_URL, StaticFiles(directory=folder), name="swagger-ui")

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> HTMLResponse:
        if folder is None:
            return HTMLResponse(plain_docs_html(app))
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — docs",
            swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_URL}/favicon.png",
        )

    if folder is None:
        return

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — ReDoc",
            redoc_js_url=f"{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
