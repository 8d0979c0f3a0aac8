"""Overlays of the side view: board line, each pin's silhouette axis and dome, heights, solder top edge."""

from __future__ import annotations

import cv2
import numpy as np

from vision.overlay import VERDICT_RGB, Labels, draw_marker, to_rgb8

__all__ = ["draw_side_overlay"]

_SHIFT = 4


def _p(uv) -> tuple[int, int]:
    return int(round(float(uv[0]) * (1 << _SHIFT))), int(round(float(uv[1]) * (1 << _SHIFT)))


def draw_side_overlay(image: np.ndarray, *, line_v: tuple[float, float] | None, pins: list[dict],
                      header: list[str] | None = None, solder: bool = False) -> np.ndarray:
    """Draw the side view's findings on a copy of `image` ((H, W[, 3]) -> (H, W, 3) uint8 RGB).

    Parameters
    ----------
    line_v : rows (v at u=0, v at u=W-1) of the board line, or None.
    pins : per pin ``{"id", "verdict", "lines": [str], "axis": (2, 2) px, "tip": (u, v), "base": (u, v),
        "barrel_top": (u, v), "dome": (N, 2) px edge points, "left"/"right": (N, 2) px silhouette edges,
        "solder": (u, v)}`` (any key may be missing).
    solder : draw the solder top edge marks (front-lit image).
    """
    img = to_rgb8(image)
    W = img.shape[1]
    labels = Labels(img)
    if header:
        labels.place((8, 4), header)
    if line_v is not None:
        cv2.line(img, _p((0, line_v[0])), _p((W - 1, line_v[1])), (0, 200, 255), 1, cv2.LINE_AA, _SHIFT)
    for p in pins:
        col = VERDICT_RGB.get(p.get("verdict"), VERDICT_RGB[None])
        if p.get("axis") is not None:
            a = np.asarray(p["axis"], float)
            cv2.line(img, _p(a[0]), _p(a[1]), col, 1, cv2.LINE_AA, _SHIFT)
        for e in (p.get("dome") if p.get("dome") is not None else []):
            cv2.circle(img, _p(e), 1 << _SHIFT, (255, 0, 255), -1, cv2.LINE_AA, _SHIFT)
        for side in ("left", "right"):  # the silhouette's edges (barrel and plunger rows)
            e = p.get(side)
            if e is not None and len(e) > 1:
                e = np.asarray(e, float)
                e = e[np.argsort(e[:, 1])]  # top to bottom: plunger, shoulder step, barrel
                pts = np.round(e * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
                cv2.polylines(img, [pts], False, (0, 255, 128), 1, cv2.LINE_AA, _SHIFT)
        for key, c in (("tip", (0, 255, 255)), ("base", (255, 0, 255)), ("barrel_top", (255, 128, 0))):
            if p.get(key) is not None:
                draw_marker(img, p[key], color=c, size_px=5)
        if solder and p.get("solder") is not None:
            u, v = p["solder"]
            cv2.line(img, _p((u - 40, v)), _p((u + 40, v)), (255, 60, 60), 1, cv2.LINE_AA, _SHIFT)
        anchor = p.get("tip") or p.get("base")
        if anchor is not None:
            lines = [f"{p.get('id', '')} {p.get('verdict') or ''}".strip(), *p.get("lines", [])]
            _, h, _ = labels.size(lines)
            labels.place((anchor[0] - 40, anchor[1] - 20 - h), lines, color=col)
    return img
