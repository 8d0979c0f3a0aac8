"""The station outbox as it was first shipped (hand-written sqlite3 DDL until then): boards + images.

A station database made before migrations existed has exactly these tables; it is stamped with
this revision and upgraded from here.

Revision ID: station_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "station_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "boards",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("station_id", sa.Text, nullable=False),
        sa.Column("serial", sa.Text, nullable=False),
        sa.Column("recipe_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("verdict", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("record_json", sa.Text, nullable=False),
        sa.Column("delivery", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt", sa.Float, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("response_json", sa.Text),
        sa.Column("delivered", sa.Float),
    )
    op.create_index("boards_pending", "boards", ["delivery", "next_attempt"])
    op.create_table(
        "images",
        sa.Column("key", sa.Text, sa.ForeignKey("boards.key", ondelete="CASCADE"), primary_key=True),
        sa.Column("view", sa.Text, primary_key=True),
        sa.Column("png", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("images")
    op.drop_index("boards_pending", table_name="boards")
    op.drop_table("boards")
