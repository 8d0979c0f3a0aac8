"""Bad input to the top view gets one clear line (InputError), never a traceback or a silent PASS."""

from __future__ import annotations

import numpy as np
import pytest

from vision.inspect import BoardInput, inspect_board
from models.errors import InputError
from models.recipe import Recipe


@pytest.fixture(scope="module")
def board(synth_board):
    sb = synth_board(seed=5, rows=1, cols=4, rotation_deg=2.0)
    return sb, Recipe.from_dict(sb.recipe)


def _run(recipe, image, record):
    return inspect_board(BoardInput(serial="BAD", recipe=recipe, images={"top": image}, calibrations={"top": record}))


def _one_line(exc: InputError) -> str:
    msg = str(exc)
    assert "\n" not in msg and len(msg) < 300
    return msg


def test_good_board_passes_as_reference(board):
    sb, recipe = board
    assert _run(recipe, sb.image, sb.record).result.board.verdict.value == "PASS"


def test_image_of_the_wrong_size(board):
    sb, recipe = board
    with pytest.raises(InputError) as e:
        _run(recipe, sb.image[:-16], sb.record)
    assert "calibration record" in _one_line(e.value)


def test_no_board_under_the_camera(board):
    sb, recipe = board
    empty = np.full_like(sb.image, 6)
    empty += np.random.default_rng(0).integers(0, 4, empty.shape, dtype=np.uint8)  # dark frame with sensor noise
    with pytest.raises(InputError) as e:
        _run(recipe, empty, sb.record)
    assert "board" in _one_line(e.value) or "blank" in _one_line(e.value)


def test_recipe_for_another_board(board, synth_board):
    sb, recipe = board
    other = synth_board(seed=6, rows=2, cols=3, pitch_mm=2.0)
    with pytest.raises(InputError) as e:
        _run(Recipe.from_dict(other.recipe), sb.image, sb.record)
    _one_line(e.value)


def test_pins_outside_the_image():
    """A camera that sees only the middle of a long row: the end pins fall outside the frame."""
    from vision.synth import truth as T
    from vision.synth.boards import random_board
    from vision.synth.scene import TopCamera
    from vision.synth.top import render_top

    scene = random_board(7, rows=1, cols=7, rotation_deg=0.5, offset_mm=(0.0, 0.0))
    centre = T.board_to_world(scene, np.array([scene.size_mm[0] / 2, scene.size_mm[1] / 2]))
    cam = TopCamera(mm_per_px=0.02, width_px=640, height_px=320, center_mm=(float(centre[0]), float(centre[1])))
    img, rec, _ = render_top(scene, cam, seed=7)
    with pytest.raises(InputError) as e:
        _run(Recipe.from_dict(T.recipe_dict(scene)), img, rec)
    assert "falls outside the top image" in _one_line(e.value)


def test_missing_calibration_and_wrong_pixels(board):
    sb, recipe = board
    with pytest.raises(InputError, match="calibration"):
        inspect_board(BoardInput(serial="B", recipe=recipe, images={"top": sb.image}))
    with pytest.raises(InputError, match="8- or 16-bit"):
        _run(recipe, sb.image.astype(np.float32), sb.record)
    with pytest.raises(InputError, match="shape"):
        _run(recipe, sb.image[..., :2], sb.record)


def test_mono_and_16_bit_images_work(board):
    sb, recipe = board
    grey = (sb.image.astype(np.float32) @ [0.299, 0.587, 0.114]).round().astype(np.uint8)
    res = _run(recipe, grey, sb.record).result
    # mono: geometry is measured, colour cues are not (solder checks are REVIEW not_measured)
    assert all(p.measurements["tilt_deg"].measured for p in res.pins)
    assert all("solder_wicking" not in p.cues for p in res.pins)
    res16 = _run(recipe, sb.image.astype(np.uint16) * 257, sb.record).result
    assert res16.board.verdict.value == "PASS"
