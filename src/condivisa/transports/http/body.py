"""Reading HTTP request bodies: size limit, ``Content-Encoding: gzip`` (RFC 9110 §8.4) and, for the push
routes, ``Content-Type: application/json``.

A gzip body is inflated in a worker thread (not on the event loop), piece by piece with a bounded output, so
that a small compressed body cannot expand into gigabytes (a "gzip bomb"): it is refused as soon as its output
passes ``max_bytes``, or passes :data:`GZIP_RATIO_FLOOR_BYTES` while being more than :data:`MAX_GZIP_RATIO`
times the compressed size (real UrbanDatasets compress 15-25 times).

A refused body carries, in :attr:`BodyError.head`, at most :data:`REFUSED_HEAD_BYTES` of what was read
(decoded when it could be): what the platform keeps of it as a dead letter, never the whole body.
"""

from __future__ import annotations

import zlib

from fastapi import HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

#: how much of a refused body is kept (as a dead letter): the first 64 KiB
REFUSED_HEAD_BYTES = 64 * 1024
#: a gzip body whose output is over :data:`GZIP_RATIO_FLOOR_BYTES` and over this many times its compressed
#: size is a bomb
MAX_GZIP_RATIO = 200
GZIP_RATIO_FLOOR_BYTES = 1024 * 1024
#: compressed bytes fed to the inflater at a time
_INFLATE_STEP_BYTES = 64 * 1024
#: the media types a push may declare (parameters such as ``charset`` are ignored)
JSON_MEDIA_TYPES = frozenset({"application/json"})


class BodyError(HTTPException):
    """A body the platform will not read: too large (413), unsupported type or encoding (415), broken gzip
    (400). ``head`` is at most :data:`REFUSED_HEAD_BYTES` of it, for the dead letter."""

    def __init__(self, status_code: int, detail: str, head: bytes = b"") -> None:
        super().__init__(status_code, detail)
        self.head = head[:REFUSED_HEAD_BYTES]


def _encoding(request: Request) -> str:
    return request.headers.get("content-encoding", "identity").strip().lower()


async def _read_raw(request: Request, max_bytes: int) -> bytes:
    """The body as sent, at most ``max_bytes`` (413 beyond, declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyError(
            status.HTTP_413_CONTENT_TOO_LARGE, f"body of {declared} bytes exceeds the limit of {max_bytes}"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            head = b"".join(chunks)
            raise BodyError(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"body exceeds the limit of {max_bytes} bytes",
                head if _encoding(request) in ("", "identity") else b"",
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, gunzipped (in a worker thread) when ``Content-Encoding: gzip``; at most ``max_bytes``
    after decompression. Raises :class:`BodyError`."""
    raw = await _read_raw(request, max_bytes)
    encoding = _encoding(request)
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip"):
        raise BodyError(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"Content-Encoding {encoding!r}: only gzip is accepted"
        )
    return await run_in_threadpool(gunzip_bounded, raw, max_bytes)


async def read_json_body(request: Request, max_bytes: int) -> bytes:
    """:func:`read_body` for a push: the body must also be declared ``Content-Type: application/json`` (415
    otherwise: a browser sends a cross-site ``text/plain`` or form POST without asking, never a JSON one)."""
    body = await read_body(request, max_bytes)
    declared = request.headers.get("content-type", "")
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        shown = f"Content-Type {declared[:100]!r}" if declared else "no Content-Type"
        raise BodyError(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"{shown}: a push must be sent as Content-Type: application/json "
            "(gzip it with Content-Encoding: gzip)",
            body,
        )
    return body


def gunzip_bounded(raw: bytes, max_bytes: int) -> bytes:
    """Decompress a gzip member piece by piece, refusing (413) output larger than ``max_bytes`` or expanding
    more than :data:`MAX_GZIP_RATIO` times past :data:`GZIP_RATIO_FLOOR_BYTES`, and corrupt or truncated data
    (400). The error's ``head`` is the first output."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    limit = min(max_bytes, max(GZIP_RATIO_FLOOR_BYTES, MAX_GZIP_RATIO * len(raw)))
    out: list[bytes] = []
    size = 0
    pending = memoryview(raw)
    while pending or inflater.unconsumed_tail:
        data = inflater.unconsumed_tail or bytes(pending[:_INFLATE_STEP_BYTES])
        if not inflater.unconsumed_tail:
            pending = pending[_INFLATE_STEP_BYTES:]
        try:
            piece = inflater.decompress(data, limit - size + 1)
        except zlib.error as exc:
            raise BodyError(
                status.HTTP_400_BAD_REQUEST,
                f"Content-Encoding gzip: body is not valid gzip ({exc})",
                b"".join(out),
            ) from None
        size += len(piece)
        out.append(piece)
        if size > limit:
            raise BodyError(status.HTTP_413_CONTENT_TOO_LARGE, _too_large(limit, max_bytes, raw), _head(out))
        if inflater.eof:
            break
    if not inflater.eof:
        raise BodyError(status.HTTP_400_BAD_REQUEST, "Content-Encoding gzip: body is truncated", _head(out))
    return b"".join(out)


def _head(pieces: list[bytes]) -> bytes:
    head = bytearray()
    for piece in pieces:
        head += piece[: REFUSED_HEAD_BYTES - len(head)]
        if len(head) >= REFUSED_HEAD_BYTES:
            break
    return bytes(head)


def _too_large(limit: int, max_bytes: int, raw: bytes) -> str:
    if limit >= max_bytes:
        return f"gzip body expands beyond the limit of {max_bytes} bytes"
    return (
        f"gzip body of {len(raw)} bytes expands beyond {limit} bytes (more than {MAX_GZIP_RATIO} times): "
        "refused as a gzip bomb"
    )
