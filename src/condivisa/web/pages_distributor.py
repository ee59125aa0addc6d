"""The referente's distributor-data page: ``/community/distributor?month=YYYY-MM`` (the month's reconciliation
of the devices against the distributor's data, the money it moves, the to-do list, the data mix and the
imported files) and ``POST /community/distributor`` (upload the portal's exports of one POD and direction).

Rules implemented:

- staff only (referente, admin): anybody else gets the same 404 page as for a missing page (audited);
- the upload needs the per-session anti-CSRF token (403, audited), at most :data:`MAX_FILES` files of
  :data:`MAX_FILE_BYTES` each (413); every file is parsed first and a bad one stores nothing, the page
  naming the file, line, column and fix (400) — the same import as ``condivisa db import-distributor``
  (:func:`condivisa.ingest.distributor.import_files`);
- the figures are :func:`condivisa.outputs.reconciliation.reconcile_store`, as of today
  (:mod:`condivisa.kernel.clock`).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from condivisa.formats.distributor import DIRECTIONS
from condivisa.ingest.distributor import DistributorImportError, import_files
from condivisa.kernel import clock
from condivisa.outputs.reconciliation import reconcile_store
from condivisa.outputs.sources import ASSUMED_PRICE_EUR_PER_MWH
from condivisa.store.distributor import imported_files
from condivisa.store.provenance import mix_text
from condivisa.web import csrf, session
from condivisa.web.pages import dashboard, render_page, resolve_lang, staff_only
from condivisa.web.pages_session import csrf_refused

#: at most this many files per upload (a year of monthly exports)
MAX_FILES = 12
#: each at most this large (a month of one POD is ~25 KB; a year ~300 KB)
MAX_FILE_BYTES = 2 * 2**20
#: the audit action of an upload
IMPORT_AUDIT = "distributor_import"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _month(request: Request, files: list[dict]) -> str:
    asked = request.query_params.get("month", "")
    if _MONTH.match(asked):
        return asked
    if files:
        return f"{files[0]['last_day']:%Y-%m}"
    months = dashboard(request).book().months
    return months[-1] if months else f"{clock.today():%Y-%m}"


def _page(
    request: Request, who: Any, lang: str, status_code: int = 200, error: str | None = None
) -> Response:
    dash = dashboard(request)
    store = request.app.state.store
    with store.read() as conn:
        files = imported_files(conn)
    month = _month(request, files)
    prices = dash.files.prices_file or None
    rec = reconcile_store(
        store,
        dash.community,
        month,
        prices_csv=prices,
        assumed_price_eur_per_mwh=None if prices else ASSUMED_PRICE_EUR_PER_MWH,
        lang=lang,
    )
    return render_page(
        request,
        "page_distributor.html",
        lang,
        status_code=status_code,
        who=who,
        community=dash.community,
        month=month,
        rec=rec,
        mix=mix_text(rec.mix, lang) if rec.mix else "",
        files=files[:50],
        pods=sorted(dash.community.all_pods),
        directions=DIRECTIONS,
        error=error,
        imported=request.query_params.get("imported"),
        max_files=MAX_FILES,
    )


def distributor_page(request: Request) -> Response:
    """``GET /community/distributor``: reconciliation and imports for staff, the 404 page for anybody else."""
    lang = resolve_lang(request)
    who, refused = staff_only(request, lang, "community:distributor")
    if refused is not None:
        return refused
    return _page(request, who, lang)


async def distributor_post(request: Request) -> Response:
    """``POST /community/distributor``: import uploaded portal exports (``files``, ``pod``, ``direction``)."""
    lang = resolve_lang(request)
    who, refused = staff_only(request, lang, "community:distributor")
    if refused is not None:
        return refused
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FILES * MAX_FILE_BYTES + 64 * 1024:
        return Response(
            f"upload larger than {MAX_FILES} files of {MAX_FILE_BYTES // 2**20} MiB", status_code=413
        )
    form = await request.form(max_files=MAX_FILES, max_fields=4)
    try:
        if not csrf.session_ok(request, str(form.get(csrf.CSRF_FIELD) or "")):
            return csrf_refused(request, lang, "distributor", who.username)
        uploads = [u for u in form.getlist("files") if isinstance(u, UploadFile) and u.filename]
        pod, direction = str(form.get("pod") or "").strip(), str(form.get("direction") or "").strip()
        if not uploads:
            return _page(request, who, lang, 400, "choose at least one file exported from the portal")
        with tempfile.TemporaryDirectory(prefix="condivisa-upload-") as tmp:
            paths = []
            for k, up in enumerate(uploads):
                data = await up.read(MAX_FILE_BYTES + 1)
                if len(data) > MAX_FILE_BYTES:
                    return Response(
                        f"{up.filename}: larger than {MAX_FILE_BYTES // 2**20} MiB", status_code=413
                    )
                safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(up.filename or "").name)
                path = Path(tmp) / f"{k:02d}-{safe or 'export.csv'}"
                path.write_bytes(data)
                paths.append(path)
            try:
                outcomes = import_files(
                    request.app.state.store,
                    paths,
                    known_pods=request.app.state.store.known_pods(),
                    pod=pod or None,
                    direction=direction if direction in DIRECTIONS else None,
                    imported_by=who.username,
                    now=clock.now(),
                )
            except DistributorImportError as exc:
                message = str(exc).replace(tmp + "/", "")
                return _page(request, who, lang, 400, f"{message} — nothing was imported")
    finally:
        await form.close()
    session.audit(request, who, IMPORT_AUDIT, f"distributor:{pod}"[:256], {"files": len(outcomes)})
    stored = sum(o.new + o.restated for o in outcomes)
    return RedirectResponse(f"/community/distributor?imported={stored}", status_code=303)
