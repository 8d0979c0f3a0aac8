"""Telecentric (affine) camera model fitted from one target image by least squares."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.errors import InputError
from calibration.record import TelecentricModel


@dataclass
class AffineFit:
    """Result of `fit_affine`. ``ok=False`` says why in ``reason`` (no garbage model)."""

    ok: bool
    model: TelecentricModel | None = None
    rms_px: float = float("nan")
    residuals_px: np.ndarray | None = None  # (N, 2)
    mm_per_px: float = float("nan")
    mm_per_px_std: float = float("nan")
    rotation_deg: float = float("nan")
    rotation_std_deg: float = float("nan")
    n_points: int = 0
    reason: str = ""


def _scale_rot(p: np.ndarray) -> tuple[float, float]:
    a = p[:4].reshape(2, 2)
    return 1.0 / math.sqrt(abs(np.linalg.det(a))), math.degrees(math.atan2(a[1, 0], a[0, 0]))


def fit_affine(plane_xy_mm: np.ndarray, image_uv_px: np.ndarray, *, min_points: int = 6) -> AffineFit:
    """Fit ``uv = A @ xy + t`` by linear least squares, with the 6x6 parameter covariance.

    Parameters
    ----------
    plane_xy_mm : ndarray, shape (N, 2)
        Target points on the reference plane, mm.
    image_uv_px : ndarray, shape (N, 2)
        Their (u, v) pixel positions.
    min_points : int, keyword-only

    Returns
    -------
    AffineFit
        Covariance of (A00, A01, A10, A11, t0, t1) = s^2 (J^T J)^-1 with s^2 the residual
        variance per coordinate (2N - 6 degrees of freedom); the std of mm/px and rotation
        are propagated from it with the numerical Jacobian.
    """
    xy = np.asarray(plane_xy_mm, float).reshape(-1, 2)
    uv = np.asarray(image_uv_px, float).reshape(-1, 2)
    if len(xy) != len(uv):
        raise InputError(f"{len(xy)} plane points but {len(uv)} image points; give one pixel per target point")
    n = len(xy)
    if n < max(4, min_points):
        return AffineFit(ok=False, n_points=n, reason=f"only {n} points; need at least {max(4, min_points)}")
    M = np.column_stack([xy, np.ones(n)])
    if np.linalg.matrix_rank(M) < 3:
        return AffineFit(ok=False, n_points=n, reason="target points are collinear; the affine map is undetermined")
    coef, *_ = np.linalg.lstsq(M, uv, rcond=None)  # (3, 2): rows X, Y, 1
    A = coef[:2].T
    t = coef[2]
    if abs(np.linalg.det(A)) < 1e-12:
        return AffineFit(ok=False, n_points=n, reason="fitted map is singular")
    res = uv - (xy @ A.T + t)
    dof = max(2 * n - 6, 1)
    s2 = float((res**2).sum() / dof)
    # u and v rows are independent with the same design: cov is block-diagonal in (A0*, t0) and (A1*, t1)
    Ninv = np.linalg.inv(M.T @ M) * s2  # order (X, Y, 1)
    cov = np.zeros((6, 6))
    iu = [0, 1, 4]  # A00, A01, t0
    iv = [2, 3, 5]  # A10, A11, t1
    cov[np.ix_(iu, iu)] = Ninv
    cov[np.ix_(iv, iv)] = Ninv
    p = np.array([A[0, 0], A[0, 1], A[1, 0], A[1, 1], t[0], t[1]])
    f0 = np.array(_scale_rot(p))
    J = np.zeros((2, 6))
    for k in range(4):
        h = 1e-7 * max(1.0, abs(p[k]))
        q = p.copy()
        q[k] += h
        J[:, k] = (np.array(_scale_rot(q)) - f0) / h
    cf = J @ cov @ J.T
    model = TelecentricModel(A=A.tolist(), t_px=t.tolist(), cov=cov.tolist())
    return AffineFit(
        ok=True,
        model=model,
        rms_px=float(np.sqrt((res**2).sum(axis=1).mean())),
        residuals_px=res,
        mm_per_px=float(f0[0]),
        mm_per_px_std=float(math.sqrt(max(cf[0, 0], 0.0))),
        rotation_deg=float(f0[1]),
        rotation_std_deg=float(math.sqrt(max(cf[1, 1], 0.0))),
        n_points=n,
    )
