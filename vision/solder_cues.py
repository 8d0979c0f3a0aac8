"""Solder cues from the top view: grey (tin) where gold should be.

Gold is saturated yellow in CIE Lab (b* well above zero); tin/solder is a neutral grey. The
flange top annulus turning grey means a solder sleeve over the flange (wicking); the
barrel-top ring turning grey means solder over the barrel-top edge into the plunger gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["ring_grey_fraction", "grey_rings", "GreyRing", "CHROMA_GOLD_MIN"]

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
    mean_lightness: float = float("nan")  # mean CIE L* (0-100) of the ring


def grey_rings(image_rgb: np.ndarray, rings: list[tuple], *, n_angles: int = 64, step_px: float = 1.0) -> list[GreyRing]:
    """`ring_grey_fraction` for several annuli of one image, converting to Lab once.

    Each annulus is sampled on a polar grid (`n_angles` rays, radial step `step_px`, bilinear), so
    the cost does not grow with the area of the union of the rings.

    Parameters
    ----------
    image_rgb : (H, W, 3) uint8/uint16 RGB
    rings : list of ``(center_px, r_in_px, r_out_px, exclude)``; `exclude` is None or
        ``(center_px, radius_px)``, a disc left out (e.g. the barrel of a leaning pin).
    """
    empty = GreyRing(float("nan"), float("nan"), float("nan"), 0)
    if image_rgb.ndim != 3 or not rings:
        return [empty for _ in rings]
    h, w = image_rgb.shape[:2]
    cs = np.array([np.asarray(r[0], float) for r in rings])
    ro = np.array([float(r[2]) for r in rings])
    u0, v0 = max(int((cs[:, 0] - ro).min() - 2), 0), max(int((cs[:, 1] - ro).min() - 2), 0)
    u1, v1 = min(int((cs[:, 0] + ro).max() + 3), w), min(int((cs[:, 1] + ro).max() + 3), h)
    if u1 <= u0 or v1 <= v0:
        return [empty for _ in rings]
    roi = image_rgb[v0:v1, u0:u1]
    if roi.dtype == np.uint16:
        roi = (roi / 257).astype(np.uint8)
    lab = cv2.cvtColor(np.ascontiguousarray(roi), cv2.COLOR_RGB2LAB).astype(np.float32)
    theta = np.linspace(0, 2 * np.pi, n_angles, endpoint=False)
    out = []
    for c, r_in, r_out, exclude in rings:
        rs = np.arange(float(r_in), float(r_out) + 1e-9, step_px)
        if len(rs) == 0:
            out.append(empty)
            continue
        U = (c[0] + rs[:, None] * np.cos(theta)[None]).ravel()
        V = (c[1] + rs[:, None] * np.sin(theta)[None]).ravel()
        m = (U >= 0) & (U <= w - 1) & (V >= 0) & (V <= h - 1)
        if exclude is not None:
            ec, er = exclude
            m &= np.hypot(U - ec[0], V - ec[1]) > er
        if not m.any():
            out.append(empty)
            continue
        mx = (U[m] - u0).astype(np.float32)[None]
        my = (V[m] - v0).astype(np.float32)[None]
        smp = cv2.remap(lab, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
        Lm = smp[:, 0] * (100 / 255)
        cm = np.hypot(smp[:, 1] - 128, smp[:, 2] - 128)
        dark = Lm < 12  # deep shadow says nothing about colour
        grey = (~dark) & (cm < CHROMA_GOLD_MIN)
        out.append(GreyRing(float(grey.mean()), float(dark.mean()), float(cm[~dark].mean()) if (~dark).any() else 0.0,
                            int(m.sum()), float(Lm.mean())))
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
