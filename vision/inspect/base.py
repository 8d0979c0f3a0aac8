"""What each view's inspection hands to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from models.errors import InputError
from models.measurement import Cue, Measurement
from models.pin_geometry import PinGeometry


@dataclass
class ItemView:
    """One pin or pad as seen by one view."""

    measurements: dict[str, Measurement] = field(default_factory=dict)
    cues: dict[str, Cue] = field(default_factory=dict)
    image_px: dict[str, list[float]] = field(default_factory=dict)  # e.g. {"top.tip": [u, v], "top.base": [u, v]}


@dataclass
class ViewOutput:
    """The result of inspecting one view (top, side, stack:NAME) of one board."""

    view: str
    pins: dict[str, ItemView] = field(default_factory=dict)
    pads: dict[str, ItemView] = field(default_factory=dict)
    board_measurements: dict[str, Measurement] = field(default_factory=dict)
    registration: dict = field(default_factory=dict)
    overlays: dict[str, np.ndarray] = field(default_factory=dict)  # name -> RGB uint8 image
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # pad id -> (N, 2) points where this view saw oxide, in mm on the pad's own axes from its centre (+y up)
    pad_oxide_mm: dict[str, np.ndarray] = field(default_factory=dict)
    # redraws this view's overlays with the board's final (fused) item results {id: ItemResult};
    # a view's own overlay can only show what that view alone decided
    redraw: Callable[[dict], dict[str, np.ndarray]] | None = None


def pin_geometry(recipe, *, what: str) -> PinGeometry:
    """The recipe's pin type as the geometry the views measure with; a one-line InputError without one."""
    if recipe.pin_type is None:
        raise InputError(f"recipe {recipe.key} has no pin_type; {what} measures pins and needs their geometry")
    return recipe.pin_type.geometry


def _min_max(img: np.ndarray) -> tuple[float, float]:
    """Smallest and largest pixel value of `img` (H, W[, C]) in one pass (`cv2.minMaxLoc` on a 2-D view; numpy's
    min and max read the frame twice, 0.4 ms of a 1280x960 RGB frame on an inline station's budget)."""
    a = img.reshape(img.shape[0], -1) if img.flags.c_contiguous else np.ascontiguousarray(img).reshape(img.shape[0], -1)
    lo, hi, _, _ = cv2.minMaxLoc(a)
    return float(lo), float(hi)


def top_image(inp) -> tuple[np.ndarray, object]:
    """The checked top image (H, W) or (H, W, 3), uint8/uint16, and its board-plane calibration record, from a
    `BoardInput`; one-line InputErrors for a missing, malformed, mismatched or blank image."""
    img = inp.images.get("top")
    if img is None:
        raise InputError("no top image given; pass --image top=FILE")
    rec = inp.calibrations.get("top")
    if rec is None:
        raise InputError("no calibration record for the top view; pass the top camera's record (--calibration top=FILE)")
    if rec.plane != "board":
        raise InputError(f"calibration record {rec.camera_id!r} is for a {rec.plane} plane; the top view needs a board-plane record")
    img = np.asarray(img)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        raise InputError(f"the top image has shape {img.shape}; expected (H, W) mono or (H, W, 3) RGB")
    if img.dtype not in (np.uint8, np.uint16):
        raise InputError(f"the top image is {img.dtype}; expected 8- or 16-bit pixels")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    rec.check_image(img.shape, what="the top image")
    lo, hi = _min_max(img)
    if hi - lo < (10 if img.dtype == np.uint8 else 2570):
        raise InputError("the top image is blank (no contrast); check the camera, the light and that a board is under it")
    return img, rec
