"""Local dents in a pad, shaped from its shading and sized by the finish's shading scale and its focus.

A smooth gold pad under a coaxially lit microscope returns the light straight back where it is level
and less where it slopes: its rough-specular lobe swings out of the aperture by twice the slope. For
slopes well inside the lobe the linear brightness falls as ``exp(-k |grad z|^2)`` (a Gaussian lobe;
``k`` depends on the gold's roughness and the aperture, not on the dent). A pressed dent relaxes into a
round Gaussian bowl ``z = -D exp(-r^2 / (2 s^2))``; its slope peaks at ``r = s`` whatever ``D`` and
``k``, so the dark ring it draws gives its centre and width sharply (0.01 mm on rendered pads), and its
darkness gives ``A = D sqrt(k)``. The scale left, ``1 / sqrt(k)``, is the finish's under this
microscope: measured once (`vision.params.StackParams.pad_dent_shading_scale`; 13 rendered dents agree
to 2.6 %), and checked on every pad against the heights of the bowl's flanks that focus
(`bowl_depth_scale`), which alone -- few and noisy -- read dents 20-35 % shallow. `vision.pads.flatness`
decides which to trust.

* `bowls_from_shading`: one or two bowls fitted to the log brightness of the pad interior (robust
  Levenberg-Marquardt), with a smooth quadratic for the light's falloff and a warp's own slopes.
* `bowl_depth_scale`: the scale from the depth-from-focus heights below the pad's outline surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vision.params import PARAMS
from vision.subpixel.robust import robust_sigma

_P = PARAMS.stack  # the defaults of the fit: one parameter set, with their sources

__all__ = ["ShadedBowls", "bowls_from_shading", "bowl_depth_scale", "bowl_heights"]


@dataclass
class ShadedBowls:
    """Bowls seen in a pad's shading. ``bowls`` (n, 4): ``(A, x0, y0, s)`` with ``A = D sqrt(k)`` (mm) and
    ``x0, y0, s`` in mm (x right, y up, from the pad centre); ``cov`` (4n, 4n) their covariance; ``ok``
    False says why in ``reason``."""

    ok: bool
    reason: str = ""
    bowls: np.ndarray | None = None
    cov: np.ndarray | None = None
    darkening: float = float("nan")  # deepest log-brightness drop of its rings, k (max slope)^2
    darkening_min: float = float("nan")  # the faintest bowl's
    significance: float = float("nan")  # the weakest bowl's A over its standard uncertainty


def bowl_heights(bowls: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sum of the bowls' shapes ``A exp(-r^2 / (2 s^2))`` at (x, y) (positive; the surface is minus it)."""
    out = np.zeros(np.broadcast(x, y).shape)
    for A, x0, y0, s in np.asarray(bowls, float).reshape(-1, 4):
        out += A * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * s * s))
    return out


def _log_model(p: np.ndarray, x: np.ndarray, y: np.ndarray, Q: np.ndarray, n: int, *, jac: bool = False):
    """Log brightness ``Q @ p[:6] - |sum of the bowls' slopes|^2`` at (x, y), or its Jacobian (len(x), len(p))."""
    gx = np.zeros_like(x)
    gy = np.zeros_like(x)
    parts = []
    for i in range(n):
        A, x0, y0, s = p[6 + 4 * i : 10 + 4 * i]
        dx, dy = x - x0, y - y0
        e = np.exp(-(dx * dx + dy * dy) / (2 * s * s))
        g = A * e / (s * s)
        gx += g * dx
        gy += g * dy
        parts.append((A, s, dx, dy, e, g))
    if not jac:
        return Q @ p[:6] - (gx * gx + gy * gy)
    J = np.empty((len(x), len(p)))
    J[:, :6] = Q
    for i, (A, s, dx, dy, e, g) in enumerate(parts):
        s2 = s * s
        rho2 = (dx * dx + dy * dy) / s2
        # d(gx, gy) / d(A, x0, y0, s) of this bowl
        d = ((e * dx / s2, e * dy / s2),
             (g * (dx * dx / s2 - 1), g * dx * dy / s2),
             (g * dx * dy / s2, g * (dy * dy / s2 - 1)),
             (g * dx * (rho2 - 2) / s, g * dy * (rho2 - 2) / s))
        for j, (dgx, dgy) in enumerate(d):
            J[:, 6 + 4 * i + j] = -2 * (gx * dgx + gy * dgy)
    return J


def _robust_lm(fun, jac, p0: np.ndarray, lo: np.ndarray, hi: np.ndarray, scale: float, *, max_iter: int = 60):
    """Levenberg-Marquardt with Cauchy weights (IRLS) inside box bounds: ``(p, cost, JtWJ)``.

    SciPy's ``least_squares`` does the same, but through an SVD of the whole Jacobian every step: with the
    BLAS threads competing for two busy cores that took 0.1 s a step; the normal equations here are 10x10."""
    p = np.clip(np.asarray(p0, float), lo, hi)

    def cost_of(r):
        return 0.5 * scale * scale * float(np.log1p((r / scale) ** 2).sum())

    r = fun(p)
    cost = cost_of(r)
    lam = 1e-3
    for _ in range(max_iter):
        J = jac(p)
        w = 1.0 / (1.0 + (r / scale) ** 2)
        Jw = J * w[:, None]
        N = Jw.T @ J
        g = Jw.T @ r
        improved = False
        for _ in range(10):
            try:
                step = np.linalg.solve(N + lam * np.diag(np.diag(N) + 1e-12), -g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            q = np.clip(p + step, lo, hi)
            rq = fun(q)
            cq = cost_of(rq)
            if cq < cost:
                done = cost - cq < 1e-9 * max(cost, 1e-12)
                p, r, cost, lam = q, rq, cq, max(lam / 3, 1e-9)
                improved = True
                break
            lam *= 10
        if not improved or done:
            break
    J = jac(p)
    w = 1.0 / (1.0 + (r / scale) ** 2)
    return p, cost, (J * w[:, None]).T @ J


def bowls_from_shading(luminance: np.ndarray, mask: np.ndarray, *, center_px: tuple[float, float], mm_per_px: float,
                       init: np.ndarray | None = None, max_bowls: int = 2, smooth_px: float = _P.pad_dent_shading_smooth_px,
                       min_darkening: float = _P.pad_dent_min_darkening, min_significance: float = _P.pad_dent_min_significance,
                       second_min_gain: float = _P.pad_dent_second_min_gain) -> ShadedBowls:
    """One or two Gaussian bowls in the shading of a pad.

    Parameters
    ----------
    luminance : ndarray (H, W)
        Linear luminance of the pad (an all-in-focus picture of the stack), any scale.
    mask : ndarray (H, W) bool
        Pixels to fit: the pad interior, without its grooves.
    center_px : (float, float)
        Pad centre (u, v) px; the bowls' x, y are mm from here, +y up.
    mm_per_px : float
    init : ndarray (3,), optional
        ``(x0, y0, s)`` mm to start the first bowl from (e.g. a bowl fitted to the focus heights).
    max_bowls : int
        At most this many bowls (1 or 2).
    smooth_px : float
        Gaussian blur before fitting (the gold's grain and the sensor's noise; the narrowest bowl's ring is
        several times wider). This and the thresholds below default to `StackParams`' values.
    min_darkening, min_significance : float
        A bowl must darken its ring by at least this much (log brightness), and its amplitude stand this many standard
        uncertainties clear of zero, to be a dent and not the grain, noise or the light's unevenness.
    second_min_gain : float
        A second bowl is kept when it lowers the robust cost by at least this share.

    Returns
    -------
    ShadedBowls
    """
    lum = np.asarray(luminance, np.float32)
    m = np.asarray(mask, bool) & np.isfinite(lum) & (lum > 0)
    if m.sum() < 200:
        return ShadedBowls(False, "too few pad pixels to read its shading")
    sm = cv2.GaussianBlur(lum, (0, 0), smooth_px)
    stride = max(1, int(round(2 * smooth_px)))  # the blur makes closer samples near copies
    sub = np.zeros_like(m)
    sub[::stride, ::stride] = True
    vv, uu = np.nonzero(m & sub)
    x = (uu - center_px[0]) * mm_per_px
    y = -(vv - center_px[1]) * mm_per_px
    L = np.log(sm[vv, uu].astype(float))
    Q = np.column_stack([np.ones_like(x), x, y, x * x, y * y, x * y])
    q0, *_ = np.linalg.lstsq(Q, L, rcond=None)
    r0 = L - Q @ q0
    scale = max(robust_sigma(r0, center=0.0, floor=1e-4), 0.005)
    w = float(min(np.ptp(x), np.ptp(y)))
    s_lo, s_hi = max(3 * smooth_px * mm_per_px, 0.02), 0.5 * w

    def fit(p0: np.ndarray, n: int):
        lo = np.r_[[-1e6] * 6, np.tile([0.0, x.min(), y.min(), s_lo], n)]
        hi = np.r_[[1e6] * 6, np.tile([1.0, x.max(), y.max(), s_hi], n)]
        p0 = np.clip(p0, lo + 1e-6 * (hi - lo), hi - 1e-6 * (hi - lo))
        return _robust_lm(lambda p: _log_model(p, x, y, Q, n) - L, lambda p: _log_model(p, x, y, Q, n, jac=True), p0, lo, hi, scale)

    # start the first bowl where the focus put it, and where the shading is darkest after the light's falloff
    def smoothed(vals):  # a sampled map blurred over 0.05 mm, normalised by the samples present
        img = np.zeros(m.shape, np.float32)
        img[vv, uu] = vals
        cnt = np.zeros(m.shape, np.float32)
        cnt[vv, uu] = 1
        sig = 0.05 / mm_per_px
        return (cv2.GaussianBlur(img, (0, 0), sig) / np.maximum(cv2.GaussianBlur(cnt, (0, 0), sig), 1e-3))[vv, uu]

    k = int(np.argmin(smoothed(r0)))
    starts = [(float(x[k]), float(y[k]), 0.1)]
    if init is not None:
        starts.insert(0, tuple(float(v) for v in init))
    best = None
    for x0, y0, s0 in starts:
        s0 = float(np.clip(s0, s_lo * 1.1, s_hi * 0.9))
        # darkest drop of a bowl is (0.607 A / s)^2 at r = s: start from the data's drop
        A0 = s0 * math.sqrt(max(-float(np.percentile(r0, 2)), 0.01)) / 0.607
        sol = fit(np.r_[q0, A0, x0, y0, s0], 1)
        if best is None or sol[1] < best[0][1]:
            best = (sol, 1)
    sol1 = best[0]
    one = _judge(sol1, 1, x, y, Q, L, smooth_px, stride)
    if max_bowls >= 2 and one.ok and one.darkening_min >= min_darkening and one.significance >= min_significance:
        k2 = int(np.argmax(smoothed(_log_model(sol1[0], x, y, Q, 1) - L)))  # where the data is darkest against one bowl
        sol2 = fit(np.r_[sol1[0], 0.5 * sol1[0][6], x[k2], y[k2], 0.1], 2)
        if sol2[1] < (1 - second_min_gain) * sol1[1]:
            two = _judge(sol2, 2, x, y, Q, L, smooth_px, stride)
            if two.ok and two.darkening_min >= min_darkening and two.significance >= min_significance:
                one = two
    if one.ok and (one.darkening_min < min_darkening or one.significance < min_significance):
        return ShadedBowls(False, f"no dent shows in the pad's shading (its darkest ring {one.darkening:.3f} in log brightness, "
                                  f"{one.significance:.0f} standard uncertainties: a dent needs {min_darkening:g} and "
                                  f"{min_significance:g})", one.bowls, darkening=one.darkening, significance=one.significance)
    return one


def _judge(sol, n: int, x, y, Q, L, smooth_px: float, stride: int) -> ShadedBowls:
    """The bowls of fit `sol` = (p, cost, JtWJ) with their covariance, darkening and significance."""
    p, cost, N = sol
    bowls = p[6:].reshape(n, 4)
    drops = [float((0.607 * A / s) ** 2) for A, _, _, s in bowls]  # a bowl's slope peaks at 0.607 A / s, at r = s
    try:
        C = np.linalg.inv(N) * (2 * cost / max(len(L) - len(p), 1))
    except np.linalg.LinAlgError:
        return ShadedBowls(False, "the pad's shading does not fix the dent's shape", bowls, darkening=max(drops))
    # neighbouring samples share the blur: about (2.5 smooth_px / stride)^2 of them carry one independent error
    C = C[6:, 6:] * max(1.0, (2.5 * smooth_px / stride) ** 2)
    sig = min(float(A / math.sqrt(max(C[4 * i, 4 * i], 1e-30))) for i, (A, _, _, _) in enumerate(bowls))
    return ShadedBowls(True, "", bowls, C, max(drops), min(drops), sig)


def bowl_depth_scale(residual_mm: np.ndarray, x: np.ndarray, y: np.ndarray, bowls: np.ndarray, *,
                     pixels_per_sample: float = 1.0) -> tuple[float, float, int]:
    """``1 / sqrt(k)``: the scale that turns shading bowls into heights, from depth-from-focus residuals.

    ``residual_mm`` are the focus heights minus the pad's outline surface at (x, y) mm; the model is
    ``residual = -beta * sum(bowl shapes)`` (Huber-weighted least squares). Returns ``(beta, u_beta, n_used)``;
    ``pixels_per_sample`` focus pixels share one error (the focus window's area)."""
    G = -bowl_heights(bowls, x, y)
    r = np.asarray(residual_mm, float)
    keep = np.abs(G) > 0.05 * np.abs(G).max() if len(G) else np.zeros(0, bool)
    if keep.sum() < 10:
        return float("nan"), float("nan"), int(keep.sum())
    G, r = G[keep], r[keep]
    w = np.ones_like(r)
    beta = float((G * r).sum() / (G * G).sum())
    for _ in range(10):
        e = r - beta * G
        s = max(robust_sigma(e, center=0.0, floor=1e-6), 1e-6)
        w = np.minimum(1.0, 1.5 * s / np.maximum(np.abs(e), 1e-12))
        nb = float((w * G * r).sum() / (w * G * G).sum())
        if abs(nb - beta) < 1e-6 * abs(beta) + 1e-9:
            beta = nb
            break
        beta = nb
    e = r - beta * G
    s = robust_sigma(e, center=0.0, floor=1e-6)
    u = s / math.sqrt(float((w * G * G).sum())) * math.sqrt(pixels_per_sample)
    return beta, u, int(len(r))
