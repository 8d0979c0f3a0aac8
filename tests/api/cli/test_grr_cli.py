"""`pogoscope grr` on generated boards re-seated between repeats (new placement, lighting and noise
seeds; each pin moved along x by a known seating spread): the reported repeatability (EV) of
xy_error_mm must agree with the spread put in, within its confidence interval."""

from __future__ import annotations

import json

from api.cli import main
from vision.synth.study import study_boards, write_study

SEAT_SIGMA_MM = 0.01  # the spread put in; the gauge's own repeatability here is about 0.0007 mm (0.5 % of it in variance)


def test_grr_ev_agrees_with_the_spread_put_in(tmp_path, capsys):
    root = write_study(tmp_path / "study", study_boards(3, cols=4), 4, seat_sigma_mm=SEAT_SIGMA_MM)
    out = tmp_path / "grr.json"
    assert main(["grr", str(root), "-m", "xy_error_mm", "-m", "tilt_deg", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "xy_error_mm" in printed and "verdict" in printed
    rep = json.loads(out.read_text())["measurements"]["xy_error_mm"]
    assert (rep["parts"], rep["operators"], rep["trials"]) == (12, 1, 4)
    lo, hi = rep["ev_ci"]
    assert lo <= SEAT_SIGMA_MM <= hi, (lo, rep["ev"], hi)
    assert rep["av"] == 0.0 and rep["tolerance"] is None  # xy_position has an upper limit only: verdict of TV
    assert rep["verdict_basis"] == "total variation"


def test_grr_bad_folder_is_one_line(tmp_path, capsys):
    assert main(["grr", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a folder" in err
    (tmp_path / "empty" / "B1").mkdir(parents=True)
    assert main(["grr", str(tmp_path / "empty")]) == 2
    assert "no repeats found" in capsys.readouterr().err
