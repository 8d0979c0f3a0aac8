"""`pogoscope teach`: a draft recipe from a top image of a good board, checked against the generator's truth."""

from __future__ import annotations

import numpy as np
import yaml

from api.cli import main


def test_teach_proposes_the_generated_layout(tmp_path, capsys):
    board = tmp_path / "b"
    assert main(["generate", str(board), "--seed", "8", "--rows", "2", "--cols", "4"]) == 0
    out = tmp_path / "draft.yaml"
    assert main(["teach", str(board / "top.png"), "--calibration", str(board / "cal_top.json"), "--head-diameter-mm", "1.4",
                 "--fiducial-diameter-mm", "1.0", "--out", str(out)]) == 0
    draft = yaml.safe_load(out.read_text())
    truth = yaml.safe_load((board / "recipe.yaml").read_text())
    got = np.array([p["xy_mm"] for p in draft["pins"]])
    want = np.array([p["xy_mm"] for p in truth["pins"]])
    assert [p["id"] for p in draft["pins"]] == [p["id"] for p in truth["pins"]]  # row-major from the front row
    assert len(draft["fiducials"]) == 2
    # the draft's origin is arbitrary: compare positions relative to the first fiducial
    f0_got, f0_want = np.array(draft["fiducials"][0]["xy_mm"]), np.array(truth["fiducials"][0]["xy_mm"])
    err = np.hypot(*((got - f0_got) - (want - f0_want)).T)
    # good pins sit up to 0.02 mm off their pads and the proposal is a correlation peak: 0.06 mm is plenty
    assert err.max() < 0.06, err


def test_teach_on_the_jig_photo_finds_six_heads(shared_data, tmp_path):
    out = tmp_path / "jig.yaml"
    img = shared_data / "pogo-pin-jig-photos" / "IMG_JIG_2_resize.jpg"
    assert main(["teach", str(img), "--head-diameter-px", "48", "--out", str(out)]) == 0
    draft = yaml.safe_load(out.read_text())
    assert len(draft["pins"]) == 6 and "NOT mm" in out.read_text()


def test_teach_needs_a_size(tmp_path, capsys):
    board = tmp_path / "b"
    assert main(["generate", str(board), "--seed", "1", "--cols", "2"]) == 0
    assert main(["teach", str(board / "top.png"), "--out", str(tmp_path / "d.yaml")]) == 2
    assert "--head-diameter-px" in capsys.readouterr().err
