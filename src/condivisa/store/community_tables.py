"""Tables of the communities a platform serves (migration ``0950_communities``).

- :class:`CommunityRow` (``communities``): one per community; ``slug`` is the level of its MQTT topics and
  the key of its rows, ``version`` the file version in force, ``removed_at`` set once it is removed;
- :class:`CommunityVersion` (``community_versions``): every version of every community file, as text;
- :class:`PodMembership` (``pod_memberships``): which community a POD belongs to, from which civil day
  (Europe/Rome) to which (exclusive; ``None``: still a member);
- :class:`BillingPreview` (``billing_previews``): a run computed by ``condivisa settle-all``, kept as a
  preview, unique on (community, months, inputs' SHA-256).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from condivisa.store.models import Base, BigId, UTCDateTime


class CommunityRow(Base):
    """A community the platform serves."""

    __tablename__ = "communities"
    slug: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(256), unique=True)
    version: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class CommunityVersion(Base):
    """One version of a community file, byte for byte (as UTF-8 text)."""

    __tablename__ = "community_versions"
    __table_args__ = (sa.UniqueConstraint("community", "version", name="uq_community_versions_version"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(sa.String(128))
    version: Mapped[int] = mapped_column(sa.Integer)
    file_text: Mapped[str] = mapped_column(sa.Text)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    rules_sha256: Mapped[str] = mapped_column(sa.String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(sa.String(128))
    source: Mapped[str | None] = mapped_column(sa.String(500))


class PodMembership(Base):
    """A POD in a community from ``valid_from`` to ``valid_to`` (exclusive; ``None``: open)."""

    __tablename__ = "pod_memberships"
    __table_args__ = (
        sa.Index("ix_pod_memberships_pod", "pod", "valid_from"),
        sa.Index("ix_pod_memberships_community", "community"),
        sa.Index(
            "uq_pod_memberships_open",
            "pod",
            unique=True,
            postgresql_where=sa.text("valid_to IS NULL"),
            sqlite_where=sa.text("valid_to IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pod: Mapped[str] = mapped_column(sa.String(64))
    community: Mapped[str] = mapped_column(sa.String(128))
    member_id: Mapped[str | None] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))
    valid_from: Mapped[dt.date] = mapped_column(sa.Date)
    valid_to: Mapped[dt.date | None] = mapped_column(sa.Date)


class BillingPreview(Base):
    """A billing run computed by ``settle-all`` and kept as a preview (never final)."""

    __tablename__ = "billing_previews"
    __table_args__ = (
        sa.UniqueConstraint("community", "months", "inputs_sha256", name="uq_billing_previews_inputs"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(sa.String(128))
    months: Mapped[str] = mapped_column(sa.String(16))
    inputs_sha256: Mapped[str] = mapped_column(sa.String(64))
    total_cents: Mapped[int] = mapped_column(sa.BigInteger)
    lines: Mapped[list] = mapped_column(sa.JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    computed_by: Mapped[str] = mapped_column(sa.String(128))
    batch: Mapped[str | None] = mapped_column(sa.String(64))
