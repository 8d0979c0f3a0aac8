"""The bundled samples (`make run`): every board folder inspects, and every verdict agrees with its truth."""

from __future__ import annotations

import json

from api.boardset import MANIFEST, load_board_dir
from api.cli import main
from vision.inspect import inspect_board
from tests.conftest import REPO_ROOT

SAMPLES = REPO_ROOT / "sample_images"


def test_bundled_samples_agree_with_their_truth():
    boards = sorted(p.parent for p in SAMPLES.glob(f"*/{MANIFEST}"))
    assert len(boards) >= 3, "sample_images/ lost its boards: run make samples"
    verdicts = set()
    for d in boards:
        inp, m = load_board_dir(d)
        expected = json.loads((d / m.truth).read_text())["expected_defective_items"]
        res = inspect_board(inp).result
        for pin in res.pins:
            if expected.get(pin.id):
                assert pin.verdict.value != "PASS", (d.name, pin.id, expected[pin.id])
            else:
                assert pin.verdict.value != "FAIL", (d.name, pin.id, pin.reasons)
        verdicts.add(res.board.verdict.value)
    assert {"PASS", "FAIL"} <= verdicts  # the samples show both outcomes


def test_every_measurement_of_the_samples_is_in_the_measurement_table():
    """Views emit measurements by the table's keys and units (top, side, microscope stack and pad boards)."""
    from models.measurands import MEASURANDS

    seen = set()
    for d in sorted(p.parent for p in SAMPLES.glob(f"*/{MANIFEST}")):
        inp, _ = load_board_dir(d)
        inp.overlays = False
        res = inspect_board(inp).result
        items = [*res.pins, *res.pads]
        pairs = [(k, m.unit) for i in items for k, m in i.measurements.items()] + [(k, m.unit) for k, m in res.board.measurements.items()]
        for key, unit in pairs:
            assert key in MEASURANDS, f"{d.name}: {key} is not in models.measurands"
            assert unit == MEASURANDS[key].unit, (d.name, key, unit)
            seen.add(key)
    assert {"tilt_deg", "xy_error_mm", "tip_height_mm", "seating_gap_mm"} <= seen


def test_generated_microscope_stack_board(tmp_path, capsys):
    d = tmp_path / "m"
    assert main(["generate", str(d), "--seed", "5", "--cols", "3", "--pitch-mm", "2.0", "--defects", "P03=depressed",
                 "--views", "stack"]) == 0
    out = tmp_path / "r.json"
    assert main(["inspect", str(d), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    pins = {p["id"]: p for p in res["pins"]}
    assert pins["P03"]["verdict"] == "FAIL" and "tip_height" in pins["P03"]["reasons"]
    assert pins["P03"]["measurements"]["tip_height_mm"]["source"] == "stack:pins"
