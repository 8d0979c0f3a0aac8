"""Board registration in a telecentric top image: find the fiducials (round gold dots) with
subpixel centres and fit the rigid board -> plane transform (scale comes from the calibration).

Board frame: the recipe's (mm). Plane frame: the calibration record's reference plane (mm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.errors import InputError
from calibration.record import CalibrationRecord
from vision.subpixel.circles import CircleFit, gray_roi, radial_edge_circles
from vision.io import luma

__all__ = ["Registration", "rigid_fit", "find_fiducial", "find_fiducials", "register_board", "nominal_pose", "register_top",
           "register_on_pattern", "robust_rigid_fit", "fiducials_in_view"]


@dataclass
class Registration:
    """board (mm) -> plane (mm): ``p = R(theta) @ b + t``."""

    rotation_deg: float
    translation_mm: np.ndarray
    u_rotation_deg: float
    u_translation_mm: float
    residual_rms_mm: float
    method: str = "fiducials"
    points_px: list = field(default_factory=list)  # measured fiducial / pin centres (u, v)
    n_points: int = 0

    @property
    def R(self) -> np.ndarray:
        a = math.radians(self.rotation_deg)
        return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])

    def board_to_plane(self, xy_mm) -> np.ndarray:
        return np.asarray(xy_mm, float) @ self.R.T + self.translation_mm

    def plane_to_board(self, xy_mm) -> np.ndarray:
        return (np.asarray(xy_mm, float) - self.translation_mm) @ self.R

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "rotation_deg": round(self.rotation_deg, 5),
            "u_rotation_deg": round(self.u_rotation_deg, 5),
            "translation_mm": [round(float(x), 5) for x in self.translation_mm],
            "u_translation_mm": round(self.u_translation_mm, 5),
            "residual_rms_mm": round(self.residual_rms_mm, 5),
            "n_points": self.n_points,
            "points_px": [[round(float(a), 3) for a in p] for p in self.points_px],
        }


def rigid_fit(board_mm: np.ndarray, plane_mm: np.ndarray, *, u_point_mm: float = 0.0) -> Registration:
    """Least-squares rotation + translation (no scale, no reflection) taking board points to plane points.

    Parameters
    ----------
    board_mm, plane_mm : (N, 2) arrays, N >= 2
    u_point_mm : standard uncertainty of one measured point, for the transform's uncertainty.
    """
    b = np.asarray(board_mm, float).reshape(-1, 2)
    p = np.asarray(plane_mm, float).reshape(-1, 2)
    if len(b) < 2:
        raise InputError("registration needs at least two points (fiducials or pins); give a recipe with two fiducials")
    bc, pc = b.mean(0), p.mean(0)
    H = (b - bc).T @ (p - pc)
    theta = math.atan2(H[0, 1] - H[1, 0], H[0, 0] + H[1, 1])
    R = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    t = pc - R @ bc
    res = p - (b @ R.T + t)
    rms = float(np.sqrt((res**2).sum(1).mean()))
    n = len(b)
    spread = float(np.sqrt(((b - bc) ** 2).sum()))
    u_pt = max(u_point_mm, rms * math.sqrt(n / max(n - 1.5, 0.5)) if n > 2 else u_point_mm)
    u_theta = math.degrees(u_pt / max(spread, 1e-9))
    return Registration(math.degrees(theta), t, u_theta, u_pt / math.sqrt(n), rms, n_points=n)


def nominal_pose(record: CalibrationRecord, anchor_board_mm: np.ndarray) -> Registration:
    """Where the board is expected: `anchor_board_mm` (e.g. the pin centroid) at the image centre, unrotated."""
    w, h = record.image_size_px
    centre = record.pixel_to_plane(np.array([(w - 1) / 2, (h - 1) / 2]))
    return Registration(0.0, centre - np.asarray(anchor_board_mm, float), 0.0, 0.0, 0.0, method="nominal")


def find_fiducial(image: np.ndarray, guess_px, *, radius_px: float, search_px: float, min_score: float = 0.5) -> CircleFit:
    """Find one round bright dot of `radius_px` within `search_px` of `guess_px`; subpixel edge fit.

    A disc-on-dark template is correlated (normalised, so lighting does not matter) over the
    search region; the best peak seeds a radial edge fit. Returns a failed CircleFit with the
    reason when no dot matches well enough or two equally good dots are in the search region.
    """
    return find_fiducials(image, np.asarray(guess_px, float).reshape(1, 2), radius_px=radius_px, search_px=[search_px],
                          min_score=min_score)[0]


def find_fiducials(image: np.ndarray, guesses_px: np.ndarray, *, radius_px: float, search_px, min_score: float = 0.5
                   ) -> list[CircleFit]:
    """`find_fiducial` for N dots of one size: guesses (N, 2) px, `search_px` (N,); the edge fits run together."""
    k = _search_scale(radius_px)
    band = max(3.0, 0.25 * radius_px)
    found = [_locate_dot(image, g, radius_px=radius_px, search_px=float(sp), min_score=min_score)
             for g, sp in zip(np.asarray(guesses_px, float).reshape(-1, 2), search_px)]
    out = list(found)  # failures stay; located dots are replaced by their edge fits
    idx = [i for i, f in enumerate(found) if not isinstance(f, CircleFit)]
    if idx:
        half = int(math.ceil(radius_px + band + k + 6))
        rois = [gray_roi(image, found[i], half) for i in idx]
        origins = np.array([o for _, o in rois])
        stack = np.concatenate([g for g, _ in rois], axis=0)
        fits = radial_edge_circles(stack, 2 * half + 1, np.array([found[i] for i in idx]) - origins, radius_px,
                                   polarity="falling", band_px=band, refine=2)
        for i, fit, o in zip(idx, fits, origins):
            if fit.ok:
                fit.center_px = fit.center_px + o
            out[i] = fit
    return out


def _search_scale(radius_px: float) -> int:
    """Downsampling of the dot search: the dot stays >= 6 px in radius."""
    return max(1, int(radius_px // 6))


def _locate_dot(image: np.ndarray, guess_px, *, radius_px: float, search_px: float, min_score: float):
    """Centre (2,) px (to a search pixel) of the best-matching dot, or a failed CircleFit saying why."""
    half = int(math.ceil(search_px + 1.6 * radius_px))
    # the search runs at a reduced scale (area averaging is the smoothing), the edge fit on a
    # smoothed full-scale patch around the dot found
    k = _search_scale(radius_px)
    if k > 1:
        g, o = _raw_gray_roi(image, guess_px, half)
        small = cv2.resize(g, (g.shape[1] // k, g.shape[0] // k), interpolation=cv2.INTER_AREA)
    else:
        g, o = gray_roi(image, guess_px, half)
        small = g
    rs = radius_px / k
    size = 2 * int(math.ceil(1.5 * rs)) + 1
    tpl = np.zeros((size, size), np.float32)
    cv2.circle(tpl, (size // 2, size // 2), int(round(rs)), 1.0, -1)
    res = cv2.matchTemplate(small, tpl, cv2.TM_CCOEFF_NORMED)
    hh, ww = res.shape
    vv, uu = np.mgrid[0:hh, 0:ww]
    c0 = np.asarray(guess_px, float) - o
    # small pixel x covers full-scale k*x .. k*x + k - 1
    cu_full, cv_full = (uu + size // 2) * k + (k - 1) / 2, (vv + size // 2) * k + (k - 1) / 2
    inside = np.hypot(cu_full - c0[0], cv_full - c0[1]) <= search_px
    res = np.where(inside, res, -1.0)
    v, u = np.unravel_index(int(np.argmax(res)), res.shape)
    best = float(res[v, u])
    if best < min_score:
        return CircleFit(reason=f"no round dot of diameter {2 * radius_px:.0f} px within {search_px:.0f} px of "
                                f"({guess_px[0]:.0f}, {guess_px[1]:.0f}) (best match {best:.2f} < {min_score})")
    # a second, separate dot matching almost as well makes the fiducial ambiguous
    far = np.hypot(uu - u, vv - v) > 2.2 * rs
    second = float(res[far].max()) if far.any() else -1.0
    if second > max(min_score, best - 0.05):
        return CircleFit(reason=f"two round dots match equally well ({best:.2f}, {second:.2f}) near "
                                f"({guess_px[0]:.0f}, {guess_px[1]:.0f}); the fiducial is ambiguous")
    return np.array([cu_full[v, u], cv_full[v, u]], float) + o


def _raw_gray_roi(image: np.ndarray, center_px, half_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 luminance of the square ROI (2*half+1) around `center_px`, clipped to the image (no smoothing), and its origin."""
    h, w = image.shape[:2]
    u, v = int(round(center_px[0])), int(round(center_px[1]))
    u0, v0 = max(u - half_px, 0), max(v - half_px, 0)
    u1, v1 = min(u + half_px + 1, w), min(v + half_px + 1, h)
    if u1 - u0 < 3 or v1 - v0 < 3:
        return gray_roi(image, center_px, half_px)  # raises the clear error for a point off the image
    roi = image[v0:v1, u0:u1]
    g = luma(roi).astype(np.float32)
    if image.dtype == np.uint16:
        g /= 257.0
    return g, np.array([u0, v0], float)


def register_board(
    image: np.ndarray,
    record: CalibrationRecord,
    fiducials_mm: np.ndarray,
    fiducial_diameter_mm: float,
    *,
    anchor_board_mm: np.ndarray,
    max_shift_mm: float = 1.5,
    max_rotation_deg: float = 6.0,
) -> tuple[Registration, list[CircleFit]]:
    """Find every fiducial and fit board -> plane. Raises InputError naming the fiducial not found."""
    fid = np.asarray(fiducials_mm, float).reshape(-1, 2)
    if len(fid) < 2:
        raise InputError("the recipe has fewer than two fiducials; add them or set allow_pin_registration: true")
    guess = nominal_pose(record, anchor_board_mm)
    mpp = record.scale_mm_per_px()
    r_px = 0.5 * fiducial_diameter_mm / mpp
    levers = np.hypot(*(fid - anchor_board_mm).T)
    search_px = (max_shift_mm + levers * math.sin(math.radians(max_rotation_deg))) / mpp
    fits = find_fiducials(image, record.plane_to_pixel(guess.board_to_plane(fid)).reshape(-1, 2), radius_px=r_px,
                          search_px=search_px)
    for f, fit in zip(fid, fits):
        if not fit.ok:
            raise InputError(
                f"fiducial at board ({f[0]:.2f}, {f[1]:.2f}) mm not found: {fit.reason}; "
                "check that a board is under the camera and that recipe and calibration match it"
            )
    plane_pts = [record.pixel_to_plane(fit.center_px) for fit in fits]
    u_pt = max(f.u_center_px for f in fits) * mpp
    reg = rigid_fit(fid, np.array(plane_pts), u_point_mm=u_pt)
    reg.points_px = [f.center_px.tolist() for f in fits]
    reg.method = "fiducials"
    # fiducial spacing must agree with the recipe: a wrong recipe or a foreign dot shows here
    if reg.residual_rms_mm > max(0.1, 10 * u_pt):
        raise InputError(
            f"the fiducials found do not match the recipe's layout (residual {reg.residual_rms_mm:.3f} mm); "
            "check the recipe's fiducial positions and the calibration scale"
        )
    return reg, fits


def detect_round_blobs(image: np.ndarray, *, radius_px: float, min_score: float = 0.45) -> np.ndarray:
    """Centres (N, 2) px (coarse, about one downsampled pixel) of bright round disks of `radius_px`.

    Normalised correlation with a disk-on-dark template on a downsampled copy, so it costs
    little on a whole frame.
    """
    k = max(1, int(radius_px // 8))
    g = luma(image)
    small = cv2.resize(g, (g.shape[1] // k, g.shape[0] // k), interpolation=cv2.INTER_AREA).astype(np.float32)
    r = radius_px / k
    size = int(2 * math.ceil(1.4 * r) + 1)
    tpl = np.zeros((size, size), np.float32)
    cv2.circle(tpl, (size // 2, size // 2), int(round(r)), 1.0, -1)
    res = cv2.matchTemplate(small, tpl, cv2.TM_CCOEFF_NORMED)
    peaks = (res == cv2.dilate(res, np.ones((3, 3), np.uint8), iterations=int(max(1, r)))) & (res > min_score)
    vv, uu = np.nonzero(peaks)
    return np.column_stack([(uu + size // 2) * k + (k - 1) / 2, (vv + size // 2) * k + (k - 1) / 2]).astype(float)


def register_on_pattern(
    image: np.ndarray,
    record: CalibrationRecord,
    points_board_mm: np.ndarray,
    *,
    radius_mm: float,
    anchor_board_mm: np.ndarray,
    max_shift_mm: float = 1.5,
    max_rotation_deg: float = 6.0,
    tol_mm: float = 0.35,
) -> Registration:
    """Coarse registration on a pattern of round features (pins): vote over rotations and matches.

    Returns a coarse transform (accurate to a fraction of `tol_mm`); refine it with subpixel centres.
    """
    mpp = record.scale_mm_per_px()
    blobs_px = detect_round_blobs(image, radius_px=radius_mm / mpp)
    if len(blobs_px) == 0:
        raise InputError("no pins or pads found in the top image; check that a board is under the camera and lit")
    blobs = record.pixel_to_plane(blobs_px)
    pts = np.asarray(points_board_mm, float)
    guess = nominal_pose(record, anchor_board_mm)
    best = (0, 1e9, None)
    for ang in np.arange(-max_rotation_deg, max_rotation_deg + 1e-9, 0.5):
        a = math.radians(ang)
        R = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        rp = pts @ R.T
        # anchor the hypotheses on the pins nearest the anchor (two, in case one is missing)
        for i0 in np.argsort(np.hypot(*(pts - anchor_board_mm).T))[:2]:
            for bl in blobs:
                t = bl - rp[i0]
                if np.hypot(*(t - guess.translation_mm)) > max_shift_mm + 1.0:
                    continue
                d = np.hypot(*((rp + t)[:, None, :] - blobs[None]).transpose(2, 0, 1))
                dmin = d.min(1)
                n_in = int((dmin < tol_mm).sum())
                cost = float(np.minimum(dmin, tol_mm).sum())
                if n_in > best[0] or (n_in == best[0] and cost < best[1]):
                    best = (n_in, cost, (ang, t))
            if best[0] == len(pts):
                break
    if best[2] is None or best[0] < max(2, (len(pts) + 1) // 2):
        raise InputError(
            f"could not register the board on its pin pattern (only {best[0]} of {len(pts)} pins matched); "
            "check the recipe and that the board is under the camera"
        )
    ang, t = best[2]
    return Registration(float(ang), np.asarray(t, float), 0.5, tol_mm, 0.0, method="pins-coarse", n_points=best[0])


def robust_rigid_fit(board_mm: np.ndarray, plane_mm: np.ndarray, *, u_point_mm: float, reject_mm: float,
                     max_pairs: int = 400, seed: int = 0) -> tuple[Registration, np.ndarray]:
    """Rigid fit that ignores points farther than `reject_mm` from the consensus (misplaced pins).

    Every pair of points (or `max_pairs` of them, drawn with `seed`) proposes a transform; the one
    with the most points within `reject_mm` (then the smallest summed residual) wins, and the
    final fit uses its inliers. Returns the registration and the inlier mask (N,).
    """
    b = np.asarray(board_mm, float).reshape(-1, 2)
    p = np.asarray(plane_mm, float).reshape(-1, 2)
    n = len(b)
    if n < 2:
        raise InputError("registration needs at least two points (fiducials or pins)")
    ii, jj = np.triu_indices(n, 1)
    if len(ii) > max_pairs:
        pick = np.random.default_rng(seed).choice(len(ii), max_pairs, replace=False)
        ii, jj = ii[pick], jj[pick]
    # rotation of each pair: angle of the plane segment minus angle of the board segment
    db, dp = b[jj] - b[ii], p[jj] - p[ii]
    ang = np.arctan2(dp[:, 1], dp[:, 0]) - np.arctan2(db[:, 1], db[:, 0])
    c, s_ = np.cos(ang), np.sin(ang)
    mb, mp = 0.5 * (b[ii] + b[jj]), 0.5 * (p[ii] + p[jj])
    tx = mp[:, 0] - (c * mb[:, 0] - s_ * mb[:, 1])
    ty = mp[:, 1] - (s_ * mb[:, 0] + c * mb[:, 1])
    px = c[:, None] * b[None, :, 0] - s_[:, None] * b[None, :, 1] + tx[:, None]
    py = s_[:, None] * b[None, :, 0] + c[:, None] * b[None, :, 1] + ty[:, None]
    res = np.hypot(px - p[None, :, 0], py - p[None, :, 1])  # (pairs, n)
    inl = res <= reject_mm
    score = inl.sum(1) - np.minimum(res, reject_mm).sum(1) / (reject_mm * (n + 1))
    keep = inl[int(np.argmax(score))]
    if keep.sum() < 2:
        keep = np.ones(n, bool)
    reg = rigid_fit(b[keep], p[keep], u_point_mm=u_point_mm)
    return reg, keep


def fiducials_in_view(record: CalibrationRecord, guess: Registration, fiducials_mm: np.ndarray, *, radius_mm: float) -> np.ndarray:
    """Boolean mask (N,): which fiducials the nominal pose puts wholly inside the image."""
    w, h = record.image_size_px
    r_px = radius_mm / record.scale_mm_per_px()
    px = record.plane_to_pixel(guess.board_to_plane(np.asarray(fiducials_mm, float).reshape(-1, 2))).reshape(-1, 2)
    return (px[:, 0] >= r_px) & (px[:, 0] <= w - 1 - r_px) & (px[:, 1] >= r_px) & (px[:, 1] <= h - 1 - r_px)


def register_top(
    image: np.ndarray,
    record: CalibrationRecord,
    *,
    fiducials_mm: np.ndarray,
    fiducial_diameter_mm: float | None,
    pins_mm: np.ndarray,
    pin_radius_mm: float,
    allow_pin_registration: bool = False,
    max_shift_mm: float = 1.5,
    max_rotation_deg: float = 6.0,
) -> tuple[Registration, list[str]]:
    """Register the board in a top image: on its fiducials, else on its pin pattern.

    The board is expected with its pin centroid near the image centre, within `max_shift_mm`
    and `max_rotation_deg`. Fiducials the nominal pose puts outside the field of view are not
    looked for; with fewer than two in view the pin pattern is used (coarse: refine it with the
    pins' fitted centres, `robust_rigid_fit`). Fiducials in view but not found raise InputError
    unless `allow_pin_registration`.

    Returns
    -------
    registration : board -> plane; ``method`` is ``"fiducials"`` or ``"pins-coarse"``.
    notes : one-line remarks for the result document.
    """
    pins = np.asarray(pins_mm, float).reshape(-1, 2)
    anchor = pins.mean(0) if len(pins) else np.zeros(2)
    fid = np.asarray(fiducials_mm, float).reshape(-1, 2)
    notes: list[str] = []
    if len(fid) and fiducial_diameter_mm:
        guess = nominal_pose(record, anchor)
        in_view = fiducials_in_view(record, guess, fid, radius_mm=0.5 * fiducial_diameter_mm)
        if in_view.sum() >= 2:
            try:
                reg, _ = register_board(image, record, fid[in_view], fiducial_diameter_mm, anchor_board_mm=anchor,
                                        max_shift_mm=max_shift_mm, max_rotation_deg=max_rotation_deg)
                return reg, notes
            except InputError as exc:
                if not allow_pin_registration:
                    raise
                notes.append(f"fiducial registration failed ({exc}); registered on the pin pattern")
        else:
            notes.append(f"only {int(in_view.sum())} of {len(fid)} fiducials lie in the field of view; registered on the pin pattern")
    elif not allow_pin_registration and len(pins) < 3:
        raise InputError("the recipe gives no fiducials and fewer than three pins; add fiducials to the recipe")
    else:
        notes.append("the recipe gives no fiducials; registered on the pin pattern")
    if len(pins) < 3:
        raise InputError(f"cannot register on a pattern of {len(pins)} pin(s); the fiducials must be in view")
    reg = register_on_pattern(image, record, pins, radius_mm=pin_radius_mm, anchor_board_mm=anchor,
                              max_shift_mm=max_shift_mm, max_rotation_deg=max_rotation_deg)
    return reg, notes
