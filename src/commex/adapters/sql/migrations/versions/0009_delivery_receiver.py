"""A delivery keeps what its receivers reported over RTCP (S9): the worst fraction lost, the
packets lost, jitter and round trip, so a breach can rest on the receiving side's measure.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("rx_streams", sa.Integer()),
    ("rx_fraction_lost_ppm", sa.Integer()),
    ("rx_cumulative_lost", sa.BigInteger()),
    ("rx_jitter_us", sa.BigInteger()),
    ("rx_round_trip_us", sa.BigInteger()),
)


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        for name, kind in _COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
