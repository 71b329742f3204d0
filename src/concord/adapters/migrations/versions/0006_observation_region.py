"""Record which tracking region fused each observation, so a new owner replays exactly that region.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("observations", sa.Column("region", sa.String(32), nullable=True))
    op.create_index("ix_observations_region_received", "observations", ["region", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_observations_region_received", table_name="observations")
    op.drop_column("observations", "region")
