"""The audit trail: one row per change, written in the change's transaction, with the accounts
each entry concerns besides its actor. Append-only: triggers refuse every UPDATE and DELETE
(and, on PostgreSQL, TRUNCATE), so not even a mistaken statement of commex's own can rewrite the
record.

Revision ID: 0011_audit_trail
Revises: 0010_subcontracts
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_audit_trail"
down_revision = "0010_subcontracts"
branch_labels = None
depends_on = None

_TABLES = ("audit_log", "audit_accounts")
_REFUSAL = "the audit trail is append-only"


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.String(40), nullable=True),
        sa.Column("actor_concerned", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_subject_seq", "audit_log", ["subject_id", "seq"])
    op.create_index("ix_audit_log_actor_seq", "audit_log", ["actor_id", "seq"])
    op.create_index("ix_audit_log_request_id", "audit_log", ["request_id"])
    op.create_table(
        "audit_accounts",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["seq"], ["audit_log.seq"], name="fk_audit_accounts_seq_audit_log"),
        sa.PrimaryKeyConstraint("account_id", "seq", name="pk_audit_accounts"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guards()
    else:
        _sqlite_guards()


def _sqlite_guards() -> None:
    for table in _TABLES:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END"
            )


def _postgresql_guards() -> None:
    op.execute(
        "CREATE FUNCTION commex_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{_REFUSAL}' USING ERRCODE = 'insufficient_privilege'; END $$"
    )
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION commex_audit_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION commex_audit_append_only()"
        )


def downgrade() -> None:
    op.drop_table("audit_accounts")
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS commex_audit_append_only()")
