"""Process control: pin_values and pin_reasons (written with each result, backfilled here from the
stored results), spc_alarms, grr_studies and grr_runs.

Revision ID: 0004
Revises: 0002 (re-chained after 0003 when merged)
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "pin_values",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("inspection_id", sa.String(32), nullable=False, index=True),
        sa.Column("recipe_id", sa.String(100), nullable=False),
        sa.Column("station_id", sa.String(100), nullable=True),
        sa.Column("item_id", sa.String(50), nullable=False),
        sa.Column("measurement", sa.String(80), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("uncertainty", sa.Float, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    # covering index: SPC reads (recipe, measurement, pin) ranges in time order without touching the table
    op.create_index("ix_pin_values_series", "pin_values", ["recipe_id", "measurement", "item_id", "created_at", "id", "value", "uncertainty"])
    op.create_table(
        "pin_reasons",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("inspection_id", sa.String(32), nullable=False, index=True),
        sa.Column("recipe_id", sa.String(100), nullable=False),
        sa.Column("station_id", sa.String(100), nullable=True),
        sa.Column("item_id", sa.String(50), nullable=False),
        sa.Column("verdict", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_pin_reasons_recipe", "pin_reasons", ["recipe_id", "created_at"])
    op.create_table(
        "spc_alarms",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recipe_id", sa.String(100), nullable=False),
        sa.Column("measurement", sa.String(80), nullable=False),
        sa.Column("item_id", sa.String(50), nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("last_hit_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("event_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_spc_alarms_open", "spc_alarms", ["recipe_id", "measurement", "item_id", "closed_at"])
    op.create_table(
        "grr_studies",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("recipe_id", sa.String(100), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("serials", sa.JSON, nullable=False),
        sa.Column("repeats", sa.Integer, nullable=False),
        sa.Column("operators", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=True),
    )
    op.create_table(
        "grr_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("inspection_id", sa.String(32), nullable=False, unique=True),
        sa.Column("serial", sa.String(200), nullable=False),
        sa.Column("operator", sa.String(100), nullable=False),
        sa.Column("trial", sa.Integer, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_grr_runs_study", "grr_runs", ["study_id"])
    _backfill()


def _backfill() -> None:
    """Index the results stored before this migration (in batches, so memory stays flat)."""
    from api.service.analytics import result_rows

    bind = op.get_bind()
    insp = sa.table("inspections", sa.column("id"), sa.column("recipe_id"), sa.column("station_id"), sa.column("status"),
                    sa.column("result", sa.JSON), sa.column("created_at", TS))
    pv = sa.table("pin_values", *(sa.column(c) for c in ("inspection_id", "recipe_id", "station_id", "item_id", "measurement",
                                                          "value", "uncertainty", "created_at")))
    pr = sa.table("pin_reasons", *(sa.column(c) for c in ("inspection_id", "recipe_id", "station_id", "item_id", "verdict",
                                                           "reason", "created_at")))
    last = ""
    while True:
        rows = bind.execute(sa.select(insp).where(insp.c.status == "done", insp.c.id > last).order_by(insp.c.id).limit(500)).all()
        if not rows:
            break
        values, reasons = [], []
        for r in rows:
            v, rs = result_rows(r.id, r.recipe_id, r.station_id, r.created_at, r.result or {})
            values += v
            reasons += rs
        if values:
            bind.execute(pv.insert(), values)
        if reasons:
            bind.execute(pr.insert(), reasons)
        last = rows[-1].id


def downgrade() -> None:
    for t in ("grr_runs", "grr_studies", "spc_alarms", "pin_reasons", "pin_values"):
        op.drop_table(t)
