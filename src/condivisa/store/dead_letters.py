"""Dead letters at the storage boundary: what is kept of a rejected payload, and bounded listings.

Rules implemented (issue #13, finding 8, resource exhaustion):

- whatever the caller passes, at most :data:`MAX_DEAD_LETTER_BYTES` (64 KiB) of a payload are stored — its
  first bytes, enough to diagnose the rejection — with its original size (``payload_bytes``) and, when it was
  cut, one more reason ``{"path": "$", "reason": "payload truncated: ..."}``; a gzip body is stored as sent
  (compressed), never inflated here;
- at most :data:`MAX_REASONS` reasons of at most :data:`MAX_REASON_CHARS` characters are kept (a message of
  10,000 bad lines must not store 10,000 reasons);
- a listing is a page (newest first, ``before_id`` as the cursor) with at most :data:`MAX_PREVIEW_BYTES` of
  each payload, cut by the database (``substr``) so a listing never loads whole payloads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from condivisa.store.models import DeadLetter

#: bytes of a rejected payload that are stored; the rest is dropped (``payload_bytes`` keeps the size)
MAX_DEAD_LETTER_BYTES = 64 * 1024
#: reasons kept per dead letter, and characters per reason text or path
MAX_REASONS = 200
MAX_REASON_CHARS = 500
#: at most this many bytes of each payload in a listing (:func:`select_dead_letters`)
MAX_PREVIEW_BYTES = 64 * 1024
#: the reason added to a payload cut at :data:`MAX_DEAD_LETTER_BYTES`
TRUNCATED = "payload truncated: the first {kept} of {size} bytes are kept"


def bounded_reasons(reasons: list[dict], truncated_from: int | None = None) -> list[dict]:
    """``reasons`` cut to :data:`MAX_REASONS` entries of bounded text (a last entry says how many were
    dropped), plus the truncation reason when the payload of ``truncated_from`` bytes was cut."""
    out: list[dict] = []
    for r in list(reasons or [])[:MAX_REASONS]:
        if isinstance(r, dict):
            out.append({str(k)[:64]: _cut(v) for k, v in list(r.items())[:8]})
        else:
            out.append({"path": "$", "reason": _cut(r)})
    if len(reasons or []) > MAX_REASONS:
        out.append({"path": "$", "reason": f"{len(reasons) - MAX_REASONS} more reasons not kept"})
    if truncated_from is not None:
        out.append({"path": "$", "reason": TRUNCATED.format(kept=MAX_DEAD_LETTER_BYTES, size=truncated_from)})
    return out


def _cut(value: object) -> object:
    if isinstance(value, str):
        return value[:MAX_REASON_CHARS]
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return str(value)[:MAX_REASON_CHARS]


def dead_letter_values(
    payload: bytes | bytearray | memoryview,
    reasons: list[dict],
    *,
    source: str,
    device_id: str | None,
    received_at: dt.datetime,
    community: str | None = None,
) -> dict[str, Any]:
    """The ``dead_letters`` row of a rejected payload: at most :data:`MAX_DEAD_LETTER_BYTES` of it, its
    original size and its bounded reasons; ``community`` is the sender's (its MQTT topic's), None when
    unknown."""
    size = len(payload)
    truncated = size > MAX_DEAD_LETTER_BYTES
    return {
        "received_at": received_at,
        "source": source[:200],
        "device_id": device_id[:64] if device_id else None,
        "payload": bytes(payload[:MAX_DEAD_LETTER_BYTES]),
        "payload_bytes": size,
        "reasons": bounded_reasons(reasons, size if truncated else None),
        "community": community[:128] if community else None,
    }


def select_dead_letters(
    limit: int, *, before_id: int | None = None, with_payload: bool = True, payload_max: int | None = None
) -> sa.Select:
    """Newest first, ids below ``before_id`` (the cursor of the next page); ``payload`` cut to
    ``payload_max`` bytes in the database (``None``: :data:`MAX_PREVIEW_BYTES`), ``stored_bytes`` its stored
    length."""
    t = DeadLetter.__table__
    cols: list[Any] = [c for c in t.columns if c.name != "payload"]
    cols.append(sa.func.length(t.c.payload).label("stored_bytes"))
    if with_payload:
        n = MAX_PREVIEW_BYTES if payload_max is None else max(0, min(payload_max, MAX_PREVIEW_BYTES))
        cols.append(sa.type_coerce(sa.func.substr(t.c.payload, 1, n), sa.LargeBinary).label("payload"))
    q = sa.select(*cols).order_by(t.c.id.desc()).limit(max(0, limit))
    if before_id is not None:
        q = q.where(t.c.id < before_id)
    return q
