"""The all-in-focus picture (vision.allfocus): a Laplacian-pyramid merge with a consistent frame choice.

The real 7-frame `pcb` set against upstream's expected.jpg is tests/api/cli/test_focus_pcb_picture.py.
Synthetic: a texture sharp in one half of each frame; a bright bar (halos); types kept.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vision.allfocus import fuse_all_in_focus


def _texture(shape=(192, 256), seed=0):
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.uniform(0, 255, shape).astype(np.float32), (0, 0), 1.2)
    return cv2.normalize(t, None, 30, 225, cv2.NORM_MINMAX).astype(np.uint8)


def test_each_half_comes_from_the_frame_sharp_there_without_seams():
    t = _texture()
    blur = cv2.GaussianBlur(t, (0, 0), 4)
    a, b = t.copy(), t.copy()
    a[:, 128:] = blur[:, 128:]
    b[:, :128] = blur[:, :128]
    f = fuse_all_in_focus([a, b, blur])
    err = np.abs(f.astype(int) - t.astype(int))
    assert f.dtype == np.uint8 and f.shape == t.shape
    assert err.mean() < 0.15 * np.abs(a.astype(int) - t.astype(int)).mean()
    # the seam at the middle column is no worse than the rest
    assert err[:, 120:136].mean() < 2.5 * max(err.mean(), 1.0)


def test_no_dark_halo_around_a_bright_bar():
    img = np.full((160, 200, 3), 40, np.uint8)
    img[70:90, 60:140] = 235  # white silkscreen on dark solder mask
    frames = [cv2.GaussianBlur(img, (0, 0), s) if s else img for s in (6, 3, 0, 3, 6)]
    f = fuse_all_in_focus(frames)
    ring = np.zeros(img.shape[:2], bool)
    ring[60:100, 50:150] = True
    ring[68:92, 58:142] = False  # a band 2-10 px outside the bar
    assert f[ring].min() >= 40 - 6  # the mask around it stays at its level: no dark ring
    assert np.abs(f.astype(int) - img.astype(int)).max() <= 12


def test_types_kept_and_bad_arguments():
    t = _texture().astype(np.uint16) * 257
    f = fuse_all_in_focus([t, cv2.GaussianBlur(t, (0, 0), 3), t])
    assert f.dtype == np.uint16 and np.abs(f.astype(int) - t.astype(int)).max() < 3 * 257
    from models.errors import InputError

    with pytest.raises(InputError, match="window_px"):
        fuse_all_in_focus([t, t], window_px=4)
    with pytest.raises(InputError, match="one size"):
        fuse_all_in_focus([t, t[:100]])
