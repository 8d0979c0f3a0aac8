"""Alembic environment: runs on the connection `api.service.migrate.upgrade` hands in, or on the
database named by Settings when run from the ``alembic`` command line."""

from __future__ import annotations

from alembic import context

from api.service.db import Base, make_engine
from api.settings import Settings

target_metadata = Base.metadata


def run_migrations_online() -> None:
    conn = context.config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(Settings())
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
