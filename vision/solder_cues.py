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
    us, vs, ids = [], [], []
    for i, (c, r_in, r_out, exclude) in enumerate(rings):
        rs = np.arange(float(r_in), float(r_out) + 1e-9, step_px)
        U = (c[0] + rs[:, None] * ct[None]).ravel()
        V = (c[1] + rs[:, None] * st[None]).ravel()
        m = (U >= 0) & (U <= w - 1) & (V >= 0) & (V <= h - 1)
        if exclude is not None:
            ec, er = exclude
            m &= np.hypot(U - ec[0], V - ec[1]) > er
        us.append(U[m])
        vs.append(V[m])
        ids.append(np.full(int(m.sum()), i))
    U, V, ids = np.concatenate(us), np.concatenate(vs), np.concatenate(ids)
    if len(U) == 0:
        return [empty for _ in rings]
    # remap maps must stay below 32767 px a side: lay the samples out in rows of 1024
    M = len(U)
    cols = 1024
    pad = (-M) % cols
    mx = np.concatenate([U, np.zeros(pad)]).astype(np.float32).reshape(-1, cols)
    my = np.concatenate([V, np.zeros(pad)]).astype(np.float32).reshape(-1, cols)
    smp = cv2.remap(img, mx, my, cv2.INTER_LINEAR)
    lab = cv2.cvtColor(smp, cv2.COLOR_RGB2LAB).reshape(-1, 3)[:M].astype(np.float32)
    L = lab[:, 0] * (100 / 255)
    chroma = np.hypot(lab[:, 1] - 128, lab[:, 2] - 128)
    dark = L < 12  # deep shadow says nothing about colour
    grey = (~dark) & (chroma < CHROMA_GOLD_MIN)
    n = np.bincount(ids, minlength=len(rings))
    n_lit = np.bincount(ids, weights=~dark, minlength=len(rings))
    sums = {k: np.bincount(ids, weights=v, minlength=len(rings))
            for k, v in (("grey", grey), ("dark", dark), ("chroma", np.where(dark, 0.0, chroma)), ("L", L))}
    out = []
    for i in range(len(rings)):
        if n[i] == 0:
            out.append(empty)
            continue
        out.append(GreyRing(float(sums["grey"][i] / n[i]), float(sums["dark"][i] / n[i]),
                            float(sums["chroma"][i] / n_lit[i]) if n_lit[i] else 0.0, int(n[i]), float(sums["L"][i] / n[i])))
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
