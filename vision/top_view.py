"""Per-pin fits in a telecentric top image: subpixel edge-based circle fits of the flange,
the barrel top and the tip dome, on a small region around each pin.

Pixel convention: OpenCV (u, v) = (column, row), integers at pixel centres. Radii in px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from calibration.errors import InputError

__all__ = ["CircleFit", "fit_circle", "radial_edge_circle", "dome_centre", "PinTopFit", "fit_pin_top", "gray_roi",
           "TopPinGeometry", "PinTop", "measure_pin_top"]


@dataclass
class CircleFit:
    """A circle fitted to edge points; ``ok`` False says why in ``reason``."""

    center_px: np.ndarray = field(default_factory=lambda: np.full(2, np.nan))
    radius_px: float = float("nan")
    cov_px: np.ndarray = field(default_factory=lambda: np.full((2, 2), np.nan))  # covariance of the centre (px^2)
    rms_px: float = float("nan")
    n_points: int = 0
    contrast: float = 0.0  # median edge step along the rays (grey levels / px)
    ok: bool = False
    reason: str = ""

    @property
    def u_center_px(self) -> float:
        """Standard uncertainty of the centre (px), the larger principal axis."""
        return float(math.sqrt(max(np.linalg.eigvalsh(self.cov_px).max(), 0.0))) if self.ok else float("nan")


def fit_circle(points: np.ndarray, *, iterations: int = 3) -> CircleFit:
    """Geometric least-squares circle through `points` (N, 2) px, with outlier trimming.

    Starts from the algebraic (Kasa) fit, refines by Gauss-Newton and drops points beyond
    3.5 robust sigmas. The centre covariance comes from the residuals and the Jacobian.
    """
    p = np.asarray(points, float).reshape(-1, 2)
    if len(p) < 8:
        return CircleFit(n_points=len(p), reason=f"only {len(p)} edge points (need 8)")
    keep = np.ones(len(p), bool)
    c = r = None
    for _ in range(iterations):
        q = p[keep]
        A = np.column_stack([2 * q, np.ones(len(q))])
        b = (q**2).sum(1)
        sol, *_ = np.linalg.lstsq(A, b, rcond=None)
        c = sol[:2]
        r = math.sqrt(max(sol[2] + c @ c, 1e-12))
        for _ in range(5):  # Gauss-Newton on the geometric distance
            d = np.hypot(*(q - c).T)
            d = np.maximum(d, 1e-9)
            J = np.column_stack([-(q[:, 0] - c[0]) / d, -(q[:, 1] - c[1]) / d, -np.ones(len(q))])
            res = d - r
            step, *_ = np.linalg.lstsq(J, -res, rcond=None)
            c = c + step[:2]
            r = r + step[2]
            if np.abs(step).max() < 1e-6:
                break
        res_all = np.hypot(*(p - c).T) - r
        mad = 1.4826 * np.median(np.abs(res_all[keep] - np.median(res_all[keep])))
        new = np.abs(res_all) <= max(3.5 * mad, 0.05)
        if new.sum() < 8 or np.array_equal(new, keep):
            break
        keep = new
    q = p[keep]
    d = np.maximum(np.hypot(*(q - c).T), 1e-9)
    res = d - r
    J = np.column_stack([-(q[:, 0] - c[0]) / d, -(q[:, 1] - c[1]) / d, -np.ones(len(q))])
    dof = max(len(q) - 3, 1)
    s2 = float(res @ res) / dof
    try:
        cov = np.linalg.inv(J.T @ J) * s2
    except np.linalg.LinAlgError:
        return CircleFit(n_points=len(q), reason="edge points are degenerate (collinear)")
    return CircleFit(center_px=c, radius_px=float(r), cov_px=cov[:2, :2], rms_px=math.sqrt(s2), n_points=int(len(q)), ok=True)


def gray_roi(image: np.ndarray, center_px, half_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 luminance of a square ROI (2*half+1) around `center_px`, smoothed lightly, and its origin (u0, v0).

    Raises InputError when the ROI leaves the image.
    """
    h, w = image.shape[:2]
    u, v = int(round(center_px[0])), int(round(center_px[1]))
    if not (0 <= u < w and 0 <= v < h):
        raise InputError(
            f"a feature at pixel ({center_px[0]:.0f}, {center_px[1]:.0f}) lies outside the {w}x{h} image; "
            "check that the recipe and calibration match the board under the camera"
        )
    u0, v0, u1, v1 = u - half_px, v - half_px, u + half_px + 1, v + half_px + 1
    roi = image[max(v0, 0):min(v1, h), max(u0, 0):min(u1, w)]
    if (u0, v0, u1, v1) != (max(u0, 0), max(v0, 0), min(u1, w), min(v1, h)):  # near the border: replicate
        roi = cv2.copyMakeBorder(roi, max(-v0, 0), max(v1 - h, 0), max(-u0, 0), max(u1 - w, 0), cv2.BORDER_REPLICATE)
    if roi.ndim == 3:
        roi = cv2.cvtColor(roi, cv2.COLOR_RGB2GRAY)
    g = roi.astype(np.float32)
    if image.dtype == np.uint16:
        g /= 257.0
    g = cv2.GaussianBlur(g, (0, 0), 0.8)  # tame sensor noise before differentiating
    return g, np.array([u0, v0], float)


def radial_edge_circle(
    gray: np.ndarray,
    center_px,
    radius_px: float,
    *,
    polarity: str = "falling",
    band_px: float = 6.0,
    n_rays: int = 96,
    step_px: float = 0.25,
    refine: int = 1,
) -> CircleFit:
    """Fit a circle to the strongest edge of the given polarity near `radius_px` around `center_px`.

    Parameters
    ----------
    gray : (H, W) float array
        Luminance (a ROI is fine; coordinates are those of this array).
    center_px : (2,) array
        Initial centre guess (u, v).
    radius_px : float
        Expected edge radius.
    polarity : {'falling', 'rising'}
        'falling': bright inside, dark outside (intensity drops outwards).
    band_px : float
        Half-width of the radial search band.
    """
    if polarity not in ("falling", "rising"):
        raise ValueError("polarity must be 'falling' or 'rising'")
    c = np.asarray(center_px, float)
    fit = CircleFit(reason="not fitted")
    theta = np.linspace(0, 2 * np.pi, n_rays, endpoint=False)
    rs = np.arange(max(radius_px - band_px, 1.0), radius_px + band_px + 1e-9, step_px)
    sign = -1.0 if polarity == "falling" else 1.0
    for _ in range(1 + refine):
        cu, sv = np.cos(theta)[:, None], np.sin(theta)[:, None]
        mx = (c[0] + rs[None, :] * cu).astype(np.float32)
        my = (c[1] + rs[None, :] * sv).astype(np.float32)
        prof = cv2.remap(gray, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        d = sign * np.gradient(prof, step_px, axis=1)
        k = np.argmax(d[:, 1:-1], axis=1) + 1
        rows = np.arange(n_rays)
        y0, y1, y2 = d[rows, k - 1], d[rows, k], d[rows, k + 1]
        den = y0 - 2 * y1 + y2
        safe = np.where(np.abs(den) > 1e-12, den, 1.0)
        off = np.where(np.abs(den) > 1e-12, 0.5 * (y0 - y2) / safe, 0.0).clip(-0.5, 0.5)
        r_e = rs[k] + off * step_px
        strength = y1
        good = strength > max(0.35 * np.median(strength), 1e-6)
        pts = np.column_stack([c[0] + r_e * np.cos(theta), c[1] + r_e * np.sin(theta)])[good]
        fit = fit_circle(pts)
        fit.contrast = float(np.median(strength))
        if not fit.ok:
            return fit
        if abs(fit.radius_px - radius_px) > band_px:
            fit.ok, fit.reason = False, f"edge radius {fit.radius_px:.1f} px is far from the expected {radius_px:.1f} px"
            return fit
        c = fit.center_px
    return fit


def dome_centre(gray: np.ndarray, center_px, radius_px: float) -> CircleFit:
    """Centre of the tip dome's specular highlight (the point whose normal faces the camera).

    Intensity-weighted centroid of the brightest blob within `radius_px` of `center_px`,
    above the local background; its uncertainty from the blob's spread and noise.
    """
    c = np.asarray(center_px, float)
    h, w = gray.shape
    vv, uu = np.mgrid[0:h, 0:w]
    rr = np.hypot(uu - c[0], vv - c[1])
    inside = rr <= radius_px
    if inside.sum() < 9:
        return CircleFit(reason="dome search region is empty")
    vals = gray[inside]
    lo, hi = np.percentile(vals, 50), vals.max()
    if hi - lo < 20:
        return CircleFit(reason="no specular highlight on the tip dome")
    # centroid of the peak region: pixels above the half-height between background and peak
    thr = lo + 0.5 * (hi - lo)
    peak = np.unravel_index(np.argmax(np.where(inside, gray, -1)), gray.shape)
    mask = (np.where(inside, gray, 0) > thr).astype(np.uint8)
    n, lab = cv2.connectedComponents(mask)
    blob = lab == lab[peak]
    wts = (gray - thr) * blob
    s = wts.sum()
    if s <= 0 or blob.sum() < 2:
        return CircleFit(reason="tip highlight too small")
    cu, cv_ = (wts * uu).sum() / s, (wts * vv).sum() / s
    var_u = (wts * (uu - cu) ** 2).sum() / s
    var_v = (wts * (vv - cv_) ** 2).sum() / s
    n_eff = s**2 / (wts**2).sum()
    cov = np.diag([var_u, var_v]) / max(n_eff, 1.0) + np.eye(2) * 0.02**2
    r_eq = math.sqrt(blob.sum() / math.pi)
    return CircleFit(center_px=np.array([cu, cv_]), radius_px=r_eq, cov_px=cov, rms_px=0.0, n_points=int(blob.sum()), contrast=float(hi - lo), ok=True)


@dataclass
class PinTopFit:
    """Fits of one pin seen from the top; pixel coordinates of the whole image."""

    flange: CircleFit
    barrel: CircleFit
    dome: CircleFit
    roi_origin: np.ndarray
    gray: np.ndarray  # the ROI luminance used (for cues)


def fit_pin_top(
    image: np.ndarray,
    guess_px,
    *,
    flange_r_px: float,
    barrel_r_px: float,
    plunger_r_px: float,
    search_px: float,
) -> PinTopFit:
    """Fit the barrel-top rim, the flange rim and the dome highlight of one pin.

    Parameters
    ----------
    image : (H, W[, 3]) array
    guess_px : (2,) nominal pad centre (u, v) in the image.
    flange_r_px, barrel_r_px, plunger_r_px : expected radii (px).
    search_px : how far the pin may lie from `guess_px` (position error + tilt lean), px.
    """
    half = int(math.ceil(flange_r_px + search_px + 8))
    g, o = gray_roi(image, guess_px, half)
    c0 = np.asarray(guess_px, float) - o
    # coarse centre: the barrel top is the bright disk enclosed by a dark rim; locate it by
    # matching a ring template so a pin displaced from its pad is still found
    c1 = _coarse_centre(g, c0, barrel_r_px, search_px)
    barrel = radial_edge_circle(g, c1, barrel_r_px - 1.5, polarity="falling", band_px=max(4.0, 0.18 * barrel_r_px))
    cb = barrel.center_px if barrel.ok else c1
    # the flange centre may lie a lean (barrel length x sin tilt) away from the barrel top: a wide
    # first pass, then a narrow one from its centre
    wide = radial_edge_circle(g, cb, flange_r_px - 1.0, polarity="falling", band_px=0.3 * flange_r_px, refine=0)
    cf = wide.center_px if wide.ok else cb
    flange = radial_edge_circle(g, cf, flange_r_px - 1.0, polarity="falling", band_px=max(4.0, 0.12 * flange_r_px))
    # the dome lies inside the plunger, a little further along the lean than the barrel top
    lean = (cb - flange.center_px) if (barrel.ok and flange.ok) else np.zeros(2)
    dome = dome_centre(g, cb + 0.4 * lean, 0.8 * plunger_r_px)
    for f in (barrel, flange, dome):
        if f.ok:
            f.center_px = f.center_px + o
    return PinTopFit(flange=flange, barrel=barrel, dome=dome, roi_origin=o, gray=g)


def _coarse_centre(g: np.ndarray, c0: np.ndarray, r_px: float, search_px: float) -> np.ndarray:
    r = int(round(r_px))
    size = 2 * r + 7
    tpl = np.zeros((size, size), np.float32)
    cv2.circle(tpl, (size // 2, size // 2), max(r - 2, 1), 1.0, -1)
    cv2.circle(tpl, (size // 2, size // 2), max(int(0.45 * r), 1), 0.0, -1)  # dark bore + plunger
    tpl -= tpl.mean()
    res = cv2.matchTemplate(g, tpl, cv2.TM_CCOEFF)
    # only accept centres within the search radius of the guess
    hh, ww = res.shape
    vv, uu = np.mgrid[0:hh, 0:ww]
    ok = np.hypot(uu + size // 2 - c0[0], vv + size // 2 - c0[1]) <= search_px
    res = np.where(ok, res, -np.inf)
    v, u = np.unravel_index(np.argmax(res), res.shape)
    return np.array([u + size // 2, v + size // 2], float)


# -- one pin, pixels to board-frame numbers ----------------------------------------------------------------
@dataclass(frozen=True)
class TopPinGeometry:
    """Nominal pin geometry (mm) the top view needs; heights are axial, above the flange bottom."""

    flange_radius_mm: float
    flange_thickness_mm: float
    barrel_radius_mm: float
    barrel_length_mm: float
    plunger_radius_mm: float
    dome_radius_mm: float
    axial_length_mm: float  # flange bottom -> tip apex (nominal: plunger not depressed)
    bore_clearance_mm: float = 0.05

    @property
    def h_flange_top_mm(self) -> float:
        return self.flange_thickness_mm

    @property
    def h_barrel_top_mm(self) -> float:
        return self.flange_thickness_mm + self.barrel_length_mm

    @property
    def h_dome_centre_mm(self) -> float:
        return self.axial_length_mm - self.dome_radius_mm


#: floors on the centre uncertainty (px, per axis) of each feature: the fit's own covariance only
#: sees noise, not the bias of shading and blur (measured on rendered-dev: ~0.1 px rims, ~0.5 px dome)
U_FLOOR_RIM_PX = 0.08
U_FLOOR_DOME_PX = 0.45


@dataclass
class PinTop:
    """One pin measured in the top view. Board-frame mm; covariances mm^2; pixels (u, v)."""

    present: bool
    presence_score: float
    presence_confidence: float
    detail: str
    fits: PinTopFit | None = None
    axis: object | None = None  # vision.tilt.AxisFit
    base_mm: np.ndarray | None = None  # flange-bottom centre (axis at h = 0)
    base_cov_mm2: np.ndarray | None = None
    tip_mm: np.ndarray | None = None  # axis at h = axial_length (nominal)
    tip_cov_mm2: np.ndarray | None = None
    base_px: np.ndarray | None = None
    tip_px: np.ndarray | None = None
    grey_flange: object | None = None  # vision.solder_cues.GreyRing on the flange top
    grey_barrel_ring: object | None = None  # on the barrel-top ring
    grey_fillet: object | None = None  # just outside the flange (fillet or bare pad)
    reason: str = ""

    def transformed(self, R: np.ndarray, t: np.ndarray, *, axial_length_mm: float) -> "PinTop":
        """A copy in another frame ``x' = R x + t`` (e.g. plane -> board); pixels and cues unchanged."""
        import copy

        out = copy.copy(self)
        if self.axis is None or not self.axis.ok:
            return out
        out.axis = self.axis.transformed(R, t)
        out.base_mm, out.base_cov_mm2 = out.axis.point_at(0.0)
        out.tip_mm, out.tip_cov_mm2 = out.axis.point_at(axial_length_mm)
        return out


def _jacobian(to_board, uv: np.ndarray) -> np.ndarray:
    """d(board mm)/d(pixel) at `uv` (2, 2) by central differences (exact for affine maps)."""
    pts = np.array([uv + (1, 0), uv - (1, 0), uv + (0, 1), uv - (0, 1)], float)
    b = np.asarray(to_board(pts), float).reshape(4, 2)
    return np.column_stack([(b[0] - b[1]) / 2, (b[2] - b[3]) / 2])


def measure_pin_top(
    image: np.ndarray,
    guess_px,
    *,
    to_board,
    to_pixel,
    geometry: TopPinGeometry,
    mm_per_px: float,
    search_mm: float = 0.5,
) -> PinTop:
    """Fit one pin near `guess_px` and express it in the board frame.

    Parameters
    ----------
    image : (H, W[, 3]) array, RGB or mono.
    guess_px : (2,) where the pin should be (u, v), e.g. the registered nominal pad centre.
    to_board : callable, pixels (N, 2) -> board mm (N, 2) (calibration then registration).
    to_pixel : callable, board mm (N, 2) -> pixels (N, 2).
    geometry : nominal pin geometry; its axial heights are assumed (tilt needs them).
    mm_per_px : scale on the board plane.
    search_mm : how far from `guess_px` the pin may lie (position error + lean).

    Returns
    -------
    PinTop; ``present`` False for an empty pad, ``reason`` set when a pin is there but a fit failed.
    """
    from vision.presence import pin_presence
    from vision.solder_cues import ring_grey_fraction
    from vision.tilt import fit_axis

    g = geometry
    s = mm_per_px
    fits = fit_pin_top(image, guess_px, flange_r_px=g.flange_radius_mm / s, barrel_r_px=g.barrel_radius_mm / s,
                       plunger_r_px=g.plunger_radius_mm / s, search_px=search_mm / s)
    pres = pin_presence(fits)
    out = PinTop(present=pres.present, presence_score=pres.score, presence_confidence=pres.confidence,
                 detail=pres.detail, fits=fits)
    if not pres.present:
        return out
    hs, cs, covs = [], [], []
    for fit, h, floor in ((fits.flange, g.h_flange_top_mm, U_FLOOR_RIM_PX), (fits.barrel, g.h_barrel_top_mm, U_FLOOR_RIM_PX),
                          (fits.dome, g.h_dome_centre_mm, U_FLOOR_DOME_PX)):
        if not fit.ok:
            continue
        J = _jacobian(to_board, fit.center_px)
        cov_px = fit.cov_px + np.eye(2) * floor**2
        hs.append(h)
        cs.append(np.asarray(to_board(fit.center_px[None]), float).reshape(2))
        covs.append(J @ cov_px @ J.T)
    axis = fit_axis(hs, cs, covs)
    out.axis = axis
    if not axis.ok:
        out.reason = axis.reason
        return out
    out.base_mm, out.base_cov_mm2 = axis.point_at(0.0)
    out.tip_mm, out.tip_cov_mm2 = axis.point_at(g.axial_length_mm)
    out.base_px = np.asarray(to_pixel(out.base_mm[None]), float).reshape(2)
    out.tip_px = np.asarray(to_pixel(out.tip_mm[None]), float).reshape(2)
    # solder cues: colour of the flange top, the barrel-top ring and the fillet zone
    if image.ndim == 3 and fits.flange.ok and fits.barrel.ok:
        fc, bc = fits.flange.center_px, fits.barrel.center_px
        out.grey_flange = ring_grey_fraction(image, fc, (g.barrel_radius_mm + 0.08) / s, (g.flange_radius_mm - 0.05) / s,
                                             exclude=(bc, (g.barrel_radius_mm + 0.08) / s))
        r_bore = g.plunger_radius_mm + g.bore_clearance_mm
        out.grey_barrel_ring = ring_grey_fraction(image, bc, (r_bore + 0.04) / s, (g.barrel_radius_mm - 0.05) / s)
        out.grey_fillet = ring_grey_fraction(image, out.base_px, (g.flange_radius_mm + 0.04) / s,
                                             (g.flange_radius_mm + 0.15) / s)
    return out
