"""Solder cues from the top view: grey (tin) where gold should be.

Gold is saturated yellow in CIE Lab (b* well above zero); tin/solder is a neutral grey. The
flange top annulus turning grey means a solder sleeve over the flange (wicking); the
barrel-top ring turning grey means solder over the barrel-top edge into the plunger gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["ring_grey_fraction", "GreyRing", "CHROMA_GOLD_MIN"]

# Lab chroma (8-bit OpenCV Lab, a/b offset removed) below which a pixel counts as grey, not gold.
# Rendered and synthetic gold sits at chroma 25-60 and SAC solder below 12; the midpoint keeps
# margin on both sides.
CHROMA_GOLD_MIN = 16.0


@dataclass
class GreyRing:
    grey_fraction: float  # fraction of the ring's pixels that are grey (not gold) and not dark shadow
    dark_fraction: float
    mean_chroma: float
    n_pixels: int


def ring_grey_fraction(image_rgb: np.ndarray, center_px, r_in_px: float, r_out_px: float, *, exclude=None) -> GreyRing:
    """Grey fraction of the annulus r_in <= r <= r_out around `center_px` in an RGB image.

    Parameters
    ----------
    image_rgb : (H, W, 3) uint8/uint16 RGB
    center_px : (2,) (u, v)
    exclude : optional (center_px, radius_px): a disk to leave out (e.g. the barrel of a leaning pin).
    """
    if image_rgb.ndim != 3:
        return GreyRing(float("nan"), float("nan"), float("nan"), 0)
    c = np.asarray(center_px, float)
    h, w = image_rgb.shape[:2]
    u0, v0 = max(int(c[0] - r_out_px - 1), 0), max(int(c[1] - r_out_px - 1), 0)
    u1, v1 = min(int(c[0] + r_out_px + 2), w), min(int(c[1] + r_out_px + 2), h)
    roi = image_rgb[v0:v1, u0:u1]
    if roi.dtype == np.uint16:
        roi = (roi / 257).astype(np.uint8)
    lab = cv2.cvtColor(roi, cv2.COLOR_RGB2LAB).astype(np.float32)
    vv, uu = np.mgrid[v0:v1, u0:u1]
    rr = np.hypot(uu - c[0], vv - c[1])
    m = (rr >= r_in_px) & (rr <= r_out_px)
    if exclude is not None:
        ec, er = exclude
        m &= np.hypot(uu - ec[0], vv - ec[1]) > er
    if m.sum() == 0:
        return GreyRing(float("nan"), float("nan"), float("nan"), 0)
    L = lab[..., 0][m] * (100 / 255)
    chroma = np.hypot(lab[..., 1][m] - 128, lab[..., 2][m] - 128)
    dark = L < 12  # deep shadow says nothing about colour
    grey = (~dark) & (chroma < CHROMA_GOLD_MIN)
    return GreyRing(float(grey.mean()), float(dark.mean()), float(chroma[~dark].mean()) if (~dark).any() else 0.0, int(m.sum()))
