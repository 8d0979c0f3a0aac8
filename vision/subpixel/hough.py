"""Votes for the centres of circles of known radii (a Hough transform along the gradient), for finding
round features whose size the recipe and the calibration give but whose bright side depends on the light.

Pixel convention: OpenCV (u, v) = (column, row), integers at pixel centres.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

__all__ = ["circle_votes", "acc_peaks", "local_peaks", "vote_scale"]


def _pyr_half(stack: np.ndarray, N: int, roi_h: int, roi_w: int) -> tuple[np.ndarray, int, int]:
    """Halve N stacked ROIs (N * roi_h, roi_w) with cv2.pyrDown, padding each to even sides (replicating its
    last row and column) so that the halves stay apart; returns the stack and its ROI shape."""
    h2, w2 = roi_h + (roi_h % 2), roi_w + (roi_w % 2)
    st = stack.reshape(N, roi_h, roi_w)
    if (h2, w2) != (roi_h, roi_w):
        padded = np.empty((N, h2, w2), stack.dtype)
        padded[:, :roi_h, :roi_w] = st
        if h2 != roi_h:
            padded[:, roi_h, :roi_w] = st[:, -1]
        if w2 != roi_w:
            padded[:, :, roi_w] = padded[:, :, roi_w - 1]
        st = padded
    return cv2.pyrDown(np.ascontiguousarray(st.reshape(N * h2, w2))), h2 // 2, w2 // 2


@functools.lru_cache(maxsize=8)
def _checkerboard(h: int, w: int) -> np.ndarray:
    """(h, w) bool, True where row and column have the same parity (read-only, shared between calls)."""
    c = np.zeros((h, w), bool)
    c[0::2, 0::2] = True
    c[1::2, 1::2] = True
    c.flags.writeable = False
    return c


def circle_votes(stack: np.ndarray, roi_px, radii_px, *, k: int = 1) -> list[np.ndarray]:
    """Votes for the centres of circles of known radii in each of N stacked ROIs (N * h, w), float32.

    `roi_px` is the ROI shape (h, w) (an int for square ROIs; a single image is one ROI of its own shape).
    Every strong-gradient pixel (at least a quarter of its ROI's 99th percentile) votes at distance r from
    itself along +/- its gradient direction -- both signs, since which side of a rim is bright depends
    on the mask colour and the lights -- weighted by the square root of its gradient (a few glints
    must not outvote a rim). The pixels of a rim of radius r pile their votes on its centre; circles
    of other radii (pad rim, fillet, bore) spread theirs over a ring |r' - r| wide. Returns one
    (N, h/k, w/k) accumulator per radius, smoothed by a one-pixel Gaussian; `k` (1, 2 or 4) votes on a
    copy reduced k times (`vote_scale` picks it).
    """
    roi_h, roi_w = (roi_px, roi_px) if isinstance(roi_px, (int, np.integer)) else (int(roi_px[0]), int(roi_px[1]))
    small = np.ascontiguousarray(stack, dtype=np.float32)
    N = len(small) // roi_h
    h, w = roi_h, roi_w
    kk = 1
    while kk < k:
        small, h, w = _pyr_half(small, N, h, w)
        kk *= 2
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.magnitude(gx, gy).reshape(N, h, w)
    mag[:, :1], mag[:, -1:], mag[:, :, :1], mag[:, :, -1:] = 0, 0, 0, 0  # the Sobel crossed into the next ROI
    flat = mag.reshape(N, -1)[:, ::3]  # every third pixel estimates the percentile as well, at a third of the cost
    q = flat.shape[1] - 1 - flat.shape[1] // 100  # the 99th percentile: a few glints must not set the bar
    thr = 0.25 * np.partition(flat, q, axis=1)[:, q]
    # voters on a checkerboard: a rim of radius r crosses ~2 pi r vote pixels, half of them pile enough votes
    # on its centre, at half the cost
    strong = mag > thr[:, None, None]
    strong &= _checkerboard(h, w)
    # flat indices: a vote's index is the voter's own plus its offset (rows of w), no 3-D index arrays
    fi = np.flatnonzero(strong)
    m = mag.ravel()[fi]
    ux = gx.ravel()[fi] / m
    uy = gy.ravel()[fi] / m
    wt = np.sqrt(m)
    rem = fi % (h * w)
    vv, uu = rem // w, rem % w
    radii = np.atleast_1d(np.asarray(radii_px, np.float32)) / k
    # every vote of every radius and sign in one bincount: radius j's accumulator is block j
    R = np.concatenate([radii, -radii])[:, None]
    du = np.rint(R * ux[None]).astype(np.int64)
    dv = np.rint(R * uy[None]).astype(np.int64)
    ok = (uu + du >= 0) & (uu + du < w) & (vv + dv >= 0) & (vv + dv < h)
    block = np.tile(np.arange(len(radii), dtype=np.int64), 2)[:, None] * (N * h * w)
    idx = block + fi + dv * w + du
    acc = np.bincount(idx[ok], weights=np.broadcast_to(wt, idx.shape)[ok], minlength=len(radii) * N * h * w)
    acc = cv2.GaussianBlur(acc.astype(np.float32).reshape(len(radii) * N * h, w), (0, 0), 1.0)
    return list(acc.reshape(len(radii), N, h, w))


def vote_scale(radius_px: float, *, min_radius_px: float = 10.0) -> int:
    """The reduction (1, 2 or 4) at which a circle of `radius_px` keeps at least `min_radius_px` of radius
    (ten vote pixels: the rim's votes still pile onto one peak, a vote pixel is a tenth of the radius)."""
    k = 1
    while k < 4 and radius_px / (2 * k) >= min_radius_px:
        k *= 2
    return k


def _grid(n: int, k: int) -> np.ndarray:
    """Full-resolution coordinates of the vote grid's pixels (pyrDown: small pixel x covers 2x .. 2x+1)."""
    return k * np.arange(n) + (0.5 if k == 2 else 0.0)


def acc_peaks(acc: np.ndarray, c0: np.ndarray, search_px, *, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The highest vote of each accumulator (N, h, w) within `search_px` (scalar or (N,)) of `c0` (N, 2), in
    full-resolution ROI coordinates with a parabolic subpixel step, and its height over the ROI's mean vote (N,)."""
    N, h, w = acc.shape
    c0 = np.asarray(c0, float).reshape(-1, 2)
    rad = np.maximum(np.broadcast_to(np.asarray(search_px, float), (N,)), k)
    gu, gv = _grid(w, k).astype(np.float32), _grid(h, k).astype(np.float32)
    du2 = ((gu[None, :] - c0[:, 0, None].astype(np.float32)) ** 2)[:, None, :]  # (N, 1, w)
    dv2 = ((gv[None, :] - c0[:, 1, None].astype(np.float32)) ** 2)[:, :, None]  # (N, h, 1)
    mean = acc.reshape(N, -1).mean(1) + 1e-9
    A = np.where(du2 + dv2 <= (rad ** 2).astype(np.float32)[:, None, None], acc, -np.inf)
    flat = A.reshape(N, -1).argmax(1)
    v, u = flat // w, flat % w
    return _subpixel(A, v, u, k), (A[np.arange(N), v, u] / mean).astype(float)


def _subpixel(A: np.ndarray, v: np.ndarray, u: np.ndarray, k: int) -> np.ndarray:
    N, h, w = A.shape
    i = np.arange(len(v)) if N == len(v) else np.zeros(len(v), int)
    best = A[i, v, u]
    um, up = A[i, v, np.maximum(u - 1, 0)], A[i, v, np.minimum(u + 1, w - 1)]
    vm, vp = A[i, np.maximum(v - 1, 0), u], A[i, np.minimum(v + 1, h - 1), u]
    with np.errstate(invalid="ignore", divide="ignore"):
        den_u, den_v = um - 2 * best + up, vm - 2 * best + vp
        du = np.where(np.isfinite(den_u) & (den_u < 0), 0.5 * (um - up) / den_u, 0.0)
        dv = np.where(np.isfinite(den_v) & (den_v < 0), 0.5 * (vm - vp) / den_v, 0.0)
    sh = 0.5 if k == 2 else 0.0
    return np.column_stack([k * (u + np.clip(np.nan_to_num(du), -0.5, 0.5)) + sh,
                            k * (v + np.clip(np.nan_to_num(dv), -0.5, 0.5)) + sh])


def local_peaks(acc: np.ndarray, *, min_distance_px: float, rel_height: float, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of one accumulator (h, w) at least `min_distance_px` (full resolution) apart and at least
    `rel_height` of its highest: centres (M, 2) full-resolution px and heights (M,), highest first."""
    a = np.ascontiguousarray(acc, dtype=np.float32)
    rad = max(1, int(min_distance_px / k / 2))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rad + 1, 2 * rad + 1))
    peak = (a >= cv2.dilate(a, kernel)) & (a >= rel_height * float(a.max())) & (a > 0)
    vv, uu = np.nonzero(peak)
    order = np.argsort(-a[vv, uu])
    vv, uu = vv[order], uu[order]
    return _subpixel(a[None], vv, uu, k), a[vv, uu].astype(float)
