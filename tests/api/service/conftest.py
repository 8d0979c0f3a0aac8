"""Fixtures: settings for a fresh database on each backend, an in-process app client, boards."""

from __future__ import annotations

import pytest

from tests.api.service import support


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_env(request, tmp_path) -> dict:
    """Environment for a fresh database: a SQLite file, or a private schema in the local PostgreSQL."""
    env = {"POGOSCOPE_DATA_DIR": str(tmp_path / "data")}
    if request.param == "postgres":
        why = support.pg_available()
        if why:
            pytest.skip(why)
        schema = support.new_schema()
        env |= {"POGOSCOPE_DATABASE_URL": support.PG_URL, "POGOSCOPE_DB_SCHEMA": schema}
        request.addfinalizer(lambda: support.drop_schema(schema))
    return env


@pytest.fixture
def sqlite_env(tmp_path) -> dict:
    """For modules whose subject does not depend on the database backend: override `db_env` with it."""
    return {"POGOSCOPE_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def settings(db_env):
    from api.settings import Settings

    return Settings(**{k.removeprefix("POGOSCOPE_").lower(): v for k, v in db_env.items()}, workers=1, worker_mode="thread",
                    admin_key=support.ADMIN_KEY, outbox_poll_s=0.05)


@pytest.fixture
def app_client(settings):
    """The app in this process (worker threads), through Starlette's test client."""
    from fastapi.testclient import TestClient

    from api.service.app import create_app

    with TestClient(create_app(settings), headers={"X-API-Key": support.ADMIN_KEY}) as c:
        yield c


@pytest.fixture(scope="session")
def board(synth_board):
    return synth_board(seed=3, rows=2, cols=4)
