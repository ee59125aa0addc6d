"""The store on SQLite and the real PostgreSQL: schema, registry, reads, idempotence under races, CSV, CLI."""

from __future__ import annotations

import datetime as dt
import threading

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.domain.config import load_community
from condivisa.formats.urbandataset.types import Reading
from condivisa.ingest.tables import ingest_frame
from condivisa.store import writer as writer_mod
from condivisa.store.store import Store, database_url

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
POD = "IT001E00000001"


@pytest.fixture
def store(db_store):
    return db_store  # SQLite and PostgreSQL (conftest)


def r(i: int, wd: float = 0.25, pod: str = POD, du: str | None = "DU-0001") -> Reading:
    return Reading(
        pod=pod, start=T0 + dt.timedelta(minutes=15 * i), withdrawn_kwh=wd, injected_kwh=0.0, du_id=du
    )


def test_upgrade_is_idempotent_and_at_head(db_url):
    from alembic.script import ScriptDirectory

    with Store(db_url) as s:
        assert s.revision() is None
        s.upgrade()
        s.upgrade()
        heads = ScriptDirectory.from_config(s.alembic_config()).get_heads()
        assert len(heads) == 1 and s.revision() == heads[0]
        assert {
            "pods",
            "devices",
            "device_activity",
            "measurements",
            "measurement_revisions",
            "dead_letters",
        } <= set(sa.inspect(s.engine).get_table_names())


def test_device_activity_migration_backfills_from_measurements(db_url):
    from condivisa.store.models import Measurement

    with Store(db_url) as s:
        s.upgrade("0900_auth")  # the schema before device_activity
        now = dt.datetime(2025, 6, 2, tzinfo=UTC)
        with s.engine.begin() as conn:
            conn.execute(
                sa.insert(Measurement.__table__),
                [
                    {
                        "pod": POD,
                        "start_utc": T0 + dt.timedelta(minutes=15 * i),
                        "meter": "M1",
                        "minutes": 15,
                        "withdrawn_kwh": 0.1,
                        "injected_kwh": 0.0,
                        "du_id": "DU-0001",
                        "received_at": now + dt.timedelta(minutes=i),
                        "source": "t",
                        "revision": 0,
                    }
                    for i in range(3)
                ],
            )
        s.upgrade()
        [seen] = s.device_last_seen()
        assert seen["last_received_at"] == now + dt.timedelta(minutes=2) and seen[
            "last_start"
        ] == T0 + dt.timedelta(minutes=30)
        assert seen["registered"] is False and seen["pod"] == POD


def test_sqlite_is_wal_and_synchronous_full(sqlite_url):
    with Store(sqlite_url) as s, s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # 2 = FULL


def test_sqlite_readers_do_not_block_writers(sqlite_url, example_community_path):
    with Store(sqlite_url, busy_timeout_s=0.5) as s:
        s.upgrade()
        s.register_devices(load_community(example_community_path))
        with s.read() as reader:
            reader.execute(sa.text("select count(*) from measurements")).scalar()  # read transaction open
            assert s.ingest_records([r(0)], source="t").stored == 1  # the writer is not locked out
            # and the reader keeps its snapshot (WAL): it still sees no rows
            assert reader.execute(sa.text("select count(*) from measurements")).scalar() == 0
        assert s.counts()["measurements"] == 1


def test_database_url_precedence(monkeypatch):
    monkeypatch.delenv("CONDIVISA_DATABASE_URL", raising=False)
    assert database_url() == "sqlite:///./var/condivisa.db"  # the one default of every command and serve
    monkeypatch.setenv("CONDIVISA_DATABASE_URL", "postgresql://u@h/db")
    assert database_url() == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ValueError, match="only sqlite"):
        Store("mysql://u@h/db")


def test_register_devices_and_upsert(store):
    devices = {d["du_id"]: d for d in store.devices()}
    assert devices["DU-0001"]["pod"] == POD and devices["DU-0001"]["member_id"] == "m1"
    assert devices["DU-0100"]["member_id"] == "m3"  # plant pv1's POD, owned by m3
    assert store.known_pods() >= {POD, "IT001E00000100"}
    store.register(devices=[("DU-0001", "IT001E00000002", "m2")])  # DU moved to another POD
    assert {d["du_id"]: d for d in store.devices()}["DU-0001"]["pod"] == "IT001E00000002"
    assert store.counts()["devices"] == 7


def test_measurements_frame_filters_and_contract(store):
    store.ingest_records([r(i) for i in range(8)] + [r(0, pod="IT001E00000002", du="DU-0002")], source="t")
    all_ = store.measurements_frame()
    assert list(all_.columns) == ["pod", "start", "withdrawn_kwh", "injected_kwh"] and len(all_) == 9
    # naive bounds are Rome civil time: 10:15 local = 08:15 UTC, 11:00 local = 09:00 UTC (exclusive) ->
    # quarters 1..3
    part = store.measurements_frame(
        pods=[POD], start="2025-06-01 10:15", end=pd.Timestamp("2025-06-01 11:00")
    )
    assert part["start"].dt.tz_convert("UTC").tolist() == [
        T0 + dt.timedelta(minutes=15 * i) for i in (1, 2, 3)
    ]
    assert store.measurements_frame(pods=["IT001E00000002"])["pod"].tolist() == ["IT001E00000002"]
    empty = store.measurements_frame(pods=["nope"])
    assert empty.empty and list(empty.columns) == ["pod", "start", "withdrawn_kwh", "injected_kwh"]
    detail = store.measurements(POD, start=T0, end=T0 + dt.timedelta(hours=1))
    assert len(detail) == 4 and set(detail["du_id"]) == {"DU-0001"} and set(detail["source"]) == {"t"}
    with pytest.raises(ValueError, match="start"):
        store.measurements_frame(start="not a date")


def test_m2_rows_are_kept_apart_from_the_exchange_meter(store):
    prod = Reading(pod="IT001E00000100", start=T0, injected_kwh=3.0, meter="M2", du_id="DU-0100")
    exch = Reading(pod="IT001E00000100", start=T0, injected_kwh=2.8, meter="M1", du_id="DU-0100")
    out = store.ingest_records([prod, exch], source="t")
    assert out.stored == 2
    assert store.measurements_frame()["injected_kwh"].tolist() == [2.8]  # settlement reads M1 only
    assert store.measurements_frame(meter="M2")["injected_kwh"].tolist() == [3.0]


def test_unknown_pod_writes_nothing(store):
    out = store.ingest_records([r(0), r(1, pod="IT009E00000000")], source="t")
    assert out.unknown_pods == ["IT009E00000000"] and out.stored == 0
    assert store.counts()["measurements"] == 0


def test_race_insert_conflict_is_reclassified(store, monkeypatch):
    """Another writer stored the rows between our read and our insert: ON CONFLICT DO NOTHING keeps one copy
    and the rows are counted as duplicate (same values) or revision (different values)."""
    store.ingest_records([r(0), r(1)], source="first")
    real = writer_mod.stored_rows
    calls = {"n": 0}

    def blind_first(conn, readings, pad):
        calls["n"] += 1
        return [] if calls["n"] == 1 else real(conn, readings, pad)

    monkeypatch.setattr(writer_mod, "stored_rows", blind_first)
    out = store.ingest_records([r(0), r(1, wd=0.5), r(2)], source="second")
    assert (out.stored, out.duplicates, out.revised) == (1, 1, 1)
    assert store.measurements_frame()["withdrawn_kwh"].tolist() == [0.25, 0.5, 0.25]
    assert len(store.revisions()) == 1


def test_concurrent_writers_store_each_quarter_once(store):
    readings = [r(i) for i in range(40)]
    errors: list[BaseException] = []
    totals: list[tuple[int, int]] = []

    def work():
        try:
            for k in range(0, 40, 5):
                out = store.ingest_records(readings[k : k + 5], source="thread")
                totals.append((out.stored, out.duplicates))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (
        sum(s for s, _ in totals) == 40 and sum(d for _, d in totals) == 3 * 40
    )  # 4 writers x 40, once each
    assert store.counts()["measurements"] == 40


def test_utc_datetime_refuses_naive(store):
    with pytest.raises((ValueError, sa.exc.StatementError), match="naive"):
        store.ingest_records(
            [Reading(pod=POD, start=dt.datetime(2025, 6, 1, 10), withdrawn_kwh=0.1)], source="t"
        )


def test_dead_letters_newest_first(store):
    ids = [
        store.add_dead_letter(f"payload {i}".encode(), [{"path": "$", "reason": f"r{i}"}], source="t")
        for i in range(3)
    ]
    letters = store.dead_letters(2)
    assert [d["id"] for d in letters] == ids[::-1][:2]
    assert letters[0]["payload"] == b"payload 2" and letters[0]["reasons"] == [{"path": "$", "reason": "r2"}]
    assert "payload" not in store.dead_letters(1, with_payload=False)[0]


def test_device_last_seen_includes_unregistered_du(store):
    now = dt.datetime(2025, 6, 1, 12, tzinfo=UTC)
    store.ingest_records([r(0, du="DU-9999")], source="t", received_at=now)
    seen = {d["du_id"]: d for d in store.device_last_seen()}
    assert seen["DU-9999"]["registered"] is False and seen["DU-9999"]["last_received_at"] == now
    assert seen["DU-9999"]["last_start"] == T0


def test_device_activity_moves_forward_only(store):
    t1, t2 = dt.datetime(2025, 6, 1, 12, tzinfo=UTC), dt.datetime(2025, 6, 1, 13, tzinfo=UTC)
    store.ingest_records([r(4), r(5)], source="t", received_at=t1)
    store.ingest_records(
        [r(0, pod="IT001E00000002")], source="t", received_at=t2
    )  # an old quarter, another POD
    seen = {d["du_id"]: d for d in store.device_last_seen()}["DU-0001"]
    # latest message t2, latest quarter still r(5) = T0 + 75 min, and its POD, not the old quarter's
    assert seen["last_received_at"] == t2 and seen["last_start"] == T0 + dt.timedelta(minutes=75)
    with store.read() as conn:
        row = conn.execute(sa.text("select pod, readings from device_activity where du_id = 'DU-0001'")).one()
    assert tuple(row) == (POD, 3)  # 2 + 1 readings
    store.ingest_records([r(4), r(5)], source="t", received_at=t1)  # a replay with an older reception time
    assert {d["du_id"]: d for d in store.device_last_seen()}["DU-0001"]["last_received_at"] == t2


def test_ingest_frame_hourly_and_quarter(store):
    hours = pd.DataFrame(
        {
            "pod": [POD] * 3,
            "start": pd.date_range("2025-06-01 10:00", periods=3, freq="h", tz="Europe/Rome"),
            "withdrawn_kwh": [1.0, 2.0, 3.0],
            "injected_kwh": [0.0] * 3,
        }
    )
    res = ingest_frame(store, hours, source="csv:h")
    assert (res.stored, res.duplicates) == (3, 0)
    assert set(store.measurements(POD)["start"].dt.minute) == {0}
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("select distinct minutes from measurements")).scalars().all() == [60]
    assert ingest_frame(store, hours, source="csv:h").duplicates == 3
    with pytest.raises(ValueError, match="IT009"):
        ingest_frame(store, hours.assign(pod="IT009E00000000"), source="csv:x")


def test_cli_upgrade_register_import_export_dead_letters(db_url, example_community_path, tmp_path):
    cli = CliRunner()
    db = ["--database", db_url]

    class runner:  # Rich wraps lines at the terminal width: compare with whitespace collapsed
        @staticmethod
        def invoke(*args):
            res = cli.invoke(*args)
            res.flat = " ".join(res.output.split())
            return res

    assert runner.invoke(app, ["db", "devices", *db]).exit_code == 2  # no schema yet: clear error
    assert runner.invoke(app, ["db", "upgrade", *db]).exit_code == 0
    res = runner.invoke(app, ["db", "register", "--config", str(example_community_path), *db])
    assert res.exit_code == 0 and "7 PODs" in res.flat
    csv = tmp_path / "m.csv"
    csv.write_text(
        "pod,start,withdrawn_kwh,injected_kwh\n"
        f"{POD},2025-06-01T10:00:00+02:00,0.2500,0.0000\n"
        f"{POD},2025-06-01T10:15:00+02:00,0.5000,0.0000\n"
        f"{POD},2025-06-01T10:15:00+02:00,0.5000,0.0000\n",
        encoding="utf-8",
    )
    res = runner.invoke(app, ["db", "import-csv", str(csv), *db])
    assert res.exit_code == 0 and "2 stored" in res.flat and "1 rows repeated" in res.flat
    res = runner.invoke(app, ["db", "import-csv", str(csv), *db])
    assert "0 stored, 2 already there" in res.flat
    out = tmp_path / "out.csv"
    res = runner.invoke(
        app,
        [
            "db",
            "export-csv",
            "--pod",
            POD,
            "--from",
            "2025-06-01",
            "--to",
            "2025-06-02",
            "--out",
            str(out),
            *db,
        ],
    )
    assert res.exit_code == 0
    assert out.read_text().splitlines() == [
        "pod,start,withdrawn_kwh,injected_kwh",
        f"{POD},2025-06-01T10:00:00+02:00,0.2500,0.0000",
        f"{POD},2025-06-01T10:15:00+02:00,0.5000,0.0000",
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"pod,start,withdrawn_kwh,injected_kwh\n{POD},2025-06-01T10:00:00+02:00,-1,0\n", encoding="utf-8"
    )
    res = runner.invoke(app, ["db", "import-csv", str(bad), *db])
    assert res.exit_code == 2 and "line 2" in res.flat
    with Store(db_url) as s:
        s.add_dead_letter(
            b"{oops", [{"path": "$", "reason": "invalid JSON"}], source="mqtt:x", device_id="DU-0001"
        )
    res = runner.invoke(app, ["db", "dead-letters", *db])
    assert res.exit_code == 0 and "invalid JSON" in res.flat
    res = runner.invoke(app, ["db", "dead-letters", "--show", "1", *db])
    assert res.exit_code == 0 and "{oops" in res.flat
    res = runner.invoke(app, ["db", "devices", *db])
    assert res.exit_code == 0 and "DU-0001" in res.flat
    assert runner.invoke(app, ["db", "status", *db]).exit_code == 0
