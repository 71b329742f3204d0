"""Seed the change counter, so the first two writers of a new database never race to create it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "INSERT INTO counters (name, value) SELECT 'records', 0 "
            "WHERE NOT EXISTS (SELECT 1 FROM counters WHERE name = 'records')"
        )
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM counters WHERE name = 'records' AND value = 0"))
