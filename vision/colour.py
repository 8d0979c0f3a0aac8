"""One colour model for every view: gold, solder (grey), bare pad and mask told apart in CIELAB, whatever
the solder-mask colour and however bright the light.

Shading and light intensity scale a surface's RGB by a common factor k. In CIELAB (L* = 116 f(Y) - 16,
a*, b* differences of f = cube roots) both the lightness and the chromatic coordinates then scale by about
k^(1/3) (above L* ~ 10), so the **saturation** ``s = C*/L*`` (C* = hypot(a*, b*)) and the **hue angle**
``h = atan2(b*, a*)`` stay put under a light +-40 % brighter or dimmer, or a ring light switched off.
Gold is judged by them: a yellow hue and a saturation that no neutral metal reaches.

* **gold**: hue in `PARAMS.colour.gold_hue_deg` and a saturation no other surface here reaches (`PARAMS.colour.gold_min_saturation`;
  Au reflects yellow: CIELAB hue 70-105 deg under white light, a red mask reads 20 deg, green 150).
* **dark**: ``L* < PARAMS.colour.dark_l`` -- deep shadow (steep fillets, the bore) says nothing about colour.
* **clipped**: ``L* >= PARAMS.colour.clipped_l`` -- every channel at full scale: the sensor clipped the colour away (a
  gold barrel top under a strong coaxial light reads white, as neutral as solder), so it says nothing either.
* **solder** (tin/SAC, nickel: a neutral grey, reflectance ~60 %): not gold, not dark, and nearly neutral
  (``s <= PARAMS.colour.grey_max_saturation``) -- or, on a board whose mask tints everything near it, not farther from
  neutral than the mask's own saturation allows (see `classify`).
* **mask**: within `PARAMS.colour.mask_distance` (CIELAB Delta-E on shading-normalised colour) of the board's own mask
  colour, sampled from the image between the pins (`mask_colour`), so no mask colour is assumed.
* **pad** (bare ENIG pad): gold by colour; where a pad is told from a pin's gold it is by geometry, not
  colour.

Colours are taken from 8-bit or 16-bit RGB through OpenCV's float conversion (true CIELAB, D65).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vision.params import PARAMS

__all__ = ["srgb_to_linear", "to_lab", "saturation", "saturation_hue", "gold_likeness", "classify", "mask_colour", "MaskColour", "GOLD", "SOLDER", "CLIPPED",
           "MASK", "DARK", "OTHER"]


GOLD, SOLDER, MASK, DARK, OTHER, CLIPPED = 1, 2, 3, 4, 0, 5


def srgb_to_linear(values: np.ndarray, *, dtype=np.float32) -> np.ndarray:
    """sRGB-encoded values in [0, 1] (any shape) to linear light (IEC 61966-2-1): what the sensor's blend of
    two surfaces, or a surface's shading, is linear in. Computed and returned in `dtype` (float32 for images;
    float64 where a table or a generated colour is built once)."""
    v = np.asarray(values, dtype)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(dtype)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (..., 3) float32 (L* 0-100, a*, b*) of RGB samples (..., 3), uint8, uint16 or float in 0-1."""
    x = np.asarray(rgb)
    if x.dtype == np.uint8:
        f = x.astype(np.float32) / 255.0
    elif x.dtype == np.uint16:
        f = x.astype(np.float32) / 65535.0
    else:
        f = x.astype(np.float32)
    shape = f.shape
    lab = cv2.cvtColor(np.ascontiguousarray(f.reshape(-1, 1, 3)), cv2.COLOR_RGB2LAB)
    return lab.reshape(shape)


def saturation(lab: np.ndarray) -> np.ndarray:
    """Saturation C*/L* of CIELAB samples (..., 3) (L* floored at 1: black has no colour to speak of)."""
    return np.hypot(lab[..., 1], lab[..., 2]) / np.maximum(lab[..., 0], 1.0)


def saturation_hue(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Saturation C*/L* and hue angle (deg, 0-360) of CIELAB samples (..., 3)."""
    return saturation(lab), np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360.0


def gold_likeness(lab: np.ndarray) -> np.ndarray:
    """Gold likeness in [0, 1] of CIELAB samples (..., 3): 0 outside the gold hue band or in shadow, ramping
    from `PARAMS.colour.gold_ramp_from` to `PARAMS.colour.gold_min_saturation` in saturation, 1 above."""
    ramp = np.clip((saturation(lab) - PARAMS.colour.gold_ramp_from) / (PARAMS.colour.gold_min_saturation - PARAMS.colour.gold_ramp_from), 0.0, 1.0)
    return (ramp * (_in_hue_band(lab[..., 1], lab[..., 2]) & (lab[..., 0] >= PARAMS.colour.gold_min_l))).astype(np.float32)


@dataclass(frozen=True)
class MaskColour:
    """The board's own mask colour (median CIELAB of samples between the pins) and its saturation."""

    lab: tuple[float, float, float]
    n_samples: int

    @property
    def saturation(self) -> float:
        return float(saturation(np.asarray(self.lab, float)))


def mask_colour(image_rgb: np.ndarray, points_px: np.ndarray) -> MaskColour | None:
    """Median CIELAB of the image at `points_px` (N, 2) (u, v) -- points on the mask, e.g. midway between
    pins; points off the image are skipped, and gold-looking samples (a pad reaching there) left out.
    None for a mono image or without samples."""
    if image_rgb.ndim != 3:
        return None
    h, w = image_rgb.shape[:2]
    p = np.asarray(points_px, float).reshape(-1, 2)
    p = p[(p[:, 0] >= 0) & (p[:, 0] <= w - 1) & (p[:, 1] >= 0) & (p[:, 1] <= h - 1)]
    if len(p) == 0:
        return None
    iu, iv = np.rint(p[:, 0]).astype(int), np.rint(p[:, 1]).astype(int)
    lab = to_lab(image_rgb[iv, iu])
    lab = lab[gold_likeness(lab) < 0.5]
    if len(lab) == 0:
        return None
    return MaskColour(tuple(float(x) for x in np.median(lab, axis=0)), len(lab))


def _in_hue_band(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether the hue angle of (a*, b*) lies in `PARAMS.colour.gold_hue_deg`: two half-plane tests, the same as
    comparing ``atan2(b, a)`` with the band (narrower than 180 deg) at a fifth of the cost (`grey_rings` classifies
    every ring sample of a board)."""
    h0, h1 = np.radians(PARAMS.colour.gold_hue_deg)
    return (b * math.cos(h0) - a * math.sin(h0) >= 0) & (a * math.sin(h1) - b * math.cos(h1) >= 0)


def classify(lab: np.ndarray, mask: MaskColour | None = None) -> np.ndarray:
    """Class codes (...) of CIELAB samples (..., 3): GOLD, SOLDER, MASK, DARK or OTHER (see the module).

    With the board's `mask` colour: samples whose chromaticity, scaled to the mask's lightness, lies
    within `PARAMS.colour.mask_distance` of it are MASK (a white or black mask is as neutral as solder: only its
    lightness tells them apart, so this is decided first only where the geometry allows mask there;
    callers that look at a pin's own surfaces pass no mask). The grey limit widens to the mask's
    saturation plus `PARAMS.colour.grey_max_saturation` / 2 where a strongly coloured mask tints what is near it.
    """
    lab = np.asarray(lab, np.float32)
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    s = saturation(lab)
    out = np.full(L.shape, OTHER, np.int8)
    grey_max = PARAMS.colour.grey_max_saturation
    if mask is not None:
        grey_max = max(PARAMS.colour.grey_max_saturation, min(mask.saturation + 0.5 * PARAMS.colour.grey_max_saturation, PARAMS.colour.gold_min_saturation))
    out[s <= grey_max] = SOLDER
    if mask is not None:
        mL, ma, mb = mask.lab
        k = mL / np.maximum(L, 1.0)  # shading-normalise the chroma to the mask's lightness
        d = np.sqrt((lab[..., 1] * k - ma) ** 2 + (lab[..., 2] * k - mb) ** 2 + (L - mL) ** 2 * 0.25)
        out[d <= PARAMS.colour.mask_distance] = MASK
    # gold likeness >= 0.5 (`gold_likeness`): the saturation at hand, and the hue inside its band
    gold = (s >= 0.5 * (PARAMS.colour.gold_ramp_from + PARAMS.colour.gold_min_saturation)) & _in_hue_band(a, b) & (L >= PARAMS.colour.gold_min_l)
    out[gold] = GOLD
    out[L >= PARAMS.colour.clipped_l] = CLIPPED
    out[L < PARAMS.colour.dark_l] = DARK
    return out
