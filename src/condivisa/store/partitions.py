"""Monthly partitions of the ``measurements`` table on PostgreSQL (SQLite keeps one plain table).

Since migration ``0940_partition_measurements`` the table is ``PARTITION BY RANGE (start_utc)``: one partition
per civil month of Italy, ``measurements_YYYY_MM``, from midnight of the 1st in Europe/Rome to midnight of the
next month's 1st (so a month's settlement reads exactly one partition), plus ``measurements_default`` for
the rows of any month that has no partition yet.

:func:`ensure_partitions` creates the missing months, idempotently. ``Store.upgrade()`` (``condivisa db
upgrade``) calls it every time so that partitions always exist :data:`AHEAD_MONTHS` months ahead of today;
``condivisa db partitions --through 2030-12`` creates them further ahead. Rows that landed in the DEFAULT
partition meanwhile (a month without its partition) are moved into the new month's partition when it is
created: PostgreSQL refuses to add a partition whose range has rows in DEFAULT, so the partition is built as
a plain table, the rows are moved into it and it is then attached.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME

TABLE = "measurements"
DEFAULT = "measurements_default"
#: months of partitions kept ready ahead of the current one
AHEAD_MONTHS = 24
#: the first month partitioned by the migration (earlier months too, if rows of theirs are stored)
FIRST_MONTH = (2024, 1)
#: rows older than this many years before today are left in DEFAULT (a stray timestamp from 1970 must not
#: create 700 partitions)
OLDEST_YEARS = 10

#: ``(year, month)``
Month = tuple[int, int]
_NAME = re.compile(rf"^{TABLE}_(\d{{4}})_(\d{{2}})$")


def parse_month(text: str) -> Month:
    """``"2030-12"`` -> ``(2030, 12)``."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"{text!r} is not a month YYYY-MM")
    return int(m.group(1)), int(m.group(2))


def add_months(month: Month, n: int) -> Month:
    k = month[0] * 12 + month[1] - 1 + n
    return k // 12, k % 12 + 1


def month_of(t: dt.datetime) -> Month:
    """The Italian civil month of an aware instant."""
    local = t.astimezone(ROME)
    return local.year, local.month


def month_start(month: Month) -> dt.datetime:
    """Midnight of the month's 1st in Europe/Rome (aware)."""
    return dt.datetime(month[0], month[1], 1, tzinfo=ROME)


def partition_name(month: Month) -> str:
    return f"{TABLE}_{month[0]:04d}_{month[1]:02d}"


def is_partitioned(conn: sa.Connection) -> bool:
    """Whether ``measurements`` is a partitioned table (always ``False`` on SQLite)."""
    if conn.dialect.name != "postgresql":
        return False
    q = "SELECT count(*) FROM pg_partitioned_table WHERE partrelid = to_regclass(:t)"
    return bool(conn.execute(sa.text(q), {"t": TABLE}).scalar_one())


def partitions(conn: sa.Connection) -> list[str]:
    """Names of the partitions of ``measurements`` (monthly and DEFAULT), sorted."""
    q = (
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:t) ORDER BY c.relname"
    )
    return list(conn.execute(sa.text(q), {"t": TABLE}).scalars())


def monthly_partitions(conn: sa.Connection) -> list[Month]:
    """The months that have a partition, oldest first."""
    return sorted(
        (int(m.group(1)), int(m.group(2))) for m in map(_NAME.match, partitions(conn)) if m is not None
    )


def ensure_partitions(
    conn: sa.Connection, through: Month | str, *, since: Month | str | None = None
) -> list[str]:
    """Create the missing monthly partitions from ``since`` through ``through`` (both included), on the
    caller's transaction; returns the names created. ``since`` defaults to the earliest of: the current
    month, the first existing partition, the month of the oldest row in DEFAULT (not earlier than
    :data:`OLDEST_YEARS` years ago). Nothing on SQLite or on a table that is not partitioned."""
    if not is_partitioned(conn):
        return []
    last = parse_month(through) if isinstance(through, str) else through
    now = month_of(clock.now())
    oldest = add_months(now, -12 * OLDEST_YEARS)
    have = monthly_partitions(conn)
    if since is None:
        candidates = [now, *have[:1]]
        stray = conn.execute(sa.text(f"SELECT min(start_utc) FROM {DEFAULT}")).scalar()
        if stray is not None:
            candidates.append(max(month_of(stray), oldest))
        first = min(candidates)
    else:
        first = parse_month(since) if isinstance(since, str) else since
    existing, created = set(have), []
    month = first
    while month <= last:
        if month not in existing:
            _create(conn, month)
            created.append(partition_name(month))
        month = add_months(month, 1)
    return created


def _create(conn: sa.Connection, month: Month) -> None:
    name = partition_name(month)
    lo, hi = month_start(month), month_start(add_months(month, 1))
    bounds = f"FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
    span = {"lo": lo, "hi": hi}
    stray = conn.execute(
        sa.text(f"SELECT 1 FROM {DEFAULT} WHERE start_utc >= :lo AND start_utc < :hi LIMIT 1"), span
    ).first()
    if stray is None:
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {TABLE} FOR VALUES {bounds}")
        return
    # rows of this month wait in DEFAULT: build the partition as a plain table, move them, attach it
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    conn.execute(
        sa.text(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE start_utc >= :lo AND start_utc < :hi RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved"
        ),
        span,
    )
    conn.exec_driver_sql(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES {bounds}")


def ensure_ahead(conn: sa.Connection, months: int = AHEAD_MONTHS) -> list[str]:
    """:func:`ensure_partitions` through ``months`` after the current month (``Store.upgrade()``)."""
    return ensure_partitions(conn, add_months(month_of(clock.now()), months))
