"""Store: device_activity (last heard from, per DU), filled from the measurements already stored.

Revision ID: 0002_device_activity
Revises: 0900_auth
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from condivisa.store.models import UTCDateTime

revision = "0002_device_activity"
down_revision = "0900_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_activity",
        sa.Column("du_id", sa.String(64), primary_key=True),
        sa.Column("pod", sa.String(64), nullable=False),
        sa.Column("last_received_at", UTCDateTime(), nullable=False),
        sa.Column("last_start", UTCDateTime(), nullable=False),
        sa.Column("readings", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO device_activity (du_id, pod, last_received_at, last_start, readings) "
        "SELECT du_id, max(pod), max(received_at), max(start_utc), count(*) FROM measurements "
        "WHERE du_id IS NOT NULL GROUP BY du_id"
    )


def downgrade() -> None:
    op.drop_table("device_activity")
