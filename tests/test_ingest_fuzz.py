"""Fuzz: ``ingest_payload`` never raises on arbitrary input; every rejection has reasons and a dead letter
holding the exact raw bytes; every acceptance accounts for every reading (stored + duplicates + revised)."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.ingest.pipeline import IngestResult, ingest_payload
from condivisa.store.dead_letters import MAX_DEAD_LETTER_BYTES, bounded_reasons
from condivisa.store.store import Store

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
NOW = dt.datetime(2025, 6, 2, tzinfo=UTC)
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def store(db_store):
    return db_store  # SQLite and PostgreSQL (conftest)


def valid_doc() -> dict:
    rows = [
        {
            "du_id": f"DU-000{k}",
            "pod": f"IT001E0000000{k}",
            "start": T0 + dt.timedelta(minutes=15 * i),
            "withdrawn_kwh": 0.25,
            "injected_kwh": 0.0,
            "withdrawn_total_kwh": 100 + 0.25 * i,
            "injected_total_kwh": 1.0,
        }
        for k in (1, 2)
        for i in range(2)
    ]
    return build_m1_dataset(rows, producer_id="p", timestamp=NOW)


def check(store: Store, raw: bytes) -> IngestResult:
    before = store.counts()
    res = ingest_payload(store, raw, source="fuzz", received_at=NOW)
    assert isinstance(res, IngestResult)
    json.dumps(res.to_dict())
    after = store.counts()
    if res.accepted:
        assert res.rejected == [] and res.dead_letter_id is None
        assert res.stored + res.duplicates + res.revised == res.readings
        assert after["measurements"] == before["measurements"] + res.stored
    else:
        assert res.rejected and all(r.path and r.reason for r in res.rejected)
        assert after["measurements"] == before["measurements"]
        assert after["dead_letters"] == before["dead_letters"] + 1
        letter = store.dead_letter(res.dead_letter_id)
        assert letter["payload"] == raw[:MAX_DEAD_LETTER_BYTES] and letter["payload_bytes"] == len(raw)
        cut = len(raw) if len(raw) > MAX_DEAD_LETTER_BYTES else None
        assert letter["reasons"] == bounded_reasons([r.to_dict() for r in res.rejected], cut)
    return res


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes(store, raw):
    check(store, raw)


@FUZZ
@given(value=json_values)
def test_arbitrary_json(store, value):
    raw = json.dumps(value).encode()
    check(store, raw)
    check(store, gzip.compress(raw))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


DOC_PATHS = [p for p in _paths(valid_doc()) if p]


@FUZZ
@given(
    path=st.sampled_from(DOC_PATHS),
    value=json_values | st.sampled_from(["-1", "1,5", "2030-01-01T00:00:00", "UTC+9", "", "IT999"]),
    delete=st.booleans(),
)
def test_mutated_valid_documents(store, path, value, delete):
    doc = valid_doc()
    node = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    check(store, json.dumps(doc).encode())


@FUZZ
@given(wrap=st.sampled_from(["push", "push-string", "push-extra", "bom", "nan"]))
def test_wrappers(store, wrap):
    text = json.dumps(valid_doc())
    raw = {
        "push": '{"resource_id": "r", "dataset": ' + text + "}",
        "push-string": json.dumps({"resource_id": "r", "dataset": text}),
        "push-extra": '{"resource_id": "r", "x": 1, "dataset": ' + text + "}",
        "bom": "\ufeff" + text,
        "nan": text.replace('"latitude": 0.0', '"latitude": NaN'),
    }[wrap].encode()
    res = check(store, raw)
    assert res.accepted == (wrap in ("push", "push-string", "bom"))


def test_deeply_nested_json_is_rejected_not_raised(store):
    raw = b"[" * 100_000 + b"]" * 100_000
    res = check(store, raw)
    assert not res.accepted and res.rejected[0].path == "$"


def test_gzip_bomb_is_refused(store):
    raw = gzip.compress(b" " * (64 * 1024 * 1024))  # 64 MiB of spaces, ~64 KiB compressed
    res = check(store, raw)
    assert not res.accepted and "exceeds" in res.rejected[0].reason
