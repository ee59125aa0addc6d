"""Auth: the platform's database-kept secrets (CSRF signing key) and each community's last
recorded allocation rules (audit of rule changes).

Revision ID: 0901_auth_rules_secrets
Revises: 0002_device_activity
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0901_auth_rules_secrets"
down_revision = "0002_device_activity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "auth_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", ts, nullable=False),
    )
    op.create_table(
        "auth_community_rules",
        sa.Column("community", sa.String(128), primary_key=True),
        sa.Column("rules_json", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("recorded_at", ts, nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("auth_community_rules")
    op.drop_table("auth_secrets")
