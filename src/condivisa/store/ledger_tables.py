"""The GSE ledger table: what the GSE communicated and paid to a community, one row per document or payment.

Rules implemented (the logic is :mod:`condivisa.billing.ledger`):

- one row is one figure of the GSE for one period: a monthly ``advance`` (acconto), the ``yearly_balance``
  (conguaglio, period ``YYYY``) or a ``correction`` (rettifica) of a past month; its ``status`` says whether
  the GSE only **communicated** the amount (a notice, a statement in the GSE portal) or **paid** it (the money
  reached the community's account, ``paid_on``);
- the amount is in **integer cents** (``amount_cents``), signed: what the community receives is positive, a
  sum the GSE claims back is negative;
- the attached document (the GSE's statement, a bank receipt) is kept **in the database** (``document``,
  at most :data:`~condivisa.billing.ledger.MAX_DOCUMENT_BYTES`), with its name, content type and SHA-256,
  so one backup of the database holds everything;
- ``natural_key`` (SHA-256 of community, period, kind, status, reference, amount and date) is unique:
  recording the same figure twice stores it once.

The schema is created by the Alembic revision ``0911_gse_ledger`` (``Store.upgrade()``), never by
``create_all``.

References
----------
.. [1] GSE, Regole operative per l'accesso al servizio per l'autoconsumo diffuso (CACER), 2024: monthly
   payments of the incentive and the yearly balance (conguaglio).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from condivisa.store.models import Base, UTCDateTime


class GseLedgerEntry(Base):
    """One figure the GSE communicated or paid (see the module docstring)."""

    __tablename__ = "gse_ledger_entries"
    __table_args__ = (sa.Index("ix_gse_ledger_entries_community_period", "community", "period"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    natural_key: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    community: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    #: ``YYYY-MM`` (advance, correction) or ``YYYY`` (yearly balance)
    period: Mapped[str] = mapped_column(sa.String(7), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    communicated_on: Mapped[dt.date | None] = mapped_column(sa.Date, nullable=True)
    paid_on: Mapped[dt.date | None] = mapped_column(sa.Date, nullable=True)
    due_on: Mapped[dt.date | None] = mapped_column(sa.Date, nullable=True)
    reference: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    document: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    document_name: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    document_content_type: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    document_sha256: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    document_bytes: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(128), nullable=False)
