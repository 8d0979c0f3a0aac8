"""Pin axis from circle centres seen at known heights along the axis (telecentric top view).

A circle lying in a plane perpendicular to the pin axis, at axial height h above the base
centre, projects (orthographically) to an ellipse whose centre is ``base + h * s`` with
``s = sin(tilt) * (cos az, sin az)``. Fitting ``c(h) = base + h s`` to the flange-top rim
(h = t_f), the barrel-top rim (h = t_f + l_b) and the dome's sphere centre (h = L - r_dome)
gives the base centre (hidden under the barrel), the lean and the tip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["AxisFit", "fit_axis", "tilt_from_lean"]


@dataclass
class AxisFit:
    ok: bool
    reason: str = ""
    base_mm: np.ndarray | None = None  # (2,) board frame
    lean: np.ndarray | None = None  # (2,) s = sin(tilt) * direction
    cov: np.ndarray | None = None  # (4, 4) covariance of (base_x, base_y, s_x, s_y)
    tilt_deg: float = float("nan")
    u_tilt_deg: float = float("nan")
    azimuth_deg: float = float("nan")
    u_azimuth_deg: float = float("nan")

    def point_at(self, h_mm: float) -> tuple[np.ndarray, np.ndarray]:
        """Centre (2,) of the axis at height h and its 2x2 covariance."""
        C = self.cov
        cov = C[:2, :2] + h_mm * (C[:2, 2:] + C[2:, :2]) + h_mm**2 * C[2:, 2:]  # J C J^T, J = [I, h I]
        return self.base_mm + h_mm * self.lean, cov

    def transformed(self, R: np.ndarray, t: np.ndarray) -> "AxisFit":
        """The same axis in another frame, ``x' = R x + t`` (R a 2x2 rotation); azimuth in the new frame."""
        if not self.ok:
            return self
        R = np.asarray(R, float)
        B = np.zeros((4, 4))
        B[:2, :2] = B[2:, 2:] = R
        cov = B @ self.cov @ B.T
        s = R @ self.lean
        tilt, u_tilt, az, u_az = tilt_from_lean(s, cov[2:, 2:])
        return AxisFit(ok=True, base_mm=R @ self.base_mm + np.asarray(t, float), lean=s, cov=cov, tilt_deg=tilt,
                       u_tilt_deg=u_tilt, azimuth_deg=az, u_azimuth_deg=u_az)


def fit_axis(heights_mm, centres_mm, covs_mm2) -> AxisFit:
    """Weighted least squares of ``c(h) = base + h s`` from centres (N, 2) mm with covariances (N, 2, 2).

    Needs at least two distinct heights. Tilt and azimuth (board frame, from +x towards +y)
    carry first-order propagated standard uncertainties.
    """
    h = np.asarray(heights_mm, float)
    c = np.asarray(centres_mm, float).reshape(-1, 2)
    C = np.asarray(covs_mm2, float).reshape(-1, 2, 2)
    if len(h) < 2 or np.ptp(h) <= 0:
        return AxisFit(ok=False, reason="need circle centres at two different heights (flange and barrel top or tip)")
    # stacked design: c_i = base + h_i s, each centre weighted by the inverse of its covariance
    n = len(h)
    A = np.zeros((2 * n, 4))
    A[0::2, 0] = A[1::2, 1] = 1.0
    A[0::2, 2] = A[1::2, 3] = h
    b = c.reshape(-1)
    Wb = np.zeros((2 * n, 2 * n))
    Winv = np.linalg.inv(C + np.eye(2) * 1e-12)
    for i in range(n):
        Wb[2 * i:2 * i + 2, 2 * i:2 * i + 2] = Winv[i]
    N = A.T @ Wb @ A
    cov = np.linalg.inv(N)
    x = cov @ A.T @ Wb @ b
    # scale by the goodness of fit when the residuals exceed the stated uncertainties (model error)
    r = b - A @ x
    dof = 2 * len(h) - 4
    if dof > 0:
        chi2 = float(r @ Wb @ r) / dof
        cov = cov * max(chi2, 1.0)
    base, s = x[:2], x[2:]
    tilt, u_tilt, az, u_az = tilt_from_lean(s, cov[2:, 2:])
    return AxisFit(ok=True, base_mm=base, lean=s, cov=cov, tilt_deg=tilt, u_tilt_deg=u_tilt, azimuth_deg=az, u_azimuth_deg=u_az)


def tilt_from_lean(s, cov_s) -> tuple[float, float, float, float]:
    """Tilt and azimuth (deg) with standard uncertainties from the lean vector ``s = sin(tilt) (cos az, sin az)``.

    Parameters
    ----------
    s : (2,) lean per unit axial height (any frame; the azimuth is in that frame, from +x towards +y).
    cov_s : (2, 2) covariance of `s`.

    Returns
    -------
    tilt_deg, u_tilt_deg, azimuth_deg in [0, 360), u_azimuth_deg (at most 180).
    """
    # plain floats: this runs a few times per pin, where numpy's per-call overhead on 2x2 dominates
    (sx, sy), ((c00, c01), (c10, c11)) = np.asarray(s, float).tolist(), np.asarray(cov_s, float).tolist()

    def quad(a: float, b: float) -> float:  # (a, b) @ Cs @ (a, b)
        return a * (c00 * a + c01 * b) + b * (c10 * a + c11 * b)

    ns = math.hypot(sx, sy)
    tilt = math.degrees(math.asin(min(ns, 1.0)))
    rms = math.sqrt(max((c00 + c11) / 2, 0.0))
    if ns > 1e-12:
        u_ns = math.sqrt(max(quad(sx / ns, sy / ns), 0.0))
        u_az = math.degrees(math.sqrt(max(quad(-sy / ns**2, sx / ns**2), 0.0)))
    else:
        u_ns, u_az = rms, 180.0
    # near zero the magnitude of a 2-D vector is biased up by noise; the RMS of its noise is a fair uncertainty
    if ns < 3 * rms:
        u_ns = max(u_ns, rms)
    u_tilt = math.degrees(u_ns / max(math.sqrt(1 - min(ns, 0.999) ** 2), 1e-6))
    az = math.degrees(math.atan2(sy, sx)) % 360.0
    return tilt, u_tilt, az, min(u_az, 180.0)
