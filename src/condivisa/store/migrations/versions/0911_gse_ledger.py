"""The GSE ledger: what the GSE communicated and paid, per month.

Revision ID: 0911_gse_ledger
Revises: 0910_billing_runs
Create Date: 2026-12-01
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0911_gse_ledger"
down_revision = "0910_billing_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
