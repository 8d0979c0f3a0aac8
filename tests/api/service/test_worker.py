"""`run_inspection`: exactly one committed result per inspection (repeat calls, racing workers, a
fresh process), input errors end as failed inspections with their reason."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.service.app import create_app
from api.service.db import EventRow, InspectionRow, engine_for, session_factory
from api.service.worker import run_inspection
from tests.api.service.support import ADMIN_KEY, REPO, png, setup_board


@pytest.fixture
def queued(settings, board):
    """An API-only app (no workers): submissions stay queued for the test to run."""
    with TestClient(create_app(settings, start_workers=False), headers={"X-API-Key": ADMIN_KEY}) as c:
        setup_board(c, board)

        def submit(serial="W1", **files):
            files = files or {"top": png(board.image)}
            r = c.post("/v1/inspections", data={"serial": serial, "recipe_id": board.recipe["recipe_id"]},
                       files={v: (f"{v}.png", b, "image/png") for v, b in files.items()})
            assert r.status_code == 202, r.text
            return r.json()["id"]

        yield submit


def _events(settings, iid) -> int:
    with session_factory(engine_for(settings))() as s:
        return s.scalar(select(func.count()).select_from(EventRow).where(EventRow.inspection_id == iid))


def _row(settings, iid) -> InspectionRow:
    with session_factory(engine_for(settings))() as s:
        return s.get(InspectionRow, iid)


def test_second_call_is_a_no_op(settings, queued):
    iid = queued()
    assert _row(settings, iid).status == "queued"
    run_inspection(iid, settings=settings)
    first = _row(settings, iid)
    assert first.status == "done" and first.verdict in ("PASS", "FAIL", "REVIEW")
    run_inspection(iid, settings=settings)
    again = _row(settings, iid)
    assert again.attempts == first.attempts == 1 and again.finished_at == first.finished_at and again.result == first.result
    assert _events(settings, iid) == 1


def test_racing_workers_commit_once(settings, queued):
    iid = queued()
    ts = [threading.Thread(target=run_inspection, args=(iid,), kwargs={"settings": settings}) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert _row(settings, iid).status == "done"
    assert _events(settings, iid) == 1


def test_runs_in_a_fresh_process(settings, queued, db_env):
    iid = queued()
    code = f"from api.service.worker import run_inspection; run_inspection({iid!r})"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, **db_env}, check=True, timeout=120)
    row = _row(settings, iid)
    assert row.status == "done" and row.result["board"]["serial"] == "W1"
    assert _events(settings, iid) == 1


def test_view_the_recipe_lacks_fails_with_reason(settings, queued, board):
    iid = queued()
    with session_factory(engine_for(settings))() as s:  # a row written by an older client / another path
        row = s.get(InspectionRow, iid)
        row.files = {"side_front": row.files["top"]}
        s.commit()
    run_inspection(iid, settings=settings)
    row = _row(settings, iid)
    assert row.status == "failed" and row.verdict is None and "side_front" in row.error
    assert _events(settings, iid) == 1


def test_unknown_id_is_harmless(settings, queued):
    run_inspection("0" * 32, settings=settings)
