"""Tables of the distributor's validated data: every imported file, and every version of every quarter hour.

A quarter hour of a POD and direction has one *current* value and any number of superseded ones: a later
file that changes it (a restatement) adds version n+1 and marks version n not current; nothing is ever
overwritten or deleted. The DU readings stay in ``measurements`` (source ``du``); the settlement takes, per
POD, quarter hour and direction, the distributor's current value when there is one
(:mod:`condivisa.store.provenance`).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from condivisa.store.models import Base, BigId, UTCDateTime


class DistributorFile(Base):
    """One imported distributor file: its hash (a second import of the same bytes changes nothing), what it
    covered and what it changed."""

    __tablename__ = "distributor_files"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    pod: Mapped[str] = mapped_column(sa.String(64), index=True)
    direction: Mapped[str] = mapped_column(sa.String(12))
    first_day: Mapped[dt.date] = mapped_column(sa.Date)
    last_day: Mapped[dt.date] = mapped_column(sa.Date)
    values_read: Mapped[int] = mapped_column(sa.Integer)
    new_values: Mapped[int] = mapped_column(sa.Integer)
    unchanged_values: Mapped[int] = mapped_column(sa.Integer)
    restated_values: Mapped[int] = mapped_column(sa.Integer)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    imported_by: Mapped[str] = mapped_column(sa.String(128))


class DistributorReading(Base):
    """One version of one quarter hour of one POD and direction, kWh."""

    __tablename__ = "distributor_readings"
    __table_args__ = (
        sa.UniqueConstraint("pod", "direction", "start_utc", "version", name="uq_distributor_version"),
        sa.Index("ix_distributor_current", "pod", "start_utc", "current"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pod: Mapped[str] = mapped_column(sa.String(64))
    direction: Mapped[str] = mapped_column(sa.String(12))
    start_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    energy_kwh: Mapped[float] = mapped_column(sa.Double)
    version: Mapped[int] = mapped_column(sa.SmallInteger)
    current: Mapped[bool] = mapped_column(sa.Boolean)
    flag: Mapped[str | None] = mapped_column(sa.String(16))
    file_id: Mapped[int] = mapped_column(sa.BigInteger)
