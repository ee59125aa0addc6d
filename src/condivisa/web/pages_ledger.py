"""The referente's GSE ledger page: ``/community/ledger`` (expected vs received per month, the yearly
balance, the recorded entries and a form to record one), ``POST /community/ledger`` (the form, with the
per-session anti-CSRF token and one optional document) and ``/community/ledger/{id}/document`` (the document
attached to an entry).

Rules implemented:

- staff only (referente, admin): anybody else, and an entry that does not exist or belongs to another
  community, gets the same 404 page; refusals are audited (``access_denied``);
- the form is refused with 403 (audited) without the right anti-CSRF token (:mod:`condivisa.web.csrf`) and
  with 413 when the upload is larger than the document limit (5 MiB) plus the form's fields; a malformed
  entry stores nothing and the page says which field and how to fix it (400);
- the figures are :func:`condivisa.billing.ledger_report.ledger_view` of the dashboard's settled months
  (as of today, :mod:`condivisa.kernel.clock`).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import UploadFile

from condivisa.billing.ledger import (
    KINDS,
    MAX_DOCUMENT_BYTES,
    LedgerError,
    entry_document,
    list_entries,
    make_entry,
    read_document,
    record_entry,
)
from condivisa.billing.ledger_report import ledger_totals, ledger_view
from condivisa.domain.gse_calendar import DEFAULT_PAYMENT_DAYS
from condivisa.kernel import clock
from condivisa.store.auth_tables import AuditAction
from condivisa.web import csrf, session
from condivisa.web.pages import dashboard, not_found, render_page, resolve_lang, staff_only
from condivisa.web.pages_session import csrf_refused

#: the form's text fields
FIELDS = ("kind", "month", "year", "amount", "paid_on", "communicated_on", "due_on", "reference", "note")
#: room for the form's text fields and multipart framing on top of the document
FORM_OVERHEAD_BYTES = 64 * 1024


def _page(
    request: Request,
    who: Any,
    lang: str,
    status_code: int = 200,
    error: str | None = None,
    form: dict | None = None,
) -> Response:
    dash = dashboard(request)
    store = request.app.state.store
    try:
        entries = list_entries(store, dash.community.name)
    except DBAPIError:  # a database without the ledger table: say so on the page
        entries, error = [], error or "the GSE ledger table is missing: run `condivisa db upgrade`"
    rows = ledger_view(entries, dash.book(), clock.today())
    return render_page(
        request,
        "page_ledger.html",
        lang,
        status_code=status_code,
        who=who,
        community=dash.community,
        rows=rows,
        totals=ledger_totals(rows),
        entries=entries,
        kinds=KINDS,
        error=error,
        form=form or {},
        recorded=request.query_params.get("recorded"),
        max_document_mib=MAX_DOCUMENT_BYTES // 2**20,
        payment_days=DEFAULT_PAYMENT_DAYS,
    )


def ledger_page(request: Request) -> Response:
    """``GET /community/ledger``: the ledger for staff, the 404 page for anybody else."""
    lang = resolve_lang(request)
    who, refused = staff_only(request, lang, "community:ledger")
    if refused is not None:
        return refused
    return _page(request, who, lang)


async def ledger_post(request: Request) -> Response:
    """``POST /community/ledger``: record an entry (multipart form, optional ``document`` file)."""
    lang = resolve_lang(request)
    who, refused = staff_only(request, lang, "community:ledger")
    if refused is not None:
        return refused
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES + FORM_OVERHEAD_BYTES:
        return Response(f"form larger than {MAX_DOCUMENT_BYTES // 2**20} MiB", status_code=413)
    form = await request.form(max_files=1, max_fields=len(FIELDS) + 2)
    try:
        if not csrf.session_ok(request, str(form.get(csrf.CSRF_FIELD) or "")):
            return csrf_refused(request, lang, "ledger", who.username)
        values = {k: str(form.get(k) or "").strip() for k in FIELDS}
        upload = form.get("document")
        try:
            doc = None
            if isinstance(upload, UploadFile) and upload.filename:
                data = await upload.read(MAX_DOCUMENT_BYTES + 1)
                doc = read_document(upload.filename, data)
            entry = make_entry(
                dashboard(request).community.name,
                kind=values["kind"],
                amount=values["amount"],
                month=values["month"] or None,
                year=values["year"] or None,
                paid_on=values["paid_on"] or None,
                communicated_on=values["communicated_on"] or None,
                due_on=values["due_on"] or None,
                reference=values["reference"] or None,
                note=values["note"] or None,
                document=doc,
            )
            out = record_entry(request.app.state.store, entry, doc, actor=who.username)
        except LedgerError as exc:
            return _page(request, who, lang, status_code=400, error=str(exc), form=values)
    finally:
        await form.close()
    return RedirectResponse(f"/community/ledger?recorded={out.entry_id}", status_code=303)


def ledger_document(entry_id: str, request: Request) -> Response:
    """``GET /community/ledger/{entry_id}/document``: the attached file, for staff (audited); 404 otherwise."""
    lang = resolve_lang(request)
    who, refused = staff_only(request, lang, f"community:ledger:{entry_id}"[:256])
    if refused is not None:
        return refused
    doc = None
    if entry_id.isdigit() and len(entry_id) < 12:
        doc = entry_document(request.app.state.store, dashboard(request).community.name, int(entry_id))
    if doc is None:
        return not_found(request, lang, who)
    session.audit(request, who, AuditAction.DATA_EXPORT, f"ledger:{entry_id}", {"sha256": doc.sha256})
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in doc.name) or "document"
    return Response(
        doc.data,
        media_type=doc.content_type or "application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
