"""calibrate() and the CLI: records, rejected views by name, one-line errors."""

import json
import shutil

import cv2
import numpy as np
import pytest

from api.cli import main
from calibration.calibrate import calibrate
from models.errors import InputError
from calibration.record import CalibrationRecord


def _side(shared_data):
    return cv2.imread(str(shared_data / "rendered-dev" / "_calibration" / "SIDE_A" / "checkerboard.png"), cv2.IMREAD_GRAYSCALE)


def test_telecentric_record_round_trip_and_guards(shared_data, tmp_path):
    g = _side(shared_data)
    blank = np.full_like(g, 128)
    rec = calibrate({"side.png": g, "blank.png": blank}, model="telecentric", target="lattice", inner_corners=None,
                    square_mm=0.25, camera_id="SIDE_A", plane="vertical", origin_px=(-175.5, 654.5))
    assert "blank.png" in rec.views_rejected and rec.views_used == ["side.png"]
    assert abs(rec.mm_per_px / 0.01 - 1) < 5e-4 and rec.mm_per_px_std > 0
    # plane point (x, z) = (0, 0) is inner corner (0,0); z up -> v decreases
    uv = rec.plane_to_pixel(np.array([[0.0, 0.25]]))[0]
    assert np.allclose(uv, [-175.5, 629.5], atol=0.1)
    p = tmp_path / "side.json"
    rec.save(p)
    back = CalibrationRecord.load(p, camera_id="SIDE_A")
    assert back.telecentric.cov == rec.telecentric.cov
    with pytest.raises(InputError, match="not 'TOP_A'"):
        CalibrationRecord.load(p, camera_id="TOP_A")
    with pytest.raises(InputError, match="1600x560"):
        back.check_image((960, 1280))


def test_all_views_rejected_is_one_line():
    with pytest.raises(InputError) as e:
        calibrate({"a.png": np.full((100, 100), 50, np.uint8)}, model="pinhole", target="chessboard",
                  inner_corners=(9, 6), square_mm=1.0, camera_id="X")
    assert "a.png" in str(e.value) and "\n" not in str(e.value)


def test_cli_chessboard_with_a_rejected_view(shared_data, tmp_path, capsys):
    d = shared_data / "opencv-chessboard-9x6"
    imgs = [str(d / f"left0{i}.jpg") for i in (1, 3, 4, 5, 6)]
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((480, 640), 128, np.uint8))
    out = tmp_path / "c.json"
    rc = main(["calibrate", "--camera", "L", "--model", "pinhole", "--target", "chessboard", "--inner-corners", "9x6",
               "--square-mm", "1", *imgs, str(blank), "--out", str(out)])
    assert rc == 0
    rec = json.loads(out.read_text())
    assert rec["views_rejected"].keys() == {"blank.png"} and len(rec["views_used"]) == 5
    assert "rejected 1 (blank.png)" in capsys.readouterr().out


@pytest.mark.parametrize("args,msg", [
    (["--inner-corners", "9by6"], "COLSxROWS"),
    (["--inner-corners", "9x6", "nope.png"], "no such image"),
])
def test_cli_bad_input_exit_2(tmp_path, capsys, args, msg):
    rc = main(["calibrate", "--camera", "L", "--square-mm", "1", "--out", str(tmp_path / "x.json"), *args]
              + ([] if any(a.endswith(".png") for a in args) else [str(tmp_path / "missing.png")]))
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1
