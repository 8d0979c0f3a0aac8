"""The in-process pool survives a worker process that dies: the pool is rebuilt, the boards in
flight go again one at a time, and the board that kills its worker ends failed with a reason."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from api.service.app import create_app
from tests.api.service.support import ADMIN_KEY, png, setup_board


@pytest.fixture
def db_env(sqlite_env) -> dict:
    return sqlite_env


def test_a_board_that_kills_its_worker_fails_and_the_others_pass_through(settings, board):
    s = settings.model_copy(update={"workers": 2, "worker_mode": "process", "inspect_func": "tests.api.service.support:crashing_inspect"})
    with TestClient(create_app(s), headers={"X-API-Key": ADMIN_KEY}) as c:
        setup_board(c, board)
        files = {"top": ("t.png", png(board.image), "image/png")}
        ids = {serial: c.post("/v1/inspections", data={"serial": serial, "recipe_id": board.recipe["recipe_id"]}, files=files).json()["id"]
               for serial in ("OK-1", "POISON-1", "OK-2", "OK-3")}
        t0 = time.monotonic()
        docs = {}
        while len(docs) < len(ids) and time.monotonic() - t0 < 90:
            for serial, iid in ids.items():
                d = c.get(f"/v1/inspections/{iid}").json()
                if d["status"] in ("done", "failed"):
                    docs[serial] = d
            time.sleep(0.1)
        assert docs["POISON-1"]["status"] == "failed" and "worker process died" in docs["POISON-1"]["error"]
        assert docs["POISON-1"]["verdict"] is None
        for serial in ("OK-1", "OK-2", "OK-3"):
            assert docs[serial]["status"] == "done", docs[serial]["error"]
