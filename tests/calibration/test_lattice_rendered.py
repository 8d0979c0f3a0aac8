"""Targets larger than the view: every rendered-dev camera calibrates from its whole visible lattice."""

import json

import cv2
import numpy as np
import pytest

from calibration.lattice import detect_lattice
from calibration.telecentric import fit_affine

# truth: README table of rendered-dev (scale at the focus plane); every camera is axis-aligned
TRUE_MM_PER_PX = {"TOP_A": 0.014, "TOP_B": 0.010, "SIDE_A": 0.010, "MICRO_PIN": 0.009, "MICRO_PAD": 0.0042}


@pytest.mark.parametrize("camera", sorted(TRUE_MM_PER_PX))
def test_rendered_camera_scale_rotation_origin(shared_data, camera):
    root = shared_data / "rendered-dev" / "_calibration"
    target = json.loads((root / "calibration.json").read_text())[camera]["target"]
    g = cv2.imread(str(root / camera / "checkerboard.png"), cv2.IMREAD_GRAYSCALE)
    hint = target.get("inner_corner_00_px")
    det = detect_lattice(g, square_mm=target["square_mm"], origin_px=hint)
    assert det.ok, det.reason
    # corners spread over the whole visible area
    h, w = g.shape
    u, v = det.image_points_px.T
    assert u.min() < 0.1 * w and u.max() > 0.9 * w and v.min() < 0.1 * h and v.max() > 0.9 * h
    fit = fit_affine(det.object_points_mm[:, :2], det.image_points_px)
    assert fit.ok
    assert abs(fit.mm_per_px / TRUE_MM_PER_PX[camera] - 1) < 5e-4
    assert abs(fit.rotation_deg) < 0.02
    # +Y (side: +z) is up in these images: negative determinant
    assert np.linalg.det(fit.model.matrix) < 0
    if hint is not None:
        assert np.allclose(fit.model.t_px, hint, atol=0.1)
    # the reported uncertainty is small but not zero
    assert 0 < fit.mm_per_px_std < 5e-4 * fit.mm_per_px


def test_blank_image_is_a_reason_not_a_crash():
    det = detect_lattice(np.full((200, 300), 120, np.uint8), square_mm=0.5)
    assert not det.ok and det.reason
