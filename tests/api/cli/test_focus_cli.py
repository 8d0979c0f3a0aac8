"""`pogoscope focus STACK --out heightmap.png` on a generated stack written to disk; bad input: one line, exit 2."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np

from api.cli import main
from vision.synth.scene import PadCondition
from vision.synth.stack import pad_stack


def _write_stack(tmp_path, ss):
    rows = ["# target: " + ss.stack.meta["target"], "file,z_mm"]
    for i, (im, z) in enumerate(zip(ss.stack.images, ss.stack.z_mm)):
        cv2.imwrite(str(tmp_path / f"s{i:02d}.png"), im)
        rows.append(f"s{i:02d}.png,{z}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "manifest.csv"


def test_focus_writes_height_map_and_all_in_focus(tmp_path, capsys):
    ss = pad_stack(PadCondition("Q1", (0.0, 0.0), (1.4, 1.0), warp_shape="dome", warp_pv_um=30.0), np.round(np.arange(17) * 0.01, 6), seed=5)
    man = _write_stack(tmp_path, ss)
    out = tmp_path / "out" / "hm.png"
    assert main(["focus", str(man), "--out", str(out), "--window", "15"]) == 0
    line = capsys.readouterr().out.strip()
    assert "17 slices, step 10.0 um" in line and "% of pixels measured" in line and "\n" not in line
    hm = cv2.imread(str(out))
    assert hm.shape == (360 + 20, 480 + 60, 3)  # the map plus its scale bar, and the legend band of unmeasured areas below
    aif = cv2.imread(str(tmp_path / "out" / "hm_aif.png"), cv2.IMREAD_UNCHANGED)
    assert aif.shape == (360, 480) and aif.dtype == np.uint8


def test_focus_bad_input_is_one_line_exit_2(tmp_path):
    (tmp_path / "manifest.csv").write_text("file,z_mm\nmissing.png,0.0\n")
    r = subprocess.run([sys.executable, "-m", "api.cli", "focus", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "h.png")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "slice file missing.png listed in the manifest does not exist" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "api.cli", "focus", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "h.png"), "--fit", "4"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--fit must be 3, 5, 7 or auto" in r.stderr


def test_inspect_with_a_pad_stack_from_disk(tmp_path):
    import json

    import yaml

    pc = PadCondition("Q01", (2.0, 2.0), (1.4, 1.0), warp_shape="saddle", warp_pv_um=40.0)
    ss = pad_stack(pc, np.round(np.arange(17) * 0.01, 6), seed=1)
    d = tmp_path / "st"
    d.mkdir()
    man = _write_stack(d, ss)
    man.write_text("# stage_xy_mm: 2.0 2.0\n" + man.read_text())
    ss.record.save(tmp_path / "cal.json")
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump({
        "recipe_id": "padsyn", "board": {"id": "padsyn", "size_mm": [4, 4, 1.6]}, "views": ["stack"],
        "pads": [{"id": "Q01", "center_mm": [2.0, 2.0], "size_mm": [1.4, 1.0]}]}))
    out = tmp_path / "result.json"
    r = subprocess.run([sys.executable, "-m", "api.cli", "inspect", "--recipe", str(tmp_path / "recipe.yaml"), "--stack", f"Q={d}",
                        "--calibration", f"stack:Q={tmp_path / 'cal.json'}", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    pad = doc["pads"][0]
    assert pad["id"] == "Q01" and pad["verdict"] == "FAIL" and pad["reasons"] == ["warp_or_dent"]
    assert abs(pad["measurements"]["flatness_pv_um"]["value"] - ss.truth["macro_pv_um"]) < 3.0
