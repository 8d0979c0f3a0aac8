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

__all__ = ["AxisFit", "fit_axis", "fit_axes", "tilt_from_lean"]


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
    carry first-order propagated standard uncertainties. `fit_axes` for one pin.
    """
    h = np.asarray(heights_mm, float).reshape(1, -1)
    c = np.asarray(centres_mm, float).reshape(1, -1, 2)
    C = np.asarray(covs_mm2, float).reshape(1, -1, 2, 2)
    return fit_axes(h, c, C, np.ones(h.shape, bool))[0]


def fit_axes(heights_mm: np.ndarray, centres_mm: np.ndarray, covs_mm2: np.ndarray, use: np.ndarray) -> list[AxisFit]:
    """`fit_axis` for P pins at once, each from up to K centres.

    Parameters
    ----------
    heights_mm : (P, K) axial heights of the centres.
    centres_mm : (P, K, 2) centres (x, y), mm.
    covs_mm2 : (P, K, 2, 2) their covariances, mm^2.
    use : (P, K) bool, the centres each pin has (an unused one may hold anything finite).

    Returns
    -------
    list of P AxisFit; ``ok`` False, with the reason, for a pin without centres at two different heights.

    Each pin's normal equations, in blocks of ``W_k = C_k^-1`` (the design ``c_k = base + h_k s``):
    ``[[sum W, sum h W], [sum h W, sum h^2 W]] (base, s) = (sum W c, sum h W c)``; the covariance is
    the inverse, scaled by the reduced chi-square where the residuals exceed the stated uncertainties
    (model error) and there are degrees of freedom (three centres). All pins in one batch: a board's
    16 pins cost what one did (numpy's per-call overhead dominates 4x4 algebra).
    """
    h = np.asarray(heights_mm, float)
    c = np.asarray(centres_mm, float)
    use = np.asarray(use, bool)
    P = len(h)
    W = np.linalg.inv(np.asarray(covs_mm2, float) + np.eye(2) * 1e-12) * use[..., None, None]  # (P, K, 2, 2)
    hh = h[..., None, None]
    N = np.empty((P, 4, 4))
    N[:, :2, :2] = W.sum(1)
    N[:, :2, 2:] = N[:, 2:, :2] = (hh * W).sum(1)
    N[:, 2:, 2:] = (hh * hh * W).sum(1)
    Wc = (W @ c[..., None])[..., 0]  # (P, K, 2)
    rhs = np.concatenate([Wc.sum(1), (h[..., None] * Wc).sum(1)], axis=1)
    hu = np.where(use, h, np.nan)
    with np.errstate(invalid="ignore"):
        spread = np.nanmax(hu, axis=1) - np.nanmin(hu, axis=1)
    fit = (use.sum(1) >= 2) & (spread > 0)  # NaN spread (no centre) is not > 0
    N[~fit] = np.eye(4)  # placeholders, never reported
    cov = np.linalg.inv(N)
    x = (cov @ rhs[..., None])[..., 0]
    r = c - x[:, None, :2] - hh[..., 0] * x[:, None, 2:]  # (P, K, 2)
    chi2 = np.einsum("pki,pkij,pkj->p", r, W, r)
    dof = 2 * use.sum(1) - 4
    scale = np.where(dof > 0, np.maximum(chi2 / np.maximum(dof, 1), 1.0), 1.0)
    cov = cov * scale[:, None, None]
    out = []
    for i in range(P):
        if not fit[i]:
            out.append(AxisFit(ok=False, reason="need circle centres at two different heights (flange and barrel top or tip)"))
            continue
        base, s = x[i, :2], x[i, 2:]
        tilt, u_tilt, az, u_az = tilt_from_lean(s, cov[i, 2:, 2:])
        out.append(AxisFit(ok=True, base_mm=base, lean=s, cov=cov[i], tilt_deg=tilt, u_tilt_deg=u_tilt, azimuth_deg=az,
                           u_azimuth_deg=u_az))
    return out


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
