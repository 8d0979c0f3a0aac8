"""Input checked before the 202 (issue #15 items 2 and 3), both databases: images too small, with a
60000 x 60000 header, a 20000 x 20000 decompression bomb, a damaged PNG, the wrong size for the
calibration, a calibration of another camera (the wrong plane), a board that does not match the
recipe -> 422 problem+json naming the problem, nothing stored; calibration uploads with impossible
sizes, parameters or plane -> 422, and the previous record stays usable by content name."""

from __future__ import annotations

import copy
import struct
import time
import zlib

import cv2

from api.service.calref import record_ref
from tests.api.service.support import png, setup_board, wait_done


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(w: int, h: int, *, bit_depth: int = 8, colour: int = 0, rows: bytes | None = None) -> bytes:
    """A PNG whose IHDR declares w x h; `rows` (filtered scanlines) compressed as its IDAT, else a few bytes."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows or b"\x00" * 64)) + _chunk(b"IEND", b"")


def bomb_png(side: int = 20000) -> bytes:
    """A real decompression bomb: a 1-bit side x side all-black PNG (50 MB of scanlines in ~50 kB)."""
    line = b"\x00" * (1 + (side + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(line) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_bad_images_and_mismatches_are_422_before_the_202(app_client, board):
    c = app_client
    setup_board(c, board)
    rid = board.recipe["recipe_id"]

    def submit(data, *, serial="B-1", calibrations=None, recipe_id=rid):
        form = {"serial": serial, "recipe_id": recipe_id, "station_id": "line1"}
        if calibrations:
            form["calibrations"] = calibrations
        return c.post("/v1/inspections", data=form, files={"top": ("top.png", data, "image/png")})

    def problem(r, status, slug, *words):
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        doc = r.json()
        assert doc["type"] == f"/problems/{slug}", doc
        for w in words:
            assert w in doc["detail"], doc["detail"]
        assert "cv2" not in doc["detail"] and "Traceback" not in doc["detail"]
        return doc

    problem(submit(png(board.image[:1, :1])), 422, "image-does-not-decode", "1 x 1 px", "at least 32 px")
    problem(submit(png_header_only(60000, 60000)), 422, "image-does-not-decode", "decompression bomb")
    t0 = time.perf_counter()
    bomb = bomb_png()
    assert len(bomb) < 200_000
    r = submit(bomb)
    problem(r, 422, "image-does-not-decode", "decompression bomb")
    problem(submit(png_header_only(8000, 8000)), 422, "image-does-not-decode", "8000 x 8000 px", "64,000,000 pixels", "50,000,000")
    good = png(board.image)
    damaged = bytearray(good)
    damaged[60] ^= 0xFF  # inside the first IDAT chunk: its checksum no longer matches
    problem(submit(bytes(damaged)), 422, "image-does-not-decode", "damaged")
    small = png(cv2.resize(board.image, (384, 264)))
    problem(submit(small), 422, "calibration-does-not-fit", "384 x 264 px", "768 x 528 px")
    # another camera's record: a side camera (vertical plane) named for the top view
    side = board.record.model_copy(update={"camera_id": "SIDE_CAM", "plane": "vertical"}).model_dump(mode="json")
    assert c.post("/v1/calibrations", json={"view": "side", "record": side}).status_code == 201
    problem(submit(good, calibrations='{"top": "SIDE_CAM"}'), 422, "calibration-does-not-fit", "vertical plane", "another camera")
    # a recipe for a board ten times larger than this image shows
    big = copy.deepcopy(board.recipe)
    big["recipe_id"] = "BIG-BOARD"
    for p in big.get("pins", []):
        p["xy_mm"] = [v * 10 for v in p["xy_mm"]]
    for f in big.get("fiducials", []):
        f["xy_mm"] = [v * 10 for v in f["xy_mm"]]
    big["board"]["size_mm"] = [v * 10 for v in big["board"]["size_mm"][:2]] + [big["board"]["size_mm"][2]]
    assert c.post("/v1/recipes", json=big).status_code == 201, "a recipe"
    problem(submit(good, recipe_id="BIG-BOARD"), 422, "board-does-not-match-recipe", "does not match the recipe", "768 x 528 px")
    assert c.get("/v1/inspections").json()["items"] == [], "a refused submission must store nothing"
    assert time.perf_counter() - t0 < 20
    # the good board is still accepted and inspected
    r = submit(good, serial="GOOD-1")
    assert r.status_code == 202, r.text
    assert wait_done(c, r.json()["id"])["status"] == "done"


def test_calibration_uploads_are_checked_and_the_previous_record_stays_usable(app_client, board):
    c = app_client
    setup_board(c, board)
    rec = board.record.model_dump(mode="json")

    def upload(record, view="top"):
        return c.post("/v1/calibrations", json={"view": view, "record": record})

    def bad(record, view, *words):
        r = upload(record, view)
        assert r.status_code == 422, r.text
        assert r.json()["type"] == "/problems/invalid-calibration"
        for w in words:
            assert w in r.json()["detail"], r.json()["detail"]

    bad({**rec, "image_size_px": [-5, 0]}, "top", "image_size_px [-5, 0]")
    bad({**rec, "plane": "vertical"}, "top", "plane 'vertical' does not fit view 'top'")
    bad(rec, "side", "plane 'board' does not fit view 'side'", "--plane vertical")
    bad({**rec, "telecentric": {**rec["telecentric"], "A": [[5e6, 0], [0, 5e6]]}}, "top", "mm/px")
    pin = {**rec, "model": "pinhole", "telecentric": None,
           "pinhole": {"camera_matrix": [[-100, 0, 384], [0, 100, 264], [0, 0, 1]], "dist_coeffs": [0, 0, 0, 0, 0],
                       "plane_rvec": [0, 0, 0], "plane_tvec_mm": [0, 0, 100]}}
    bad(pin, "top", "focal lengths")
    pin["pinhole"] = {**pin["pinhole"], "camera_matrix": [[100, 0, 384], [0, 100, 264], [0, 0, 1]], "plane_rvec": None}
    bad(pin, "top", "plane_rvec")
    assert [x["version"] for x in c.get("/v1/calibrations", params={"all": True}).json() if x["camera_id"] == "TOP_SYN"] == [1]
    # a new (valid) default; the station that still holds version 1 names it by content and is served
    newer = {**rec, "notes": "recalibrated", "telecentric": {**rec["telecentric"], "t_px": [70.0, 470.0]}}
    assert upload(newer).status_code == 201
    r = c.post("/v1/inspections", data={"serial": "OLD-REC", "recipe_id": board.recipe["recipe_id"],
                                        "calibrations": f'{{"top": "{record_ref(board.record)}"}}'},
               files={"top": ("top.png", png(board.image), "image/png")})
    assert r.status_code == 202, r.text
    doc = wait_done(c, r.json()["id"])
    assert doc["status"] == "done" and doc["calibrations"]["top"]["version"] == 1
