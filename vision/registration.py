"""Board registration in a telecentric top image: find the fiducials (round gold dots) with
subpixel centres and fit the rigid board -> plane transform (scale comes from the calibration).

Board frame: the recipe's (mm). Plane frame: the calibration record's reference plane (mm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from vision.params import PARAMS
from models.errors import InputError
from calibration.record import CalibrationRecord
from vision.io import luma
from vision.subpixel.circles import CircleFit, fit_circle, gray_roi, radial_edge_circles
from vision.subpixel.hough import acc_peaks, circle_votes, local_peaks, vote_scale

__all__ = ["Registration", "rigid_fit", "find_fiducial", "find_fiducials", "register_board", "nominal_pose", "register_top",
           "register_on_pattern", "robust_rigid_fit", "fiducials_in_view",
           "check_pin_pattern_scale", "fit_fiducial_arc"]


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


def fit_fiducial_arc(image: np.ndarray, guess_px, *, radius_px: float, search_px: float, n_rays: int = 72) -> CircleFit:
    """A round dot of `radius_px` near `guess_px` that the image edge may cut, fitted on its visible arc.

    The dot is located by a vote along the gradient for circles of its radius (`circle_votes`: the
    visible arc's pixels vote at its centre, whatever lies beyond the edge) within `search_px` of the
    guess; its centre must lie in the image. Rays from there that stay wholly in the image give one
    subpixel falling edge each (bright dot on darker board), fitted by `fit_circle`, whose covariance
    carries the arc's geometry. A failed CircleFit says why.
    """
    h, w = image.shape[:2]
    g = luma(image)
    half = int(math.ceil(search_px + 1.5 * radius_px))
    u, v = int(round(guess_px[0])), int(round(guess_px[1]))
    u0, v0, u1, v1 = max(u - half, 0), max(v - half, 0), min(u + half + 1, w), min(v + half + 1, h)
    if u1 - u0 < 2 * radius_px or v1 - v0 < radius_px:
        return CircleFit(reason=f"too little of the dot near ({guess_px[0]:.0f}, {guess_px[1]:.0f}) lies in the image")
    roi = cv2.GaussianBlur(g[v0:v1, u0:u1].astype(np.float32), (0, 0), 0.8)
    k = vote_scale(radius_px)
    acc = circle_votes(roi, roi.shape, (radius_px,), k=k)[0]
    c, _ = acc_peaks(acc, np.array([[guess_px[0] - u0, guess_px[1] - v0]]), search_px, k=k)
    cu, cv_ = c[0, 0] + u0, c[0, 1] + v0
    band = max(3.0, 0.25 * radius_px)
    th = np.linspace(0, 2 * np.pi, n_rays, endpoint=False)
    rs = np.arange(radius_px - band, radius_px + band + 1e-9, 0.5)
    U = cu + rs[None] * np.cos(th)[:, None]
    V = cv_ + rs[None] * np.sin(th)[:, None]
    inside = ((U >= 0) & (U <= w - 1) & (V >= 0) & (V <= h - 1)).all(1)
    if inside.sum() < PARAMS.registration.arc_min_fraction * n_rays:
        return CircleFit(reason=f"only {inside.sum()} of {n_rays} rays of the dot lie in the image")
    prof = cv2.remap(roi, (U[inside] - u0).astype(np.float32), (V[inside] - v0).astype(np.float32), cv2.INTER_LINEAR)
    d = -(prof[:, 2:] - prof[:, :-2])  # falling: bright inside
    kk = np.argmax(d, axis=1)
    rows = np.arange(len(d))
    y0, y1, y2 = d[rows, np.maximum(kk - 1, 0)], d[rows, kk], d[rows, np.minimum(kk + 1, d.shape[1] - 1)]
    den = y0 - 2 * y1 + y2
    off = np.where(np.abs(den) > 1e-9, 0.5 * (y0 - y2) / np.where(np.abs(den) > 1e-9, den, 1.0), 0.0).clip(-0.5, 0.5)
    r_e = rs[kk + 1] + 0.5 * off
    strong = y1 > max(0.35 * float(np.median(y1)), 1e-6)
    t = th[inside][strong]
    if len(t) < 8:
        return CircleFit(reason=f"no round dot of diameter {2 * radius_px:.0f} px near ({guess_px[0]:.0f}, {guess_px[1]:.0f})")
    if np.ptp(np.unwrap(np.sort(t))) < np.pi and len(t) < n_rays / 2:
        return CircleFit(reason="the dot's visible arc spans less than half a turn")
    pts = np.column_stack([cu + r_e[strong] * np.cos(t), cv_ + r_e[strong] * np.sin(t)])
    return fit_circle(pts)


def _check_fiducial(fit: CircleFit, r_px: float, mpp: float, size_px: tuple[int, int], *, cut_ok: bool = False) -> str:
    """Why a fiducial fit is not to be used ('' when it is): radius off, edge not round, or cut by the image
    edge (unless `cut_ok`: a fit on the visible arc)."""
    if not fit.ok:
        return fit.reason
    w, h = size_px
    tol = 0.5 * PARAMS.registration.fiducial_diameter_tol_mm / mpp + PARAMS.registration.fiducial_blur_px
    (u, v), r = fit.center_px, fit.radius_px
    if not cut_ok and min(u - r, v - r, w - 1 - u - r, h - 1 - v - r) < -0.5:
        return f"the dot at ({u:.0f}, {v:.0f}) px is cut by the image edge"
    if abs(r - r_px) > tol:
        return f"the dot found has a radius of {r:.1f} px where the recipe gives {r_px:.1f} +- {tol:.1f} px"
    if fit.rms_px > PARAMS.registration.fiducial_max_rms_rel * r_px:
        return f"the dot's edge is not round (residual {fit.rms_px:.1f} px)"
    return ""


def _register_on_fits(record: CalibrationRecord, fid: np.ndarray, fits: list[CircleFit]) -> Registration:
    """Rigid board -> plane fit on fitted fiducial centres; InputError when their layout disagrees with the recipe."""
    mpp = record.scale_mm_per_px()
    plane_pts = np.array([record.pixel_to_plane(fit.center_px) for fit in fits]).reshape(-1, 2)
    u_pt = max(f.u_center_px for f in fits) * mpp
    reg = rigid_fit(fid, plane_pts, u_point_mm=u_pt)
    reg.points_px = [f.center_px.tolist() for f in fits]
    reg.method = "fiducials"
    # the fiducials' layout must agree with the recipe at the calibration's scale: a foreign dot, a wrong
    # recipe or a calibration for another magnification shows here
    limit = math.hypot(PARAMS.registration.fiducial_residual_max_mm, 3 * u_pt)
    if reg.residual_rms_mm > limit:
        i, j = np.triu_indices(len(fid), 1)
        d_nom = np.hypot(*(fid[j] - fid[i]).T).sum()
        d_meas = np.hypot(*(plane_pts[j] - plane_pts[i]).T).sum()
        raise InputError(
            f"the fiducials found do not match the recipe's layout (residual {reg.residual_rms_mm:.3f} mm, spacing "
            f"{d_meas / d_nom:.4f} x the recipe's at the calibration's scale): a mistaken dot, or a wrong recipe or calibration"
        )
    return reg


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
    """Find every fiducial and fit board -> plane. Raises InputError naming the fiducial not found, the
    check its fit failed (radius, roundness, cut by the image edge) or the layout that disagrees with the
    recipe and the calibration (`PARAMS.registration.fiducial_residual_max_mm`)."""
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
    size = (image.shape[1], image.shape[0])
    for f, fit in zip(fid, fits):
        why = _check_fiducial(fit, r_px, mpp, size)
        if why:
            raise InputError(
                f"fiducial at board ({f[0]:.2f}, {f[1]:.2f}) mm not found: {why}; "
                "check that a board is under the camera and that recipe and calibration match it"
            )
    return _register_on_fits(record, fid, fits), fits


def detect_round_blobs(image: np.ndarray, *, radius_px: float, min_rel: float = PARAMS.registration.pin_vote_min_rel) -> np.ndarray:
    """Centres (N, 2) px (to about one vote pixel) of circles of `radius_px` in a whole image, strongest first.

    A vote along the gradient (`vision.subpixel.hough.circle_votes`, blind to which side is bright) on a
    copy reduced while the circle keeps >= 10 vote px of radius; peaks at least a radius apart and at least
    `min_rel` of the strongest.
    """
    g = luma(image)
    g = g.astype(np.float32)
    f = 1  # area-average first while the circle keeps >= 40 px (the vote then reduces up to 4 times more)
    while radius_px / (2 * f) >= 40 and min(g.shape) // (2 * f) >= 256:
        f *= 2
    if f > 1:
        g = cv2.resize(g, (g.shape[1] // f, g.shape[0] // f), interpolation=cv2.INTER_AREA)
    r = radius_px / f
    k = vote_scale(r, min_radius_px=20.0)  # a whole frame: coarser votes let one strong pin outshine the rest
    acc = circle_votes(g, g.shape, (r,), k=k)[0][0]
    pts, _ = local_peaks(acc, min_distance_px=r, rel_height=min_rel, k=k)
    return pts * f + (f - 1) / 2


def _rotation(angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _nearest_mm(points: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Distance (N,) from each of `points` (N, 2) to the nearest of `features` (M, 2)."""
    return np.hypot(*(points[:, None, :] - features[None]).transpose(2, 0, 1)).min(1)


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
    pad_radius_mm: float | None = None,
) -> Registration:
    """Coarse registration on a pattern of round features (pins): vote over rotations and matches.

    A row or grid with pins missing can match as well one pitch over (six of a 1 x 8 row's pins at places 2, 3,
    5-8 match places 1, 2, 4-7 as well); with `pad_radius_mm`, such a tie goes to the match that puts the most
    pins on pads, which are there whether the pin is or not (the pad of a missing pin is bare, and there is
    none beyond the row's end).

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
    tied: list[tuple[float, float, np.ndarray]] = []  # (cost, angle, t) of every match as good as the best's count
    for ang in np.arange(-max_rotation_deg, max_rotation_deg + 1e-9, 0.5):
        rp = pts @ _rotation(ang).T
        # anchor the hypotheses on the pins nearest the anchor (six: on a grid four can be equally near,
        # and some of them missing or hidden under solder)
        for i0 in np.argsort(np.hypot(*(pts - anchor_board_mm).T))[:6]:
            for bl in blobs:
                t = bl - rp[i0]
                if np.hypot(*(t - guess.translation_mm)) > max_shift_mm + 1.0:
                    continue
                dmin = _nearest_mm(rp + t, blobs)
                n_in = int((dmin < tol_mm).sum())
                cost = float(np.minimum(dmin, tol_mm).sum())
                if n_in > best[0]:
                    tied = []
                if n_in >= best[0]:
                    tied.append((cost, float(ang), t))
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
    if pad_radius_mm and best[0] < len(pts) and len(tied) > 1:
        pads = record.pixel_to_plane(detect_round_blobs(image, radius_px=pad_radius_mm / mpp))
        if len(pads):
            def on_pads(h) -> int:
                return int((_nearest_mm(pts @ _rotation(h[1]).T + h[2], pads) < tol_mm).sum())

            _, ang, t = max(tied, key=lambda h: (on_pads(h), -h[0]))
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
    pad_radius_mm: float | None = None,
) -> tuple[Registration, list[str]]:
    """Register the board in a top image: on its fiducials, else on its pin pattern.

    The board is expected with its pin centroid near the image centre, within `max_shift_mm`
    and `max_rotation_deg`. Fiducials the nominal pose puts wholly outside the field of view are not
    looked for; one cut by the image edge (or not found whole) is fitted on its visible arc
    (`fit_fiducial_arc`), and one of the wrong size or not round is left out;
    with fewer than two fiducials left, or fiducials whose layout disagrees with the recipe at the
    calibration's scale, the pin pattern registers the board (coarse: refine it with the pins'
    fitted centres, `robust_rigid_fit`, whose scale `check_pin_pattern_scale` holds to the
    calibration's; with `pad_radius_mm`, the pads settle a match that a pitch over fits as well) and a note
    says why. A board is never refused for its fiducials alone: only
    when the pin pattern cannot register it either (InputError naming both causes). Without
    fiducials in the recipe, fewer than three pins need `allow_pin_registration`.

    Returns
    -------
    registration : board -> plane; ``method`` is ``"fiducials"`` or ``"pins-coarse"``.
    notes : one-line remarks for the result document.
    """
    pins = np.asarray(pins_mm, float).reshape(-1, 2)
    anchor = pins.mean(0) if len(pins) else np.zeros(2)
    fid = np.asarray(fiducials_mm, float).reshape(-1, 2)
    notes: list[str] = []
    why_not_fiducials = ""
    if len(fid) and fiducial_diameter_mm:
        guess = nominal_pose(record, anchor)
        mpp = record.scale_mm_per_px()
        r_px = 0.5 * fiducial_diameter_mm / mpp
        size = (image.shape[1], image.shape[0])
        pred = record.plane_to_pixel(guess.board_to_plane(fid)).reshape(-1, 2)
        levers = np.hypot(*(fid - anchor).T)
        search_px = (max_shift_mm + levers * math.sin(math.radians(max_rotation_deg))) / mpp
        whole = fiducials_in_view(record, guess, fid, radius_mm=0.5 * fiducial_diameter_mm)
        # a dot whose centre may lie in the image can be fitted on its visible arc if it is cut
        near = ((pred[:, 0] >= -r_px) & (pred[:, 0] <= size[0] - 1 + r_px) & (pred[:, 1] >= -r_px)
                & (pred[:, 1] <= size[1] - 1 + r_px))
        fits: list = [None] * len(fid)
        whys = ["it lies outside the field of view"] * len(fid)
        iw = np.flatnonzero(whole)
        if len(iw):
            for i, f in zip(iw, find_fiducials(image, pred[iw], radius_px=r_px, search_px=search_px[iw])):
                fits[i], whys[i] = f, _check_fiducial(f, r_px, mpp, size)
        for i in np.flatnonzero(near):
            if whys[i]:  # not in view whole, or not found whole: the visible arc
                arc = fit_fiducial_arc(image, pred[i], radius_px=r_px, search_px=float(search_px[i]))
                why = _check_fiducial(arc, r_px, mpp, size, cut_ok=True)
                if not why:
                    fits[i], whys[i] = arc, ""
                    notes.append(f"fiducial at board ({fid[i][0]:.2f}, {fid[i][1]:.2f}) mm fitted on its visible arc "
                                 f"({arc.n_points} of 72 rays)")
                else:
                    whys[i] = f"{whys[i]}; on its visible arc: {why}"
        good = np.array([not w for w in whys])
        for i in np.flatnonzero(~good & (whole | near)):
            notes.append(f"fiducial at board ({fid[i][0]:.2f}, {fid[i][1]:.2f}) mm left out: {whys[i]}")
        if good.sum() >= 2:
            try:
                return _register_on_fits(record, fid[good], [fits[i] for i in np.flatnonzero(good)]), notes
            except InputError as exc:
                why_not_fiducials = str(exc)
        else:
            why_not_fiducials = f"only {int(good.sum())} of {len(fid)} fiducials found in the view"
        notes.append(f"{why_not_fiducials}; registered on the pin pattern")
    elif not allow_pin_registration and len(pins) < 3:
        raise InputError("the recipe gives no fiducials and fewer than three pins; add fiducials to the recipe")
    else:
        notes.append("the recipe gives no fiducials; registered on the pin pattern")
    if len(pins) < 3 and not (allow_pin_registration and len(pins) >= 2):
        raise InputError(f"cannot register on a pattern of {len(pins)} pin(s)"
                         + (f" and {why_not_fiducials}" if why_not_fiducials else "") + "; the fiducials must be in view")
    try:
        reg = register_on_pattern(image, record, pins, radius_mm=pin_radius_mm, anchor_board_mm=anchor,
                                  max_shift_mm=max_shift_mm, max_rotation_deg=max_rotation_deg, pad_radius_mm=pad_radius_mm)
    except InputError as exc:
        if why_not_fiducials:
            raise InputError(f"{why_not_fiducials}; and {str(exc).split('; check')[0]}") from None
        raise
    return reg, notes


def check_pin_pattern_scale(board_mm: np.ndarray, plane_mm: np.ndarray) -> float:
    """Scale of the similarity best taking the pins' nominal positions (N, 2) to their measured ones (plane mm);
    raises InputError when it disagrees with the calibration's (1.0) by more than `PARAMS.registration.pin_pattern_scale_tol`."""
    b = np.asarray(board_mm, float).reshape(-1, 2)
    p = np.asarray(plane_mm, float).reshape(-1, 2)
    if len(b) < 2:
        return 1.0
    db, dp = b - b.mean(0), p - p.mean(0)
    scale = float(np.sqrt((dp**2).sum() / max((db**2).sum(), 1e-12)))
    if abs(scale - 1.0) > PARAMS.registration.pin_pattern_scale_tol:
        raise InputError(
            f"the pin pattern measures {scale:.3f} times the recipe's at the calibration's scale (tolerance "
            f"{PARAMS.registration.pin_pattern_scale_tol:.0%}); the calibration is for another lens or magnification, or the recipe's "
            "pitch is wrong"
        )
    return scale
