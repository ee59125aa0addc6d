"""The distributor's validated quarter hours: imported files and every version of every value.

Revision ID: 0920_distributor_data
Revises: 0911_gse_ledger
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0920_distributor_data"
down_revision = "0911_gse_ledger"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "distributor_files",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("pod", sa.String(64), nullable=False, index=True),
        sa.Column("direction", sa.String(12), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("values_read", sa.Integer(), nullable=False),
        sa.Column("new_values", sa.Integer(), nullable=False),
        sa.Column("unchanged_values", sa.Integer(), nullable=False),
        sa.Column("restated_values", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "distributor_readings",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("pod", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(12), nullable=False),
        sa.Column("start_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("energy_kwh", sa.Double(), nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("flag", sa.String(16), nullable=True),
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("pod", "direction", "start_utc", "version", name="uq_distributor_version"),
    )
    op.create_index("ix_distributor_current", "distributor_readings", ["pod", "start_utc", "current"])


def downgrade() -> None:
    op.drop_index("ix_distributor_current", table_name="distributor_readings")
    op.drop_table("distributor_readings")
    op.drop_table("distributor_files")
