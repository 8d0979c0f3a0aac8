"""Solder cues from the top view: grey (tin) where gold should be.

Gold and solder are told apart by the one colour model of `vision.colour` (hue angle and saturation
C*/L* in CIELAB, which hold for any mask colour and light intensity). The flange top annulus turning
grey means a solder sleeve over the flange (wicking); the barrel-top ring turning grey means solder
over the barrel-top edge into the plunger gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.colour import CLIPPED, DARK, SOLDER, classify, to_lab

__all__ = ["ring_grey_fraction", "grey_rings", "GreyRing"]


@dataclass
class GreyRing:
    grey_fraction: float  # fraction of the ring's pixels that are solder-grey (`vision.colour.classify`)
    dark_fraction: float  # samples that say nothing about colour: deep shadow or clipped highlight
    mean_chroma: float
    n_pixels: int
    mean_lightness: float = float("nan")  # mean CIE L* (0-100) of the ring


def grey_rings(image_rgb: np.ndarray, rings: list[tuple], *, n_angles: int = 64, step_px: float = 1.0) -> list[GreyRing]:
    """`ring_grey_fraction` for many annuli of one image at once.

    Each annulus is sampled on a polar grid (`n_angles` rays, radial step `step_px`, bilinear in
    RGB) and only the samples are converted to Lab, so the cost grows with the number of
    samples, not with the area the rings span (all the pins of a board go in one call).

    Parameters
    ----------
    image_rgb : (H, W, 3) uint8/uint16 RGB
    rings : list of ``(center_px, r_in_px, r_out_px, exclude)``; `exclude` is None or
        ``(center_px, radius_px)``, a disc left out (e.g. the barrel of a leaning pin).
    """
    empty = GreyRing(float("nan"), float("nan"), float("nan"), 0)
    if image_rgb.ndim != 3 or not rings:
        return [empty for _ in rings]
    img = image_rgb if image_rgb.dtype == np.uint8 else (image_rgb / 257).astype(np.uint8)
    h, w = img.shape[:2]
    theta = np.linspace(0, 2 * np.pi, n_angles, endpoint=False)
    ct, st = np.cos(theta), np.sin(theta)
    # every ring on one padded (ring, radius, angle) grid; `m` marks the samples that exist
    c = np.array([r[0] for r in rings], float).reshape(-1, 2)
    r_in = np.array([r[1] for r in rings], float)
    n_r = np.ceil((np.array([r[2] for r in rings], float) + 1e-9 - r_in) / step_px).astype(int)  # as np.arange counts
    rs = r_in[:, None] + np.arange(max(int(n_r.max()), 0)) * step_px  # (rings, radii)
    U = c[:, 0, None, None] + rs[..., None] * ct  # (rings, radii, angles)
    V = c[:, 1, None, None] + rs[..., None] * st
    m = (np.arange(rs.shape[1]) < n_r[:, None])[..., None] & (U >= 0) & (U <= w - 1) & (V >= 0) & (V <= h - 1)
    for i, ex in enumerate(r[3] for r in rings):
        if ex is not None:
            m[i] &= np.hypot(U[i] - ex[0][0], V[i] - ex[0][1]) > ex[1]
    ids = np.broadcast_to(np.arange(len(rings))[:, None, None], m.shape)[m]
    U, V = U[m], V[m]
    if len(U) == 0:
        return [empty for _ in rings]
    # remap maps must stay below 32767 px a side: lay the samples out in rows of 1024
    M = len(U)
    cols = 1024
    pad = (-M) % cols
    mx = np.concatenate([U, np.zeros(pad)]).astype(np.float32).reshape(-1, cols)
    my = np.concatenate([V, np.zeros(pad)]).astype(np.float32).reshape(-1, cols)
    smp = cv2.remap(img, mx, my, cv2.INTER_LINEAR)
    lab = to_lab(smp).reshape(-1, 3)[:M]
    L = lab[:, 0]
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    cls = classify(lab)
    dark = (cls == DARK) | (cls == CLIPPED)  # deep shadow and clipped highlights say nothing about colour
    grey = cls == SOLDER
    # the samples are ordered ring by ring: one reduceat sums every ring's columns at once
    n = np.bincount(ids, minlength=len(rings))
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    per = np.column_stack([~dark, grey, dark, np.where(dark, 0.0, chroma), L]).astype(float)
    per = np.vstack([per, np.zeros((1, 5))])  # a zero row, so a trailing empty ring still has a valid start
    sums = np.add.reduceat(per, starts, axis=0)  # (rings, 5); rows of empty rings are skipped below
    out = []
    for i, (n_lit, s_grey, s_dark, s_chroma, s_L) in enumerate(sums.tolist()):
        if n[i] == 0:
            out.append(empty)
            continue
        k = int(n[i])
        out.append(GreyRing(s_grey / k, s_dark / k, s_chroma / n_lit if n_lit else 0.0, k, s_L / k))
    return out


def ring_grey_fraction(image_rgb: np.ndarray, center_px, r_in_px: float, r_out_px: float, *, exclude=None) -> GreyRing:
    """Grey fraction of the annulus r_in <= r <= r_out around `center_px` in an RGB image.

    Parameters
    ----------
    image_rgb : (H, W, 3) uint8/uint16 RGB
    center_px : (2,) (u, v)
    exclude : optional (center_px, radius_px): a disk to leave out (e.g. the barrel of a leaning pin).
    """
    return grey_rings(image_rgb, [(center_px, r_in_px, r_out_px, exclude)])[0]
