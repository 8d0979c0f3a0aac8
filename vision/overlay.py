"""Drawing helpers for inspection overlays (any view): items outlined by verdict, labels, markers.

Plain data in (pixel positions, verdict strings, short texts), an RGB uint8 image out; nothing
here knows about recipes or decision rules, so every view (and the pipeline after the verdicts)
can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["VERDICT_RGB", "OverlayItem", "Labels", "to_rgb8", "label_scale", "draw_items", "draw_marker", "draw_text_block",
           "draw_top_overlay", "draw_pad_overlay"]

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


def label_scale(img: np.ndarray) -> float:
    """Font scale that reads at the size the image is looked at: about 1/60 of its shorter side per text line
    (0.4 on a 480 px image, 0.8 on 1000 px), never below 0.4."""
    return max(0.4, min(img.shape[:2]) / 1250.0)


class Labels:
    """Places text blocks on one image so that they do not overlap: a block that would cover one already placed
    moves down (then up) by its own height until it is clear."""

    def __init__(self, img: np.ndarray, *, scale: float | None = None) -> None:
        self.img, self.scale = img, label_scale(img) if scale is None else scale
        self.taken: list[tuple[int, int, int, int]] = []

    def size(self, lines: list[str]) -> tuple[int, int, int]:
        th = max(1, int(round(self.scale * 2)))
        w = max((cv2.getTextSize(t, _FONT, self.scale, th)[0][0] for t in lines), default=0) + 6
        step = int(round(22 * self.scale / 0.5))
        return w, step * len(lines) + 6, step

    def place(self, origin_px, lines: list[str], *, color=(255, 255, 255)) -> tuple[int, int, int, int]:
        """Draw `lines` at `origin_px` (top-left) or the nearest free place; returns the block (x0, y0, x1, y1)."""
        H, W = self.img.shape[:2]
        w, h, step = self.size(lines)
        x = int(min(max(origin_px[0], 0), max(W - w, 0)))
        y0 = int(min(max(origin_px[1], 0), max(H - h, 0)))
        step_y = max(h // 2, 1)
        first = None
        for dx in (0, -w // 2, w // 2, -w, w):  # beside first, then half and a whole block left or right
            for k in (0, 1, -1, 2, -2, 3, -3, 4, -4):
                xx = int(min(max(x + dx, 0), max(W - w, 0)))
                y = int(min(max(y0 + k * step_y, 0), max(H - h, 0)))
                r = (xx, y, xx + w, y + h)
                first = first or r
                if not any(r[0] < q[2] and q[0] < r[2] and r[1] < q[3] and q[1] < r[3] for q in self.taken):
                    break
            else:
                continue
            break
        else:
            r = first  # nowhere free: where it belongs
        x, y = r[0], r[1]
        self.taken.append(r)
        draw_text_block(self.img, (x, y), lines, color=color, scale=self.scale)
        return r


def draw_text_block(img: np.ndarray, origin_px, lines: list[str], *, color=(255, 255, 255), scale: float | None = None) -> None:
    """Lines of text from `origin_px` (top-left) downwards on a dark box, so that they read on any background;
    the font scale follows the image's size unless given."""
    scale = label_scale(img) if scale is None else scale
    th = max(1, int(round(scale * 2)))
    x, y = int(origin_px[0]), int(origin_px[1])
    step = int(round(22 * scale / 0.5))
    if lines:
        w = max(cv2.getTextSize(t, _FONT, scale, th)[0][0] for t in lines) + 6
        x1, y1 = min(x + w, img.shape[1] - 1), min(y + step * len(lines) + 6, img.shape[0] - 1)
        if x1 > x and y1 > y:
            roi = img[y:y1, x:x1]
            roi[:] = (roi.astype(np.uint16) * 2 // 7).astype(np.uint8)  # darken behind the text (keeps a hint of the image)
    for i, line in enumerate(lines):
        org = (x + 3, y + (i + 1) * step)
        cv2.putText(img, line, org, _FONT, scale, color, th, cv2.LINE_AA)


def draw_items(img: np.ndarray, items: list[OverlayItem], *, thickness: int = 2, labels: Labels | None = None) -> None:
    """Outline each item by its verdict colour, mark its points, write its id and lines (in place, labels placed
    so that they do not overlap)."""
    labels = labels or Labels(img)
    for it in items:  # labels go beside the items, not over them
        r = it.radius_px
        labels.taken.append((int(it.center_px[0] - r), int(it.center_px[1] - r), int(it.center_px[0] + r), int(it.center_px[1] + r)))
    for it in items:
        col = VERDICT_RGB.get(it.verdict, VERDICT_RGB[None])
        cv2.circle(img, _p(it.center_px), int(round(it.radius_px * (1 << _SHIFT))), col, thickness, cv2.LINE_AA, _SHIFT)
        for name, uv in it.points_px.items():
            draw_marker(img, uv, color=(0, 255, 255) if name == "tip" else (255, 0, 255), size_px=4)
        label = [f"{it.id} {it.verdict or ''}".strip(), *it.lines]
        x0, y0, x1, y1 = labels.place((it.center_px[0] - it.radius_px, it.center_px[1] + it.radius_px), label, color=col)
        # a block moved away from its item gets a leader line from its nearest point to the item's outline
        cu, cv = it.center_px
        nu, nv = min(max(cu, x0), x1), min(max(cv, y0), y1)
        d = float(np.hypot(nu - cu, nv - cv))
        if d > it.radius_px + 4:
            eu, ev = cu + (nu - cu) * it.radius_px / d, cv + (nv - cv) * it.radius_px / d
            cv2.line(img, _p((eu, ev)), _p((nu, nv)), col, 1, cv2.LINE_AA, _SHIFT)


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
    labels = Labels(img)
    if header:
        labels.place((8, 4), header, color=(255, 255, 255))
    draw_items(img, items, labels=labels)
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
