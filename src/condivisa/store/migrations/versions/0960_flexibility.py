"""Flexibility and engagement (issue #19): demand-response events, who was invited and what their DU
answered, and the members who opted in to the community ranking.

Revision ID: 0960_flexibility
Revises: 0950_communities
Create Date: 2026-12-01

- ``flex_events``: an event the referente created for a community: consume more in ``[starts_at, ends_at)``
  (UTC instants; quarter-hour aligned), towards ``target_kw`` (mean power) or ``target_kwh``; ``sent_at``
  once its commands and e-mails went out, ``cancelled_at`` if cancelled.
- ``flex_invitations``: one row per invited member and DU of an event (``du_id`` empty for a member without
  a DU: invited by e-mail and the dashboard only); ``sent_at``, the DU's ``reply_status`` (accepted or
  declined) and ``replied_at``.
- ``engagement_optins``: a member who chose to appear in the community ranking, under ``pseudonym``; no row:
  not in the ranking (opt-in, never opt-out).
"""

import sqlalchemy as sa
from alembic import op

revision = "0960_flexibility"
down_revision = "0950_communities"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "flex_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("community", sa.String(128), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target_kw", sa.Float(), nullable=True),
        sa.Column("target_kwh", sa.Float(), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_flex_events_community", "flex_events", ["community", "starts_at"])
    op.create_table(
        "flex_invitations",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("member_id", sa.String(128), nullable=False),
        sa.Column("du_id", sa.String(128), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_status", sa.String(16), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("event_id", "member_id", "du_id", name="uq_flex_invitations"),
    )
    op.create_index("ix_flex_invitations_du", "flex_invitations", ["du_id", "event_id"])
    op.create_table(
        "engagement_optins",
        sa.Column("community", sa.String(128), primary_key=True),
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("opted_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("community", "pseudonym", name="uq_engagement_pseudonym"),
    )


def downgrade() -> None:
    op.drop_table("engagement_optins")
    op.drop_index("ix_flex_invitations_du", table_name="flex_invitations")
    op.drop_table("flex_invitations")
    op.drop_index("ix_flex_events_community", table_name="flex_events")
    op.drop_table("flex_events")
