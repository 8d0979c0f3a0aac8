"""Issue #15 item 10: an Idempotency-Key is scoped to the API key that sent it; a revoked key's open
event stream is closed; a Last-Event-ID beyond the newest event says so and resumes from the newest;
re-uploading an identical recipe or calibration record returns the stored version."""

from __future__ import annotations

import json
import threading
import time

import httpx

from tests.api.service.support import Server, png, setup_board, wait_done


def test_idempotency_keys_are_scoped_per_api_key(app_client, board):
    c = app_client
    setup_board(c, board)
    a = c.post("/v1/keys", json={"name": "line-a", "role": "mes"}).json()["key"]
    b = c.post("/v1/keys", json={"name": "line-b", "role": "mes"}).json()["key"]
    form = {"serial": "IDEM-1", "recipe_id": board.recipe["recipe_id"]}
    files = {"top": ("t.png", png(board.image), "image/png")}
    ra = c.post("/v1/inspections", data=form, files=files, headers={"X-API-Key": a, "Idempotency-Key": "k-1"})
    rb = c.post("/v1/inspections", data=form, files=files, headers={"X-API-Key": b, "Idempotency-Key": "k-1"})
    assert ra.status_code == rb.status_code == 202 and not rb.json()["replayed"]
    assert ra.json()["id"] != rb.json()["id"], "another API key's Idempotency-Key must not replay this one's inspection"
    again = c.post("/v1/inspections", data=form, files=files, headers={"X-API-Key": a, "Idempotency-Key": "k-1"})
    assert again.json()["id"] == ra.json()["id"] and again.json()["replayed"]
    other = c.post("/v1/inspections", data={**form, "serial": "IDEM-2"}, files=files, headers={"X-API-Key": b, "Idempotency-Key": "k-1"})
    assert other.status_code == 409 and "'k-1'" in other.json()["detail"] and ":k-1" not in other.json()["detail"]
    long_key = "x" * 200
    r1 = c.post("/v1/inspections", data=form, files=files, headers={"X-API-Key": a, "Idempotency-Key": long_key})
    r2 = c.post("/v1/inspections", data=form, files=files, headers={"X-API-Key": a, "Idempotency-Key": long_key})
    assert r1.status_code == 202 and r2.json()["id"] == r1.json()["id"] and r2.json()["replayed"]
    for r in (ra, rb, r1):
        wait_done(c, r.json()["id"])


def test_identical_recipe_and_record_return_the_stored_version(app_client, board):
    c = app_client
    r1 = c.post("/v1/recipes", json=board.recipe)
    r2 = c.post("/v1/recipes", json=board.recipe)
    assert (r1.status_code, r2.status_code) == (201, 200) and r2.json()["version"] == 1
    assert r2.headers["Location"].endswith("/versions/1")
    changed = {**board.recipe, "limits": {**board.recipe["limits"], "tilt": {"upper": 3.0}}}
    assert c.post("/v1/recipes", json=changed).json()["version"] == 2
    assert c.post("/v1/recipes", json=board.recipe).json()["version"] == 3, "going back to an older body is a new newest version"
    rec = {"view": "top", "record": board.record.model_dump(mode="json")}
    c1, c2 = c.post("/v1/calibrations", json=rec), c.post("/v1/calibrations", json=rec)
    assert (c1.status_code, c2.status_code) == (201, 200) and c2.json()["version"] == 1
    assert c.post("/v1/calibrations", json={**rec, "station_id": "line-9"}).json()["version"] == 2  # another station: a new record


def _sse(url: str, params: dict, headers: dict, out: list, done: threading.Event):
    try:
        with httpx.stream("GET", url, params=params, headers=headers, timeout=30) as r:
            kind = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    out.append((kind, json.loads(line[6:])))
    except httpx.HTTPError as exc:
        out.append(("error", str(exc)))
    finally:
        done.set()


def test_revoked_key_stream_closes_and_future_last_event_id_says_so(tmp_path, board):
    srv = Server({"POGOSCOPE_DATA_DIR": str(tmp_path / "data"), "POGOSCOPE_WORKERS": "1", "POGOSCOPE_WORKER_MODE": "thread",
                  "POGOSCOPE_OUTBOX_POLL_S": "0.1"}, log=tmp_path / "service.log").start()
    try:
        with srv.client() as c:
            setup_board(c, board)
            created = c.post("/v1/keys", json={"name": "mes-sse", "role": "mes"}).json()
            got, done = [], threading.Event()
            t = threading.Thread(target=_sse, args=(f"{srv.url}/v1/events", {}, {"X-API-Key": created["key"], "Last-Event-ID": "999"},
                                                    got, done), daemon=True)
            t.start()
            time.sleep(0.5)
            r = c.post("/v1/inspections", data={"serial": "SSE-1", "recipe_id": board.recipe["recipe_id"]},
                       files={"top": ("t.png", png(board.image), "image/png")})
            wait_done(c, r.json()["id"])
            t0 = time.monotonic()
            while not any(k == "inspection.completed" for k, _ in got) and time.monotonic() - t0 < 10:
                time.sleep(0.05)
            assert got[0][0] == "stream.reset" and got[0][1]["requested_after"] == 999 and got[0][1]["resumed_after"] == 0, got
            assert [d["data"]["serial"] for k, d in got if k == "inspection.completed"] == ["SSE-1"], "resumed from the newest"
            assert c.delete(f"/v1/keys/{created['id']}").status_code == 200
            t_revoke = time.monotonic()
            assert done.wait(8), "the stream of a revoked key must end"
            assert time.monotonic() - t_revoke < 4
            assert got[-1][0] == "stream.closed" and "revoked" in got[-1][1]["detail"], got
    finally:
        srv.stop()
