"""Subpixel peaks: the vertex of a parabola through three equally spaced samples."""

from __future__ import annotations

import numpy as np

__all__ = ["parabolic_offset"]


def parabolic_offset(y_minus, y_0, y_plus, *, maximum_only: bool = True, clip: float | None = None) -> np.ndarray:
    """Offset (in sample steps) of the vertex of the parabola through ``(-1, y_minus), (0, y_0), (+1, y_plus)``.

    ``0.5 (y_minus - y_plus) / (y_minus - 2 y_0 + y_plus)``, elementwise. Where the three samples do not
    bend into a maximum (``maximum_only``: curvature >= 0) or do not bend at all (curvature ~0), the offset
    is 0: the middle sample stands. `clip` bounds it to ``[-clip, clip]`` (0.5: the peak stays in its sample).
    """
    ym, y0, yp = (np.asarray(a, dtype=float) if not isinstance(a, np.ndarray) else a for a in (y_minus, y_0, y_plus))
    den = ym - 2 * y0 + yp
    ok = den < 0 if maximum_only else np.abs(den) > 1e-12
    safe = np.where(ok, den, 1.0)
    off = np.where(ok, 0.5 * (ym - yp) / safe, 0.0)
    return off.clip(-clip, clip) if clip is not None else off
