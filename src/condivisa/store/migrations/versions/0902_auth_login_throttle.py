"""Auth: the per-username login throttle (brute-force brake counted atomically, also on PostgreSQL).

Revision ID: 0902_auth_login_throttle
Revises: 0901_auth_rules_secrets
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0902_auth_login_throttle"
down_revision = "0901_auth_rules_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_login_throttle",
        sa.Column("username", sa.String(128), primary_key=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("auth_login_throttle")
