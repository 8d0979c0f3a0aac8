"""The height-map picture with its unmeasured areas shown, and the share measured and why not.

Depth from focus measures a pixel only where its focus curve has a usable peak
(`vision.focus.depth_from_focus`): flat, textureless surfaces (solder mask, smooth gold) give no
contrast, and surfaces above or below the stack peak on its first or last slice. Those pixels have
no height; the picture must not let them pass for a colour of the scale, and the result must say
how much of the field was measured.

* `coverage(valid, reason)`: the measured share and the unmeasured share by reason.
* `height_map_picture(result)`: the viridis height map with a scale bar (`height_map_rgb`),
  unmeasured pixels hatched in neutral greys (``/`` no contrast, ``\\`` outside the z range) and a
  legend band below with the shares.
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.focus import REASON_PEAK_AT_END, REASON_WEAK

__all__ = ["UNMEASURED_WHY", "coverage", "height_map_picture", "height_map_rgb"]

#: why a pixel has no height, by the `DepthResult.reason` code, in the result's words
UNMEASURED_WHY = {
    REASON_WEAK: "no_contrast",
    REASON_PEAK_AT_END: "outside_z_range",
}
_EXPLAIN = {
    "no_contrast": "no contrast: the focus peak does not stand out (flat or textureless surface)",
    "outside_z_range": "outside z range: the sharpest slice is the first or last, the surface may lie beyond the stack",
}
#: (background grey, line grey, hatch direction) per reason: neutral, not on the viridis scale
_HATCH = {"no_contrast": (150, 105, +1), "outside_z_range": (190, 120, -1)}
_PERIOD = 8


def coverage(valid: np.ndarray, reason: np.ndarray) -> dict:
    """``{"measured_fraction", "unmeasured": {why: fraction}, "explain": {why: sentence}}`` of a depth map."""
    valid = np.asarray(valid, bool)
    reason = np.asarray(reason)
    n = max(valid.size, 1)
    un = {why: round(float(np.count_nonzero(~valid & (reason == code))) / n, 4) for code, why in UNMEASURED_WHY.items()}
    return {"measured_fraction": round(float(np.count_nonzero(valid)) / n, 4), "unmeasured": un,
            "explain": {k: _EXPLAIN[k] for k in un}}


def _hatch_mask(shape, direction: int) -> np.ndarray:
    H, W = shape
    y, x = np.ogrid[:H, :W]
    return ((x + direction * y) % _PERIOD) < 2


def height_map_picture(r, *, vmin: float | None = None, vmax: float | None = None, unit: str = "mm", scale: float = 1.0) -> np.ndarray:
    """RGB uint8 picture of a `DepthResult`'s height map: the map, its scale bar, unmeasured pixels
    hatched by reason and a legend band below (its height grows with the picture's width)."""
    hm = height_map_rgb(r.height_mm, r.valid, vmin=vmin, vmax=vmax, unit=unit, scale=scale)
    H, W = r.valid.shape
    view = hm[:, :W]
    for code, why in UNMEASURED_WHY.items():
        m = ~r.valid & (r.reason == code)
        if not m.any():
            continue
        bg, line, direction = _HATCH[why]
        view[m] = bg
        view[m & _hatch_mask((H, W), direction)] = line
    cov = coverage(r.valid, r.reason)
    f = max(0.35, min(1.2, hm.shape[1] / 1400))  # font scale
    row = int(round(26 * f / 0.5))
    band = np.full((row, hm.shape[1], 3), 255, np.uint8)
    x = 6
    sw = max(10, row - 8)
    txt = f"measured {cov['measured_fraction'] * 100:.1f} %"
    cv2.putText(band, txt, (x, row - 8), cv2.FONT_HERSHEY_SIMPLEX, f, (0, 0, 0), 1, cv2.LINE_AA)
    x += cv2.getTextSize(txt, cv2.FONT_HERSHEY_SIMPLEX, f, 1)[0][0] + 14
    for why, frac in cov["unmeasured"].items():
        bg, line, direction = _HATCH[why]
        patch = np.full((sw, sw, 3), bg, np.uint8)
        patch[_hatch_mask((sw, sw), direction)] = line
        y0 = (row - sw) // 2
        if x + sw < band.shape[1]:
            band[y0 : y0 + sw, x : x + sw] = patch
        x += sw + 4
        label = f"{why.replace('_', ' ')} {frac * 100:.1f} %"
        cv2.putText(band, label, (x, row - 8), cv2.FONT_HERSHEY_SIMPLEX, f, (0, 0, 0), 1, cv2.LINE_AA)
        x += cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, f, 1)[0][0] + 14
    return np.vstack([hm, band])


def height_map_rgb(height: np.ndarray, valid: np.ndarray | None = None, *, vmin: float | None = None, vmax: float | None = None,
                   unit: str = "mm", scale: float = 1.0, bar_px: int = 60) -> np.ndarray:
    """Height map (H, W) as an RGB uint8 image (viridis; invalid pixels grey) with a colour scale bar.

    ``scale`` multiplies the values for the labels (e.g. 1000 with ``unit='um'``).
    """
    h = np.asarray(height, float)
    ok = np.isfinite(h) if valid is None else (np.asarray(valid, bool) & np.isfinite(h))
    if not ok.any():
        lo, hi = 0.0, 1.0
    else:
        lo = float(np.percentile(h[ok], 1)) if vmin is None else vmin
        hi = float(np.percentile(h[ok], 99)) if vmax is None else vmax
    if hi <= lo:
        hi = lo + 1e-9
    t = np.clip((np.where(ok, h, lo) - lo) / (hi - lo), 0, 1)
    rgb = cv2.cvtColor(cv2.applyColorMap((t * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)
    rgb[~ok] = (110, 110, 110)
    H = rgb.shape[0]
    bar = np.full((H, bar_px, 3), 255, np.uint8)
    ramp = np.linspace(255, 0, max(H - 20, 2)).astype(np.uint8)[:, None]
    col = cv2.cvtColor(cv2.applyColorMap(ramp, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)
    bar[10 : H - 10, 4:16] = col[:, 0][:, None, :]
    for frac, val in ((0.0, hi), (0.5, 0.5 * (lo + hi)), (1.0, lo)):
        yv = int(10 + frac * (H - 21))
        cv2.putText(bar, f"{val * scale:.3g}", (18, yv + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.32, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(bar, unit, (18, H - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.32, (0, 0, 0), 1, cv2.LINE_AA)
    return np.hstack([rgb, bar])
