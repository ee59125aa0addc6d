"""SQLAlchemy 2 tables of the durable store; every table of condivisa uses :class:`Base`.

Times are stored in UTC (``timestamptz`` on PostgreSQL, ISO text on SQLite) and read back aware.
The schema itself is created by the Alembic migrations in ``condivisa/migrations`` (``Store.upgrade()``),
never by ``create_all``.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from condivisa.kernel.timegrid import UTC


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware datetime stored as UTC; naive values are refused rather than guessed."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: condivisa stores aware timestamps only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: 64-bit ids on PostgreSQL, SQLite's INTEGER PRIMARY KEY (rowid) there.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of every condivisa table (store, auth, ...)."""

    #: every condivisa class maps one plain table (SQLAlchemy types it as any ``FromClause``)
    __table__: ClassVar[sa.Table]


class Pod(Base):
    """A point of delivery of the community, with the member it belongs to."""

    __tablename__ = "pods"
    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    member_id: Mapped[str | None] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16), default="consumption")
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    community: Mapped[str | None] = mapped_column(sa.String(128), index=True)  # its community now


class Device(Base):
    """A chain-2 user device (DU) and the POD it is registered to read."""

    __tablename__ = "devices"
    du_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    pod: Mapped[str] = mapped_column(sa.String(64), index=True)
    member_id: Mapped[str | None] = mapped_column(sa.String(64))
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    community: Mapped[str | None] = mapped_column(sa.String(128), index=True)


class DeviceActivity(Base):
    """When each DU (registered or not) was last heard from, kept up to date by every accepted message so
    that "devices silent for an hour" is a lookup, not a scan of all measurements."""

    __tablename__ = "device_activity"
    du_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    pod: Mapped[str] = mapped_column(sa.String(64))  # the POD of its latest quarter hour
    last_received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    readings: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # readings received (duplicates included)


class Measurement(Base):
    """The current value of one quarter hour (or hour) of one POD and meter (M1 exchange, M2 production)."""

    __tablename__ = "measurements"
    __table_args__ = (
        sa.UniqueConstraint("pod", "start_utc", "meter", name="uq_measurements_pod_start_meter"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pod: Mapped[str] = mapped_column(sa.String(64))
    start_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    meter: Mapped[str] = mapped_column(sa.String(4), default="M1")
    minutes: Mapped[int] = mapped_column(sa.SmallInteger, default=15)
    withdrawn_kwh: Mapped[float] = mapped_column(sa.Double)
    injected_kwh: Mapped[float] = mapped_column(sa.Double)
    withdrawn_total_kwh: Mapped[float | None] = mapped_column(sa.Double)
    injected_total_kwh: Mapped[float | None] = mapped_column(sa.Double)
    du_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(sa.String(200))
    revision: Mapped[int] = mapped_column(sa.Integer, default=0)
    flags: Mapped[list | None] = mapped_column(sa.JSON(none_as_null=True))


class MeasurementRevision(Base):
    """A superseded value of a measurement, kept for audit when a re-sent quarter hour changed it."""

    __tablename__ = "measurement_revisions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    measurement_id: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    pod: Mapped[str] = mapped_column(sa.String(64))
    start_utc: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    meter: Mapped[str] = mapped_column(sa.String(4))
    withdrawn_kwh: Mapped[float] = mapped_column(sa.Double)
    injected_kwh: Mapped[float] = mapped_column(sa.Double)
    withdrawn_total_kwh: Mapped[float | None] = mapped_column(sa.Double)
    injected_total_kwh: Mapped[float | None] = mapped_column(sa.Double)
    du_id: Mapped[str | None] = mapped_column(sa.String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(sa.String(200))
    revision: Mapped[int] = mapped_column(sa.Integer)
    superseded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class DeadLetter(Base):
    """A rejected payload, byte for byte, with every reason it was rejected."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    source: Mapped[str] = mapped_column(sa.String(200))
    device_id: Mapped[str | None] = mapped_column(sa.String(64))
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    payload_bytes: Mapped[int] = mapped_column(sa.Integer)  # original size (payload may be truncated)
    reasons: Mapped[list] = mapped_column(sa.JSON)
    #: the community the sender belongs to (topic, token), ``None`` when unknown (platform admins only)
    community: Mapped[str | None] = mapped_column(sa.String(128), index=True)
