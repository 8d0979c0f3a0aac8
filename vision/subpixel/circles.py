"""Subpixel circle fits on edges: the tool behind the top view's rims and the fiducials.

`radial_edge_circles` samples rays from a guessed centre, finds the strongest gradient of the expected
polarity on each ray with a parabolic subpixel peak, and fits a circle (algebraic fit, then Gauss-Newton with
trimming); `dome_centres` locates a specular highlight. A fit that fails says why (``CircleFit.ok`` False and
``reason``), it never returns a confident number.

Pixel convention: OpenCV (u, v) = (column, row), integers at pixel centres. Radii in px.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.errors import InputError
from vision.io import luma
from vision.subpixel.peaks import parabolic_offset

__all__ = ["CircleFit", "fit_circle", "gray_roi", "gray_rois", "radial_edge_circle", "radial_edge_circles", "ray_directions", "dome_centre", "dome_centres"]


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
    g = luma(roi).astype(np.float32)
    if image.dtype == np.uint16:
        g /= 257.0
    g = cv2.GaussianBlur(g, (0, 0), 0.8)  # tame sensor noise before differentiating
    return g, np.array([u0, v0], float)


def gray_rois(image: np.ndarray, centers_px: np.ndarray, half_px: int) -> tuple[np.ndarray, np.ndarray]:
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
        g = luma(g).astype(np.float32)
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


def _inv_sym3(M: np.ndarray) -> np.ndarray:
    """Inverses of N symmetric 3x3 matrices (N, 3, 3) by their cofactors: LAPACK's batched inverse costs more in
    per-call overhead than the arithmetic at a board's few ROIs (every edge-circle pass calls this twice).
    A singular matrix gives non-finite entries (its fit then reports not ok)."""
    a, b, c = M[:, 0, 0], M[:, 0, 1], M[:, 0, 2]
    d, e, f = M[:, 1, 1], M[:, 1, 2], M[:, 2, 2]
    A, B, C = d * f - e * e, c * e - b * f, b * e - c * d
    D, E, F = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * A + b * B + c * C
    out = np.stack([A, B, C, B, D, E, C, E, F], axis=1).reshape(-1, 3, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        return out / det[:, None, None]


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
        delta = (_inv_sym3(JTJ) @ g[..., None])[..., 0]
        c = c + delta[:, :2]
        r = r + delta[:, 2]
        JTJ, res, _, _ = normal_matrix(w)
        n = w.sum(1)
        s2 = (w * res**2).sum(1) / np.maximum(n - 3, 1)
        cov = _inv_sym3(JTJ)[:, :2, :2] * s2[:, None, None]
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


#: a ROI is not re-centred again once its centre moved less than this in its last pass (px): from a centre that
#: close, the rays cross the rim within that distance of where they would, inside the centre's own uncertainty
#: floor (0.08 px for a flange rim, `TopParams.u_floor_flange_px`); further passes move it by 0.03-0.07 px
_CONVERGED_PX = 0.1


@functools.lru_cache(maxsize=8)
def ray_directions(n_rays: int) -> tuple[np.ndarray, np.ndarray]:
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
    drop_clipped: bool = False,
    keep_rays: np.ndarray | None = None,
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
    refine : at most this many re-centred passes after the first (a ROI whose centre has settled,
        `_CONVERGED_PX`, or whose fit failed is not sampled again).
    first : take, on each ray, the innermost edge at least half as strong as the ray's strongest
        (a rim with another edge just outside it, e.g. the barrel top of a leaning pin over its flange).
    drop_clipped : leave out the rays whose search band leaves the ROI (an outline cut by the image edge: such a
        ray's edge point would be the clipped border's or noise).
    keep_rays : (N, n_rays) bool, optional
        The rays each ROI may use (angles ``2 pi j / n_rays`` from +u towards +v): the others give no point (another
        outline known to cross the search band on their side).
    """
    if polarity not in ("falling", "rising", "valley"):
        raise ValueError("polarity must be 'falling', 'rising' or 'valley'")
    roi_h, roi_w = (roi_px, roi_px) if isinstance(roi_px, (int, np.integer)) else (int(roi_px[0]), int(roi_px[1]))
    c = np.asarray(centers_px, float).reshape(-1, 2).copy()
    N = len(c)
    ct, st = ray_directions(n_rays)
    rs = np.arange(max(radius_px - band_px, 1.0), radius_px + band_px + 1e-9, step_px)
    du, dv = rs[None, :] * ct[:, None], rs[None, :] * st[:, None]  # (rays, r) offsets from the centre
    # the last pass's fit of each ROI; a ROI stops being re-centred once its fit fails or its centre settles
    fc, fr, fcov, frms = np.full((N, 2), np.nan), np.full(N, np.nan), np.full((N, 2, 2), np.nan), np.full(N, np.nan)
    fn, fmed, status = np.zeros(N, int), np.zeros(N), np.zeros(N, int)  # status 0 ok, 1 too few points, 2 radius off
    idx = np.arange(N)  # the ROIs this pass samples
    for _ in range(1 + refine):
        n = len(idx)
        ca = c[idx]
        rows = np.arange(n * n_rays)
        # sample positions (n, rays, r), kept inside each ROI; clipped in place (np.clip is slow at this size)
        U, V = ca[:, 0, None, None] + du, ca[:, 1, None, None] + dv
        inside = ((U >= 0) & (U <= roi_w - 1) & (V >= 0) & (V <= roi_h - 1)).all(axis=2) if drop_clipped else None
        np.minimum(np.maximum(U, 0, out=U), roi_w - 1, out=U)
        np.minimum(np.maximum(V, 0, out=V), roi_h - 1, out=V)
        V += (idx * roi_h)[:, None, None]
        prof = cv2.remap(stack, U.reshape(n * n_rays, -1).astype(np.float32), V.reshape(n * n_rays, -1).astype(np.float32),
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
        off = parabolic_offset(y0, y1, y2, maximum_only=False, clip=0.5)
        r_e = (rs[k] + off * step_px).reshape(n, n_rays)
        strength = strength.reshape(n, n_rays)
        if inside is not None:
            strength = np.where(inside, strength, np.nan)  # a ray out of the ROI gives no point
        if keep_rays is not None:
            strength = np.where(np.asarray(keep_rays, bool)[idx], strength, np.nan)
        med = _row_medians(strength)
        good = strength > np.maximum(0.35 * med, 1e-6)[:, None]
        P = np.stack([ca[:, 0, None] + r_e * ct[None], ca[:, 1, None] + r_e * st[None]], axis=2)
        cc, rr, cov, rms, npts, ok = _fit_circles(P, good)
        fn[idx], fmed[idx], fr[idx] = npts, med, rr
        far = ok & (np.abs(rr - radius_px) > band_px)
        status[idx[~ok]], status[idx[far]] = 1, 2
        fit = ok & ~far
        fi = idx[fit]
        fc[fi], fcov[fi], frms[fi] = cc[fit], cov[fit], rms[fit]
        moved = np.hypot(*(cc[fit] - ca[fit]).T)
        c[fi] = cc[fit]
        # another pass only where the centre still moved: from a settled one it would sample the same rays again
        idx = fi[moved >= _CONVERGED_PX]
        if not len(idx):
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
