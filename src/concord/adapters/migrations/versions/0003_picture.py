"""The operational picture: records, raw observations and change counters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from concord.adapters.db import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("originator", sa.String(16), nullable=False),
        sa.Column("marking", sa.JSON(), nullable=False),
        sa.Column("exercise", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "id", name="pk_records"),
    )
    op.create_index("ix_records_kind_updated", "records", ["kind", "updated_at"])
    op.create_index("ix_records_seq", "records", ["seq"])
    op.create_table(
        "observations",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("observed_at", UtcDateTime(), nullable=False),
        sa.Column("agency", sa.String(16), nullable=False),
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("sensor", sa.String(16), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("identity", sa.String(120), nullable=True),
        sa.Column("exercise", sa.Boolean(), nullable=False),
        sa.Column("marking", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_observations"),
    )
    op.create_index("ix_observations_observed_at", "observations", ["observed_at"])
    op.create_table(
        "counters",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )


def downgrade() -> None:
    op.drop_table("counters")
    op.drop_index("ix_observations_observed_at", table_name="observations")
    op.drop_table("observations")
    op.drop_index("ix_records_seq", table_name="records")
    op.drop_index("ix_records_kind_updated", table_name="records")
    op.drop_table("records")
