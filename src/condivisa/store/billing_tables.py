"""Tables of billing: final settlement runs, their lines, and the members' bank accounts.

A *run* is a settlement of a period (whole civil months, Europe/Rome) on given data and rules
(:mod:`condivisa.billing.runs`). Only final runs are stored: a final run (``kind="final"``) or a correction
of one (``kind="correction"``), or the yearly balance of a closed year (``kind="yearly_balance"``, the
conguaglio: :mod:`condivisa.billing.yearly_balance`; the kind allowed by migration
``0930_yearly_balance_runs``); a preview is computed and shown, never stored. A stored run is immutable:

- the code has no path that updates or deletes a run or its lines;
- the database refuses it too: triggers created by migration ``0910_billing_runs`` raise on every UPDATE and
  DELETE of ``billing_runs`` and ``billing_run_lines`` (and on TRUNCATE, PostgreSQL), and a run is *sealed*
  at its number of lines (``line_count``): a line added to a run that already has them all is refused.

Money is stored in whole cents (integers), each line being what the payee receives (fees paid negative);
``total_cents`` is the sum of the other money columns (a CHECK constraint).

``member_bank_accounts`` holds the IBAN (compact, validated with ``schwifty``), holder and optional BIC of a
member or external producer: personal data, exported and erased with the member
(:mod:`condivisa.auth.privacy`).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from condivisa.store.models import Base, BigId, UTCDateTime

RUN_KINDS = ("final", "correction", "yearly_balance")
PAYEE_KINDS = ("member", "community", "social_fund", "external")
#: the money columns of a line, in :data:`condivisa.outputs.statement.MONEY_KEYS` order
CENTS_COLUMNS = (
    "premium_cents",
    "valorisation_cents",
    "sale_cents",
    "fees_cents",
    "gse_fees_cents",
    "total_cents",
)


class BillingRun(Base):
    """A final settlement run or a correction of one (see the module docstring)."""

    __tablename__ = "billing_runs"
    __table_args__ = (
        sa.UniqueConstraint("community", "number", name="uq_billing_runs_community_number"),
        sa.CheckConstraint("kind IN ('final', 'correction', 'yearly_balance')", name="ck_billing_runs_kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    number: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    period_start: Mapped[str] = mapped_column(sa.String(7), nullable=False)  # first month, YYYY-MM
    period_end: Mapped[str] = mapped_column(sa.String(7), nullable=False)  # last month, included
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    inputs_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    inputs: Mapped[dict] = mapped_column(sa.JSON(), nullable=False)  # the hash's parts and what they cover
    rules: Mapped[dict] = mapped_column(sa.JSON(), nullable=False)
    tariffs: Mapped[dict] = mapped_column(sa.JSON(), nullable=False)
    corrects_run_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("billing_runs.id", ondelete="RESTRICT"), nullable=True
    )
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    line_count: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    condivisa_version: Mapped[str] = mapped_column(sa.String(32), nullable=False)


class BillingRunLine(Base):
    """One payee's money of one month in a run, whole cents."""

    __tablename__ = "billing_run_lines"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "payee_id", "month", name="uq_billing_run_lines_run_payee_month"),
        sa.CheckConstraint(
            "kind IN ('member', 'community', 'social_fund', 'external')", name="ck_billing_run_lines_kind"
        ),
        sa.CheckConstraint(
            "total_cents = premium_cents + valorisation_cents + sale_cents + fees_cents + gse_fees_cents",
            name="ck_billing_run_lines_total",
        ),
        sa.Index("ix_billing_run_lines_payee_month", "payee_id", "month"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("billing_runs.id", ondelete="RESTRICT"), nullable=False
    )
    payee_id: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    month: Mapped[str] = mapped_column(sa.String(7), nullable=False)
    premium_cents: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    valorisation_cents: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    sale_cents: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    fees_cents: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    gse_fees_cents: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    total_cents: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)


class MemberBankAccount(Base):
    """The bank account a member (or external producer) is paid on: personal data."""

    __tablename__ = "member_bank_accounts"

    community: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    member_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(140), nullable=False)
    iban: Mapped[str] = mapped_column(sa.String(34), nullable=False)
    bic: Mapped[str | None] = mapped_column(sa.String(11), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)


BILLING_TABLES = (BillingRun.__table__, BillingRunLine.__table__, MemberBankAccount.__table__)
