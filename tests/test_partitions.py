"""Monthly partitions of ``measurements`` on PostgreSQL (migration 0940, :mod:`condivisa.store.partitions`);
SQLite keeps one plain table."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.formats.urbandataset.types import Reading
from condivisa.kernel import clock
from condivisa.store import partitions as parts
from condivisa.store.store import Store

UTC = dt.timezone.utc
POD = "IT001E00000001"
MAY = dt.datetime(2025, 5, 31, 21, 30, tzinfo=UTC)  # 23:30 in Rome: the last quarter hours of May
JUNE = dt.datetime(2025, 5, 31, 22, 0, tzinfo=UTC)  # midnight of 1 June in Rome


def readings(t0: dt.datetime, n: int, wd: float = 0.25) -> list[Reading]:
    return [
        Reading(pod=POD, start=t0 + dt.timedelta(minutes=15 * i), withdrawn_kwh=wd, injected_kwh=0.0)
        for i in range(n)
    ]


def _where(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT tableoid::regclass::text, count(*) FROM measurements GROUP BY 1"))
        return dict(rows.all())


def _alembic(store: Store, fn, revision: str) -> None:
    cfg = store.alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        fn(cfg, revision)


@pytest.fixture
def pg_store(pg_url):
    with Store(pg_url) as s:
        s.upgrade()
        s.register(pods=[(POD, "m1", "consumption")])
        yield s


def test_month_arithmetic():
    assert parts.add_months((2025, 11), 3) == (2026, 2)
    assert parts.add_months((2025, 1), -1) == (2024, 12)
    assert parts.parse_month("2030-12") == (2030, 12)
    with pytest.raises(ValueError):
        parts.parse_month("2030-13")
    assert parts.month_of(JUNE) == (2025, 6) and parts.month_of(MAY) == (2025, 5)
    assert parts.partition_name((2025, 6)) == "measurements_2025_06"


@pytest.mark.postgres
def test_upgrade_partitions_the_table_24_months_ahead(pg_store):
    with pg_store.engine.connect() as conn:
        assert parts.is_partitioned(conn)
        kind = conn.execute(
            sa.text("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'measurements'::regclass")
        ).scalar_one()
        assert kind == "r"  # by range
        names = parts.partitions(conn)
    ahead = parts.add_months(parts.month_of(clock.now()), parts.AHEAD_MONTHS)
    assert parts.partition_name(ahead) in names
    assert parts.partition_name(parts.FIRST_MONTH) in names
    assert parts.DEFAULT in names
    assert "measurements" in sa.inspect(pg_store.engine).get_table_names()


@pytest.mark.postgres
def test_ingest_lands_in_the_months_partitions_and_reads_back(pg_store):
    sent = readings(MAY, 4)  # two quarter hours in May, two in June (Italian months)
    out = pg_store.ingest_records(sent, source="test")
    assert out.stored == 4
    assert _where(pg_store) == {"measurements_2025_05": 2, "measurements_2025_06": 2}
    again = pg_store.ingest_records(sent, source="test")
    assert again.stored == 0 and again.duplicates == 4  # ON CONFLICT on the partitioned table
    revised = pg_store.ingest_records(readings(MAY, 4, wd=0.5)[1:2], source="test")
    assert revised.revised == 1
    frame = pg_store.measurements_frame([POD], "2025-05-31", "2025-06-02")
    assert list(frame["start"]) == [r.start for r in sent]
    assert list(frame["withdrawn_kwh"]) == [0.25, 0.5, 0.25, 0.25]
    assert len(pg_store.revisions()) == 1


@pytest.mark.postgres
def test_downgrade_then_upgrade_keeps_the_rows(pg_store):
    pg_store.ingest_records(readings(MAY, 4), source="test")
    before = pg_store.measurements()
    _alembic(pg_store, command.downgrade, "0930_yearly_balance_runs")
    with pg_store.engine.connect() as conn:
        assert not parts.is_partitioned(conn)
        assert parts.partitions(conn) == []
    assert pg_store.measurements().equals(before)
    pg_store.upgrade()
    with pg_store.engine.connect() as conn:
        assert parts.is_partitioned(conn)
    assert pg_store.measurements().equals(before)
    assert _where(pg_store) == {"measurements_2025_05": 2, "measurements_2025_06": 2}
    new = pg_store.ingest_records(readings(JUNE + dt.timedelta(hours=1), 1), source="test")
    assert new.stored == 1  # ids still come from the sequence
    assert pg_store.measurements()["revision"].tolist() == [0] * 5


@pytest.mark.postgres
def test_rows_in_default_move_to_a_new_month(pg_store):
    with pg_store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE measurements_2025_06")
    pg_store.ingest_records(readings(MAY, 4), source="test")
    assert _where(pg_store) == {"measurements_2025_05": 2, parts.DEFAULT: 2}
    with pg_store.engine.begin() as conn:
        assert parts.ensure_partitions(conn, (2025, 6)) == ["measurements_2025_06"]
        assert parts.ensure_partitions(conn, (2025, 6)) == []  # idempotent
    assert _where(pg_store) == {"measurements_2025_05": 2, "measurements_2025_06": 2}
    assert pg_store.ingest_records(readings(MAY, 4), source="test").duplicates == 4


@pytest.mark.postgres
def test_partitions_command(pg_store):
    result = CliRunner().invoke(app, ["db", "partitions", "--through", "2035-01", "--database", pg_store.url])
    assert result.exit_code == 0, result.output
    with pg_store.engine.connect() as conn:
        assert parts.monthly_partitions(conn)[-1] == (2035, 1)


def test_sqlite_is_unchanged(sqlite_url):
    with Store(sqlite_url) as s:
        s.upgrade()
        with s.engine.connect() as conn:
            assert not parts.is_partitioned(conn)
            assert parts.ensure_partitions(conn, (2030, 12)) == []
            names = sa.inspect(conn).get_table_names()
        assert "measurements" in names and not any(n.startswith("measurements_2") for n in names)
        s.register(pods=[(POD, "m1", "consumption")])
        assert s.ingest_records(readings(MAY, 4), source="test").stored == 4
        assert len(s.measurements_frame([POD])) == 4


@pytest.mark.postgres
def test_binary_read_equals_the_generic_read(pg_store):
    from condivisa.store.store import MEASUREMENT_COLUMNS, _frame

    other = "IT001E00000002"
    pg_store.register(pods=[(other, "m2", "consumption")])
    autumn = dt.datetime(2025, 10, 25, 22, 0, tzinfo=UTC)  # the night of 100 quarter hours
    sent = readings(autumn, 110) + [
        Reading(
            pod=other, start=autumn + dt.timedelta(minutes=15 * i), withdrawn_kwh=0.1 * i, injected_kwh=1 / 3
        )
        for i in range(7)
    ]
    pg_store.ingest_records(sent, source="test")
    for pods, start, end in [
        (None, None, None),
        ([other, POD], "2025-10-26", "2025-10-27"),
        ([], None, None),
    ]:
        fast = pg_store.measurements_frame(pods, start, end)
        with pg_store.read() as conn:
            q = pg_store._select_measurements(
                pods, start, end, "M1", ["pod", "start_utc", "withdrawn_kwh", "injected_kwh"]
            )
            slow = _frame(conn.execute(q).all(), MEASUREMENT_COLUMNS)
        pd.testing.assert_frame_equal(fast, slow)
    assert len(pg_store.measurements_frame(None, "2025-10-26", "2025-10-27")) == 100 + 7
