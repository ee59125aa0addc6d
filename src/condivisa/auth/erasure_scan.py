"""Does a stored payload mention an erased member? Read it the ways a person could, within a memory bound.

Rules implemented (issue #13, findings 8 and 9):

- a gzip or zlib payload (also gzip inside gzip, and multi-member gzip) is inflated **incrementally**
  (``zlib.decompressobj`` with ``max_length``), :data:`CHUNK_BYTES` at a time: memory stays bounded whatever
  the payload inflates to; after :data:`INSPECT_MAX_BYTES` of inflated content the payload is
  *uninspectable* (:class:`Uninspectable`) and the caller must treat it as mentioning the member;
- the content is searched window by window (each window overlaps the previous one by
  :data:`OVERLAP_BYTES`, so a code across two windows is found) as text decoded as Latin-1/UTF-8, UTF-16
  and UTF-32 (both byte orders, any alignment), Unicode-normalised (NFKC) and case-folded, then with JSON
  escapes (``\\u0030``, ``\\"``), percent escapes (``%30``) and HTML character references undone again and
  again (a JSON string inside a JSON string, as an SCPS ``dataset`` may be, is escaped twice);
- a needle matches anywhere, also inside a longer code (``DU-0001`` in ``DU-00012``): when erasing, deleting
  one dead letter too many is the safe mistake.
"""

from __future__ import annotations

import html
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator
from urllib.parse import unquote

#: inflated bytes examined per payload, at most; beyond: :class:`Uninspectable`
INSPECT_MAX_BYTES = 16 * 1024 * 1024
#: bytes inflated (and searched) at a time
CHUNK_BYTES = 256 * 1024
#: how much of the previous window the next one repeats (a multiple of 4, for UTF-16/32 alignment)
OVERLAP_BYTES = 8 * 1024
#: gzip inside gzip: levels inflated at most (deeper: :class:`Uninspectable`)
MAX_DEPTH = 4
#: escape-undoing passes per window (each pass undoes one level of JSON-in-JSON)
MAX_UNESCAPE_PASSES = 6

_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_JSON_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class Uninspectable(Exception):
    """The payload could not be read whole within :data:`INSPECT_MAX_BYTES` (or :data:`MAX_DEPTH`)."""


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise Uninspectable(f"inflates beyond {INSPECT_MAX_BYTES} bytes")


def _compressed(head: bytes) -> bool:
    """gzip (RFC 1952 magic) or zlib (RFC 1950 header: CM 8, FCHECK, and its first bytes inflate) data."""
    if head[:2] == b"\x1f\x8b":
        return True
    if len(head) < 2 or head[0] & 0x0F != 8 or head[0] >> 4 > 7 or (head[0] * 256 + head[1]) % 31:
        return False
    try:
        zlib.decompressobj().decompress(head[:64], 16)
    except zlib.error:
        return False
    return True


def _slices(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for i in range(0, len(view), CHUNK_BYTES):
        yield bytes(view[i : i + CHUNK_BYTES])


def _inflate(chunks: Iterator[bytes], budget: _Budget) -> Iterator[bytes]:
    """Inflate a gzip/zlib stream given in pieces, :data:`CHUNK_BYTES` of output at a time; members that
    follow the first are inflated too, trailing bytes that are not a stream are passed through; a corrupt
    stream ends where it breaks (no one can read past that point)."""
    d = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
    pending = b""
    while True:
        if not pending:
            nxt = next(chunks, None)
            if nxt is None:
                while out := d.decompress(b"", CHUNK_BYTES):
                    budget.take(len(out))
                    yield out
                return
            pending = nxt
        try:
            out = d.decompress(pending, CHUNK_BYTES)
        except zlib.error:
            return
        pending = d.unconsumed_tail
        if out:
            budget.take(len(out))
            yield out
        if d.eof:
            rest = d.unused_data + pending
            if rest and not _compressed(rest[:64]):
                yield rest
                yield from chunks
                return
            d, pending = zlib.decompressobj(zlib.MAX_WBITS | 32), rest


def content(payload: bytes, budget_bytes: int = INSPECT_MAX_BYTES) -> Iterator[bytes]:
    """The payload's content in pieces: inflated (level after level) when it is gzip/zlib, else as is."""
    budget = _Budget(budget_bytes)
    stream: Iterator[bytes] = _slices(payload)
    for _ in range(MAX_DEPTH + 1):
        first = next(stream, b"")
        while len(first) < 64:  # the first bytes decide: gather some
            more = next(stream, None)
            if more is None:
                break
            first += more
        if not _compressed(first[:64]):
            yield first
            yield from stream
            return
        stream = _inflate(_chain(first, stream), budget)
    raise Uninspectable(f"compressed more than {MAX_DEPTH} times")


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def needle_pattern(needles: Iterable[str]) -> re.Pattern[str] | None:
    """One regular expression finding any of ``needles`` (normalised, case-folded)."""
    words = sorted({_normal(n) for n in needles if n and n.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(alternatives)


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _texts(window: bytes) -> Iterator[str]:
    yield window.decode("latin-1")
    yield window.decode("utf-8", "ignore")
    for offset in (0, 1):
        yield window[offset:].decode("utf-16-le", "ignore")
    for offset in (0, 1, 2, 3):
        yield window[offset:].decode("utf-32-le", "ignore")
        yield window[offset:].decode("utf-32-be", "ignore")


def _unescape_once(text: str) -> str:
    text = _JSON_ESCAPE.sub(lambda m: _JSON_SIMPLE.get(m[1]) or chr(int(m[1][1:], 16)), text)
    if "%" in text:
        text = unquote(text, errors="ignore")
    if "&" in text:
        text = html.unescape(text)
    return text


def text_mentions(text: str, pattern: re.Pattern[str]) -> bool:
    """``pattern`` found in ``text`` as written or with its escapes undone, level after level."""
    for _ in range(MAX_UNESCAPE_PASSES + 1):
        normal = _normal(text)
        if pattern.search(normal):
            return True
        undone = _unescape_once(normal)
        if undone == normal:
            return False
        text = undone
    return False


def mentions(payload: bytes, pattern: re.Pattern[str] | None, budget_bytes: int = INSPECT_MAX_BYTES) -> bool:
    """True when the payload (inflated, decoded, unescaped: see the module docstring) contains a needle of
    ``pattern``; raises :class:`Uninspectable` when it cannot be read whole within ``budget_bytes``."""
    if pattern is None or not payload:
        return False
    payload = bytes(payload)
    if _compressed(payload[:64]) and _search(_slices(payload), pattern):  # as stored, too
        return True
    return _search(content(payload, budget_bytes), pattern)


def _search(pieces: Iterable[bytes], pattern: re.Pattern[str]) -> bool:
    tail = b""
    for piece in pieces:
        for start in range(0, len(piece), CHUNK_BYTES):
            window = tail + piece[start : start + CHUNK_BYTES]
            if any(text_mentions(t, pattern) for t in _texts(window)):
                return True
            tail = window[-OVERLAP_BYTES:]
    return False
