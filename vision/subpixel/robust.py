"""Robust statistics: the spread of residuals that a few outliers do not move."""

from __future__ import annotations

import numpy as np

__all__ = ["robust_sigma", "MAD_TO_SIGMA"]

#: the median absolute deviation of a normal distribution is 0.6745 sigma
MAD_TO_SIGMA = 1.4826


def robust_sigma(x, *, center: float | None = None, floor: float = 0.0) -> float:
    """Standard deviation estimated from the median absolute deviation of `x` about its median (or `center`,
    e.g. 0 for residuals of a fit), plus `floor` so that a perfect fit does not give a zero spread."""
    x = np.asarray(x, dtype=float)
    c = np.median(x) if center is None else center
    return MAD_TO_SIGMA * float(np.median(np.abs(x - c))) + floor
