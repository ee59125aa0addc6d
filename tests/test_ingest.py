"""ingest_payload against SQLite and the real PostgreSQL: stored, duplicates, revisions, rejections, DST."""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import json

import pytest

from condivisa.formats.urbandataset.emit import build_m1_dataset
from condivisa.ingest.decode import MAX_PAYLOAD_BYTES
from condivisa.ingest.pipeline import IngestResult, ingest_payload

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)  # 10:00 in Rome (UTC+2)
NOW = dt.datetime(2025, 6, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def store(db_store):
    return db_store  # SQLite and PostgreSQL (conftest)


def reading(
    i: int, du: str = "DU-0001", pod: str = "IT001E00000001", wd: float = 0.25, inj: float = 0.0, start=T0
) -> dict:
    # totalizers consistent with 0.25 kWh per quarter hour: 1000 + 0.25 * (i + 1) at the end of quarter i
    return {
        "du_id": du,
        "pod": pod,
        "start": start + dt.timedelta(minutes=15 * i),
        "withdrawn_kwh": wd,
        "injected_kwh": inj,
        "withdrawn_total_kwh": 1000 + 0.25 * (i + 1),
        "injected_total_kwh": 50.0,
    }


def payload(readings, **kw) -> bytes:
    return json.dumps(build_m1_dataset(readings, producer_id="DU-maker", timestamp=NOW, **kw)).encode()


def ingest(store, raw, **kw) -> IngestResult:
    return ingest_payload(store, raw, source="test", received_at=NOW, **kw)


def test_message_stored_then_duplicate(store):
    raw = payload([reading(i) for i in range(4)])
    first = ingest(store, raw)
    assert first.accepted and (first.stored, first.duplicates, first.revised) == (4, 0, 0)
    assert first.flags == []
    again = ingest(store, raw)
    assert again.accepted and (again.stored, again.duplicates, again.revised) == (0, 4, 0)
    frame = store.measurements_frame()
    assert list(frame.columns) == ["pod", "start", "withdrawn_kwh", "injected_kwh"]
    assert len(frame) == 4 and frame["withdrawn_kwh"].sum() == pytest.approx(1.0)  # 4 x 0.25
    assert str(frame["start"].dt.tz) == "Europe/Rome"
    assert frame["start"].iloc[0] == T0


def test_gzip_and_scps_push_body(store):
    raw = payload([reading(0)])
    assert ingest(store, gzip.compress(raw)).stored == 1
    push = b'{"resource_id": "SCP-1_Sol-3_M1ElectricUserDevice-2.0_20250101000000", "dataset": ' + raw + b"}"
    res = ingest(store, push)
    assert res.accepted and res.duplicates == 1 and res.resource_id.startswith("SCP-1")


def test_revision_newest_wins_old_kept(store):
    ingest(store, payload([reading(0), reading(1)]))
    changed = reading(1, wd=0.40)
    changed["withdrawn_total_kwh"] = 1000.65  # 1000.25 + 0.40: consistent, so no flag
    res = ingest(store, payload([reading(0), changed]))
    assert (res.stored, res.duplicates, res.revised) == (0, 1, 1)
    assert res.flags == []
    frame = store.measurements_frame()
    assert frame["withdrawn_kwh"].tolist() == [0.25, 0.40]
    rev = store.revisions()
    assert len(rev) == 1 and rev["withdrawn_kwh"].iloc[0] == 0.25 and rev["revision"].iloc[0] == 0
    assert store.measurements("IT001E00000001")["revision"].tolist() == [0, 1]


def test_multi_device_message(store):
    readings = [reading(i, du=f"DU-000{k}", pod=f"IT001E0000000{k}") for k in (1, 2, 3) for i in range(2)]
    res = ingest(store, payload(readings))
    assert res.accepted and res.stored == 6
    assert sorted(store.measurements_frame()["pod"].unique()) == [
        "IT001E00000001",
        "IT001E00000002",
        "IT001E00000003",
    ]
    seen = {d["du_id"]: d for d in store.device_last_seen()}
    assert seen["DU-0002"]["last_received_at"] == NOW and seen["DU-0002"]["last_start"] == T0 + dt.timedelta(
        minutes=15
    )
    assert seen["DU-0005"]["last_received_at"] is None and seen["DU-0005"]["registered"]


def test_dst_autumn_night_two_local_0200_hours(store):
    # 2025-10-26: Rome goes from UTC+2 to UTC+1 at 03:00 local. 02:15 local happens twice:
    # 00:15 UTC (first, UTC+2) and 01:15 UTC (second, UTC+1).
    first = reading(0, start=dt.datetime(2025, 10, 26, 0, 15, tzinfo=UTC))
    second = reading(0, start=dt.datetime(2025, 10, 26, 1, 15, tzinfo=UTC))
    later = dt.datetime(2025, 10, 27, tzinfo=UTC)
    r1 = ingest_payload(
        store, payload([first], timezone=dt.timezone(dt.timedelta(hours=2))), source="t", received_at=later
    )
    r2 = ingest_payload(
        store, payload([second], timezone=dt.timezone(dt.timedelta(hours=1))), source="t", received_at=later
    )
    assert r1.stored == 1 and r2.stored == 1
    frame = store.measurements_frame()
    assert frame["start"].dt.tz_convert("UTC").tolist() == [first["start"], second["start"]]
    assert [t.strftime("%H:%M%z") for t in frame["start"]] == ["02:15+0200", "02:15+0100"]


def test_totalizer_cross_checks_flag_not_drop(store):
    ingest(store, payload([reading(0)]))
    bad = reading(1, wd=0.10)  # totalizer moved 1000.50 - 1000.25 = 0.25 kWh, energy says 0.10
    res = ingest(store, payload([bad]))
    assert res.accepted and res.stored == 1
    assert [f.code for f in res.flags] == ["withdrawn_energy_vs_totalizer"]
    back = reading(2)
    back["withdrawn_total_kwh"] = 999.0  # below 1000.50 of the previous quarter
    res = ingest(store, payload([back]))
    assert res.stored == 1 and "withdrawn_totalizer_backwards" in [f.code for f in res.flags]
    assert "withdrawn_totalizer_backwards" in store.measurements("IT001E00000001")["flags"].iloc[2]


def test_pod_sent_by_other_registered_du_is_flagged(store):
    res = ingest(store, payload([reading(0, du="DU-0002", pod="IT001E00000001")]))
    assert res.accepted and res.stored == 1
    assert [f.code for f in res.flags] == ["pod_not_registered_to_du"]
    res = ingest(store, payload([reading(1, du="DU-0001")]), device_id="DU-0003")
    assert [f.code for f in res.flags] == ["du_mismatch"]


def _assert_rejected(store, raw: bytes, path_part: str, reason_part: str) -> IngestResult:
    before = store.counts()["measurements"]
    res = ingest(store, raw)
    assert not res.accepted and res.stored == 0 and res.dead_letter_id is not None
    assert any(path_part in r.path and reason_part in r.reason for r in res.rejected), res.rejected
    assert store.counts()["measurements"] == before
    letter = store.dead_letter(res.dead_letter_id)
    assert letter["payload"] == raw and letter["source"] == "test"
    assert letter["reasons"] == [r.to_dict() for r in res.rejected]
    return res


def _mutate(change) -> bytes:
    doc = build_m1_dataset([reading(0), reading(1)], producer_id="p", timestamp=NOW)
    doc = copy.deepcopy(doc)
    change(doc["UrbanDataset"])
    return json.dumps(doc).encode()


def test_rejections_land_in_dead_letters(store):
    _assert_rejected(store, b'{"UrbanDataset": ', "$", "invalid JSON")
    _assert_rejected(store, b"\x1f\x8b\x08garbage", "$", "gzip")
    _assert_rejected(store, b"\xff\xfe", "$", "UTF-8")
    line1 = "UrbanDataset.values.line[1]"
    _assert_rejected(
        store,
        _mutate(lambda ud: ud["values"]["line"][1]["property"][2].update(val=0.25)),
        f"{line1}.property[2].val",
        "string",
    )  # schema: val must be a string
    _assert_rejected(
        store,
        _mutate(lambda ud: ud["context"].update(extra="x")),
        "UrbanDataset.context.extra",
        "not allowed",
    )
    _assert_rejected(
        store,
        _mutate(lambda ud: ud["values"]["line"][1]["property"][1].update(val="IT001E99999999")),
        line1,
        "not registered",
    )
    _assert_rejected(
        store,
        _mutate(lambda ud: ud["values"]["line"][1]["property"][2].update(val="-0.25")),
        f"{line1}.property[2].val",
        ">= 0",
    )
    _assert_rejected(
        store,
        _mutate(
            lambda ud: ud["values"]["line"][1]["period"].update(
                start_ts="2025-06-01T10:20:00", end_ts="2025-06-01T10:35:00"
            )
        ),
        f"{line1}.period.start_ts",
        "grid",
    )
    _assert_rejected(
        store,
        _mutate(lambda ud: ud["values"]["line"][1]["period"].update(end_ts="2025-06-01T11:15:00")),
        f"{line1}.period",
        "60 minutes, expected 15",
    )
    _assert_rejected(
        store,
        _mutate(lambda ud: ud["context"].update(timeZone="Europe/Rome")),
        "UrbanDataset.context.timeZone",
        "timeZone",
    )
    _assert_rejected(
        store,
        _mutate(
            lambda ud: ud["values"]["line"][1]["period"].update(
                start_ts="2030-01-01T00:00:00", end_ts="2030-01-01T00:15:00"
            )
        ),
        f"{line1}.period",
        "future",
    )
    assert store.counts()["dead_letters"] == 11
    assert (
        store.counts()["measurements"] == 0
    )  # a message is all-or-nothing: the valid line[0] was not stored either


def test_oversized_payload_rejected(store):
    raw = b" " * (MAX_PAYLOAD_BYTES + 1)
    res = ingest(store, raw)
    assert not res.accepted and "exceeds" in res.rejected[0].reason
    assert store.dead_letter(res.dead_letter_id)["payload_bytes"] == len(raw)


def test_result_to_dict_is_json(store):
    res = ingest(store, payload([reading(0)]))
    d = json.loads(json.dumps(res.to_dict()))
    assert (
        d["accepted"] is True
        and d["stored"] == 1
        and d["rejected"] == []
        and d["dataset_id"] == "M1ElectricUserDevice-2.0"
    )


def test_replay_dead_letter_after_registering_the_pod(store):
    from condivisa.ingest.pipeline import replay_dead_letter

    raw = payload([reading(0, du="DU-0042", pod="IT001E00000042")])
    res = ingest(store, raw, device_id="DU-0042")
    assert not res.accepted and "not registered" in res.rejected[0].reason
    again = replay_dead_letter(store, res.dead_letter_id)
    assert not again.accepted and again.dead_letter_id is None  # refused again, not kept twice
    assert store.counts()["dead_letters"] == 1
    store.register(
        pods=[("IT001E00000042", "m42", "consumption")], devices=[("DU-0042", "IT001E00000042", "m42")]
    )
    ok = replay_dead_letter(store, res.dead_letter_id)
    assert ok.accepted and ok.stored == 1
    row = store.measurements("IT001E00000042").iloc[0]
    assert row["source"] == "replay:test" and row["received_at"] == NOW  # original reception time kept
    assert replay_dead_letter(store, res.dead_letter_id).duplicates == 1
    with pytest.raises(KeyError):
        replay_dead_letter(store, 999)


def test_replay_needs_force_for_unauthorised_senders(store):
    from typer.testing import CliRunner

    from condivisa.cli import app
    from condivisa.ingest.pipeline import replay_dead_letter

    raw = payload([reading(0)])
    res = ingest(store, raw, may_write=lambda pod, du: False)
    assert not res.accepted and "not authorised" in res.rejected[0].reason
    refused = replay_dead_letter(store, res.dead_letter_id)
    assert (
        not refused.accepted and "force" in refused.rejected[0].reason and store.counts()["measurements"] == 0
    )
    out = CliRunner().invoke(app, ["db", "replay", str(res.dead_letter_id), "--database", store.url])
    assert out.exit_code == 0 and "refused" in out.output and store.counts()["measurements"] == 0
    out = CliRunner().invoke(app, ["db", "replay", "--force", "--database", store.url])
    assert out.exit_code == 0 and "accepted" in out.output and store.counts()["measurements"] == 1


@pytest.mark.parametrize("day, quarters", [(dt.date(2025, 10, 26), 100), (dt.date(2025, 3, 30), 92)])
def test_whole_dst_days_in_one_utc_message(store, day, quarters):
    """25 h x 4 = 100 quarter hours on the autumn day, 23 h x 4 = 92 in spring, all kept."""
    from condivisa.kernel.timegrid import quarter_hours

    grid = quarter_hours(day, day + dt.timedelta(days=1))
    assert len(grid) == quarters
    rows = [reading(0, start=ts.tz_convert("UTC").to_pydatetime()) for ts in grid]
    raw = payload(rows, timezone=UTC)  # one fixed offset for the whole day: no ambiguous local time
    res = ingest_payload(store, raw, source="t", received_at=dt.datetime(2025, 11, 1, tzinfo=UTC))
    assert res.accepted and res.stored == quarters
    frame = store.measurements_frame(start=day, end=day + dt.timedelta(days=1))
    assert len(frame) == quarters and frame["start"].is_monotonic_increasing
