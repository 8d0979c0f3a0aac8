"""Alembic environment of the station's outbox (separate from the service's `api/migrations`):
runs on the connection `api.station.outbox.upgrade` hands in."""

from __future__ import annotations

from alembic import context

from api.station.outbox import VERSION_TABLE, metadata

conn = context.config.attributes["connection"]
context.configure(connection=conn, target_metadata=metadata, version_table=VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
