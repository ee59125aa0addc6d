"""Auth: the people and platforms who may read and write (users, tokens), the devices' MQTT credentials,
and the audit log.

Revision ID: 0900_auth
Revises: 0001_store
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0900_auth"
down_revision = "0001_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "auth_users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(128), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("member_id", sa.String(128), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", ts, nullable=False),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("auth_users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("scope_pods", sa.JSON(), nullable=True),
        sa.Column("scope_dus", sa.JSON(), nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("expires_at", ts, nullable=False),
        sa.Column("revoked_at", ts, nullable=True),
    )
    op.create_table(
        "auth_device_credentials",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("du_id", sa.String(128), nullable=False, unique=True),
        sa.Column("community", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("revoked_at", ts, nullable=True),
    )
    op.create_table(
        "auth_audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", ts, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(256), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
    )
    op.create_index("ix_auth_audit_log_at", "auth_audit_log", ["at"])
    op.create_index("ix_auth_audit_log_action_actor", "auth_audit_log", ["action", "actor"])


def downgrade() -> None:
    op.drop_index("ix_auth_audit_log_action_actor", table_name="auth_audit_log")
    op.drop_index("ix_auth_audit_log_at", table_name="auth_audit_log")
    op.drop_table("auth_audit_log")
    op.drop_table("auth_device_credentials")
    op.drop_table("auth_tokens")
    op.drop_table("auth_users")
