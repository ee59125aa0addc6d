"""Reading HTTP request bodies: size limit and ``Content-Encoding: gzip`` (RFC 9110 §8.4), bounded so that a
small compressed body cannot expand into gigabytes (a "gzip bomb")."""

from __future__ import annotations

import zlib

from fastapi import HTTPException, Request, status


class BodyError(HTTPException):
    """A body the platform will not read: too large (413), unsupported or broken encoding (415/400)."""


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, gunzipped when ``Content-Encoding: gzip``; at most ``max_bytes`` after decompression."""
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
            raise BodyError(status.HTTP_413_CONTENT_TOO_LARGE, f"body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip"):
        raise BodyError(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"Content-Encoding {encoding!r}: only gzip is accepted"
        )
    return gunzip_bounded(raw, max_bytes)


def gunzip_bounded(raw: bytes, max_bytes: int) -> bytes:
    """Decompress a gzip member, refusing output larger than ``max_bytes`` (413) and corrupt data (400)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, max_bytes + 1)
    except zlib.error as exc:
        raise BodyError(
            status.HTTP_400_BAD_REQUEST, f"Content-Encoding gzip: body is not valid gzip ({exc})"
        ) from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise BodyError(
            status.HTTP_413_CONTENT_TOO_LARGE, f"gzip body expands beyond the limit of {max_bytes} bytes"
        )
    if not inflater.eof:
        raise BodyError(status.HTTP_400_BAD_REQUEST, "Content-Encoding gzip: body is truncated")
    return out
