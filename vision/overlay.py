"""Drawing helpers for inspection overlays (any view): items outlined by verdict, labels, markers.

Plain data in (pixel positions, verdict strings, short texts), an RGB uint8 image out; nothing
here knows about recipes or decision rules, so every view (and the pipeline after the verdicts)
can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["VERDICT_RGB", "OverlayItem", "to_rgb8", "draw_items", "draw_marker", "draw_text_block", "draw_top_overlay",
           "draw_pad_overlay"]

#: outline colour per verdict (RGB)
VERDICT_RGB = {"PASS": (40, 200, 60), "REVIEW": (255, 170, 0), "FAIL": (235, 30, 30), None: (160, 160, 160)}

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_SHIFT = 4  # sub-pixel drawing: coordinates in 1/16 px


@dataclass
class OverlayItem:
    """One pin or pad to outline: centre (u, v) px, outline radius px, verdict, label lines."""

    id: str
    center_px: tuple[float, float]
    radius_px: float
    verdict: str | None = None
    lines: list[str] = field(default_factory=list)  # short texts under the id, e.g. "tilt 3.2 deg"
    points_px: dict[str, tuple[float, float]] = field(default_factory=dict)  # e.g. {"base": .., "tip": ..}


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """A drawable RGB uint8 copy of a mono/RGB, uint8/uint16 image (H, W[, 3])."""
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(img.copy())


def _p(uv) -> tuple[int, int]:
    return int(round(uv[0] * (1 << _SHIFT))), int(round(uv[1] * (1 << _SHIFT)))


def draw_marker(img: np.ndarray, uv, *, color=(0, 255, 255), size_px: float = 6.0, kind: str = "cross") -> None:
    """A cross (``kind='cross'``) or small circle at the subpixel position `uv`, in place."""
    u, v = float(uv[0]), float(uv[1])
    if kind == "cross":
        cv2.line(img, _p((u - size_px, v)), _p((u + size_px, v)), color, 1, cv2.LINE_AA, _SHIFT)
        cv2.line(img, _p((u, v - size_px)), _p((u, v + size_px)), color, 1, cv2.LINE_AA, _SHIFT)
    else:
        cv2.circle(img, _p((u, v)), int(round(size_px * (1 << _SHIFT))), color, 1, cv2.LINE_AA, _SHIFT)


def draw_text_block(img: np.ndarray, origin_px, lines: list[str], *, color=(255, 255, 255), scale: float = 0.4) -> None:
    """Lines of text from `origin_px` (top-left) downwards, with a dark outline so they read on any background."""
    x, y = int(origin_px[0]), int(origin_px[1])
    step = int(round(18 * scale / 0.4))
    for i, line in enumerate(lines):
        org = (x, y + (i + 1) * step)
        cv2.putText(img, line, org, _FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, line, org, _FONT, scale, color, 1, cv2.LINE_AA)


def draw_items(img: np.ndarray, items: list[OverlayItem], *, thickness: int = 2) -> None:
    """Outline each item by its verdict colour, mark its points, write its id and lines (in place)."""
    for it in items:
        col = VERDICT_RGB.get(it.verdict, VERDICT_RGB[None])
        cv2.circle(img, _p(it.center_px), int(round(it.radius_px * (1 << _SHIFT))), col, thickness, cv2.LINE_AA, _SHIFT)
        for name, uv in it.points_px.items():
            draw_marker(img, uv, color=(0, 255, 255) if name == "tip" else (255, 0, 255), size_px=4)
        label = [f"{it.id} {it.verdict or ''}".strip(), *it.lines]
        draw_text_block(img, (it.center_px[0] - it.radius_px, it.center_px[1] + it.radius_px), label, color=col)


def draw_top_overlay(
    image: np.ndarray,
    items: list[OverlayItem],
    *,
    fiducials_px: list | None = None,
    header: list[str] | None = None,
    board_outline_px: np.ndarray | None = None,
) -> np.ndarray:
    """The top view's overlay: pins by verdict, fiducials found, board outline and registration text.

    Parameters
    ----------
    image : (H, W[, 3]) the inspected image.
    items : pins (and pads) to outline.
    fiducials_px : measured fiducial (or registration point) centres (u, v).
    header : lines written at the top-left (registration, board verdict).
    board_outline_px : (N, 2) polygon of the registered board outline.

    Returns
    -------
    (H, W, 3) uint8 RGB.
    """
    img = to_rgb8(image)
    if board_outline_px is not None and len(board_outline_px) >= 3:
        pts = np.round(np.asarray(board_outline_px, float) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], True, (0, 200, 255), 1, cv2.LINE_AA, _SHIFT)
    for uv in fiducials_px or []:
        draw_marker(img, uv, color=(0, 200, 255), size_px=10)
        draw_marker(img, uv, color=(0, 200, 255), size_px=14, kind="circle")
    draw_items(img, items)
    if header:
        draw_text_block(img, (8, 4), header, color=(255, 255, 255), scale=0.5)
    return img


def draw_pad_overlay(image: np.ndarray, region, *, scratches=(), discoloured: np.ndarray | None = None,
                     lines: list[str] = (), verdict_rgb=(255, 255, 0)) -> np.ndarray:
    """RGB overlay of one pad: outline, discoloured area tinted magenta, scratches as red lines, text."""
    out = to_rgb8(image)
    if discoloured is not None and discoloured.any():
        tint = out.copy()
        tint[discoloured] = (255, 0, 255)
        out = cv2.addWeighted(out, 0.55, tint, 0.45, 0)
    poly = np.round(region.polygon() * 16).astype(np.int32)
    cv2.polylines(out, [poly], True, verdict_rgb, 1, cv2.LINE_AA, shift=4)
    for s in scratches:
        p0 = tuple(int(round(v * 16)) for v in s.p0_px)
        p1 = tuple(int(round(v * 16)) for v in s.p1_px)
        cv2.line(out, p0, p1, (255, 40, 40), 2, cv2.LINE_AA, shift=4)
    x, y = np.min(region.polygon(), axis=0)
    for i, t in enumerate([region.id or "", *lines]):
        cv2.putText(out, t, (int(x), int(max(10, y - 4 - 12 * (len(lines) - i)))), cv2.FONT_HERSHEY_SIMPLEX, 0.38, verdict_rgb, 1, cv2.LINE_AA)
    return out
