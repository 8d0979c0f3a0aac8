"""Coplanarity of pin tips: deviations from their least-squares seating plane.

For a 1 x N row seen from the side the "plane" is a line over x (the row gives no lever arm in y);
for a grid it is a plane over (x, y). The plane is fitted by least squares with iterative rejection of
tips that disagree by more than ``k`` robust sigmas (a depressed or raised pin must not tilt the plane
the good pins define); every tip's deviation is then reported against it, and the JEDEC-style
coplanarity of the group is the largest absolute deviation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from vision.subpixel.robust import robust_sigma

__all__ = ["SeatingPlane", "fit_seating_plane"]


@dataclass
class SeatingPlane:
    ok: bool
    reason: str = ""
    coef: np.ndarray | None = None  # h = coef[0] + coef[1:] . xy
    deviation_mm: np.ndarray | None = None  # (N,) signed, + above the plane
    u_deviation_mm: np.ndarray | None = None  # (N,)
    inliers: np.ndarray | None = None  # (N,) bool, tips that defined the plane
    max_abs_mm: float = float("nan")
    u_max_abs_mm: float = float("nan")


def fit_seating_plane(xy_mm, h_mm, u_h_mm, *, k: float = 3.0, inlier_mm: float = 0.02, min_tips: int = 3,
                      may_support=None) -> SeatingPlane:
    """Least-squares seating plane of tips at positions `xy_mm` ((N,) for a row or (N, 2)) with heights `h_mm`.

    Parameters
    ----------
    xy_mm : (N,) or (N, 2) tip positions, mm.
    h_mm, u_h_mm : (N,) tip heights and their standard uncertainties, mm.
    k : rejection threshold in robust sigmas (at least 3 standard uncertainties).
    inlier_mm : how far a tip may lie from a candidate plane and still support it.
    min_tips : fewer tips than this give ``ok=False`` (the plane would pass through all of them).
    may_support : (N,) bool, optional: the tips a plane may rest on (e.g. those within the tip-height
        tolerance of the design: two depressed tips must not make the one good tip between them the
        outlier); every tip still gets its deviation. Fewer than `min_tips` of them: ``ok=False``.

    Returns
    -------
    SeatingPlane with per-tip signed deviations and their uncertainties (the tip's own, plus the
    plane's at that position for inliers' correlation ignored), and the largest absolute deviation.
    """
    X = np.asarray(xy_mm, float)
    X = X[:, None] if X.ndim == 1 else X
    h = np.asarray(h_mm, float)
    u = np.asarray(u_h_mm, float)
    n = len(h)
    if X.shape[0] != n or u.shape != h.shape:
        raise ValueError(f"xy_mm, h_mm and u_h_mm must have the same length, got {X.shape[0]}, {n}, {len(u)}")
    if n < min_tips:
        return SeatingPlane(ok=False, reason=f"{n} tip(s) measured; a seating plane needs at least {min_tips}")
    sup = np.ones(n, bool) if may_support is None else np.asarray(may_support, bool)
    if sup.sum() < min_tips:
        return SeatingPlane(ok=False, reason=f"only {int(sup.sum())} of {n} tips lie within the tip-height tolerance of the "
                                             f"design; a seating plane needs at least {min_tips}")
    A = np.column_stack([np.ones(n), X - X.mean(axis=0)])
    # consensus start: of all planes through len(coef) tips, the one most tips agree with (within
    # `inlier_mm` or 3 u); least squares alone would let one bad tip tilt the plane of the good ones
    p = A.shape[1]
    tol = np.maximum(inlier_mm, 3 * u)
    candidates = np.nonzero(sup)[0]
    combos = list(itertools.combinations(candidates.tolist(), p))
    if len(combos) > 3000:
        rng = np.random.default_rng(0)
        combos = [tuple(rng.choice(candidates, p, replace=False)) for _ in range(3000)]
    best, inl = (-1, 0.0), np.ones(n, bool)
    for c in combos:
        Ac = A[list(c)]
        if abs(np.linalg.det(Ac)) < 1e-12:
            continue
        coef = np.linalg.solve(Ac, h[list(c)])
        r = np.abs(h - A @ coef)
        ok = (r <= tol) & sup
        # ties (few tips, several bad) go to the plane closest to all tips in the L1 sense: the flat one
        score = (int(ok.sum()), -float(r.sum()))
        if score > best:
            best, inl = score, ok
    for _ in range(5):
        coef, *_ = np.linalg.lstsq(A[inl], h[inl], rcond=None)
        r = h - A @ coef
        sig = robust_sigma(r[inl])
        thr = np.maximum(k * max(sig, 1e-9), tol)
        new = (np.abs(r) <= thr) & sup
        if new.sum() < A.shape[1] + 1 or (new == inl).all():
            break
        inl = new
    coef, *_ = np.linalg.lstsq(A[inl], h[inl], rcond=None)
    dev = h - A @ coef
    w = np.linalg.pinv(A[inl].T @ A[inl])
    u_plane = np.sqrt(np.einsum("ij,jk,ik->i", A, w, A)) * math.sqrt(float(np.mean(u[inl] ** 2)))
    u_dev = np.sqrt(u**2 + u_plane**2)
    i = int(np.argmax(np.abs(dev)))
    return SeatingPlane(ok=True, coef=coef, deviation_mm=dev, u_deviation_mm=u_dev, inliers=inl,
                        max_abs_mm=float(abs(dev[i])), u_max_abs_mm=float(u_dev[i]))
