"""Many communities on one platform: the communities, every version of their files, who owns each POD
when, and the community of every row that people or devices reach.

Revision ID: 0950_communities
Revises: 0940_partition_measurements
Create Date: 2026-12-01

- ``communities``: one row per community the platform serves (``slug``: the level of its MQTT topics and
  the key of its rows; ``name`` unique too, because billing runs, ledger entries and bank accounts are keyed
  by the community's name); ``removed_at`` set when it is removed (its rows are kept).
- ``community_versions``: every version of every community file, byte for byte, with its SHA-256, the
  SHA-256 of its allocation rules, who recorded it and when.
- ``pod_memberships``: a POD belongs to one community at a time, from ``valid_from`` to ``valid_to``
  (exclusive, civil days Europe/Rome; ``NULL``: still a member). A partial unique index allows one open
  membership per POD; closed ones may not overlap (checked by :mod:`condivisa.store.communities`).
- ``community`` (nullable) on the rows people and devices reach: users (``NULL``: a platform admin), tokens,
  audit entries, dead letters, devices and PODs. Rows written before this migration have ``NULL``; the first
  community added to the store adopts them (:func:`condivisa.store.communities.add_community`).
- ``billing_previews``: a billing run computed by ``condivisa settle-all`` and kept as a preview (never
  final): unique on community, months and the SHA-256 of the inputs, so a task retried after a worker died
  writes nothing twice.
"""

import sqlalchemy as sa
from alembic import op

revision = "0950_communities"
down_revision = "0940_partition_measurements"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: (table, index on the new column or None)
SCOPED = (
    ("auth_users", None),
    ("auth_tokens", None),
    ("auth_audit_log", "ix_auth_audit_log_community"),
    ("dead_letters", "ix_dead_letters_community"),
    ("devices", "ix_devices_community"),
    ("pods", "ix_pods_community"),
)


def upgrade() -> None:
    op.create_table(
        "communities",
        sa.Column("slug", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "community_versions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("community", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("file_text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rules_sha256", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("source", sa.String(500), nullable=True),
        sa.UniqueConstraint("community", "version", name="uq_community_versions_version"),
    )
    op.create_table(
        "pod_memberships",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("pod", sa.String(64), nullable=False),
        sa.Column("community", sa.String(128), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
    )
    op.create_index("ix_pod_memberships_pod", "pod_memberships", ["pod", "valid_from"])
    op.create_index("ix_pod_memberships_community", "pod_memberships", ["community"])
    op.create_index(
        "uq_pod_memberships_open",
        "pod_memberships",
        ["pod"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
        sqlite_where=sa.text("valid_to IS NULL"),
    )
    for table, index in SCOPED:
        op.add_column(table, sa.Column("community", sa.String(128), nullable=True))
        if index:
            op.create_index(index, table, ["community"])
    op.create_table(
        "billing_previews",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("community", sa.String(128), nullable=False),
        sa.Column("months", sa.String(16), nullable=False),  # YYYY-MM or YYYY-MM..YYYY-MM
        sa.Column("inputs_sha256", sa.String(64), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_by", sa.String(128), nullable=False),
        sa.Column("batch", sa.String(64), nullable=True),
        sa.UniqueConstraint("community", "months", "inputs_sha256", name="uq_billing_previews_inputs"),
    )


def downgrade() -> None:
    op.drop_table("billing_previews")
    for table, index in reversed(SCOPED):
        if index:
            op.drop_index(index, table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("community")
    op.drop_index("uq_pod_memberships_open", table_name="pod_memberships")
    op.drop_index("ix_pod_memberships_community", table_name="pod_memberships")
    op.drop_index("ix_pod_memberships_pod", table_name="pod_memberships")
    op.drop_table("pod_memberships")
    op.drop_table("community_versions")
    op.drop_table("communities")
