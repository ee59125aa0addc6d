"""PostgreSQL: ``measurements`` partitioned by month (declarative partitioning); SQLite unchanged.

Revision ID: 0940_partition_measurements
Revises: 0930_yearly_balance_runs
Create Date: 2026-12-01

On PostgreSQL, in the migration's transaction:

1. the plain table is renamed ``measurements_unpartitioned``, its constraints and indexes dropped and its id
   sequence ``measurements_id_seq`` released (so ids keep counting from where they were: unique across the
   old and the new rows);
2. ``measurements`` is created again with the same columns, types and defaults, ``PARTITION BY RANGE
   (start_utc)``. A partitioned table's PRIMARY KEY and UNIQUE constraints must include the partition key:
   the primary key becomes ``(id, start_utc)`` (ids stay unique: one sequence), the unique key ``(pod,
   start_utc, meter)`` (the ingest's ``ON CONFLICT``) already includes it and also serves the reads by POD
   and time; the indexes on ``du_id`` and ``start_utc`` are created again (partitioned indexes);
3. a DEFAULT partition ``measurements_default`` and one partition per Italian civil month
   ``measurements_YYYY_MM``, from 2024-01 (or the month of the oldest stored row) to 24 months after now
   (:func:`condivisa.store.partitions.ensure_partitions`);
4. the rows are copied (``INSERT ... SELECT``), the old table dropped, the sequence owned again by
   ``measurements.id``.

The downgrade restores the plain table (primary key ``id``) with every row. On SQLite both do nothing.
"""

from alembic import op

from condivisa.store import partitions as parts

revision = "0940_partition_measurements"
down_revision = "0930_yearly_balance_runs"
branch_labels = None
depends_on = None

COLUMNS = (
    "id bigint NOT NULL DEFAULT nextval('measurements_id_seq'::regclass), "
    "pod varchar(64) NOT NULL, "
    "start_utc timestamptz NOT NULL, "
    "meter varchar(4) NOT NULL, "
    "minutes smallint NOT NULL, "
    "withdrawn_kwh double precision NOT NULL, "
    "injected_kwh double precision NOT NULL, "
    "withdrawn_total_kwh double precision, "
    "injected_total_kwh double precision, "
    "du_id varchar(64), "
    "received_at timestamptz NOT NULL, "
    "source varchar(200) NOT NULL, "
    "revision integer NOT NULL, "
    "flags json"
)
NAMES = (
    "id, pod, start_utc, meter, minutes, withdrawn_kwh, injected_kwh, withdrawn_total_kwh, injected_total_kwh, "
    "du_id, received_at, source, revision, flags"
)
UNIQUE = "CONSTRAINT uq_measurements_pod_start_meter UNIQUE (pod, start_utc, meter)"


def _set_aside(old: str) -> None:
    """Rename ``measurements`` to ``old`` without its constraints, indexes and sequence."""
    op.execute("ALTER SEQUENCE measurements_id_seq OWNED BY NONE")
    op.execute(f"ALTER TABLE measurements RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} DROP CONSTRAINT measurements_pkey")
    op.execute(f"ALTER TABLE {old} DROP CONSTRAINT uq_measurements_pod_start_meter")
    op.execute("DROP INDEX ix_measurements_du_id")
    op.execute("DROP INDEX ix_measurements_start_utc")


def _fill_from(old: str) -> None:
    op.execute(f"INSERT INTO measurements ({NAMES}) SELECT {NAMES} FROM {old}")
    op.execute(f"DROP TABLE {old}")
    op.execute("ALTER SEQUENCE measurements_id_seq OWNED BY measurements.id")
    op.execute("CREATE INDEX ix_measurements_du_id ON measurements (du_id)")
    op.execute("CREATE INDEX ix_measurements_start_utc ON measurements (start_utc)")
    op.execute("ANALYZE measurements")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    _set_aside("measurements_unpartitioned")
    op.execute(
        f"CREATE TABLE measurements ({COLUMNS}, CONSTRAINT measurements_pkey PRIMARY KEY (id, start_utc), "
        f"{UNIQUE}) PARTITION BY RANGE (start_utc)"
    )
    op.execute(f"CREATE TABLE {parts.DEFAULT} PARTITION OF measurements DEFAULT")
    oldest = conn.exec_driver_sql("SELECT min(start_utc) FROM measurements_unpartitioned").scalar()
    now = parts.month_of(parts.clock.now())
    since = parts.FIRST_MONTH
    if oldest is not None:
        since = min(since, max(parts.month_of(oldest), parts.add_months(now, -12 * parts.OLDEST_YEARS)))
    parts.ensure_partitions(conn, parts.add_months(now, parts.AHEAD_MONTHS), since=since)
    _fill_from("measurements_unpartitioned")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside("measurements_partitioned")
    op.execute(
        f"CREATE TABLE measurements ({COLUMNS}, CONSTRAINT measurements_pkey PRIMARY KEY (id), {UNIQUE})"
    )
    _fill_from("measurements_partitioned")  # dropping it drops its partitions
