"""Tables of flexibility and engagement (migration ``0960_flexibility``, issue #19).

- :class:`FlexEvent` (``flex_events``): a demand-response event of a community (UTC instants);
- :class:`FlexInvitation` (``flex_invitations``): an invited member and DU, and the DU's reply;
- :class:`EngagementOptIn` (``engagement_optins``): a member in the community ranking, under a pseudonym.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from condivisa.store.models import Base, BigId, UTCDateTime


class FlexEvent(Base):
    """A demand-response event: consume more in ``[starts_at, ends_at)``."""

    __tablename__ = "flex_events"
    __table_args__ = (sa.Index("ix_flex_events_community", "community", "starts_at"),)
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    community: Mapped[str] = mapped_column(sa.String(128))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(sa.String(16))
    target_kw: Mapped[float | None] = mapped_column(sa.Float)
    target_kwh: Mapped[float | None] = mapped_column(sa.Float)
    note: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(128))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class FlexInvitation(Base):
    """A member (and one of their DUs; ``du_id`` empty: none) invited to an event."""

    __tablename__ = "flex_invitations"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "member_id", "du_id", name="uq_flex_invitations"),
        sa.Index("ix_flex_invitations_du", "du_id", "event_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(sa.String(64))
    member_id: Mapped[str] = mapped_column(sa.String(128))
    du_id: Mapped[str] = mapped_column(sa.String(128))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reply_status: Mapped[str | None] = mapped_column(sa.String(16))
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class EngagementOptIn(Base):
    """A member who chose to appear in the community ranking under ``pseudonym``."""

    __tablename__ = "engagement_optins"
    __table_args__ = (sa.UniqueConstraint("community", "pseudonym", name="uq_engagement_pseudonym"),)
    community: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    member_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    pseudonym: Mapped[str] = mapped_column(sa.String(64))
    opted_in_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
