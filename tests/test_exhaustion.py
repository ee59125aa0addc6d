"""Resource exhaustion at the storage boundary (#13, finding 8): every dead letter is cut at storage whatever
the caller passes, listings are bounded pages, and a GDPR erasure reads stored gzip bombs with bounded
memory. Real SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import tracemalloc

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from condivisa.app.http_app import create_app
from condivisa.app.settings import Settings
from condivisa.auth.privacy import erase_member
from condivisa.domain.config import load_community
from condivisa.ingest.pipeline import ingest_payload
from condivisa.store.dead_letters import MAX_DEAD_LETTER_BYTES, MAX_REASONS
from condivisa.store.models import DeadLetter
from condivisa.store.store import Store
from condivisa.transports.http.dead_letter_routes import DEAD_LETTER_PREVIEW_BYTES

MiB = 1024 * 1024
KEY = bytes(range(32))
POD = "IT001E00000001"


@pytest.fixture
def store(db_url, example_community_path):
    s = Store(db_url)
    s.upgrade()
    s.community = load_community(example_community_path)
    s.register_devices(s.community)
    yield s
    s.close()


def stored_size(store: Store, letter_id: int) -> int:
    t = DeadLetter.__table__
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.length(t.c.payload)).where(t.c.id == letter_id)).scalar_one()


def test_a_15_mib_dead_letter_is_cut_at_storage_with_its_size_and_reason(store):
    big = b"{" + b" " * (15 * MiB)
    letter_id = store.add_dead_letter(big, [{"path": "$", "reason": "too large"}], source="test")
    letter = store.dead_letter(letter_id)
    assert stored_size(store, letter_id) == MAX_DEAD_LETTER_BYTES <= 64 * 1024
    assert letter["payload_bytes"] == len(big) and bytes(letter["payload"]) == big[:MAX_DEAD_LETTER_BYTES]
    assert letter["reasons"][0] == {"path": "$", "reason": "too large"}
    assert "truncated" in letter["reasons"][-1]["reason"] and str(len(big)) in letter["reasons"][-1]["reason"]
    # a small one is kept whole, with no extra reason
    small = store.dead_letter(store.add_dead_letter(b"{oops", [{"path": "$", "reason": "x"}], source="t"))
    assert bytes(small["payload"]) == b"{oops" and small["reasons"] == [{"path": "$", "reason": "x"}]


def test_a_30_mib_payload_through_ingest_and_10000_reasons_are_bounded(store):
    """What an MQTT worker would hand over (a 30 MiB payload): refused and stored cut; a message of
    many bad lines does not store every reason."""
    res = ingest_payload(store, b" " * (30 * MiB), source="mqtt:test", device_id="DU-0001")
    assert not res.accepted
    assert stored_size(store, res.dead_letter_id) <= MAX_DEAD_LETTER_BYTES
    assert store.dead_letter(res.dead_letter_id)["payload_bytes"] == 30 * MiB
    many = [{"path": f"$.values[{i}]", "reason": "x" * 2000} for i in range(10_000)]
    letter = store.dead_letter(store.add_dead_letter(b"{}", many, source="t"))
    assert len(letter["reasons"]) == MAX_REASONS + 1 and len(letter["reasons"][0]["reason"]) <= 500


def test_listing_of_1000_big_letters_stays_small_and_pages(store, db_url, example_community_path):
    payload = b"x" * (64 * 1024)
    with store.engine.begin() as conn:
        ids = [store.add_dead_letter(payload, [], source="t", conn=conn) for _ in range(1000)]
    settings = Settings(
        database_url=db_url, community="cer-test", api_auth_required=False, allowed_hosts=["testserver"]
    )
    app = create_app(settings, store=store, community=store.community)
    with TestClient(app) as c:
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            url = "/api/v1/dead-letters?limit=1000" + (f"&before_id={cursor}" if cursor else "")
            r = c.get(url)
            assert r.status_code == 200
            assert len(r.content) <= 1.2 * MiB  # was 29 MB for one page
            letters = r.json()
            assert letters and all(
                d["payload_truncated"] and len(d["payload_text"]) <= DEAD_LETTER_PREVIEW_BYTES
                for d in letters
            )
            seen += [d["id"] for d in letters]
            pages += 1
            cursor = r.headers.get("X-Next-Before-Id")
            if cursor is None:
                break
        assert seen == sorted(ids, reverse=True) and pages > 1
        # without payloads: 1000 letters in one small answer
        r = c.get("/api/v1/dead-letters?limit=1000&payload=false")
        assert len(r.json()) == 1000 and len(r.content) < MiB and "payload_text" not in r.json()[0]
        # one letter: all that is stored of it
        one = c.get(f"/api/v1/dead-letters?id={ids[10]}").json()
        assert len(one) == 1 and one[0]["id"] == ids[10] and one[0]["payload_text"] == payload.decode()
        assert c.get("/api/v1/dead-letters?id=999999").status_code == 404


def test_erasure_with_stored_gzip_bombs_has_bounded_memory(store):
    """Bombs stored before the cap existed (written straight into the table): a 15 KB gzip of 15 MiB, one
    of 15 MiB with the member's POD at the end, one of 200 MiB. The erasure inflates each incrementally: the
    first is read whole and kept, the second is found and deleted, the third cannot be read whole within the
    bound and is deleted as possibly mentioning the member."""
    t = DeadLetter.__table__
    bombs = {
        "clean": gzip.compress(b"\0" * (15 * MiB)),
        "mentions": gzip.compress(b"\0" * (15 * MiB - 100) + b'{"pod": "' + POD.encode() + b'"}'),
        "huge": gzip.compress(b"\0" * (200 * MiB), compresslevel=9),
    }
    assert len(bombs["clean"]) < 20_000
    ids = {}
    with store.engine.begin() as conn:
        for name, raw in bombs.items():
            ids[name] = conn.execute(
                sa.insert(t)
                .values(
                    received_at=store_now(), source="legacy", payload=raw, payload_bytes=len(raw), reasons=[]
                )
                .returning(t.c.id)
            ).scalar_one()
    del bombs
    tracemalloc.start()
    try:
        rep = erase_member(store, store.community, "m1", key=KEY)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 * MiB, f"erasure peaked at {peak / MiB:.0f} MiB"  # was 2.3 GB for two bombs
    left = {d["id"] for d in store.dead_letters(with_payload=False)}
    assert ids["clean"] in left and ids["mentions"] not in left and ids["huge"] not in left
    assert rep.dead_letters_deleted == 2 and rep.dead_letters_uninspectable == 1


def store_now():
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc)
