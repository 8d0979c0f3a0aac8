"""Per-pin fits in a telecentric top image: subpixel edge-based circle fits of the flange,
the barrel top and the tip dome, on a small region around each pin.

Pixel convention: OpenCV (u, v) = (column, row), integers at pixel centres. Radii in px.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from calibration.errors import InputError
from vision.presence import pin_presence
from vision.solder_cues import grey_rings
from vision.tilt import fit_axis

__all__ = ["CircleFit", "fit_circle", "radial_edge_circle", "dome_centre", "PinTopFit", "fit_pin_top", "gray_roi",
           "TopPinGeometry", "PinTop", "measure_pin_top", "CoaxialLight", "highlight_to_sphere_centre",
           "fit_pins_top", "measure_pins_top", "radial_edge_circles", "dome_centres"]


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
    """Least-squares circle through `points` (N, 2) px, with outlier trimming (see `_fit_circles`)."""
    p = np.asarray(points, float).reshape(-1, 2)
    if len(p) < 8:
        return CircleFit(n_points=len(p), reason=f"only {len(p)} edge points (need 8)")
    c, r, cov, rms, n, ok = _fit_circles(p[None], np.ones((1, len(p)), bool), iterations=iterations)
    if not ok[0]:
        return CircleFit(n_points=int(n[0]), reason="edge points are degenerate or too few after trimming")
    return CircleFit(center_px=c[0], radius_px=float(r[0]), cov_px=cov[0], rms_px=float(rms[0]), n_points=int(n[0]), ok=True)


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


def _gray_rois(image: np.ndarray, centers_px: np.ndarray, half_px: int) -> tuple[np.ndarray, np.ndarray]:
    """`gray_roi` around each of N centres, stacked vertically: (N * S, S) float32 with S = 2*half+1, origins (N, 2).

    ROIs wholly inside the image share one colour conversion; each is smoothed on its own (as `gray_roi` does).
    """
    S = 2 * half_px + 1
    h, w = image.shape[:2]
    out = np.empty((len(centers_px) * S, S), np.float32)
    origins = np.zeros((len(centers_px), 2))
    inside, raw = [], []
    for i, c in enumerate(centers_px):
        u, v = int(round(c[0])), int(round(c[1]))
        if half_px <= u < w - half_px and half_px <= v < h - half_px:
            inside.append(i)
            raw.append(image[v - half_px:v + half_px + 1, u - half_px:u + half_px + 1])
            origins[i] = u - half_px, v - half_px
        else:  # at the border: replicated by gray_roi (which also raises for a centre off the image)
            out[i * S:(i + 1) * S], origins[i] = gray_roi(image, c, half_px)
    if raw:
        g = np.concatenate(raw, axis=0)
        if g.ndim == 3:
            g = cv2.cvtColor(g, cv2.COLOR_RGB2GRAY)
        g = g.astype(np.float32)
        if image.dtype == np.uint16:
            g /= 257.0
        for j, i in enumerate(inside):
            out[i * S:(i + 1) * S] = cv2.GaussianBlur(g[j * S:(j + 1) * S], (0, 0), 0.8)  # ROI by ROI: no bleeding
    return out, origins


def radial_edge_circle(gray: np.ndarray, center_px, radius_px: float, **kw) -> CircleFit:
    """Fit a circle to the strongest edge (or dark line) near `radius_px` around `center_px` of `gray` (H, W).

    `radial_edge_circles` for one image; the same keyword options.
    """
    g = np.ascontiguousarray(gray, dtype=np.float32)
    return radial_edge_circles(g, g.shape, np.asarray(center_px, float).reshape(1, 2), radius_px, **kw)[0]


def dome_centre(gray: np.ndarray, center_px, radius_px: float, *, window_px: int = 3) -> CircleFit:
    """Centre of the tip dome's specular highlight in `gray` (H, W): `dome_centres` for one image."""
    g = np.ascontiguousarray(gray, dtype=np.float32)
    return dome_centres(g, g.shape, np.asarray(center_px, float).reshape(1, 2), radius_px, window_px=window_px)[0]


def _row_medians(x: np.ndarray) -> np.ndarray:
    """Median of each row of (N, R) ignoring NaN (NaN where a row has none); faster than np.nanmedian."""
    s = np.sort(x, axis=1)  # NaN sort last
    n = np.isfinite(x).sum(1)
    i = np.arange(len(x))
    lo, hi = np.maximum((n - 1) // 2, 0), np.maximum(n // 2, 0)
    med = 0.5 * (s[i, lo] + s[i, np.minimum(hi, x.shape[1] - 1)])
    return np.where(n > 0, med, np.nan)


def _fit_circles(P: np.ndarray, keep: np.ndarray, *, iterations: int = 3):
    """`fit_circle` for N point sets at once: P (N, R, 2) px, keep (N, R) bool (usable points).

    Returns centres (N, 2), radii (N,), centre covariances (N, 2, 2), RMS (N,), point counts (N,)
    and ok (N,) (at least 8 points and a finite fit).
    """
    x, y = np.ascontiguousarray(P[..., 0]), np.ascontiguousarray(P[..., 1])  # unit-stride: faster ufuncs

    def kasa(w):
        # algebraic fit 2 a.d + c = |d|^2 on points d centred at their weighted mean: the normal
        # equations split into a 2x2 system for a and c = mean |d|^2, solved in closed form
        wsum = np.maximum(w.sum(1), 1)
        mx, my = (w * x).sum(1) / wsum, (w * y).sum(1) / wsum
        dx, dy = x - mx[:, None], y - my[:, None]
        z = dx * dx + dy * dy
        wdx, wdy = w * dx, w * dy
        sxx, sxy, syy = (wdx * dx).sum(1), (wdx * dy).sum(1), (wdy * dy).sum(1)
        sxz, syz = (wdx * z).sum(1), (wdy * z).sum(1)
        det = sxx * syy - sxy * sxy
        a = 0.5 * (syy * sxz - sxy * syz) / det
        b = 0.5 * (sxx * syz - sxy * sxz) / det
        c = np.column_stack([a + mx, b + my])
        r = np.sqrt(np.maximum((w * z).sum(1) / wsum + a * a + b * b, 1e-12))
        return c, r

    def normal_matrix(w):
        # J^T W J of the geometric residual |p - c| - r (rows -u_x, -u_y, -1), and the unit vectors
        dx, dy = x - c[:, None, 0], y - c[:, None, 1]
        d = np.maximum(np.hypot(dx, dy), 1e-9)
        ux, uy = dx / d, dy / d
        wux, wuy = w * ux, w * uy
        JTJ = np.empty((len(w), 3, 3))
        JTJ[:, 0, 0], JTJ[:, 1, 1], JTJ[:, 2, 2] = (wux * ux).sum(1), (wuy * uy).sum(1), w.sum(1)
        JTJ[:, 0, 1] = JTJ[:, 1, 0] = (wux * uy).sum(1)
        JTJ[:, 0, 2] = JTJ[:, 2, 0] = wux.sum(1)
        JTJ[:, 1, 2] = JTJ[:, 2, 1] = wuy.sum(1)
        JTJ += eye3
        return JTJ, d - r[:, None], wux, wuy

    eye3 = np.eye(3) * 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):  # degenerate sets come out non-finite: ok False
        w = keep.astype(float)
        c, r = kasa(w)
        for _ in range(iterations):
            res = np.hypot(x - c[:, None, 0], y - c[:, None, 1]) - r[:, None]
            rk = np.where(w > 0, res, np.nan)
            med = _row_medians(rk)
            mad = 1.4826 * _row_medians(np.abs(rk - med[:, None]))
            new = keep & (np.abs(res) <= np.fmax(3.5 * mad, 0.05)[:, None])  # fmax: a NaN MAD (no points) -> 0.05
            if np.array_equal(new, w > 0):
                break
            w = new.astype(float)
            c, r = kasa(w)
        # one Gauss-Newton step on the geometric distance, then its covariance at the result
        JTJ, res, wux, wuy = normal_matrix(w)
        g = np.stack([(wux * res).sum(1), (wuy * res).sum(1), (w * res).sum(1)], 1)
        delta = np.linalg.solve(JTJ, g[..., None])[..., 0]
        c = c + delta[:, :2]
        r = r + delta[:, 2]
        JTJ, res, _, _ = normal_matrix(w)
        n = w.sum(1)
        s2 = (w * res**2).sum(1) / np.maximum(n - 3, 1)
        cov = np.linalg.inv(JTJ)[:, :2, :2] * s2[:, None, None]
    ok = (n >= 8) & np.all(np.isfinite(c), axis=1) & np.isfinite(r) & (r > 0)
    return c, r, cov, np.sqrt(s2), n.astype(int), ok


def dome_centres(stack: np.ndarray, roi_px, centers_px: np.ndarray, radius_px: float, *,
                 window_px: int = 3) -> list[CircleFit]:
    """Centres of the tip domes' specular highlights (the points whose normal faces the camera).

    Under coaxial light a telecentric camera sees the highlight where the sphere's normal is
    vertical: straight above the sphere centre, whatever the tilt. The highlight is small (the
    light's cone over the dome radius, then blur), and a ring light adds a ring of weaker glints
    around it, so the centre is the background-subtracted centroid in a (2*window+1)^2 window
    around the brightest point within `radius_px` of the given centre (window re-centred twice).
    Its uncertainty comes from the noise of the window (the caller adds a floor for shading bias).

    Parameters
    ----------
    stack : (N * h, w) float32, N ROIs of shape ``roi_px`` = (h, w) (or an int for square ROIs) stacked vertically.
    centers_px : (N, 2) where to search, in each ROI's own coordinates (as are the results).
    """
    c = np.asarray(centers_px, float).reshape(-1, 2)
    N = len(c)
    roi_h, roi_w = (roi_px, roi_px) if isinstance(roi_px, (int, np.integer)) else (int(roi_px[0]), int(roi_px[1]))
    r = int(math.ceil(radius_px))
    k = window_px
    off = np.arange(-r, r + 1)
    iu = np.clip(np.round(c[:, 0]).astype(int)[:, None] + off[None, :], 0, roi_w - 1)  # (N, w)
    iv = np.clip(np.round(c[:, 1]).astype(int)[:, None] + off[None, :], 0, roi_h - 1)
    rows = iv + (np.arange(N) * roi_h)[:, None]
    sub = stack[rows[:, :, None], iu[:, None, :]]  # (N, w, w)
    inside = ((iu[:, None, :] - c[:, 0, None, None]) ** 2 + (iv[:, :, None] - c[:, 1, None, None]) ** 2) <= radius_px**2
    masked = np.where(inside, sub, -np.inf).reshape(N, -1)
    flat = masked.argmax(1)
    w = 2 * r + 1
    peak = masked[np.arange(N), flat]
    lo = _row_medians(np.where(inside, sub, np.nan).reshape(N, -1))
    cu = iu[np.arange(N), flat % w].astype(float)
    cv_ = iv[np.arange(N), flat // w].astype(float)
    offs = np.arange(-k, k + 1, dtype=float)
    # re-centre the window twice on every pin at once; a pin whose window leaves the ROI or holds
    # nothing above its border's median drops out (`alive`)
    with np.errstate(invalid="ignore"):  # no pixel inside: peak -inf, lo NaN
        has_peak = np.isfinite(peak) & (peak - lo >= 20)
    alive = has_peak.copy()
    u, v = cu.copy(), cv_.copy()
    span = np.arange(2 * k + 1)
    for _ in range(3):
        ju, jv = np.round(u).astype(int), np.round(v).astype(int)
        alive &= (k <= ju) & (ju < roi_w - k) & (k <= jv) & (jv < roi_h - k)
        ju, jv = np.where(alive, ju, k), np.where(alive, jv, k)
        win = stack[(np.arange(N) * roi_h + jv - k)[:, None, None] + span[None, :, None], (ju - k)[:, None, None] + span]
        ring = np.concatenate([win[:, 0], win[:, -1], win[:, 1:-1, 0], win[:, 1:-1, -1]], axis=1)
        rs = np.sort(ring, axis=1)
        m = ring.shape[1]
        med = rs[:, m // 2] if m % 2 else 0.5 * (rs[:, m // 2 - 1].astype(float) + rs[:, m // 2])
        wts = np.clip(win - med.astype(np.float32)[:, None, None], 0, None)
        s = wts.reshape(N, -1).sum(1).astype(float)
        alive &= s > 0
        s = np.where(alive, s, 1.0)
        u = np.where(alive, ju + (wts.sum(1) @ offs) / s, u)
        v = np.where(alive, jv + (wts.sum(2) @ offs) / s, v)
    noise = np.std(ring, axis=1).astype(float) + 1e-3
    var = (2 * k + 1) * ((offs[None] - (u - ju)[:, None]) ** 2).sum(1) * noise**2 / s**2
    out: list[CircleFit] = []
    for i in range(N):
        if not has_peak[i]:
            out.append(CircleFit(reason="no specular highlight on the tip dome"))
        elif not alive[i]:
            out.append(CircleFit(reason="tip highlight too weak or at the edge of the search region"))
        else:
            out.append(CircleFit(center_px=np.array([u[i], v[i]]), radius_px=float(k), cov_px=np.eye(2) * var[i],
                                 rms_px=float(noise[i]), n_points=int(win[i].size), contrast=float(peak[i] - lo[i]), ok=True))
    return out


@functools.lru_cache(maxsize=8)
def _ray_directions(n_rays: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of `n_rays` equally spaced ray angles (read-only, shared between calls)."""
    theta = np.linspace(0, 2 * np.pi, n_rays, endpoint=False)
    ct, st = np.cos(theta), np.sin(theta)
    ct.flags.writeable = st.flags.writeable = False
    return ct, st


def radial_edge_circles(
    stack: np.ndarray,
    roi_px,
    centers_px: np.ndarray,
    radius_px: float,
    *,
    polarity: str = "falling",
    band_px: float = 6.0,
    n_rays: int = 72,
    step_px: float = 0.5,
    refine: int = 1,
    first: bool = False,
) -> list[CircleFit]:
    """Fit a circle to the strongest edge (or dark line) near `radius_px` in each of N ROIs at once.

    Along `n_rays` rays from the centre, each ray gives one subpixel edge point (parabola through
    the extremum of the radial derivative, or of the intensity for 'valley'); the points of each
    ROI are fitted by `_fit_circles`, and the fit is re-centred `refine` times.

    Parameters
    ----------
    stack : (N * h, w) float32
        Luminance of N ROIs of shape ``roi_px`` = (h, w) (an int for square ones) stacked vertically
        (ROI i is rows ``i*h .. (i+1)*h - 1``); samples never cross into a neighbouring ROI.
    centers_px : (N, 2) initial centres (u, v) in each ROI's own coordinates (as are the results).
    radius_px : expected edge radius.
    polarity : {'falling', 'rising', 'valley'}
        'falling': bright inside, dark outside; 'rising': the reverse; 'valley': a thin dark line
        (a rim seen edge-on), located at its intensity minimum.
    band_px : half-width of the radial search band.
    n_rays, step_px : angular and radial sampling.
    refine : number of re-centred passes after the first.
    first : take, on each ray, the innermost edge at least half as strong as the ray's strongest
        (a rim with another edge just outside it, e.g. the barrel top of a leaning pin over its flange).
    """
    if polarity not in ("falling", "rising", "valley"):
        raise ValueError("polarity must be 'falling', 'rising' or 'valley'")
    roi_h, roi_w = (roi_px, roi_px) if isinstance(roi_px, (int, np.integer)) else (int(roi_px[0]), int(roi_px[1]))
    c = np.asarray(centers_px, float).reshape(-1, 2).copy()
    N = len(c)
    ct, st = _ray_directions(n_rays)
    rs = np.arange(max(radius_px - band_px, 1.0), radius_px + band_px + 1e-9, step_px)
    du, dv = rs[None, :] * ct[:, None], rs[None, :] * st[:, None]  # (rays, r) offsets from the centre
    rows = np.arange(N * n_rays)
    vshift = (np.arange(N) * roi_h)[:, None, None]
    # the last pass's fit of each ROI; a ROI whose fit fails stops being re-centred
    fc, fr, fcov, frms = np.full((N, 2), np.nan), np.full(N, np.nan), np.full((N, 2, 2), np.nan), np.full(N, np.nan)
    fn, fmed, status = np.zeros(N, int), np.zeros(N), np.zeros(N, int)  # status 0 ok, 1 too few points, 2 radius off
    active = np.ones(N, bool)
    for _ in range(1 + refine):
        # sample positions (N, rays, r), kept inside each ROI; clipped in place (np.clip is slow at this size)
        U, V = c[:, 0, None, None] + du, c[:, 1, None, None] + dv
        np.minimum(np.maximum(U, 0, out=U), roi_w - 1, out=U)
        np.minimum(np.maximum(V, 0, out=V), roi_h - 1, out=V)
        V += vshift
        prof = cv2.remap(stack, U.reshape(N * n_rays, -1).astype(np.float32), V.reshape(N * n_rays, -1).astype(np.float32),
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if polarity == "valley":
            d = -prof  # the intensity minimum; its depth against the band's ends is the strength
            k = np.argmax(d[:, 1:-1], axis=1) + 1
            strength = 0.5 * (prof[:, 0] + prof[:, -1]) - prof[rows, k]
        else:
            d = np.empty_like(prof)  # central differences; the end columns are never picked
            d[:, 1:-1] = (prof[:, 2:] - prof[:, :-2]) * (0.5 / step_px)
            d[:, 0] = d[:, 1]
            d[:, -1] = d[:, -2]
            if polarity == "falling":
                d = -d
            k = np.argmax(d[:, 1:-1], axis=1) + 1
            if first:
                inner = d[:, 1:-1]
                peak = (inner >= d[:, :-2]) & (inner >= d[:, 2:]) & (inner >= 0.5 * d[rows, k][:, None])
                k = np.argmax(peak, axis=1) + 1  # first True along the ray
            strength = d[rows, k]
        y0, y1, y2 = d[rows, k - 1], d[rows, k], d[rows, k + 1]
        den = y0 - 2 * y1 + y2
        safe = np.where(np.abs(den) > 1e-12, den, 1.0)
        off = np.where(np.abs(den) > 1e-12, 0.5 * (y0 - y2) / safe, 0.0).clip(-0.5, 0.5)
        r_e = (rs[k] + off * step_px).reshape(N, n_rays)
        strength = strength.reshape(N, n_rays)
        med = _row_medians(strength)
        good = strength > np.maximum(0.35 * med, 1e-6)[:, None]
        P = np.stack([c[:, 0, None] + r_e * ct[None], c[:, 1, None] + r_e * st[None]], axis=2)
        cc, rr, cov, rms, npts, ok = _fit_circles(P, good)
        fn[active], fmed[active], fr[active] = npts[active], med[active], rr[active]
        status[active & ~ok] = 1
        status[active & ok & (np.abs(rr - radius_px) > band_px)] = 2
        fit = active & (status == 0)
        fc[fit], fcov[fit], frms[fit] = cc[fit], cov[fit], rms[fit]
        c[fit] = cc[fit]
        active = fit
        if not active.any():
            break
    out = []
    for i in range(N):
        if status[i] == 1:
            out.append(CircleFit(n_points=int(fn[i]), contrast=float(fmed[i]), reason=f"only {fn[i]} edge points (need 8)"))
        elif status[i] == 2:
            out.append(CircleFit(n_points=int(fn[i]), contrast=float(fmed[i]),
                                 reason=f"edge radius {fr[i]:.1f} px is far from the expected {radius_px:.1f} px"))
        else:
            out.append(CircleFit(center_px=fc[i].copy(), radius_px=float(fr[i]), cov_px=fcov[i].copy(), rms_px=float(frms[i]),
                                 n_points=int(fn[i]), contrast=float(fmed[i]), ok=True))
    return out


@dataclass
class PinTopFit:
    """Fits of one pin seen from the top; pixel coordinates of the whole image."""

    flange: CircleFit
    barrel: CircleFit
    dome: CircleFit
    roi_origin: np.ndarray
    gray: np.ndarray  # the ROI luminance used (for cues)
    coarse_px: np.ndarray | None = None  # where the pin pattern matched best
    match_score: float = 0.0  # contrast of that match: bright barrel-top ring minus dark bore (grey levels)


def fit_pins_top(
    image: np.ndarray,
    guesses_px: np.ndarray,
    *,
    flange_r_px: float,
    barrel_r_px: float,
    plunger_r_px: float,
    search_px: float,
    barrel_length_px: float | None = None,
    dome_above_barrel_px: float | None = None,
    bore_clearance_px: float = 3.0,
) -> list[PinTopFit]:
    """Fit the barrel-top rim, the flange-top rim and the dome highlight of every pin of a board.

    Parameters
    ----------
    image : (H, W[, 3]) array
    guesses_px : (N, 2) nominal pad centres (u, v) in the image.
    flange_r_px, barrel_r_px, plunger_r_px : expected radii (px).
    search_px : how far a pin may lie from its guess (position error + tilt lean), px.
    barrel_length_px : flange top -> barrel top, axial (px); with `dome_above_barrel_px` (barrel top ->
        dome sphere centre) it predicts where the flange centre lies from the barrel-to-dome lean, so
        the flange search band can stay narrow on a leaning pin.
    bore_clearance_px : radial gap between plunger and barrel bore (px).

    Order: the pin pattern (bright barrel-top ring around the dark bore) is matched; the barrel-top
    rim is the innermost strong falling edge near its radius (on a leaning pin the flange rim runs
    just outside it); the dome highlight is searched inside the plunger; the flange rim is searched
    around the centre the lean predicts, wide then narrow. The edge fits of all pins run together
    (`radial_edge_circles`).
    """
    guesses = np.asarray(guesses_px, float).reshape(-1, 2)
    half = int(math.ceil(flange_r_px + search_px + 6))
    S = 2 * half + 1
    stack, origins = _gray_rois(image, guesses, half)
    rois = [(stack[i * S:(i + 1) * S], o) for i, o in enumerate(origins)]
    c1, scores = _coarse_centres(stack, S, guesses - origins, barrel_r_px, plunger_r_px + bore_clearance_px, search_px,
                                 plunger_r_px)
    coarse = list(zip(c1, scores))
    band_b = max(3.0, 0.12 * barrel_r_px)
    barrels = radial_edge_circles(stack, S, c1, barrel_r_px - 0.5, polarity="falling", band_px=band_b, first=True)
    cb = np.array([b.center_px if b.ok else c for b, c in zip(barrels, c1)]).reshape(-1, 2)
    domes = dome_centres(stack, S, cb, 0.8 * plunger_r_px)
    cf = cb.copy()
    if barrel_length_px and dome_above_barrel_px:
        max_lean = math.sin(math.radians(8.0))
        for i, (b, d) in enumerate(zip(barrels, domes)):
            if b.ok and d.ok:
                lean = (d.center_px - cb[i]) / dome_above_barrel_px
                n = float(np.hypot(*lean))
                if n > max_lean:
                    lean = lean * (max_lean / n)
                cf[i] = cb[i] - lean * barrel_length_px
    # a wide first pass (the prediction can be off by a few px), then a narrow one from its centre
    wide = radial_edge_circles(stack, S, cf, flange_r_px - 0.5, polarity="falling", band_px=0.25 * flange_r_px, refine=0)
    cf = np.array([w.center_px if w.ok else c for w, c in zip(wide, cf)]).reshape(-1, 2)
    flanges = radial_edge_circles(stack, S, cf, flange_r_px - 0.5, polarity="falling", band_px=max(4.0, 0.1 * flange_r_px))
    out = []
    for i, ((g, o), (cc, score)) in enumerate(zip(rois, coarse)):
        for f in (barrels[i], flanges[i], domes[i]):
            if f.ok:
                f.center_px = f.center_px + o
        out.append(PinTopFit(flange=flanges[i], barrel=barrels[i], dome=domes[i], roi_origin=o, gray=g,
                             coarse_px=cc + o, match_score=score))
    return out


def fit_pin_top(image: np.ndarray, guess_px, **kw) -> PinTopFit:
    """`fit_pins_top` for one pin: `guess_px` (2,), the same keyword options."""
    return fit_pins_top(image, np.asarray(guess_px, float).reshape(1, 2), **kw)[0]


@functools.lru_cache(maxsize=32)
def _pin_template(r_px: float, r_bore_px: float, r_plunger_px: float) -> np.ndarray:
    """Zero-sum template of a pin top seen from above: the bright barrel-top annulus
    (``r_bore < r < r_px``) around the dark bore gap (``r_plunger < r < r_bore``). The plunger
    itself is left out (0): its look depends on the light (highlight, bright walls under a ring light)."""
    size = 2 * int(math.ceil(r_px + 2)) + 1
    c = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size]
    rr = np.hypot(xx - c, yy - c)
    ring = (rr > r_bore_px + 0.5) & (rr < r_px - 1.0)
    bore = (rr >= max(r_plunger_px - 0.5, 0.0)) & (rr <= r_bore_px + 0.5)
    tpl = np.zeros((size, size), np.float32)
    tpl[ring] = 1.0 / max(ring.sum(), 1)
    tpl[bore] = -1.0 / max(bore.sum(), 1)
    return tpl


def _coarse_centres(stack: np.ndarray, roi_px: int, c0: np.ndarray, r_px: float, r_bore_px: float, search_px: float,
                    r_plunger_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the pin-top pattern matches best in each of the N ROIs of `stack` (N * roi_px, roi_px), within
    `search_px` of its `c0` (N, 2): centres (N, 2) with a parabolic subpixel peak, and match contrasts (N,).

    One correlation over the whole stack with `_pin_template` (zero-sum, so the local brightness
    does not matter), at half resolution while the bore stays >= 8 px in radius.
    """
    N = len(c0)
    k = 2 if r_bore_px >= 16 else 1
    if k == 2:  # pad each ROI to an even size so that halving keeps the ROIs apart
        S2 = roi_px + (roi_px % 2)
        st = stack.reshape(N, roi_px, roi_px)
        if S2 != roi_px:  # replicate the last row and column (np.pad's "edge", without its overhead)
            padded = np.empty((N, S2, S2), stack.dtype)
            padded[:, :roi_px, :roi_px] = st
            padded[:, roi_px, :roi_px] = st[:, -1]
            padded[:, :, roi_px] = padded[:, :, roi_px - 1]
            st = padded
        small = cv2.pyrDown(np.ascontiguousarray(st.reshape(N * S2, S2)))
        h2 = S2 // 2
    else:
        small, h2 = stack, roi_px
    tpl = _pin_template(r_px / k, r_bore_px / k, r_plunger_px / k)
    res = cv2.matchTemplate(small, tpl, cv2.TM_CCORR)
    T = tpl.shape[0]
    hh = h2 - T + 1
    ww = res.shape[1]
    rows = (np.arange(N)[:, None] * h2 + np.arange(hh)[None, :])  # (N, hh): each ROI's own result rows
    R = res[rows]  # (N, hh, ww)
    off = (T - 1) / 2
    sh = 0.5 if k == 2 else 0.0  # pyrDown: small pixel x covers full-res 2x .. 2x+1, centre at 2x + 0.5
    uu = k * (np.arange(ww) + off) + sh
    vv = k * (np.arange(hh) + off) + sh
    d2 = (uu[None, None, :] - c0[:, 0, None, None]) ** 2 + (vv[None, :, None] - c0[:, 1, None, None]) ** 2
    R = np.where(d2 <= search_px**2, R, -np.inf)
    flat = R.reshape(N, -1).argmax(1)
    v, u = flat // ww, flat % ww
    i = np.arange(N)
    best = R[i, v, u]
    um, up = R[i, v, np.maximum(u - 1, 0)], R[i, v, np.minimum(u + 1, ww - 1)]
    vm, vp = R[i, np.maximum(v - 1, 0), u], R[i, np.minimum(v + 1, hh - 1), u]
    with np.errstate(invalid="ignore", divide="ignore"):
        den_u, den_v = um - 2 * best + up, vm - 2 * best + vp
        du = np.where(np.isfinite(den_u) & (den_u < 0) & (u > 0) & (u < ww - 1), 0.5 * (um - up) / den_u, 0.0)
        dv = np.where(np.isfinite(den_v) & (den_v < 0) & (v > 0) & (v < hh - 1), 0.5 * (vm - vp) / den_v, 0.0)
    centres = np.column_stack([k * (u + np.nan_to_num(du) + off) + sh, k * (v + np.nan_to_num(dv) + off) + sh])
    return centres, best.astype(float)


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
#: sees noise, not the bias of shading and blur. Measured on rendered-dev: flange rim 0.07 px RMS;
#: dome highlight 0.1-0.25 px once corrected for the light's position; the barrel-top rim is good
#: on upright pins but moves against the lean on leaning ones (0.3-0.5 px at 4 deg, where its edge
#: runs into the visible barrel wall), so it only steadies the axis the flange and the dome define.
U_FLOOR_FLANGE_PX = 0.08
U_FLOOR_BARREL_PX = 0.5
U_FLOOR_DOME_PX = 0.25
#: a barrel-top centre farther than this (px) from the flange-dome axis is left out of the axis fit
BARREL_OUTLIER_PX = 1.5


@dataclass(frozen=True)
class CoaxialLight:
    """Where the coaxial light's (virtual) source is: its centre in the plane frame (mm) and its height (mm).

    A collimated coaxial light puts the dome's highlight straight above the sphere centre; a source
    at a finite height H puts it where the dome's normal bisects the view and light directions,
    ``r_dome * d / (2 H)`` towards the source for a pin at horizontal distance d. ``None`` in
    `measure_pin_top` means collimated.
    """

    xy_mm: tuple[float, float]
    height_mm: float


def highlight_to_sphere_centre(q_mm: np.ndarray, *, dome_radius_mm: float, light: CoaxialLight | None,
                               dome_height_mm: float = 0.0) -> np.ndarray:
    """Sphere-centre xy (plane mm) whose highlight a telecentric camera sees at `q_mm` (2,)."""
    q = np.asarray(q_mm, float)
    if light is None:
        return q
    d = np.asarray(light.xy_mm, float) - q
    lvec = np.array([d[0], d[1], light.height_mm - dome_height_mm])
    n = lvec / np.linalg.norm(lvec) + np.array([0.0, 0.0, 1.0])
    n /= np.linalg.norm(n)
    return q - dome_radius_mm * n[:2]


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


def measure_pins_top(
    image: np.ndarray,
    guesses_px: np.ndarray,
    *,
    to_board,
    to_pixel,
    geometry: TopPinGeometry,
    mm_per_px: float,
    search_mm: float = 0.5,
    light: CoaxialLight | None = None,
) -> list[PinTop]:
    """Fit every pin near its guess and express it in the frame of `to_board`.

    Parameters
    ----------
    image : (H, W[, 3]) array, RGB or mono.
    guesses_px : (N, 2) where the pins should be (u, v), e.g. the registered nominal pad centres.
    to_board : callable, pixels (M, 2) -> plane/board mm (M, 2).
    to_pixel : callable, mm (M, 2) -> pixels (M, 2), the inverse.
    geometry : nominal pin geometry; its axial heights are assumed (tilt needs them).
    mm_per_px : scale on the board plane.
    search_mm : how far from its guess a pin may lie (position error + lean).
    light : the coaxial light's source in the frame of `to_board` (None: collimated).

    Returns
    -------
    list of PinTop; ``present`` False for an empty pad, ``reason`` set when a pin is there but a fit failed.
    """
    g = geometry
    s = mm_per_px
    all_fits = fit_pins_top(image, guesses_px, flange_r_px=g.flange_radius_mm / s, barrel_r_px=g.barrel_radius_mm / s,
                            plunger_r_px=g.plunger_radius_mm / s, search_px=search_mm / s,
                            barrel_length_px=g.barrel_length_mm / s,
                            dome_above_barrel_px=(g.h_dome_centre_mm - g.h_barrel_top_mm) / s,
                            bore_clearance_px=g.bore_clearance_mm / s)
    feats = (("flange", g.h_flange_top_mm, U_FLOOR_FLANGE_PX), ("barrel", g.h_barrel_top_mm, U_FLOOR_BARREL_PX),
             ("dome", g.h_dome_centre_mm, U_FLOOR_DOME_PX))
    # every fitted centre to mm at once, with the local Jacobian (central differences, 1 px)
    fitted = [getattr(f, n) for f in all_fits for n, _, _ in feats]
    uv = np.array([f.center_px if f.ok else (0.0, 0.0) for f in fitted], float).reshape(-1, 2)
    steps = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], float)
    mm = np.asarray(to_board((uv[:, None, :] + steps[None]).reshape(-1, 2)), float).reshape(-1, 5, 2)
    jac = np.stack([(mm[:, 1] - mm[:, 2]) / 2, (mm[:, 3] - mm[:, 4]) / 2], axis=2)  # (M, 2, 2)
    # each centre's covariance in mm: the fit's plus its feature's floor, through the Jacobian
    floors = np.array([fl for _, _, fl in feats] * len(all_fits), float) ** 2
    cov_px = np.array([f.cov_px if f.ok else np.zeros((2, 2)) for f in fitted], float).reshape(-1, 2, 2)
    cov_mm = jac @ (cov_px + floors[:, None, None] * np.eye(2)) @ jac.transpose(0, 2, 1)
    out = []
    rings: list[tuple] = []
    ring_of: dict[int, int] = {}
    for i, fits in enumerate(all_fits):
        pres = pin_presence(fits)
        pt = PinTop(present=pres.present, presence_score=pres.score, presence_confidence=pres.confidence,
                    detail=pres.detail, fits=fits)
        out.append(pt)
        if not pres.present:
            continue
        pts = {}
        for j, (name, h, _) in enumerate(feats):
            fit = getattr(fits, name)
            if not fit.ok:
                continue
            k = 3 * i + j
            xy = mm[k, 0]
            if name == "dome":
                xy = highlight_to_sphere_centre(xy, dome_radius_mm=g.dome_radius_mm, light=light, dome_height_mm=h)
            pts[name] = (h, xy, cov_mm[k])
        if {"flange", "barrel", "dome"} <= pts.keys():
            (hf, f, _), (hb, b, _), (hd, d, _) = pts["flange"], pts["barrel"], pts["dome"]
            pred = f + (d - f) * (hb - hf) / (hd - hf)
            if np.hypot(*(b - pred)) > BARREL_OUTLIER_PX * s:
                pt.detail += f"; barrel-top rim {np.hypot(*(b - pred)) / s:.1f} px off the flange-dome axis, left out"
                del pts["barrel"]
        axis = fit_axis([v[0] for v in pts.values()], [v[1] for v in pts.values()], [v[2] for v in pts.values()])
        pt.axis = axis
        if not axis.ok:
            pt.reason = axis.reason
            continue
        pt.base_mm, pt.base_cov_mm2 = axis.point_at(0.0)
        pt.tip_mm, pt.tip_cov_mm2 = axis.point_at(g.axial_length_mm)
        pt.base_px, pt.tip_px = np.asarray(to_pixel(np.array([pt.base_mm, pt.tip_mm])), float).reshape(2, 2)
        # solder cues: colour of the flange top, the barrel-top ring and the fillet zone (measured below, all pins at once)
        if image.ndim == 3 and fits.flange.ok and fits.barrel.ok:
            fc, bc = fits.flange.center_px, fits.barrel.center_px
            r_bore = g.plunger_radius_mm + g.bore_clearance_mm
            ring_of[i] = len(rings)
            rings += [
                (fc, (g.barrel_radius_mm + 0.08) / s, (g.flange_radius_mm - 0.05) / s, (bc, (g.barrel_radius_mm + 0.08) / s)),
                (bc, (r_bore + 0.04) / s, (g.barrel_radius_mm - 0.05) / s, None),
                (pt.base_px, (g.flange_radius_mm + 0.03) / s, (g.flange_radius_mm + 0.12) / s, None),
            ]
    colours = grey_rings(image, rings) if rings else []
    for i, k in ring_of.items():
        out[i].grey_flange, out[i].grey_barrel_ring, out[i].grey_fillet = colours[k:k + 3]
    return out


def measure_pin_top(image: np.ndarray, guess_px, **kw) -> PinTop:
    """`measure_pins_top` for one pin at `guess_px` (2,), the same keyword options."""
    return measure_pins_top(image, np.asarray(guess_px, float).reshape(1, 2), **kw)[0]
