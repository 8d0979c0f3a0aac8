"""Depth from focus on generated stacks with exact heights: sub-step accuracy, flags, composite, alignment."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.errors import InputError
from vision.align import align_stack
from vision.focus import FOCUS_MEASURES, REASON_OK, REASON_PEAK_AT_END, REASON_WEAK, depth_from_focus, focus_curve, focus_measure
from vision.focus_peaks import refine_peak
from vision.synth import render as R
from vision.synth.stack import MicroCamera, render_focus_stack

CAM = MicroCamera(mm_per_px=0.009, width_px=240, height_px=180, numerical_aperture=0.08)
STEP = 0.05
Z = np.round(np.arange(20) * STEP, 6)


def _surface(seed=0, *, flat_patch=False):
    """Smooth bumps spanning the stack's middle, a textured albedo; optionally an untextured patch."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0 : CAM.height_px, 0 : CAM.width_px].astype(float)
    h = 0.45 + 0.2 * np.sin(u / 60.0 + seed) * np.cos(v / 45.0) + 0.001 * (u - 120)
    alb = np.clip(0.5 * (1 + 0.35 * R.smooth_noise(h.shape, rng, sigma_px=1.2)), 0.02, 1)
    if flat_patch:
        alb[20:60, 20:60] = 0.5
    return h, alb.astype(np.float32)


@pytest.fixture(scope="module")
def bumps():
    h, alb = _surface(0, flat_patch=True)
    return h, render_focus_stack(h, alb, Z, CAM, seed=1)


@pytest.mark.parametrize("measure", sorted(FOCUS_MEASURES))
def test_height_within_a_tenth_of_the_step(bumps, measure):
    h, imgs = bumps
    r = depth_from_focus(imgs, Z, measure=measure, window_px=9, presmooth_px=1.0, min_contrast=3.0, fit_points="auto")
    textured = np.ones_like(r.valid)
    textured[16:64, 16:64] = False
    inside = (h > Z[1]) & (h < Z[-2])
    sel = r.valid & textured & inside
    assert sel.sum() > 0.9 * (textured & inside).sum()  # almost every textured pixel has a peak
    err = r.height_mm[sel] - h[sel]
    rms = float(np.sqrt(np.mean(err**2)))
    assert rms <= 0.1 * STEP, f"{measure}: RMS {rms * 1e3:.2f} um > {0.1 * STEP * 1e3:.1f} um"
    assert abs(float(np.median(err))) < 0.02 * STEP
    # the stated uncertainty is realistic: most errors within 3 u, and u is not a blanket over-estimate
    u = r.uncertainty_mm[sel]
    assert np.mean(np.abs(err) <= 3 * u) > 0.9
    assert np.median(u) < 3 * rms


def test_three_point_fit_is_worse_but_still_sub_step(bumps):
    h, imgs = bumps
    r = depth_from_focus(imgs, Z, window_px=9, presmooth_px=1.0, min_contrast=3.0, fit_points=3)
    sel = r.valid & (h > Z[1]) & (h < Z[-2])
    sel[16:64, 16:64] = False
    assert float(np.sqrt(np.mean((r.height_mm[sel] - h[sel]) ** 2))) < 0.3 * STEP


def test_untextured_and_out_of_range_are_flagged_not_guessed(bumps):
    h, imgs = bumps
    r = depth_from_focus(imgs, Z, window_px=9, presmooth_px=1.0, min_contrast=3.0)
    patch = r.reason[30:50, 30:50]  # well inside the untextured patch (defocus spreads texture ~5 px in)
    assert np.mean(patch != REASON_OK) > 0.95 and np.mean(patch == REASON_WEAK) > 0.5
    assert np.all(np.isnan(r.height_mm[~r.valid])) and np.all(np.isnan(r.uncertainty_mm[~r.valid]))
    # the same surface lifted above the stack: every textured peak is on the last slice -> flagged
    h2, alb = _surface(0)
    imgs2 = render_focus_stack(h2 + 1.5, alb, Z, CAM, seed=2)
    r2 = depth_from_focus(imgs2, Z, window_px=9, presmooth_px=1.0, min_contrast=3.0)
    inner = (slice(15, -15), slice(15, -15))  # the renderer's blur wraps (reflects) at the image border
    assert r2.valid[inner].mean() < 0.01
    assert np.mean(r2.reason[inner] == REASON_PEAK_AT_END) > 0.5


def test_all_in_focus_is_sharper_than_every_slice(bumps):
    h, imgs = bumps
    r = depth_from_focus(imgs, Z, window_px=9, presmooth_px=1.0)
    sharp = focus_curve([r.all_in_focus], measure="tenengrad")[0]
    assert sharp > 1.3 * focus_curve(imgs, measure="tenengrad").max()
    assert r.all_in_focus.dtype == imgs.dtype and r.all_in_focus.shape == imgs.shape[1:]


def test_refine_peak_exact_on_a_gaussian_with_uneven_steps():
    z = np.array([0.0, 0.01, 0.025, 0.03, 0.045, 0.05])
    f = np.exp(-((z - 0.0285) ** 2) / (2 * 0.012**2))
    zp, sigma, k = refine_peak(z, f)
    assert zp == pytest.approx(0.0285, abs=1e-9) and sigma == pytest.approx(0.012, rel=1e-6) and k == 3
    assert np.isnan(refine_peak(z, np.linspace(0, 1, 6))[0])  # monotonic: peak at the end


def test_uneven_steps_use_the_general_fit():
    h, alb = _surface(3)
    z = np.sort(np.r_[Z[::2], Z[1::4]])  # irregular spacing (no gap over 1.5x the median)
    imgs = render_focus_stack(h, alb, z, CAM, seed=4)
    r = depth_from_focus(imgs, z, window_px=9, presmooth_px=1.0, min_contrast=3.0, fit_points=5)
    sel = r.valid & (h > z[1]) & (h < z[-2])
    assert float(np.sqrt(np.mean((r.height_mm[sel] - h[sel]) ** 2))) < 0.2 * np.median(np.diff(z))


def test_colour_and_16_bit_slices():
    h, alb = _surface(5)
    rgb = np.dstack([alb, 0.8 * alb, 0.5 * alb])
    imgs = render_focus_stack(h, rgb, Z, CAM, seed=6)
    r = depth_from_focus(imgs, Z, window_px=9, presmooth_px=1.0, min_contrast=3.0, fit_points="auto")
    assert r.all_in_focus.shape == imgs.shape[1:]
    imgs16 = imgs[..., 1].astype(np.uint16) * 257
    r16 = depth_from_focus(imgs16, Z, window_px=9, presmooth_px=1.0, min_contrast=3.0, fit_points="auto")
    both = r.valid & r16.valid
    assert both.mean() > 0.8
    assert float(np.sqrt(np.nanmean((r.height_mm - r16.height_mm)[both] ** 2))) < 0.1 * STEP


def test_alignment_recovers_hand_held_shifts():
    h, alb = _surface(7)
    imgs = render_focus_stack(h, alb, Z[::2], CAM, seed=8)
    rng = np.random.default_rng(9)
    shifts = rng.uniform(-4, 4, (len(imgs), 2))
    shifts[len(imgs) // 2] = 0
    moved = [cv2.warpAffine(im, np.float32([[1, 0, dx], [0, 1, dy]]), im.shape[::-1], flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
             for im, (dx, dy) in zip(imgs, shifts)]
    for method in ("ecc", "phase"):
        _, maps = align_stack(moved, method=method)
        got = np.array([m[:, 2] for m in maps])
        # the map takes reference coordinates to each frame's: the frame's own shift
        # ECC: sub-0.35 px; phase correlation of frames with different blur: sub-0.6 px
        assert np.abs(got - shifts).max() < (0.35 if method == "ecc" else 0.6), method
    r = depth_from_focus(moved, Z[::2], window_px=9, presmooth_px=1.0, min_contrast=3.0, align="ecc")
    sel = r.valid & (h > Z[2]) & (h < Z[-3])
    sel[:12], sel[-12:], sel[:, :12], sel[:, -12:] = False, False, False, False
    assert float(np.sqrt(np.mean((r.height_mm[sel] - h[sel]) ** 2))) < 0.1 * 2 * STEP


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(measure="brenner"), "unknown focus measure 'brenner'"),
        (dict(window_px=4), "window_px must be an odd number"),
        (dict(fit_points=4), "fit_points must be 3, 5, 7 or 'auto'"),
        (dict(min_contrast=0.5), "min_contrast must be >= 1"),
        (dict(align="sift"), "unknown alignment 'sift'"),
    ],
)
def test_bad_options_are_one_line_errors(bumps, kw, match):
    _, imgs = bumps
    with pytest.raises(InputError, match=match):
        depth_from_focus(imgs[:5], Z[:5], **kw)


def test_bad_z_is_refused(bumps):
    _, imgs = bumps
    with pytest.raises(InputError, match="strictly increasing"):
        depth_from_focus(imgs[:4], [0, 0.1, 0.1, 0.2])
    with pytest.raises(InputError, match="4 slices but 3 z values"):
        depth_from_focus(imgs[:4], [0, 0.1, 0.2])
    with pytest.raises(InputError, match="at least 3 slices"):
        depth_from_focus(imgs[:2], [0, 0.1])


def test_focus_measures_rise_with_sharpness():
    rng = np.random.default_rng(0)
    img = (255 * np.clip(0.5 + 0.2 * R.smooth_noise((64, 64), rng, sigma_px=1.0), 0, 1)).astype(np.uint8)
    blurred = cv2.GaussianBlur(img, (0, 0), 2.0)
    for m in FOCUS_MEASURES:
        assert focus_measure(img, measure=m).mean() > 3 * focus_measure(blurred, measure=m).mean(), m


def test_ecc_that_does_not_converge_is_reported_not_hidden():
    """Featureless frames cannot be registered: the frames stay where they were and the result says which and why."""
    flat = [np.full((64, 80), 128, np.uint8) for _ in range(3)]
    al = align_stack(flat, method="ecc")
    aligned, maps = al  # unpacks as before
    assert len(aligned) == 3 and all(np.allclose(m, np.eye(2, 3)) for m in maps)
    assert [k for k, _ in al.failed] == [0, 2] and all("did not converge" in why for _, why in al.failed)
