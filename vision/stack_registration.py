"""The board's rotation under the microscope, from the pads around the pins, out of focus in a pin stack.

A pin stack focuses on the plungers, 2-3 mm above the board. The pads under the pins -- gold discs at the
recipe's nominal places, wider than the flanges -- are still there in its lowest slice, as discs blurred by
the defocus. Where they lie does not depend on how well each pin was placed, so their lattice gives the
board's rotation about the optical axis without the placement errors that a rotation from the 2-4 pins in
view takes in (good pins stand up to 0.02 mm off their pads: 0.1-1 deg on the rendered stacks).

The lowest slice, reduced, is fitted as ``a + c T`` over the pixels away from the pins, where ``T`` is the
sum of the pads' discs (radius from the recipe) each blurred by a uniform disc of radius ``rho`` (a
defocused lens's point spread; the pads do not overlap, so the blurred union is the sum), placed at
``axis + k J R(theta) d_i + t`` (``d_i`` the pads' nominal offsets from the optical axis in the board frame,
``J`` the record's plane-to-pixel map at the axis). ``theta`` is the rotation; the shift ``t`` is checked
against the stage, the scale ``k`` takes the perspective of a plane below focus, ``rho`` the defocus. The
template is closed form (the area two circles share), so a fit costs tens of milliseconds, not renders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import least_squares

from calibration.record import CalibrationRecord
from vision.micro_pins import axis_mm_to_px
from vision.params import PARAMS

__all__ = ["PadLattice", "blurred_disc", "pad_lattice_rotation"]


@dataclass(frozen=True)
class PadLattice:
    """The pads' lattice fitted in a pin stack's lowest slice.

    ``rotation_rad`` is the board's rotation in the record's plane frame (counter-clockwise, as
    `vision.inspect.stack._board_rotation`), ``u_rotation_rad`` its standard uncertainty. ``ok`` False
    means the fit failed one of its own checks, named in ``why``; its numbers are then not to be used.
    """

    ok: bool
    why: str = ""
    rotation_rad: float = float("nan")
    u_rotation_rad: float = float("nan")
    shift_mm: tuple[float, float] = (float("nan"), float("nan"))
    scale: float = float("nan")
    blur_radius_mm: float = float("nan")
    contrast_sigma: float = float("nan")


def blurred_disc(d_px: np.ndarray, radius_px: float, blur_radius_px: float) -> np.ndarray:
    """A disc of `radius_px` blurred by a uniform disc of `blur_radius_px`, at distance `d_px` from its centre.

    The share of the blur disc centred at that distance that lies inside the disc (the area two circles
    share, over the blur disc's area): 1 well inside, 0 well outside, 1/2 near the edge of a large disc.
    """
    d = np.asarray(d_px, np.float64)
    R, r = float(radius_px), max(float(blur_radius_px), 1e-6)
    out = np.zeros_like(d)
    inside = d <= R - r
    out[inside] = 1.0
    if r > R:
        out[d <= r - R] = (R / r) ** 2
    mid = (d > abs(R - r)) & (d < R + r)
    dm = np.maximum(d[mid], 1e-12)
    a1 = np.clip((dm * dm + R * R - r * r) / (2 * dm * R), -1.0, 1.0)
    a2 = np.clip((dm * dm + r * r - R * R) / (2 * dm * r), -1.0, 1.0)
    k = np.maximum((-dm + R + r) * (dm + R - r) * (dm - R + r) * (dm + R + r), 0.0)
    area = R * R * np.arccos(a1) + r * r * np.arccos(a2) - 0.5 * np.sqrt(k)
    out[mid] = area / (math.pi * r * r)
    return out


def _plane_jacobian(record: CalibrationRecord, dh_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """(pixel of the optical axis, 2x2 d(pixel)/d(plane mm) there) for a plane `dh_mm` above focus."""
    ax = np.asarray(axis_mm_to_px(record, np.zeros(2), dh_mm), float)
    J = np.column_stack([np.asarray(axis_mm_to_px(record, e, dh_mm), float) - ax for e in np.eye(2)])
    return ax, J


def pad_lattice_rotation(
    image: np.ndarray,
    record: CalibrationRecord,
    *,
    offsets_mm: np.ndarray,
    pad_radius_mm: float,
    avoid_mm: np.ndarray,
    avoid_radius_mm: float,
    dh_mm: float,
    rotation_guess_rad: float = 0.0,
) -> PadLattice:
    """Fit the pads' blurred lattice in one slice of a pin stack.

    Parameters
    ----------
    image : ndarray (H, W) float
        The stack's slice nearest the board (its lowest), luminance.
    record : CalibrationRecord
        The microscope's record at the focus plane.
    offsets_mm : ndarray (N, 2)
        Nominal pad centres minus the stage position (board frame, mm): every recipe pad near the view.
    pad_radius_mm : float
    avoid_mm : ndarray (M, 2)
        Board-frame offsets of what stands on the pads (the pins' places, nominal and as found) ...
    avoid_radius_mm : float
        ... and how far around each the pads are hidden (the flange radius); the fitted blur is added.
    dh_mm : float
        Height of the pads' top above the slice's focus plane (negative: below it).
    rotation_guess_rad : float
        Where the rotation search starts (the pins' own estimate, or 0).

    Returns
    -------
    PadLattice
    """
    P = PARAMS.stack
    g0 = np.asarray(image, np.float32)
    down = max(1, int(P.pad_lattice_reduce))
    g = cv2.resize(g0, (g0.shape[1] // down, g0.shape[0] // down), interpolation=cv2.INTER_AREA) if down > 1 else g0
    s_mm = record.scale_mm_per_px() * down
    ax, J = _plane_jacobian(record, dh_mm)
    ax = (ax + 0.5) / down - 0.5
    J = J / down
    d = np.asarray(offsets_mm, float).reshape(-1, 2)
    av = np.asarray(avoid_mm, float).reshape(-1, 2)
    H, W = g.shape
    yy, xx = np.mgrid[0:H, 0:W]
    pix = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float64)
    R_px = pad_radius_mm / s_mm

    def centres(th, t, k, pts):
        c, s = math.cos(th), math.sin(th)
        return ax + k * (pts @ np.array([[c, s], [-s, c]]) @ J.T) + t

    def template(th, t, k, rho, keep):
        C = centres(th, t, k, d)
        T = np.zeros(int(keep.sum()))
        q = pix[keep]
        for c in C:
            dist = np.hypot(q[:, 0] - c[0], q[:, 1] - c[1])
            near = dist < k * R_px + rho + 1
            if near.any():
                T[near] += blurred_disc(dist[near], k * R_px, rho)
        return T

    def keep_mask(th, rho):
        keep = np.ones(len(pix), bool)
        r = avoid_radius_mm / s_mm + P.pad_lattice_hide_blur * rho + 1.0
        for c in centres(th, np.zeros(2), 1.0, av):
            keep &= np.hypot(pix[:, 0] - c[0], pix[:, 1] - c[1]) >= r
        return keep

    gv = g.ravel().astype(np.float64)
    # only the pads whose blurred disc can reach into the view (a 3 x 5 board lists 15, 4-6 are near)
    reach = R_px + 2.0 * max(P.pad_lattice_na_starts) * abs(dh_mm) / s_mm + 2.0
    c0 = centres(rotation_guess_rad, np.zeros(2), 1.0, d)
    near = (c0[:, 0] > -reach) & (c0[:, 0] < W - 1 + reach) & (c0[:, 1] > -reach) & (c0[:, 1] < H - 1 + reach)
    d = d[near]

    def linear(T, y):
        A = np.column_stack([np.ones_like(T), T])
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        return coef, y - A @ coef

    # the blur: the best of a few, each with the pins hidden as far as it spreads them
    best = None
    for na in P.pad_lattice_na_starts:
        rho = max(na * abs(dh_mm) / s_mm, 0.5)
        keep = keep_mask(rotation_guess_rad, rho)
        if keep.sum() < 100:
            continue
        T = template(rotation_guess_rad, np.zeros(2), 1.0, rho, keep)
        y = gv[keep]
        coef, res = linear(T, y)
        score = float(res @ res) / max(float(((y - y.mean()) ** 2).sum()), 1e-12)
        if best is None or score < best[0]:
            best = (score, rho, keep, coef, float(np.std(res)))
    if best is None:
        return PadLattice(False, "no board to see between the pins in the lowest slice")
    _, rho0, keep, coef, sd0 = best
    if abs(float(coef[1])) < 0.5 * P.pad_lattice_min_contrast_sigma * sd0:
        # not even near: no pads stand out where the recipe and the stage put them
        return PadLattice(False, f"the pads stand out from the board by {abs(float(coef[1])) / max(sd0, 1e-9):.1f} "
                                 f"noise sigma where the stage puts them (< {P.pad_lattice_min_contrast_sigma})")
    fit = None
    for attempt in range(2):
        y = gv[keep]

        def resid(p, keep=keep, y=y):
            th, tx, ty, lk, rho = p
            _, r = linear(template(th, np.array([tx, ty]), math.exp(lk), max(rho, 0.3), keep), y)
            return r

        # a robust loss: what the template leaves out (solder around a flange, the blur of a neighbour standing off its
        # place just outside the view) lies in patches the pads' outline must not be bent to
        fit = least_squares(resid, [rotation_guess_rad, 0.0, 0.0, 0.0, rho0], x_scale=[0.01, 1.0, 1.0, 0.01, max(rho0, 1.0)],
                            diff_step=[1e-4, 1e-3, 1e-3, 1e-4, 1e-3], loss="soft_l1", f_scale=P.pad_lattice_loss_scale * sd0)
        if attempt == 1 or abs(fit.x[4] - rho0) < 0.2 * rho0:
            break
        rho0 = float(fit.x[4])
        keep = keep_mask(float(fit.x[0]), rho0)  # hide the pins again where the fit puts them, and fit once more
    th, tx, ty, lk, rho = (float(v) for v in fit.x)
    T = template(th, np.array([tx, ty]), math.exp(lk), rho, keep)
    coef, res = linear(T, y)
    sd = float(np.std(res))
    n_edge = int(((T > 0.1) & (T < 0.9)).sum())
    try:
        cov = np.linalg.inv(fit.jac.T @ fit.jac) * sd * sd
        u_fit = math.sqrt(max(float(cov[0, 0]), 0.0))
    except np.linalg.LinAlgError:
        u_fit = float("inf")
    shift_mm = np.linalg.solve(J, np.array([tx, ty]))  # the image shift back in plane mm
    out = dict(rotation_rad=th, u_rotation_rad=math.hypot(u_fit, P.pad_lattice_u_floor_rad),
               shift_mm=(float(shift_mm[0]), float(shift_mm[1])), scale=math.exp(lk), blur_radius_mm=rho * s_mm,
               contrast_sigma=abs(float(coef[1])) / max(sd, 1e-9))
    if out["contrast_sigma"] < P.pad_lattice_min_contrast_sigma:
        return PadLattice(False, f"the pads stand out from the board by {out['contrast_sigma']:.1f} noise sigma "
                                 f"(< {P.pad_lattice_min_contrast_sigma})", **out)
    if n_edge * down * down < P.pad_lattice_min_edge_px:
        return PadLattice(False, f"too little pad outline in view between the pins ({n_edge * down * down} px)", **out)
    if math.hypot(*shift_mm) > P.pad_lattice_max_shift_mm:
        return PadLattice(False, f"the pads lie {1e3 * math.hypot(*shift_mm):.0f} um from where the stage puts them "
                                 f"(> {1e3 * P.pad_lattice_max_shift_mm:.0f})", **out)
    if abs(lk) > P.pad_lattice_max_log_scale:
        return PadLattice(False, f"the pads' lattice reads {math.exp(lk):.3f} of its scale", **out)
    if not fit.success:
        return PadLattice(False, f"the lattice fit did not converge ({fit.message})", **out)
    if not math.isfinite(u_fit):
        return PadLattice(False, "the rotation is not determined by the pads in view", **out)
    return PadLattice(True, "", **out)
