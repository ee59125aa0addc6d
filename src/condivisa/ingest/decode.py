"""The first two steps of ingestion (:mod:`condivisa.ingest.pipeline`): a payload's bytes to its document.

1. decode: gzip (magic ``1f 8b``) is inflated; at most :data:`MAX_PAYLOAD_BYTES` before and after; UTF-8 JSON
   (a BOM is tolerated; ``NaN``/``Infinity`` are not JSON and are refused);
2. unwrap: a bare ``{"UrbanDataset": ...}`` or an SCPS ``/push`` body ``{"resource_id", "dataset"}``.

A payload that cannot be read raises :class:`PayloadError` listing every problem, as JSON paths.
"""

from __future__ import annotations

import json
import zlib
from typing import NoReturn

import orjson

from condivisa.formats.urbandataset.types import FieldError

#: Largest payload accepted, compressed or inflated.
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024


class PayloadError(ValueError):
    """The payload cannot be read as an UrbanDataset message."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def clean_text(text: object, limit: int = 500) -> str:
    """Printable, bounded text for reasons/paths (they are stored and echoed back to devices)."""
    text = str(text)
    if not text.isprintable():  # the usual text (a topic, a reason) is printable already
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _inflate(raw: bytes) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, MAX_PAYLOAD_BYTES + 1)
    except zlib.error as exc:
        raise PayloadError([FieldError("$", f"gzip data is corrupt: {exc}")]) from None
    if len(out) > MAX_PAYLOAD_BYTES or d.unconsumed_tail:
        raise PayloadError([FieldError("$", f"inflated payload exceeds {MAX_PAYLOAD_BYTES} bytes")])
    return out


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def decode_payload(raw: bytes | bytearray | memoryview | str) -> tuple[object, str, str | None]:
    """``(document, path_root, resource_id)`` of a payload: the UrbanDataset document (any JSON value: the
    parser checks it), ``""`` or ``"dataset."`` as prefix of error paths, and the SCPS ``resource_id`` if the
    payload was a ``/push`` body."""
    data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadError([FieldError("$", f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}")])
    if data[:2] == b"\x1f\x8b":
        data = _inflate(data)
    try:  # fast path: orjson reads strict JSON (no NaN/Infinity, no BOM) 5-10x faster than json
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:  # anything else takes the slow path, for its exact error message
        doc = _json_slow(data)
    if isinstance(doc, dict) and "dataset" in doc and "UrbanDataset" not in doc:
        return _unwrap_push(doc)
    return doc, "", None


def _json_slow(data: bytes) -> object:
    """``data`` read by the standard library's json (a BOM tolerated), or :class:`PayloadError` with the
    position of the first problem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PayloadError([FieldError("$", f"not UTF-8 text (byte {exc.start})")]) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            [FieldError("$", f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
        ) from None
    except (ValueError, RecursionError) as exc:
        raise PayloadError(
            [FieldError("$", f"invalid JSON: {type(exc).__name__}: {clean_text(exc, 200)}")]
        ) from None


def _unwrap_push(doc: dict[str, object]) -> tuple[object, str, str | None]:
    """The UrbanDataset inside an SCPS ``/push`` body ``{"resource_id", "dataset"}``."""
    extra = sorted(set(doc) - {"resource_id", "dataset"})
    errors = [
        FieldError(clean_text(k, 100), "key not allowed in an SCPS /push body (resource_id, dataset)")
        for k in extra
    ]
    resource_id = doc.get("resource_id")
    if resource_id is not None and not isinstance(resource_id, str):
        errors.append(FieldError("resource_id", "must be a string"))
    dataset = doc["dataset"]
    if isinstance(dataset, str):  # some clients send the dataset JSON-encoded once more
        try:
            dataset = json.loads(dataset, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            errors.append(FieldError("dataset", "a string that is not a JSON UrbanDataset"))
    if errors:
        raise PayloadError(errors)
    return dataset, "dataset.", resource_id if isinstance(resource_id, str) else None
