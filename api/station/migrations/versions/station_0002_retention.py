"""Retention: an index to find delivered (and local) rows by age, so pruning old rows stays cheap
however large the outbox has grown.

Revision ID: station_0002
Revises: station_0001
Create Date: 2026-12-06
"""

from alembic import op

revision = "station_0002"
down_revision = "station_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("boards_by_age", "boards", ["delivery", "created"])


def downgrade() -> None:
    op.drop_index("boards_by_age", table_name="boards")
