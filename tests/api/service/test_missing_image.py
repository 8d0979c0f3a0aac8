"""A stored image the worker cannot find is an outage (a share not mounted), not bad input: the
inspection goes back to the queue and is retried, and it is inspected once the share is back;
only after the retries are used up is it failed, with the reason."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from api.jobs.store import BlobNotFound
from api.service.app import create_app
from tests.api.service.support import ADMIN_KEY, png, setup_board, wait_done


@pytest.fixture
def db_env(sqlite_env):  # the subject is the queue, not the database backend
    return sqlite_env


def _submit_with_share_unmounted(c, board, images_dir, serial):
    """Upload the image, 'unmount' the share (rename the store directory), then submit it by reference."""
    sha = c.post("/v1/images", files={"file": ("top.png", png(board.image), "image/png")}).json()["sha256"]
    images_dir.rename(images_dir.with_name("images-unmounted"))
    r = c.post("/v1/inspections", data={"serial": serial, "recipe_id": board.recipe["recipe_id"], "image_set": f'{{"top": "{sha}"}}'})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _statuses_for(c, iid, seconds):
    seen, t0 = set(), time.monotonic()
    while time.monotonic() - t0 < seconds:
        seen.add(c.get(f"/v1/inspections/{iid}").json()["status"])
        time.sleep(0.02)
    return seen


def test_missing_image_is_retried_until_the_share_is_back(settings, board):
    s = settings.model_copy(update={"outage_retry_base_s": 0.1, "outage_retry_max_s": 0.2})
    images = s.images_dir
    with TestClient(create_app(s), headers={"X-API-Key": ADMIN_KEY}) as c:
        setup_board(c, board)
        iid = _submit_with_share_unmounted(c, board, images, "OUT-1")
        seen = _statuses_for(c, iid, 1.0)  # several retries' worth
        assert seen <= {"queued", "running"} and "queued" in seen, seen
        images.with_name("images-unmounted").rename(images)  # the share is mounted again
        doc = wait_done(c, iid, timeout_s=30)
        assert doc["status"] == "done" and doc["error"] is None
        want = c.post("/v1/inspections", data={"serial": "OUT-REF", "recipe_id": board.recipe["recipe_id"]},
                      files={"top": ("top.png", png(board.image), "image/png")}).json()["id"]
        assert doc["verdict"] == wait_done(c, want)["verdict"]


def test_missing_image_fails_with_its_reason_after_the_retries(settings, board):
    s = settings.model_copy(update={"outage_retries": 2, "outage_retry_base_s": 0.05})
    with TestClient(create_app(s), headers={"X-API-Key": ADMIN_KEY}) as c:
        setup_board(c, board)
        iid = _submit_with_share_unmounted(c, board, s.images_dir, "OUT-2")
        doc = wait_done(c, iid, timeout_s=20)
        assert doc["status"] == "failed" and doc["verdict"] is None
        assert "not in the store" in doc["error"] and "mounted" in doc["error"] and "after 2 retries" in doc["error"]


def test_run_inspection_hands_the_job_back_instead_of_failing_it(settings, board):
    """What the broker's workers see: the exception propagates (their retry policy counts it as an
    outage) and the row is queued again with its attempt uncounted."""
    from api.service.db import InspectionRow, make_engine, session_factory
    from api.service.worker import run_inspection

    s = settings.model_copy(update={"workers": 0})
    with TestClient(create_app(s, start_workers=False), headers={"X-API-Key": ADMIN_KEY}) as c:
        setup_board(c, board)
        iid = _submit_with_share_unmounted(c, board, s.images_dir, "OUT-3")
    with pytest.raises(BlobNotFound, match="is not in the store"):
        run_inspection(iid, settings=s)
    engine = make_engine(s)
    with session_factory(engine)() as db:
        row = db.get(InspectionRow, iid)
        assert (row.status, row.attempts, row.error) == ("queued", 0, None)
    engine.dispose()
