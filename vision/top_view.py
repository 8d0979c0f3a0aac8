"""Per-pin fits in a telecentric top image: the flange, the barrel top and the tip dome of each pin, fitted to
subpixel accuracy (`vision.subpixel.circles`) on a small region around it, and the pin's axis from them.

Pixel convention: OpenCV (u, v) = (column, row), integers at pixel centres. Radii in px.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from models.pin_geometry import PinGeometry
from vision.params import PARAMS
from vision.presence import pin_presence
from vision.solder_cues import grey_rings
from vision.subpixel.circles import CircleFit, dome_centres, gray_rois, radial_edge_circles
from vision.subpixel.peaks import parabolic_offset
from vision.tilt import fit_axis

__all__ = ["PinTopFit", "fit_pin_top", "PinTop", "measure_pin_top", "CoaxialLight",
           "highlight_to_sphere_centre", "fit_pins_top", "measure_pins_top"]


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
    stack, origins = gray_rois(image, guesses, half)
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
        den_u, den_v = um - 2 * best + up, vm - 2 * best + vp  # -inf outside the search disc
        du = np.where(np.isfinite(den_u) & (u > 0) & (u < ww - 1), parabolic_offset(um, best, up), 0.0)
        dv = np.where(np.isfinite(den_v) & (v > 0) & (v < hh - 1), parabolic_offset(vm, best, vp), 0.0)
    centres = np.column_stack([k * (u + np.nan_to_num(du) + off) + sh, k * (v + np.nan_to_num(dv) + off) + sh])
    return centres, best.astype(float)


# -- one pin, pixels to board-frame numbers ----------------------------------------------------------------


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
    geometry: PinGeometry,
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
    feats = (("flange", g.h_flange_top_mm, PARAMS.top.u_floor_flange_px), ("barrel", g.h_barrel_top_mm, PARAMS.top.u_floor_barrel_px),
             ("dome", g.h_dome_centre_mm, PARAMS.top.u_floor_dome_px))
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
        pres = pin_presence(fits.barrel, fits.flange)
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
            if np.hypot(*(b - pred)) > PARAMS.top.barrel_outlier_px * s:
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
