"""`pogoscope generate` / `inspect` / `inspect-samples`: board folders in, tables and result documents out;
bad input is one line on stderr and exit status 2."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from api.cli import main


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    d = tmp_path_factory.mktemp("board") / "b1"
    rc = main(["generate", str(d), "--seed", "5", "--rows", "2", "--cols", "3", "--defects", "P02=tilt,P05=missing",
               "--serial", "SN-TEST-1"])
    assert rc == 0
    return d


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_generate_writes_a_consistent_board_folder(board):
    m = yaml.safe_load((board / "board.yaml").read_text())
    assert m["serial"] == "SN-TEST-1" and m["views"] == {"top": "top.png"}
    truth = json.loads((board / "truth.json").read_text())
    assert truth["expected_defective_items"] == {"P02": ["tilt"], "P05": ["missing"]}


def test_inspect_board_folder_finds_the_placed_defects(board, tmp_path, capsys):
    out, ov = tmp_path / "r.json", tmp_path / "ov.png"
    assert main(["inspect", str(board), "--out", str(out), "--overlay", str(ov)]) == 0
    text = capsys.readouterr().out
    assert "board SN-TEST-1" in text and "against generator truth" in text
    res = json.loads(out.read_text())
    pins = {p["id"]: p for p in res["pins"]}
    assert pins["P02"]["verdict"] == "FAIL" and "tilt" in pins["P02"]["reasons"]
    assert pins["P05"]["verdict"] == "FAIL" and "missing" in pins["P05"]["reasons"]
    assert res["board"]["verdict"] == "FAIL"
    assert ov.stat().st_size > 1000


def test_inspect_with_explicit_files_matches_the_folder(board, capsys):
    args = ["inspect", "--recipe", str(board / "recipe.yaml"), "--image", f"top={board / 'top.png'}",
            "--calibration", str(board / "cal_top.json"), "--serial", "X", "--json", "-"]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["board"]["serial"] == "X" and len(res["pins"]) == 6


def test_json_option_writes_the_document_and_prints_the_table(board, tmp_path, capsys):
    out = tmp_path / "result.json"
    args = ["inspect", "--recipe", str(board / "recipe.yaml"), "--image", f"top={board / 'top.png'}",
            "--calibration", str(board / "cal_top.json"), "--json", str(out)]
    assert main(args) == 0
    assert "board UNKNOWN" in capsys.readouterr().out
    assert json.loads(out.read_text())["board"]["verdict"] in ("PASS", "FAIL", "REVIEW")


def test_inspect_samples_table(board, tmp_path, capsys):
    samples = tmp_path / "samples"
    shutil.copytree(board, samples / "b1")
    assert main(["inspect-samples", str(samples), "--out-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "SN-TEST-1" in out and "FAIL" in out
    assert (tmp_path / "out" / "SN-TEST-1.json").exists()


@pytest.mark.parametrize(
    "mutate, msg",
    [
        (lambda d: (d / "top.png").write_bytes((d / "top.png").read_bytes()[:4000]), "truncated"),
        (lambda d: (d / "top.png").write_bytes(b"not a png at all"), "not a decodable image"),
        (lambda d: (d / "recipe.yaml").write_text((d / "recipe.yaml").read_text().replace("flange_diameter_mm", "flange_dia")), "field 'pin_type"),
        (lambda d: (d / "board.yaml").write_text("serial: X\nrecipe: recipe.yaml\nviews: {front: top.png}\n"), "unknown view 'front'"),
        (lambda d: (d / "board.yaml").write_text("serial: X\nrecipe: recipe.yaml\nviews: {top: top.png}\n"), "needs a calibration record"),
        (lambda d: (d / "board.yaml").unlink(), "no board.yaml"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(board, tmp_path, capsys, mutate, msg):
    d = tmp_path / "bad"
    shutil.copytree(board, d)
    mutate(d)
    assert main(["inspect", str(d)]) == 2
    assert msg in _err(capsys)


def test_calibration_for_another_image_size_is_refused(board, tmp_path, capsys):
    d = tmp_path / "other"
    shutil.copytree(board, d)
    cal = json.loads((d / "cal_top.json").read_text())
    cal["image_size_px"] = [640, 480]
    (d / "cal_top.json").write_text(json.dumps(cal))
    assert main(["inspect", str(d)]) == 2
    assert "use the record of the camera that took it" in _err(capsys)


def test_inspect_needs_something_to_inspect(board, capsys):
    assert main(["inspect", "--recipe", str(board / "recipe.yaml")]) == 2
    assert "nothing to inspect" in _err(capsys)
