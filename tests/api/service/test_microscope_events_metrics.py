"""Microscope stack uploads (checked with vision.stack_io), CFX-shaped event payloads, metrics,
and `pogoscope serve` refusing bad settings in one line."""

from __future__ import annotations

import pytest

import subprocess
import sys
import time

from api.service.cfx import units_inspected
from tests.api.service.support import REPO, png, setup_board


@pytest.fixture
def db_env(sqlite_env) -> dict:
    """SQLite only: uploads, payloads and metrics do not depend on the backend (persistence runs on both in test_inspections/test_worker)."""
    return sqlite_env


def _stack_files(board, n=3, z=None):
    img = board.image[:48, :48]
    z = z if z is not None else [0.01 * i for i in range(n)]
    files = [("slices", (f"s{i}.png", png(img), "image/png")) for i in range(n)]
    manifest = "file,z_mm\n" + "".join(f"s{i}.png,{zi}\n" for i, zi in enumerate(z))
    return files + [("manifest", ("manifest.csv", manifest.encode(), "text/csv"))]


def test_stack_upload_checked_persisted_and_idempotent(app_client, board):
    c = app_client
    setup_board(c, board)
    rid = "SYN-STACK"
    assert c.post("/v1/recipes", json={**board.recipe, "recipe_id": rid, "views": ["top", "stack"]}).status_code == 201
    form = {"serial": "M1", "recipe_id": rid, "stack_name": "pins", "kind": "board"}
    r = c.post("/v1/microscope/stacks", data=form, files=_stack_files(board), headers={"Idempotency-Key": "m1"})
    assert r.status_code == 202, r.text
    again = c.post("/v1/microscope/stacks", data=form, files=_stack_files(board), headers={"Idempotency-Key": "m1"})
    assert again.json()["id"] == r.json()["id"] and again.json()["replayed"]
    doc = c.get(r.json()["url"]).json()
    assert doc["stacks"] == ["pins"] and doc["kind"] == "board"
    t0 = time.monotonic()
    while doc["status"] not in ("done", "failed") and time.monotonic() - t0 < 30:
        time.sleep(0.05)
        doc = c.get(r.json()["url"]).json()
    assert doc["status"] in ("done", "failed")
    if doc["status"] == "failed":  # until the stack view lands, the reason says so (never a PASS)
        assert doc["verdict"] is None and doc["error"]
    # a repeated z is refused by the loader, naming the problem
    bad = c.post("/v1/microscope/stacks", data=form, files=_stack_files(board, z=[0.0, 0.0, 0.01]))
    assert bad.status_code == 422 and bad.json()["type"] == "/problems/invalid-stack"
    # a slice the manifest names but the upload lacks
    files = [f for f in _stack_files(board) if f[1][0] != "s1.png"]
    bad = c.post("/v1/microscope/stacks", data=form, files=files)
    assert bad.status_code == 422 and "s1.png" in bad.json()["detail"]
    assert "/tmp" not in bad.json()["detail"] and "pogoscope-upload" not in bad.json()["detail"], bad.json()  # no server path
    # a recipe without a stack view
    bad = c.post("/v1/microscope/stacks", data={**form, "recipe_id": board.recipe["recipe_id"]}, files=_stack_files(board))
    assert bad.status_code == 422 and bad.json()["type"] == "/problems/view-not-in-recipe"


def test_cfx_payload_maps_review_to_failed_low_confidence_awaiting_verification(board):
    from models.measurement import Cue, Measurement
    from models.recipe import Recipe
    from models.rules import evaluate_pin, summarise_board

    recipe = Recipe.from_dict(board.recipe)
    ok = {"tilt_deg": Measurement.of(0.3, 0.1, "deg", source="top"), "xy_error_mm": Measurement.of(0.01, 0.002, "mm", source="top")}
    straddles = {**ok, "tilt_deg": Measurement.of(1.95, 0.1, "deg", source="top")}
    cues = {"missing": Cue(present=False, kind="measured", confidence=0.99)}
    pins = [evaluate_pin(p.id, straddles if i == 0 else ok, cues, recipe) for i, p in enumerate(recipe.pins)]
    res = summarise_board("S1", recipe, pins, []).model_dump(mode="json")
    p0 = res["pins"][0]
    assert p0["verdict"] == "REVIEW" and "tilt" in p0["reasons"]
    msg = units_inspected(inspection_id="i1", serial="S1", station_id="st", recipe=board.recipe, result=res,
                          status="done", error=None, started=None, finished=None)
    assert msg["MessageName"] == "CFX.Production.Assurance.UnitsInspected"
    unit = msg["MessageBody"]["InspectedUnits"][0]
    insp = {i["ComponentOfInterest"]["ReferenceDesignator"]: i for i in unit["Inspections"]}
    first = insp[p0["id"]]
    assert first["TestResult"] == "Failed"
    tilt = next(d for d in first["DefectsFound"] if d["DefectCode"] == "tilt")
    assert tilt["ConfidenceLevel"] == 0.5 and tilt["VerificationResult"] == "NotVerified"
    m = next(x for x in first["Measurements"] if x["MeasurementName"] == "tilt_deg")["MeasuredValue"]
    assert m["Value"] == 1.95 and m["ValueUnits"] == "deg" and m["MaximumAcceptableValue"] == recipe.limits.tilt.upper
    if res["board"]["verdict"] == "REVIEW":
        assert unit["OverallResult"] == "Failed" and unit["HumanVerification"]["VerificationResult"] == "NotVerified"
    reviewed = units_inspected(inspection_id="i1", serial="S1", station_id="st", recipe=board.recipe, result=res, status="done",
                               error=None, started=None, finished=None,
                               review={"verdict": "PASS", "reason": "ok", "reviewer": "erin", "created_at": "t"})
    hv = reviewed["MessageBody"]["InspectedUnits"][0]["HumanVerification"]
    assert hv["Verifier"] == "erin" and hv["VerifiedResult"] == "Passed"
    failed = units_inspected(inspection_id="i2", serial="S2", station_id=None, recipe=board.recipe, result=None, status="failed",
                             error="bad image", started=None, finished=None)
    assert failed["MessageBody"]["InspectedUnits"][0]["OverallResult"] == "Aborted"


def test_metrics_count_verdicts_and_latency(app_client, board):
    c = app_client
    setup_board(c, board)
    r = c.post("/v1/inspections", data={"serial": "MET", "recipe_id": board.recipe["recipe_id"]},
               files={"top": ("t.png", png(board.image), "image/png")})
    t0 = time.monotonic()
    while (d := c.get(r.json()["url"]).json())["status"] not in ("done", "failed") and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    text = c.get("/metrics").text
    assert 'pogoscope_inspection_latency_seconds_count 1.0' in text
    assert f'pogoscope_inspections{{status="done",verdict="{d["verdict"]}"}} 1.0' in text
    assert "pogoscope_queue_depth 0.0" in text


def test_serve_rejects_a_bad_port_in_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--port", "70000", "--data-dir", str(tmp_path)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "70000" in p.stderr and "Traceback" not in p.stderr


def test_top_and_side_views_record_both_calibrations_and_every_overlay(app_client):
    from vision.synth import truth as T
    from vision.synth.side import synth_row
    from vision.synth.top import fit_top_camera, render_top

    c = app_client
    row = synth_row(seed=2, cols=4)
    top_img, top_rec, _ = render_top(row.scene, fit_top_camera(row.scene, mm_per_px=0.02), seed=2)
    recipe = T.recipe_dict(row.scene, views=["top", "side_front", "side_back"])
    assert c.post("/v1/recipes", json=recipe).status_code == 201
    assert c.post("/v1/calibrations", json={"view": "top", "record": top_rec.model_dump(mode="json")}).status_code == 201
    side = row.record.model_dump(mode="json")
    assert c.post("/v1/calibrations", json={"view": "side", "record": side}).status_code == 201
    files = {"top": ("top.png", png(top_img), "image/png"), "side_front": ("f.png", png(row.front), "image/png"),
             "side_back": ("b.png", png(row.back), "image/png")}
    r = c.post("/v1/inspections", data={"serial": "TS-1", "recipe_id": recipe["recipe_id"]}, files=files)
    assert r.status_code == 202, r.text
    t0 = time.monotonic()
    while (d := c.get(r.json()["url"]).json())["status"] not in ("done", "failed") and time.monotonic() - t0 < 60:
        time.sleep(0.05)
    assert d["status"] == "done", d["error"]
    assert d["calibrations"] == {"side": {"camera_id": row.record.camera_id, "version": 1},
                                 "top": {"camera_id": top_rec.camera_id, "version": 1}}
    assert "top" in d["overlays"] and len(d["overlays"]) >= 2
    for name, url in d["overlays"].items():
        o = c.get(url)
        assert o.status_code == 200 and o.content[:4] == b"\x89PNG", name
    assert c.get(d["url"] + "/overlays/nope.png").status_code == 404
    assert set(d["images"]) == {"top", "side_front", "side_back"}


def test_overlays_can_be_kept_only_for_boards_that_did_not_pass(settings, board):
    from fastapi.testclient import TestClient

    from api.service.app import create_app
    from tests.api.service.support import ADMIN_KEY

    s = settings.model_copy(update={"keep_overlays": "not_pass"})
    with TestClient(create_app(s), headers={"X-API-Key": ADMIN_KEY}) as c:
        setup_board(c, board)
        strict = {**board.recipe, "recipe_id": "STRICT", "limits": {**board.recipe["limits"], "xy_position": {"upper": 1e-6}}}
        assert c.post("/v1/recipes", json=strict).status_code == 201
        docs = {}
        for rid in (board.recipe["recipe_id"], "STRICT"):
            r = c.post("/v1/inspections", data={"serial": f"OV-{rid}", "recipe_id": rid}, files={"top": ("t.png", png(board.image), "image/png")})
            t0 = time.monotonic()
            while (d := c.get(r.json()["url"]).json())["status"] not in ("done", "failed") and time.monotonic() - t0 < 30:
                time.sleep(0.05)
            docs[rid] = d
        strict_doc = docs["STRICT"]
        assert strict_doc["verdict"] == "FAIL" and strict_doc["overlay_url"] and c.get(strict_doc["overlay_url"]).status_code == 200
        normal = docs[board.recipe["recipe_id"]]
        if normal["verdict"] == "PASS":
            assert normal["overlay_url"] is None and normal["overlays"] == {}
            miss = c.get(normal["url"] + "/overlay.png")
            assert miss.status_code == 404 and "KEEP_OVERLAYS" in miss.json()["detail"]
