"""Billing runs (preview/final, numbered, input hash), their lines and credit notes; payouts.

Revision ID: 0910_billing_runs
Revises: 0902_auth_login_throttle
Create Date: 2026-12-01

Creates ``billing_runs``, ``billing_run_lines`` and ``member_bank_accounts``
(:mod:`condivisa.store.billing_tables`) and the triggers that make a stored run immutable in the database
itself: every UPDATE or DELETE of a run or of its lines raises, TRUNCATE too on PostgreSQL, and a line added
to a run that already has its ``line_count`` lines is refused (the run is sealed when its transaction
commits).
"""

import sqlalchemy as sa
from alembic import op

from condivisa.store.models import BigId, UTCDateTime

revision = "0910_billing_runs"
down_revision = "0902_auth_login_throttle"
branch_labels = None
depends_on = None

MESSAGE = "condivisa: a final billing run cannot be changed; post a correction run (condivisa runs correct)"
SEALED = "condivisa: this final billing run already has all its lines; post a correction run instead"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER billing_runs_no_update BEFORE UPDATE ON billing_runs
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER billing_runs_no_delete BEFORE DELETE ON billing_runs
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER billing_run_lines_no_update BEFORE UPDATE ON billing_run_lines
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER billing_run_lines_no_delete BEFORE DELETE ON billing_run_lines
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER billing_run_lines_sealed BEFORE INSERT ON billing_run_lines
    WHEN (SELECT count(*) FROM billing_run_lines WHERE run_id = NEW.run_id)
         >= (SELECT line_count FROM billing_runs WHERE id = NEW.run_id)
    BEGIN SELECT RAISE(ABORT, '{SEALED}'); END""",
)

POSTGRES_TRIGGERS = (
    f"""CREATE FUNCTION billing_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE} (% on %)', TG_OP, TG_TABLE_NAME;
    END $$""",
    f"""CREATE FUNCTION billing_refuse_unsealed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF (SELECT count(*) FROM billing_run_lines WHERE run_id = NEW.run_id)
           >= (SELECT line_count FROM billing_runs WHERE id = NEW.run_id) THEN
            RAISE EXCEPTION '{SEALED}';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER billing_runs_immutable BEFORE UPDATE OR DELETE ON billing_runs
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_change()""",
    """CREATE TRIGGER billing_runs_no_truncate BEFORE TRUNCATE ON billing_runs
    FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_change()""",
    """CREATE TRIGGER billing_run_lines_immutable BEFORE UPDATE OR DELETE ON billing_run_lines
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_change()""",
    """CREATE TRIGGER billing_run_lines_no_truncate BEFORE TRUNCATE ON billing_run_lines
    FOR EACH STATEMENT EXECUTE FUNCTION billing_refuse_change()""",
    """CREATE TRIGGER billing_run_lines_sealed BEFORE INSERT ON billing_run_lines
    FOR EACH ROW EXECUTE FUNCTION billing_refuse_unsealed()""",
)


def upgrade() -> None:
    _runs()
    _lines()
    _bank_accounts()
    dialect = op.get_bind().dialect.name
    for ddl in {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}.get(dialect, ()):
        op.execute(ddl)


def _runs() -> None:
    op.create_table(
        "billing_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("community", sa.String(128), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period_start", sa.String(7), nullable=False),
        sa.Column("period_end", sa.String(7), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("inputs_sha256", sa.String(64), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("tariffs", sa.JSON(), nullable=False),
        sa.Column(
            "corrects_run_id",
            BigId,
            sa.ForeignKey("billing_runs.id", ondelete="RESTRICT"),
            nullable=True,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("condivisa_version", sa.String(32), nullable=False),
        sa.UniqueConstraint("community", "number", name="uq_billing_runs_community_number"),
        sa.CheckConstraint("kind IN ('final', 'correction')", name="ck_billing_runs_kind"),
    )


def _lines() -> None:
    op.create_table(
        "billing_run_lines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", BigId, sa.ForeignKey("billing_runs.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("payee_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False)
            for name in (
                "premium_cents",
                "valorisation_cents",
                "sale_cents",
                "fees_cents",
                "gse_fees_cents",
                "total_cents",
            )
        ),
        sa.UniqueConstraint("run_id", "payee_id", "month", name="uq_billing_run_lines_run_payee_month"),
        sa.CheckConstraint(
            "kind IN ('member', 'community', 'social_fund', 'external')", name="ck_billing_run_lines_kind"
        ),
        sa.CheckConstraint(
            "total_cents = premium_cents + valorisation_cents + sale_cents + fees_cents + gse_fees_cents",
            name="ck_billing_run_lines_total",
        ),
    )
    op.create_index("ix_billing_run_lines_payee_month", "billing_run_lines", ["payee_id", "month"])


def _bank_accounts() -> None:
    op.create_table(
        "member_bank_accounts",
        sa.Column("community", sa.String(128), primary_key=True),
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(140), nullable=False),
        sa.Column("iban", sa.String(34), nullable=False),
        sa.Column("bic", sa.String(11), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS billing_run_lines_sealed ON billing_run_lines")
        op.execute("DROP TRIGGER IF EXISTS billing_run_lines_no_truncate ON billing_run_lines")
        op.execute("DROP TRIGGER IF EXISTS billing_run_lines_immutable ON billing_run_lines")
        op.execute("DROP TRIGGER IF EXISTS billing_runs_no_truncate ON billing_runs")
        op.execute("DROP TRIGGER IF EXISTS billing_runs_immutable ON billing_runs")
        op.execute("DROP FUNCTION IF EXISTS billing_refuse_unsealed()")
        op.execute("DROP FUNCTION IF EXISTS billing_refuse_change()")
    op.drop_table("member_bank_accounts")
    op.drop_index("ix_billing_run_lines_payee_month", table_name="billing_run_lines")
    op.drop_table("billing_run_lines")
    op.drop_table("billing_runs")
