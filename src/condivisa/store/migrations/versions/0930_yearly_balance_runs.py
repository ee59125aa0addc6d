"""Billing runs of kind ``yearly_balance`` (the conguaglio of a closed year, ``condivisa runs close-year``).

Revision ID: 0930_yearly_balance_runs
Revises: 0920_distributor_data
Create Date: 2026-12-01

``billing_runs.kind`` is a plain string column with the CHECK constraint ``ck_billing_runs_kind``
(migration ``0910_billing_runs``); this migration allows a third value, ``yearly_balance``:

- PostgreSQL: the constraint is dropped and created again with the new list (``ALTER TABLE``, in the
  migration's transaction);
- SQLite cannot alter a CHECK constraint, and rebuilding the table (Alembic's batch mode) is impossible
  here: the runs are referenced by their lines with ``ON DELETE RESTRICT`` and ``PRAGMA foreign_keys=ON``
  (a no-op to turn off inside the migration's transaction), so dropping the old table is refused, and the
  immutability triggers would be lost with it. The new constraint only *widens* the old one (every stored
  row still satisfies it), which is the case the SQLite manual documents for editing the table's definition
  in ``sqlite_schema`` (ALTER TABLE, "Making Other Kinds Of Table Schema Changes": ``writable_schema``,
  then ``schema_version`` + 1 so that every connection reads the schema again). Nothing else is touched:
  the rows, the triggers and the indexes stay as they are.

The downgrade narrows the constraint back, and is refused while a yearly balance run exists (a stored run
can never be deleted).

References
----------
.. [1] SQLite, ALTER TABLE, section 7 (https://www.sqlite.org/lang_altertable.html#otheralter).
"""

import sqlalchemy as sa
from alembic import op

revision = "0930_yearly_balance_runs"
down_revision = "0920_distributor_data"
branch_labels = None
depends_on = None

NAME = "ck_billing_runs_kind"
OLD = "kind IN ('final', 'correction')"
NEW = "kind IN ('final', 'correction', 'yearly_balance')"


def _sqlite_check(old: str, new: str) -> None:
    conn = op.get_bind()
    sql = conn.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'billing_runs'")
    ).scalar_one()
    if new in sql:
        return
    if sql.count(old) != 1:
        raise RuntimeError(f"billing_runs: cannot find the constraint {old!r} to change in {sql!r}")
    version = int(conn.execute(sa.text("PRAGMA schema_version")).scalar_one())
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        conn.execute(
            sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'billing_runs'"),
            {"sql": sql.replace(old, new)},
        )
        conn.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    finally:
        conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = conn.execute(sa.text("PRAGMA integrity_check")).scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"billing_runs: integrity check after changing {NAME}: {problems}")


def _change(old: str, new: str) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_check(old, new)
    else:
        op.drop_constraint(NAME, "billing_runs", type_="check")
        op.create_check_constraint(NAME, "billing_runs", new)


def upgrade() -> None:
    _change(OLD, NEW)


def downgrade() -> None:
    n = op.get_bind().execute(sa.text("SELECT count(*) FROM billing_runs WHERE kind = 'yearly_balance'"))
    if n.scalar_one():
        raise RuntimeError(
            "billing_runs: yearly balance runs are stored and a stored run can never be deleted; "
            "cannot downgrade below 0930_yearly_balance_runs"
        )
    _change(NEW, OLD)
