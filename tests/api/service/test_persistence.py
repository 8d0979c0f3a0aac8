"""The Alembic migrations build exactly the tables the SQLAlchemy models describe (both backends),
the image store deduplicates, and a full queue answers 503 with Retry-After."""

from __future__ import annotations

import time

import pytest

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient

from api.service.app import create_app
from api.service.db import Base, make_engine
from api.service.migrate import upgrade
from api.service.store import DirectoryStore, service_store
from tests.api.service.support import ADMIN_KEY, png, setup_board


def test_migrations_match_the_models(settings):
    engine = make_engine(settings)
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_service_store_default_directory_is_created_a_named_one_must_exist(tmp_path):
    from api.settings import Settings
    from models.errors import InputError

    st = service_store(Settings(data_dir=tmp_path / "data"))
    assert isinstance(st, DirectoryStore) and st.root == tmp_path / "data" / "images" and st.root.is_dir()
    a = st.put(b"abc")
    assert st.put(b"abc") == a == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert st.get(a) == b"abc" and len(list(st.root.rglob("*"))) == 2  # one folder, one blob
    with pytest.raises(InputError, match="not-mounted does not exist on this machine"):
        service_store(Settings(data_dir=tmp_path, store_url=str(tmp_path / "not-mounted")))  # an unmounted share is no new store


def test_full_queue_answers_503_with_retry_after(settings, board, monkeypatch):
    monkeypatch.setenv("POGOSCOPE_TEST_DELAY_S", "1.0")
    s = settings.model_copy(update={"queue_max_depth": 1, "inspect_func": "tests.api.service.support:delayed_inspect"})
    with TestClient(create_app(s), headers={"X-API-Key": ADMIN_KEY}) as c:
        setup_board(c, board)
        files = {"top": ("t.png", png(board.image), "image/png")}
        first = c.post("/v1/inspections", data={"serial": "Q1", "recipe_id": board.recipe["recipe_id"]}, files=files)
        second = c.post("/v1/inspections", data={"serial": "Q2", "recipe_id": board.recipe["recipe_id"]}, files=files)
        assert first.status_code == 202
        assert second.status_code == 503 and second.headers["retry-after"] == "5"
        assert second.json()["type"] == "/problems/queue-full"
        assert c.get("/v1/boards/Q2").status_code == 404  # refused before anything was stored
        time.sleep(0.1)
