"""Corner lattice of a checkerboard larger than the field of view (no border visible).

Steps: square period from the image spectrum -> X-corners as maxima of the Hessian saddle
response -> cv2.cornerSubPix -> the two lattice basis vectors from nearest-neighbour
vectors -> integer (i, j) by an affine lattice fit with outlier rejection -> the colour rule
(square (0,0) black, white iff (i+j) odd) fixes the index parity, and an optional pixel
hint of inner corner (0,0) fixes the absolute origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from calibration.targets import TargetDetection, refine_corners, to_gray_u8


@dataclass
class _Lattice:
    points: np.ndarray  # (N, 2) px
    ij: np.ndarray  # (N, 2) int
    e1: np.ndarray
    e2: np.ndarray
    p0: np.ndarray


def square_period_px(gray: np.ndarray) -> float:
    """Checkerboard square size in px from the strongest non-DC peak of the power spectrum.

    The fundamental of a checkerboard with square p lies on the diagonals at |k| = 1/(p*sqrt 2).
    """
    g = gray.astype(np.float32)
    g = (g - g.mean()) * np.outer(np.hanning(g.shape[0]), np.hanning(g.shape[1]))
    F = np.abs(np.fft.rfft2(g)) ** 2
    H, W = g.shape
    fy = np.fft.fftfreq(H)[:, None]
    fx = np.fft.rfftfreq(W)[None, :]
    r = np.hypot(fx, fy)
    F[r < 4.0 / min(H, W)] = 0  # DC and the window's leakage
    k = np.unravel_index(np.argmax(F), F.shape)
    if F[k] <= 0:
        return float("nan")  # a flat image has no period
    return float(1.0 / (r[k] * np.sqrt(2.0)))


def _saddle_corners(gray: np.ndarray, period: float) -> np.ndarray:
    sigma = max(0.7, period / 5.0)
    g = gray.astype(np.float32)
    gxx = ndimage.gaussian_filter(g, sigma, order=(0, 2))
    gyy = ndimage.gaussian_filter(g, sigma, order=(2, 0))
    gxy = ndimage.gaussian_filter(g, sigma, order=(1, 1))
    resp = gxy**2 - gxx * gyy  # > 0 at saddles (X-corners)
    size = max(3, int(period * 0.6) | 1)
    peak = (resp == ndimage.maximum_filter(resp, size=size)) & (resp > 0.2 * np.percentile(resp, 99.5))
    v, u = np.nonzero(peak)
    return np.column_stack([u, v]).astype(np.float64)


def _basis(points: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    d = points[None, :, :] - points[:, None, :]
    dist = np.linalg.norm(d, axis=2)
    near = (dist > 0.6 * period) & (dist < 1.4 * period)
    vecs = d[near]
    ang = np.arctan2(vecs[:, 1], vecs[:, 0]) % np.pi
    # two clusters 90 deg apart: fold angles mod 90 deg and take the circular mean
    a4 = np.angle(np.mean(np.exp(4j * ang))) / 4.0
    th1 = a4 % (np.pi / 2)
    e = []
    for th in (th1, th1 + np.pi / 2):
        u = np.array([np.cos(th), np.sin(th)])
        proj = vecs @ u
        sel = np.abs(proj) > 0.8 * np.linalg.norm(vecs, axis=1)
        L = np.median(np.abs(proj[sel]))
        e.append(u * L)
    return e[0], e[1]


def _fit_lattice(points: np.ndarray, e1: np.ndarray, e2: np.ndarray, p0: np.ndarray) -> _Lattice:
    for _ in range(3):
        B = np.column_stack([e1, e2])
        q = np.linalg.solve(B, (points - p0).T).T
        ij = np.round(q).astype(int)
        M = np.column_stack([ij, np.ones(len(ij))])
        coef, *_ = np.linalg.lstsq(M, points, rcond=None)
        e1, e2, p0 = coef[0], coef[1], coef[2]
        res = np.linalg.norm(points - M @ coef, axis=1)
        keep = res < max(0.2 * np.linalg.norm(e1), 4 * np.median(res) + 1e-9)
        points, ij = points[keep], ij[keep]
    # one index pair per corner
    _, first = np.unique(ij, axis=0, return_index=True)
    return _Lattice(points[first], ij[first], e1, e2, p0)


def detect_lattice(
    image: np.ndarray,
    *,
    square_mm: float,
    origin_px: tuple[float, float] | None = None,
    y_axis: str = "up",
    half_window: int | None = None,
) -> TargetDetection:
    """Find every checkerboard corner in view and give it target indices and plane mm.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    square_mm : float, keyword-only
    origin_px : (u, v), optional, keyword-only
        Approximate pixel position (within half a square) of inner corner (0, 0), may be outside
        the image. Without it the origin is the in-view corner nearest the image centre whose
        index parity agrees with the colour rule.
    y_axis : {"up", "down"}, keyword-only
        Image direction of the target's +j axis (+Y, or +z for a side camera). The target's +i
        axis is the lattice direction nearest image +u.
    half_window : int, optional, keyword-only

    Returns
    -------
    TargetDetection
        Points with board-free indices; ``meta`` has the period, counts and origin rule.
    """
    gray = to_gray_u8(image)
    H, W = gray.shape
    period = square_period_px(gray)
    if not np.isfinite(period) or not (3.0 <= period <= min(H, W) / 3):
        return TargetDetection.failed(f"no checkerboard lattice (period estimate {period:.1f} px)")
    pts = _saddle_corners(gray, period)
    hw = half_window if half_window is not None else int(np.clip(round(period / 3.0), 2, 5))
    border = hw + 2
    pts = pts[(pts[:, 0] >= border) & (pts[:, 0] < W - border) & (pts[:, 1] >= border) & (pts[:, 1] < H - border)]
    if len(pts) < 9:
        return TargetDetection.failed(f"only {len(pts)} checkerboard corners found; need 9")
    pts = refine_corners(gray, pts, half_window=hw)
    e1, e2 = _basis(pts, period)
    # +i: nearest image +u; +j: image up (v decreasing) or down
    if abs(e2[0]) > abs(e1[0]):
        e1, e2 = e2, e1
    if e1[0] < 0:
        e1 = -e1
    if (e2[1] > 0) != (y_axis == "down"):
        e2 = -e2
    c = np.array([W / 2.0, H / 2.0])
    seed = pts[np.argmin(np.linalg.norm(pts - c, axis=1))]
    lat = _fit_lattice(pts, e1, e2, seed)
    if len(lat.points) < 9:
        return TargetDetection.failed("corner lattice fit failed (too few consistent corners)")
    # colour rule: the square on the +i,+j side of inner corner (a, b) is square (a+1, b+1),
    # black iff (a+b) even
    cen = lat.points + 0.5 * (lat.e1 + lat.e2)
    inside = (cen[:, 0] >= 0) & (cen[:, 0] <= W - 1) & (cen[:, 1] >= 0) & (cen[:, 1] <= H - 1)
    blur = cv2.GaussianBlur(gray, (0, 0), max(1.0, period / 6))
    val = cv2.remap(blur.astype(np.float32), cen[inside, 0].astype(np.float32)[:, None], cen[inside, 1].astype(np.float32)[:, None], cv2.INTER_LINEAR).ravel()
    dark = val < np.median(val)
    even = (lat.ij[inside].sum(axis=1) % 2) == 0
    agree = float(np.mean(dark == even))
    ij = lat.ij.copy()
    if agree < 0.5:
        ij[:, 0] += 1  # shift parity
        agree = 1 - agree
    if agree < 0.9:
        return TargetDetection.failed(f"checkerboard colours are ambiguous ({agree:.0%} agree with the colour rule)")
    B = np.column_stack([lat.e1, lat.e2])
    p0 = lat.p0 - B @ (ij[0] - lat.ij[0])  # pixel of index (0, 0) under the parity-fixed indices
    if origin_px is not None:
        q = np.linalg.solve(B, np.asarray(origin_px, float) - p0)
        shift = np.round(q).astype(int)
        if shift.sum() % 2:
            return TargetDetection.failed(
                f"origin hint {tuple(origin_px)} disagrees with the colour rule (square (0,0) black); check the hint and y_axis"
            )
        rule = "origin hint"
    else:
        q = np.linalg.solve(B, c - p0)
        shift = np.round(q).astype(int)
        if shift.sum() % 2:
            shift[0] += 1
        rule = "corner nearest the image centre (parity from the colour rule)"
    ij = ij - shift
    obj = np.column_stack([ij * float(square_mm), np.zeros(len(ij))])
    return TargetDetection(
        ok=True,
        image_points_px=lat.points,
        object_points_mm=obj,
        indices=ij,
        meta={"method": "lattice", "period_px": period, "subpix_half_window_px": hw, "colour_agreement": agree, "origin": rule},
    )
