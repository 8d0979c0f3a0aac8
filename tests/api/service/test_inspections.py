"""Submissions through the app, on SQLite and PostgreSQL: persisted before 202, inspected by the
real pipeline in a worker, result equal to a direct pipeline run; idempotency; errors."""

from __future__ import annotations

import time

from tests.api.service.support import png, setup_board


def _wait(c, iid, timeout_s=30):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        d = c.get(f"/v1/inspections/{iid}").json()
        if d["status"] in ("done", "failed"):
            return d
        time.sleep(0.05)
    raise TimeoutError(iid)


def _cli_result(board, tmp_path) -> dict:
    """`pogoscope inspect` on the same image bytes, recipe and calibration record."""
    import json

    import yaml

    from api.cli import main

    (tmp_path / "top.png").write_bytes(png(board.image))
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(board.recipe))
    board.record.save(tmp_path / "cal.json")
    out = tmp_path / "result.json"
    rc = main(["inspect", "--recipe", str(tmp_path / "recipe.yaml"), "--image", f"top={tmp_path / 'top.png'}",
               "--calibration", f"top={tmp_path / 'cal.json'}", "--serial", "SN-1", "--out", str(out)])
    assert rc == 0
    return json.loads(out.read_text())


def test_submit_inspect_and_fetch_by_serial(app_client, board, tmp_path):
    c = app_client
    setup_board(c, board)
    r = c.post("/v1/inspections", data={"serial": "SN-1", "recipe_id": board.recipe["recipe_id"], "station_id": "st1"},
               files={"top": ("top.png", png(board.image), "image/png")}, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 202, r.text
    acc = r.json()
    assert r.headers["location"] == acc["url"] == f"/v1/inspections/{acc['id']}"
    doc = _wait(c, acc["id"])
    assert doc["status"] == "done", doc["error"]
    want = _cli_result(board, tmp_path)
    got = doc["result"]
    # the same document as the CLI's, but for run times and where the image came from (file name vs sha256)
    for d in (got, want):
        d["board"].pop("timings_ms")
        for v in d["views"]:
            v.pop("file"), v.pop("sha256")
    assert got == want
    # the exact versions used are recorded
    assert doc["recipe"] == {"id": board.recipe["recipe_id"], "version": 1}
    assert doc["calibrations"] == {"top": {"camera_id": board.record.camera_id, "version": 1}}
    b = c.get("/v1/boards/SN-1").json()
    assert b["latest"]["id"] == acc["id"] and len(b["history"]) == 1
    pin = want["pins"][0]
    p = c.get(f"/v1/boards/SN-1/pins/{pin['id']}").json()
    assert p["latest"] == pin and p["inspection_id"] == acc["id"]
    # originals and overlay
    o = c.get(doc["images"]["top"]["url"])
    assert o.status_code == 200 and o.content == png(board.image)
    ov = c.get(doc["overlay_url"])
    assert ov.status_code == 200 and ov.headers["content-type"] == "image/png" and ov.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_idempotency_same_body_returns_original_other_body_409(app_client, board):
    c = app_client
    setup_board(c, board)
    form = {"serial": "SN-2", "recipe_id": board.recipe["recipe_id"]}
    files = {"top": ("top.png", png(board.image), "image/png")}
    a = c.post("/v1/inspections", data=form, files=files, headers={"Idempotency-Key": "dup"})
    b = c.post("/v1/inspections", data=form, files=files, headers={"Idempotency-Key": "dup"})
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] == b.json()["id"] and b.json()["replayed"] and b.headers["idempotent-replayed"] == "true"
    other = c.post("/v1/inspections", data={**form, "serial": "SN-3"}, files=files, headers={"Idempotency-Key": "dup"})
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "dup" in other.json()["detail"] and a.json()["id"] in other.json()["detail"]
    _wait(c, a.json()["id"])
    page = c.get("/v1/inspections", params={"serial": "SN-2"}).json()
    assert len(page["items"]) == 1  # inspected once


def test_errors_are_problem_documents(app_client, board):
    c = app_client
    setup_board(c, board)
    rid = board.recipe["recipe_id"]
    good = ("top.png", png(board.image), "image/png")

    def post(data, files):
        r = c.post("/v1/inspections", data=data, files=files)
        assert r.headers["content-type"].startswith("application/problem+json"), r.text
        return r.status_code, r.json()

    st, p = post({"serial": "X", "recipe_id": "nope"}, {"top": good})
    assert st == 422 and p["type"] == "/problems/unknown-recipe" and "'nope'" in p["detail"] and rid in p["detail"]
    st, p = post({"serial": "X", "recipe_id": rid}, {"top": ("top.png", b"not an image at all", "image/png")})
    assert st == 422 and p["type"] == "/problems/image-does-not-decode"
    st, p = post({"serial": "X", "recipe_id": rid}, {"top": ("top.png", png(board.image)[:-40], "image/png")})
    assert st == 422 and "truncated" in p["detail"]
    st, p = post({"serial": "X", "recipe_id": rid}, {"side_front": good})
    assert st == 422 and p["type"] == "/problems/view-not-in-recipe" and "side_front" in p["detail"]
    st, p = post({"serial": "X", "recipe_id": rid}, {})
    assert st == 422 and p["type"] == "/problems/no-images"
    r = c.get("/v1/inspections/doesnotexist")
    assert r.status_code == 404 and r.json()["status"] == 404


def test_oversized_upload_is_413(settings, board):
    from fastapi.testclient import TestClient

    from api.service.app import create_app
    from tests.api.service.support import ADMIN_KEY

    small = settings.model_copy(update={"max_upload_bytes": 1000})
    with TestClient(create_app(small), headers={"X-API-Key": ADMIN_KEY}) as c:
        setup_board(c, board)
        r = c.post("/v1/inspections", data={"serial": "X", "recipe_id": board.recipe["recipe_id"]},
                   files={"top": ("top.png", png(board.image), "image/png")})
        assert r.status_code == 413 and "1000 bytes" in r.json()["detail"]


def test_image_that_does_not_decode_in_the_worker_fails_with_reason(app_client, board):
    """A PNG whose header and chunk checksums are fine but whose compressed pixels are garbage passes the
    cheap check at the door (it reads headers, never inflates) and fails in the worker with a sentence.
    (Garbage with wrong checksums is refused at the door: tests/api/service/test_intake.py.)"""
    import struct
    import zlib

    c = app_client
    setup_board(c, board)
    h, w = board.image.shape[:2]

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", bytes(range(256)) * 40) + chunk(b"IEND", b""))
    r = c.post("/v1/inspections", data={"serial": "BAD", "recipe_id": board.recipe["recipe_id"]},
               files={"top": ("top.png", data, "image/png")})
    assert r.status_code == 202, r.text
    doc = _wait(c, r.json()["id"])
    assert doc["status"] == "failed" and doc["verdict"] is None and "decod" in doc["error"]


def test_new_recipe_version_does_not_change_stored_result(app_client, board):
    c = app_client
    setup_board(c, board)
    rid = board.recipe["recipe_id"]
    r = c.post("/v1/inspections", data={"serial": "V1", "recipe_id": rid}, files={"top": ("t.png", png(board.image), "image/png")})
    before = _wait(c, r.json()["id"])
    looser = {**board.recipe, "limits": {**board.recipe["limits"], "tilt": {"upper": 45.0}}}
    v2 = c.post("/v1/recipes", json=looser).json()
    assert v2["version"] == 2
    after = c.get(f"/v1/inspections/{before['id']}").json()
    assert after["result"] == before["result"] and after["recipe"]["version"] == 1
    assert c.get(f"/v1/recipes/{rid}/versions/1").json()["body"]["limits"]["tilt"]["upper"] == 2.0
    assert [x["versions"] for x in c.get("/v1/recipes").json() if x["recipe_id"] == rid] == [[1, 2]]


def test_list_filters_and_pagination(app_client, board):
    c = app_client
    setup_board(c, board)
    rid = board.recipe["recipe_id"]
    ids = []
    for i in range(5):
        r = c.post("/v1/inspections", data={"serial": f"P{i}", "recipe_id": rid, "station_id": "a" if i % 2 else "b"},
                   files={"top": ("t.png", png(board.image), "image/png")})
        ids.append(r.json()["id"])
    docs = [_wait(c, i) for i in ids]
    seen, cursor = [], None
    while True:
        page = c.get("/v1/inspections", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    assert {x["id"] for x in c.get("/v1/inspections", params={"station_id": "a"}).json()["items"]} == {ids[1], ids[3]}
    v = docs[0]["verdict"]
    assert {x["id"] for x in c.get("/v1/inspections", params={"verdict": v}).json()["items"]} == set(ids)
    assert c.get("/v1/inspections", params={"since": "2999-01-01T00:00:00Z"}).json()["items"] == []
    assert c.get("/v1/inspections", params={"recipe_id": "other"}).json()["items"] == []


def test_review_is_recorded_and_never_changes_the_result(app_client, board):
    c = app_client
    setup_board(c, board)
    r = c.post("/v1/inspections", data={"serial": "R1", "recipe_id": board.recipe["recipe_id"]},
               files={"top": ("t.png", png(board.image), "image/png")})
    doc = _wait(c, r.json()["id"])
    rv = c.post(f"/v1/inspections/{doc['id']}/reviews", json={"verdict": "PASS", "reason": "checked under the microscope"})
    assert rv.status_code == 201 and rv.json()["reviewer"] == "bootstrap-admin"
    after = c.get(f"/v1/inspections/{doc['id']}").json()
    assert after["result"] == doc["result"] and after["verdict"] == doc["verdict"]
    assert after["reviews"][0]["verdict"] == "PASS" and after["reviews"][0]["reason"] == "checked under the microscope"
    assert [x["id"] for x in c.get("/v1/inspections", params={"reviewed": True}).json()["items"]] == [doc["id"]]
