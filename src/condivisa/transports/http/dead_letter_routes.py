"""``GET /api/v1/dead-letters``: the rejected payloads with their reasons, newest first, in bounded pages
(issue #13, finding 8: a listing of 1,000 letters once answered 29 MB)."""

from __future__ import annotations

import base64
import codecs
from typing import Annotated, Any

from fastapi import HTTPException, Query, Request, Response, status

from condivisa.transports.http.jsonable import records
from condivisa.transports.http.scope import request_scope

#: the largest dead-letter id a query may name (a 64-bit database integer, with room for ``id + 1``)
MAX_ID = 2**62


def dead_letters(
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="cursor: only ids below this one")
    ] = None,
    id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="one dead letter, with its whole stored payload")
    ] = None,
    payload: Annotated[bool, Query(description="include each payload's first bytes")] = True,
) -> list[dict[str, Any]]:
    """The most recent rejected payloads with their reasons and source, newest first, in pages: at most
    ``limit`` letters and about :data:`DEAD_LETTERS_PAGE_BYTES` of JSON; the next page is
    ``?before_id=`` the ``X-Next-Before-Id`` header (absent on the last page). Each payload is given as
    ``payload_text`` when it is UTF-8, else as ``payload_base64``: its first
    :data:`DEAD_LETTER_PREVIEW_BYTES` (``payload_truncated`` says when there is more); ``?id=N`` gives one
    letter with everything stored of it (at most 64 KiB: larger payloads are cut when stored,
    ``payload_bytes`` is the original size)."""
    store = request.app.state.store
    scope = request_scope(request)
    communities = (
        None if scope.every_community else (scope.community, *([None] if scope.include_unscoped else []))
    )
    if id is not None:
        letter = store.dead_letters(
            1, before_id=id + 1, payload_max=DEAD_LETTER_MAX_BYTES, communities=communities
        )
        if not letter or letter[0]["id"] != id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
        return records([_letter_out(letter[0], DEAD_LETTER_MAX_BYTES)])
    rows = store.dead_letters(
        limit,
        before_id=before_id,
        with_payload=payload,
        payload_max=DEAD_LETTER_PREVIEW_BYTES + 1,
        communities=communities,
    )
    out: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        item = _letter_out(row, DEAD_LETTER_PREVIEW_BYTES)
        size += len(repr(item))
        if out and size > DEAD_LETTERS_PAGE_BYTES:
            break
        out.append(item)
    if out and (len(out) < len(rows) or len(rows) == limit):
        response.headers["X-Next-Before-Id"] = str(out[-1]["id"])
    return records(out)


#: payload bytes of each letter in a listing, of one letter (``?id=``), and JSON bytes of a page, about
DEAD_LETTER_PREVIEW_BYTES = 16 * 1024
DEAD_LETTER_MAX_BYTES = 64 * 1024
DEAD_LETTERS_PAGE_BYTES = 1024 * 1024
#: reasons of each letter in a listing (``reasons_total`` counts them all)
DEAD_LETTER_REASONS = 20


def _letter_out(row: dict[str, Any], preview: int) -> dict[str, Any]:
    """A dead-letter row for the JSON answer: the payload as text or base64, cut to ``preview`` bytes."""
    raw = row.pop("payload", None)
    reasons = row.get("reasons") or []
    if isinstance(reasons, list) and len(reasons) > DEAD_LETTER_REASONS:
        row["reasons"] = reasons[:DEAD_LETTER_REASONS]
    row["reasons_total"] = len(reasons) if isinstance(reasons, list) else 1
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        row["payload_truncated"] = len(raw) > preview or row.get("payload_bytes", 0) > len(raw)
        raw = raw[:preview]
        try:  # a cut payload may end inside a character: that character is left out
            decoder = codecs.getincrementaldecoder("utf-8")()
            row["payload_text"] = decoder.decode(raw, final=not row["payload_truncated"])
        except UnicodeDecodeError:
            row["payload_base64"] = base64.b64encode(raw).decode("ascii")
    return row
