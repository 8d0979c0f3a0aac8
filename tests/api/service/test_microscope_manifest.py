"""Microscope uploads follow the stack's manifest (align, target, items, stage_xy_mm) as the CLI does;
a key the loader does not understand is a 422 naming it, before the 202."""

from __future__ import annotations

import numpy as np
import pytest

from tests.api.service.support import png
from vision.synth.scene import PadCondition
from vision.synth.stack import pad_stack


@pytest.fixture
def db_env(sqlite_env) -> dict:
    """SQLite only: the manifest handling does not depend on the backend."""
    return sqlite_env


@pytest.fixture(scope="module")
def saddle():
    # the pad of tests/vision/test_focus_cli.py::test_inspect_with_a_pad_stack_from_disk: a 40 um saddle (FAIL warp_or_dent)
    return pad_stack(PadCondition("Q01", (2.0, 2.0), (1.4, 1.0), warp_shape="saddle", warp_pv_um=40.0), np.round(np.arange(17) * 0.01, 6), seed=1)


RECIPE = {"recipe_id": "PADSYN-MAN", "board": {"id": "padsyn", "size_mm": [4, 4, 1.6]}, "views": ["stack"],
          "pads": [{"id": "Q01", "center_mm": [2.0, 2.0], "size_mm": [1.4, 1.0]}]}


def _files(ss, head: str):
    files = [("slices", (f"s{i:02d}.png", png(im), "image/png")) for i, im in enumerate(ss.stack.images)]
    man = head + "file,z_mm\n" + "".join(f"s{i:02d}.png,{z}\n" for i, z in enumerate(ss.stack.z_mm))
    return files + [("manifest", ("manifest.csv", man.encode(), "text/csv"))]


def _wait(c, url):
    import time

    t0 = time.monotonic()
    doc = c.get(url).json()
    while doc["status"] not in ("done", "failed") and time.monotonic() - t0 < 60:
        time.sleep(0.05)
        doc = c.get(url).json()
    return doc


def test_upload_follows_the_manifest_and_refuses_keys_it_does_not_understand(app_client, saddle):
    c = app_client
    assert c.post("/v1/recipes", json=RECIPE).status_code == 201
    assert c.post("/v1/calibrations", json={"view": "stack:Q", "record": saddle.record.model_dump(mode="json")}).status_code == 201
    form = {"serial": "PAD-M1", "recipe_id": RECIPE["recipe_id"], "stack_name": "Q", "kind": "pad"}
    for head, why in (("# align: sift\n", "align 'sift' is not understood"), ("# stage_xy_mm: 2\n", "stage_xy_mm"),
                      ("# target: gasket\n", "target 'gasket' is not understood")):
        r = c.post("/v1/microscope/stacks", data=form, files=_files(saddle, head))
        assert r.status_code == 422 and r.json()["type"] == "/problems/invalid-stack" and why in r.json()["detail"], r.text
    # the manifest alone: target pad Q01, stage position, hand-held (phase) -- all followed by the worker
    r = c.post("/v1/microscope/stacks", data={**form, "serial": "PAD-M2"}, files=_files(saddle, "# target: pad:Q01\n# stage_xy_mm: 2.0 2.0\n# align: phase\n"))
    assert r.status_code == 202, r.text
    doc = _wait(c, r.json()["url"])
    assert doc["status"] == "done", doc.get("error")
    res = doc["result"]
    pad = next(p for p in res["pads"] if p["id"] == "Q01")
    assert pad["verdict"] == "FAIL" and pad["reasons"] == ["warp_or_dent"]
    assert pad["measurements"]["flatness_pv_um"]["source"] == "stack:Q"
    assert any(n.startswith("aligned with phase (manifest)") for n in res["notes"]), res["notes"]
    # without align the worker does not align
    r = c.post("/v1/microscope/stacks", data={**form, "serial": "PAD-M3"}, files=_files(saddle, "# target: pad:Q01\n# stage_xy_mm: 2.0 2.0\n"))
    doc = _wait(c, r.json()["url"])
    assert doc["status"] == "done" and not any(n.startswith("aligned") for n in doc["result"]["notes"])
