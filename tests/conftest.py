"""Shared test fixtures. Helpers add fixtures here; do not rewrite the existing ones."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only shared data set (``shared/data`` beside the repository checkout)."""
    import os

    candidates = [os.environ.get("POGOSCOPE_SHARED_DATA"), REPO_ROOT / ".." / "shared" / "data", "/work/shared/data"]
    p = next((Path(c).resolve() for c in candidates if c and Path(c).is_dir()), (REPO_ROOT / ".." / "shared" / "data").resolve())
    if not p.is_dir():
        pytest.skip(f"shared data not found at {p} (CI clones the repo with shared/ beside it)")
    return p


@pytest.fixture(scope="session")
def synth_board():
    """Factory: render a seeded synthetic board with exact truth.

    ``synth_board(seed=0, rows=1, cols=4, pitch_mm=2.54, pin_type="A", mask_color="green",
    defect_rate=0.0, mm_per_px=0.02, lighting="coaxial", **random_board_kwargs)`` returns a
    `vision.synth.top.SynthBoard` (scene, camera, image (H, W, 3) RGB uint8, calibration record,
    truth dict, recipe dict). Results are cached per argument set for the session.
    """
    from vision.synth.top import synth_board as _make

    cache: dict = {}

    def make(**kw):
        key = tuple(sorted((k, repr(v)) for k, v in kw.items()))
        if key not in cache:
            cache[key] = _make(**kw)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def side_stress_rows():
    """Six generated 1 x 6 side-view rows (pin types A and B alternating) whose pins draw tilt (0-6 deg, any
    azimuth), seating gap (0-0.3 mm), plunger depression (0-0.5 mm) and wicking (0-1.6 mm) independently:
    a list of ``(scene, camera, back, front, record, truth)`` (see `vision.synth.side`)."""
    from vision.synth.side import fit_side_camera, render_side, stress_row

    rows = []
    for seed in range(6):
        pt = "AB"[seed % 2]
        scene = stress_row(seed, pin_type=pt, pitch_mm=2.54 if pt == "A" else 2.0)
        cam = fit_side_camera(scene)
        rows.append((scene, cam, *render_side(scene, cam, seed=seed)))
    return rows
