"""Store: pods, devices, measurements, measurement revisions, dead letters.

Revision ID: 0001_store
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from condivisa.store.models import BigId, UTCDateTime

revision = "0001_store"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pods",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("member_id", sa.String(64)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("du_id", sa.String(64), primary_key=True),
        sa.Column("pod", sa.String(64), nullable=False),
        sa.Column("member_id", sa.String(64)),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_devices_pod", "devices", ["pod"])
    op.create_table(
        "measurements",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("pod", sa.String(64), nullable=False),
        sa.Column("start_utc", UTCDateTime(), nullable=False),
        sa.Column("meter", sa.String(4), nullable=False),
        sa.Column("minutes", sa.SmallInteger(), nullable=False),
        sa.Column("withdrawn_kwh", sa.Double(), nullable=False),
        sa.Column("injected_kwh", sa.Double(), nullable=False),
        sa.Column("withdrawn_total_kwh", sa.Double()),
        sa.Column("injected_total_kwh", sa.Double()),
        sa.Column("du_id", sa.String(64)),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("flags", sa.JSON(none_as_null=True)),
        sa.UniqueConstraint("pod", "start_utc", "meter", name="uq_measurements_pod_start_meter"),
    )
    op.create_index("ix_measurements_du_id", "measurements", ["du_id"])
    op.create_index("ix_measurements_start_utc", "measurements", ["start_utc"])
    op.create_table(
        "measurement_revisions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("measurement_id", sa.BigInteger(), nullable=False),
        sa.Column("pod", sa.String(64), nullable=False),
        sa.Column("start_utc", UTCDateTime(), nullable=False),
        sa.Column("meter", sa.String(4), nullable=False),
        sa.Column("withdrawn_kwh", sa.Double(), nullable=False),
        sa.Column("injected_kwh", sa.Double(), nullable=False),
        sa.Column("withdrawn_total_kwh", sa.Double()),
        sa.Column("injected_total_kwh", sa.Double()),
        sa.Column("du_id", sa.String(64)),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("superseded_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_measurement_revisions_measurement_id", "measurement_revisions", ["measurement_id"])
    op.create_table(
        "dead_letters",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("device_id", sa.String(64)),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("payload_bytes", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
    )
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"])


def downgrade() -> None:
    for name in ("dead_letters", "measurement_revisions", "measurements", "devices", "pods"):
        op.drop_table(name)
