"""The GSE ledger: what the GSE communicated and paid, per month.

Revision ID: 0911_gse_ledger
Revises: 0910_billing_runs
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0911_gse_ledger"
down_revision = "0910_billing_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gse_ledger_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("natural_key", sa.String(64), nullable=False, unique=True),
        sa.Column("community", sa.String(128), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("communicated_on", sa.Date(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("reference", sa.String(128), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("document", sa.LargeBinary(), nullable=True),
        sa.Column("document_name", sa.String(255), nullable=True),
        sa.Column("document_content_type", sa.String(100), nullable=True),
        sa.Column("document_sha256", sa.String(64), nullable=True),
        sa.Column("document_bytes", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_gse_ledger_entries_community_period", "gse_ledger_entries", ["community", "period"])


def downgrade() -> None:
    op.drop_index("ix_gse_ledger_entries_community_period", table_name="gse_ledger_entries")
    op.drop_table("gse_ledger_entries")
