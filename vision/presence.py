"""Is there a pin on the pad? A pin shows a sharp circular barrel-top rim of the right size;
a bare pad or a pad with reflowed paste does not."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vision.params import PARAMS
from vision.subpixel.circles import CircleFit
from vision.subpixel.peaks import parabolic_offset

__all__ = ["Presence", "pin_presence", "GoldHead", "gold_score", "find_gold_heads"]



@dataclass
class Presence:
    present: bool
    score: float
    confidence: float
    detail: str


def pin_presence(barrel: CircleFit, flange: CircleFit, *, min_score: float | None = None) -> Presence:
    """From a pin's barrel-top and flange rim fits (pixels): is a pin there? The score is the rim's edge step
    (grey levels/px) over (fit RMS + 0.2 px); `min_score` defaults to ``PARAMS.top.presence_min_score``."""
    min_score = PARAMS.top.presence_min_score if min_score is None else min_score
    b = barrel
    if not b.ok:
        return Presence(False, 0.0, 0.9, f"no barrel-top rim found ({b.reason})")
    score = b.contrast / (b.rms_px + 0.2)
    present = score >= min_score and flange.ok
    # confidence grows with the distance of the score from the threshold (log scale)
    conf = min(0.99, 0.5 + 0.25 * abs(math.log(max(score, 1e-3) / min_score)))
    detail = f"barrel-top rim score {score:.1f} (threshold {min_score:g})"
    if present is False and b.ok and score >= min_score:
        detail += "; flange rim not found"
    return Presence(bool(present), float(score), float(conf), detail)


# -- teaching: where are the gold pin heads of a known-good board? ------------------------------------
@dataclass
class GoldHead:
    """A round gold pin head found in an image: centre (u, v) px, fitted radius px, gold fill score in [0, 1]."""

    center_px: tuple[float, float]
    radius_px: float
    score: float
    subpixel: bool  # True when the centre is a subpixel peak


def gold_score(image_rgb) -> "np.ndarray":
    """Per-pixel gold likeness in [0, 1] of an RGB image (H, W, 3) for teaching from a photo of an unknown
    board: CIELAB hue 40-100 deg (orange to pale yellow gold), chroma ramping
    22 -> 35 and L* > 25. Stricter in hue than `vision.colour.gold_likeness` (which judges a known pin's
    surfaces): on the jig photo, olive board surfaces and tin tinted by the green board read hue 90-116 at
    saturations as high as gold's, where its gold reads 74-85. Tin, nickel and green or black mask score 0."""
    import cv2
    import numpy as np

    img = image_rgb if image_rgb.dtype == np.uint8 else (image_rgb / 257).astype(np.uint8)
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)  # 8-bit: L* scaled to 0-255, a*, b* + 128
    L = lab[..., 0] * (100 / 255)
    a, b = lab[..., 1] - 128, lab[..., 2] - 128
    hue = np.degrees(np.arctan2(b, a))
    return (np.clip((np.hypot(a, b) - 22) / 13, 0, 1) * ((hue > 40) & (hue < 100) & (L > 25))).astype(np.float32)


def find_gold_heads(image_rgb, *, diameter_px: float, min_fill: float = 0.25, min_contrast: float = 0.35) -> list[GoldHead]:
    """Round gold pin heads of about `diameter_px` in an RGB image, for teaching a recipe from a good board.

    The gold likeness (`gold_score`) is correlated with a zero-sum template: the head's disc
    against a ring around it (so a gold patch larger than a head -- a pad, a gold bridge between two
    heads -- scores less than a head). Local maxima at least 0.9 diameters apart whose disc is on
    average at least `min_fill` gold are heads; tin joints, pads under solder and the mask are not
    gold and are not reported. Centres are the subpixel peaks of the correlation: where the rim
    of a head shows a white specular highlight instead of gold the centre moves away from it by up
    to about a third of the diameter -- these are proposals for the engineer to confirm.

    Parameters
    ----------
    image_rgb : (H, W, 3) uint8/uint16 RGB.
    diameter_px : expected head diameter (px), e.g. pin-type diameter / calibration scale.
    min_fill : smallest mean gold likeness over the head's disc.
    min_contrast : smallest template response (mean gold likeness on the disc minus that on the ring
        around it); heads score 0.4-0.75 on the jig photo and the generated boards, tinted tin joints
        and partial glints below 0.25.

    Returns
    -------
    list of GoldHead, strongest first (``score`` = the response, ``radius_px`` = diameter / 2).
    """
    import cv2
    import numpy as np

    from models.errors import InputError

    if getattr(image_rgb, "ndim", 0) != 3 or image_rgb.shape[2] != 3:
        raise InputError("teaching needs a colour (RGB) top image: gold is found by its colour")
    if not (4 <= diameter_px <= min(image_rgb.shape[:2]) / 2):
        raise InputError(f"pin head diameter {diameter_px:.1f} px does not fit a {image_rgb.shape[1]}x{image_rgb.shape[0]} image")
    score = gold_score(image_rgb)
    r = diameter_px / 2
    k = int(2 * math.ceil(1.6 * r) + 1)
    yy, xx = np.mgrid[0:k, 0:k]
    rr = np.hypot(xx - k // 2, yy - k // 2)
    disc, ring = rr <= r, (rr > 1.15 * r) & (rr <= 1.6 * r)
    tpl = np.zeros((k, k), np.float32)
    tpl[disc], tpl[ring] = 1.0 / disc.sum(), -1.0 / ring.sum()
    resp = cv2.filter2D(score, -1, tpl, borderType=cv2.BORDER_CONSTANT)
    fill = cv2.filter2D(score, -1, (disc / disc.sum()).astype(np.float32), borderType=cv2.BORDER_CONSTANT)
    ks = int(0.9 * diameter_px) | 1
    peaks = (resp == cv2.dilate(resp, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ks, ks)))) & (fill > min_fill) & (resp > min_contrast)
    vv, uu = np.nonzero(peaks)
    heads: list[GoldHead] = []
    h, w = resp.shape
    for i in np.argsort(-resp[vv, uu]):
        v, u = int(vv[i]), int(uu[i])
        if any(math.dist((u, v), hd.center_px) < 0.9 * diameter_px for hd in heads):
            continue  # a plateau gives several equal maxima
        du = dv = 0.0
        if 0 < u < w - 1 and 0 < v < h - 1:  # parabolic subpixel peak
            du = float(parabolic_offset(resp[v, u - 1], resp[v, u], resp[v, u + 1]))
            dv = float(parabolic_offset(resp[v - 1, u], resp[v, u], resp[v + 1, u]))
        heads.append(GoldHead((u + du, v + dv), r, float(resp[v, u]), True))
    return heads
