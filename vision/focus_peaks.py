"""Sub-step peaks of focus curves: a Gaussian fitted through the logarithm of the focus measure.

`refine_peak` for one curve; `fit3` (exact through three slices, unequal steps allowed), `fit_uniform` and
`fit_log_parabola` (least squares over 2m+1 slices) for every pixel of a stack at once (`vision.focus`).
Each returns the peak position, its amplitude and its standard uncertainty from a stated noise model.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["refine_peak", "fit3", "fit_uniform", "fit_log_parabola"]


def refine_peak(z, values, *, points: int = 3) -> tuple[float, float, int]:
    """Sub-step peak of a 1-D focus curve by a Gaussian fit through the top `points` samples
    (3: exact through three; 5 or 7: least squares, kept inside the curve).

    Returns ``(z_peak, sigma, k)``: refined position (units of `z`), width of the fitted Gaussian
    and the index of the best sample. ``z_peak`` is NaN when the best sample is the first or last.
    """
    z = np.asarray(z, float)
    f = np.asarray(values, float)
    k = int(np.argmax(f))
    if k == 0 or k == len(f) - 1:
        return float("nan"), float("nan"), k
    m = min((points - 1) // 2, k, len(f) - 1 - k) if points > 3 else 1
    if m > 1:
        sl = slice(k - m, k + m + 1)
        a, b, _ = np.polyfit(z[sl] - z[k], np.log(np.maximum(f[sl], 1e-30)), 2)
        if a >= 0:
            return float(z[k]), float("nan"), k
        x = float(np.clip(-b / (2 * a), z[k - m] - z[k], z[k + m] - z[k]))
        return float(z[k] + x), math.sqrt(-1 / (2 * a)), k
    y = np.log(np.maximum(f[k - 1 : k + 2], 1e-30))
    h0, h1 = z[k] - z[k - 1], z[k + 1] - z[k]
    d0, d2 = y[0] - y[1], y[2] - y[1]
    a = (d0 * h1 + d2 * h0) / (h0 * h1 * (h0 + h1))
    b = (d2 - a * h1 * h1) / h1
    if a >= 0:
        return float(z[k]), float("nan"), k
    x = float(np.clip(-b / (2 * a), -h0 / 2, h1 / 2))
    return float(z[k] + x), math.sqrt(-1 / (2 * a)), k


def fit3(below, best, above, idx, z, eps, contrast):
    """Three-point Gaussian fit (parabola through log focus at idx-1, idx, idx+1), unequal steps
    allowed; returns (x, a, u) as `fit_log_parabola` does with m = 1."""
    n = len(z)
    steps = np.diff(z)
    e = float(eps)
    y1 = cv2.log(cv2.add(best, e))
    d0 = cv2.subtract(cv2.log(cv2.add(below, e)), y1)
    d2 = cv2.subtract(cv2.log(cv2.add(above, e)), y1)
    dlog = np.reciprocal(np.maximum(contrast.astype(np.float32, copy=False), np.float32(1.0)))  # <= 1
    if np.all(np.abs(steps - steps.mean()) <= 1e-6 * abs(steps.mean())):
        # equal steps (the usual case): x = h (d0 - d2) / (2 (d0 + d2)), in float32 OpenCV passes
        h = np.float32(steps.mean())
        s2 = cv2.add(d0, d2)  # = 2 a h^2, negative at a peak
        a = s2 * np.float32(1 / (2 * h * h))
        x = cv2.divide(cv2.subtract(d0, d2), s2) * np.float32(h / 2)
        np.clip(x, -h, h, out=x)
        u_noise = cv2.divide(dlog, cv2.absdiff(s2, 0)) * np.float32(h / np.sqrt(2.0))
        u = cv2.sqrt(cv2.add(cv2.multiply(u_noise, u_noise), float((0.03 * h) ** 2)))
        return x, a, u
    z32 = z.astype(np.float32)
    kc = np.clip(idx, 1, n - 2)
    h0 = z32[kc] - z32[kc - 1]
    h1 = z32[kc + 1] - z32[kc]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = (d0 * h1 + d2 * h0) / (h0 * h1 * (h0 + h1))
        b = (d2 - a * h1 * h1) / h1
        x = np.clip(-b / (2 * a), -h0, h1)
        hm = 0.5 * (h0 + h1)
        # three points fit exactly: the relative noise of the focus measure is taken as 1/contrast
        u_noise = hm * dlog / (np.float32(np.sqrt(2.0)) * np.abs(2 * a * hm * hm))
        u = np.sqrt(u_noise**2 + (np.float32(0.03) * hm) ** 2)
    return x.astype(np.float32), a, u.astype(np.float32)


def fit_uniform(F: np.ndarray, kc: np.ndarray, h: float, m: int, eps, contrast):
    """`fit_log_parabola` for equal steps: Savitzky-Golay weights, float32, a few passes per plane."""
    j = np.arange(-m, m + 1, dtype=np.float64)
    V = np.vander(j, 3, increasing=True)  # columns 1, j, j^2
    Wt = np.linalg.pinv(V)  # rows: weights for c0, b, a (in step units)
    ys = [np.log(np.take_along_axis(F, (kc + jj)[None], axis=0)[0] + eps) for jj in range(-m, m + 1)]
    c0 = sum(np.float32(Wt[0, i]) * y for i, y in enumerate(ys))
    b = sum(np.float32(Wt[1, i]) * y for i, y in enumerate(ys))
    a = sum(np.float32(Wt[2, i]) * y for i, y in enumerate(ys))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.clip(-b / (2 * a), -m, m)
        a_mm = a / np.float32(h * h)
        if contrast is None:
            return (x * np.float32(h)).astype(np.float32), a_mm, None
        if m == 1:
            dlog = np.minimum(1.0 / np.maximum(contrast, 1.0), 1.0)
            u_noise = dlog / (np.float32(np.sqrt(2.0)) * np.abs(2 * a))
        else:
            r2 = sum((y - (c0 + b * np.float32(jj) + a * np.float32(jj * jj))) ** 2 for jj, y in zip(j, ys))
            s2 = r2 / np.float32(2 * m + 1 - 3)
            C = np.linalg.inv(V.T @ V)  # covariance of (c0, b, a) per unit noise variance
            dxb, dxa = -1 / (2 * a), b / (2 * a * a)
            u_noise = np.sqrt(np.maximum(s2 * (dxb * dxb * C[1, 1] + dxa * dxa * C[2, 2] + 2 * dxb * dxa * C[1, 2]), 0))
        u = np.sqrt(u_noise**2 + np.float32(0.03**2)) * np.float32(h)
    return (x * np.float32(h)).astype(np.float32), a_mm, u.astype(np.float32)


def fit_log_parabola(F: np.ndarray, idx: np.ndarray, z: np.ndarray, m: int, eps, *, contrast=None):
    """Least-squares parabola through log F at slices idx-m..idx+m (window kept inside the stack).

    Returns (x, a, u): vertex offset from z[centre] (mm, clipped to the window), curvature a
    (< 0 for a peak) and the vertex's standard uncertainty (NaN if `contrast` is None).
    """
    n = F.shape[0]
    kc = np.clip(idx, m, n - 1 - m)
    steps = np.diff(z)
    if np.all(np.abs(steps - steps.mean()) <= 1e-6 * abs(steps.mean())):
        return fit_uniform(F, kc, float(steps.mean()), m, eps, contrast)
    X = np.stack([(z[np.clip(kc + j, 0, n - 1)] - z[kc]) for j in range(-m, m + 1)]).astype(np.float64)
    Y = np.stack([np.log(np.take_along_axis(F, np.clip(kc + j, 0, n - 1)[None], axis=0)[0] + eps) for j in range(-m, m + 1)]).astype(np.float64)
    S0 = float(2 * m + 1)
    S1, S2, S3, S4 = X.sum(0), (X**2).sum(0), (X**3).sum(0), (X**4).sum(0)
    T0, T1, T2 = Y.sum(0), (X * Y).sum(0), (X * X * Y).sum(0)
    # normal equations [[S0,S1,S2],[S1,S2,S3],[S2,S3,S4]] @ (c0, b, a) = (T0, T1, T2), by Cramer's rule
    with np.errstate(divide="ignore", invalid="ignore"):
        det = S0 * (S2 * S4 - S3 * S3) - S1 * (S1 * S4 - S3 * S2) + S2 * (S1 * S3 - S2 * S2)
        c0 = (T0 * (S2 * S4 - S3 * S3) - S1 * (T1 * S4 - S3 * T2) + S2 * (T1 * S3 - S2 * T2)) / det
        b = (S0 * (T1 * S4 - S3 * T2) - T0 * (S1 * S4 - S3 * S2) + S2 * (S1 * T2 - T1 * S2)) / det
        a = (S0 * (S2 * T2 - T1 * S3) - S1 * (S1 * T2 - T1 * S2) + T0 * (S1 * S3 - S2 * S2)) / det
        lo, hi = X[0], X[-1]
        x = np.clip(-b / (2 * a), lo, hi)
        if contrast is None:
            return x.astype(np.float32), a, None
        hm = (hi - lo) / (2 * m)
        if m == 1:
            # 3 points fit exactly: take the relative noise of the focus measure as floor/peak
            dlog = np.minimum(1.0 / np.maximum(contrast, 1.0), 1.0)
            u_noise = hm * dlog / (np.sqrt(2.0) * np.abs(2 * a * hm * hm))
        else:
            r = Y - (c0 + b * X + a * X * X)
            s2 = (r * r).sum(0) / (2 * m + 1 - 3)
            # covariance of (b, a): s2 * inverse normal matrix (cofactors / det)
            vbb = s2 * (S0 * S4 - S2 * S2) / det
            vaa = s2 * (S0 * S2 - S1 * S1) / det
            vab = -s2 * (S0 * S3 - S1 * S2) / det
            dxb, dxa = -1 / (2 * a), b / (2 * a * a)
            u_noise = np.sqrt(np.maximum(dxb * dxb * vbb + dxa * dxa * vaa + 2 * dxb * dxa * vab, 0))
        u = np.sqrt(u_noise**2 + (0.03 * hm) ** 2)  # + 3 % of a step for the parabola-model mismatch
    return x.astype(np.float32), a, u.astype(np.float32)
