"""Seating plane and coplanarity with known numbers."""

from __future__ import annotations

import numpy as np
import pytest

from vision.coplanarity import fit_seating_plane


def test_one_bad_tip_does_not_tilt_the_plane_of_the_good_ones():
    x = np.array([0.0, 2.54, 5.08, 7.62, 10.16, 12.7])
    h = 3.32 + 0.001 * x  # a slight slope is part of the plane
    h[4] -= 0.39  # depressed plunger
    fit = fit_seating_plane(x, h, np.full(6, 0.003))
    assert fit.ok and list(fit.inliers) == [True, True, True, True, False, True]
    assert fit.deviation_mm[4] == pytest.approx(-0.39, abs=1e-9)
    assert np.abs(np.delete(fit.deviation_mm, 4)).max() < 1e-9
    assert fit.max_abs_mm == pytest.approx(0.39, abs=1e-9) and fit.u_max_abs_mm >= 0.003


def test_grid_plane_and_too_few_tips():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 10, (12, 2))
    h = 3.0 + 0.002 * xy[:, 0] - 0.001 * xy[:, 1]
    h[3] += 0.05
    fit = fit_seating_plane(xy, h, np.full(12, 0.002))
    assert fit.deviation_mm[3] == pytest.approx(0.05, abs=1e-9) and fit.max_abs_mm == pytest.approx(0.05, abs=1e-9)
    bad = fit_seating_plane([0.0, 1.0], [3.0, 3.1], [0.001, 0.001])
    assert not bad.ok and "at least 3" in bad.reason
    with pytest.raises(ValueError, match="same length"):
        fit_seating_plane([0.0, 1.0, 2.0], [3.0, 3.1], [0.001, 0.001])


def test_tips_off_the_design_do_not_carry_the_seating_plane():
    """Two depressed tips and one good one: a plane through the two depressed ones would make the good tip the
    outlier; restricted to tips within tolerance, too few remain and the fit says so."""
    from vision.coplanarity import fit_seating_plane

    x, h, u = [0.0, 2.0, 4.0], [2.62, 2.97, 2.64], [0.005] * 3
    assert fit_seating_plane(x, h, u).inliers.tolist() == [True, False, True]  # the trap without the design's heights
    fit = fit_seating_plane(x, h, u, may_support=[False, True, False])
    assert not fit.ok and "within the tip-height tolerance" in fit.reason
    x, h = [0.0, 2.0, 4.0, 6.0, 8.0], [2.97, 2.62, 2.971, 2.64, 2.969]
    fit = fit_seating_plane(x, h, [0.005] * 5, may_support=[True, False, True, False, True])
    assert fit.ok and abs(fit.deviation_mm[0]) < 0.005 and fit.deviation_mm[1] < -0.3
