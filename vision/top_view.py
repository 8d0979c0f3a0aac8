"""Per-pin fits in a telecentric top image: the flange, the barrel top and the tip dome of each pin, fitted to
subpixel accuracy (`vision.subpixel.circles`) on a small region around it, and the pin's axis from them.

Pixel convention: OpenCV (u, v) = (column, row), integers at pixel centres. Radii in px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from models.pin_geometry import PinGeometry
from vision.params import PARAMS
from vision.presence import pin_presence
from vision.solder_cues import grey_rings
from vision.subpixel.circles import CircleFit, dome_centres, gray_rois, radial_edge_circles, ray_directions
from vision.subpixel.hough import acc_peaks, circle_votes, vote_scale
from vision.tilt import fit_axes

__all__ = ["fit_pad_rims_top", "PinTopFit", "fit_pin_top", "PinTop", "measure_pin_top", "CoaxialLight",
           "highlight_to_sphere_centre", "fit_pins_top", "measure_pins_top"]


@dataclass
class PinTopFit:
    """Fits of one pin seen from the top; pixel coordinates of the whole image."""

    flange: CircleFit
    barrel: CircleFit
    dome: CircleFit
    roi_origin: np.ndarray
    gray: np.ndarray  # the ROI luminance used (for cues)
    coarse_px: np.ndarray | None = None  # where the vote for the flange rim peaked
    match_score: float = 0.0  # that peak's height over the ROI's mean vote
    unreliable: list[str] = field(default_factory=list)  # failed self-checks, "flange_fit: why" (`check_pin_fits`)


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
    mm_per_px: float | None = None,
) -> list[PinTopFit]:
    """Fit the barrel-top rim, the flange-top rim and the dome highlight of every pin of a board, and check them.

    Parameters
    ----------
    image : (H, W[, 3]) array
    guesses_px : (N, 2) nominal pad centres (u, v) in the image.
    flange_r_px, barrel_r_px, plunger_r_px : expected radii (px).
    search_px : how far a pin may lie from its guess (position error + tilt lean), px.
    barrel_length_px : flange top -> barrel top, axial (px): how far the barrel top may lie from the
        flange centre (`PARAMS.top.max_lean_deg`).
    dome_above_barrel_px : barrel top -> dome sphere centre, axial (px); with `barrel_length_px` it predicts
        the flange centre from the barrel-to-dome lean.
    mm_per_px : the scale, for the rims' radius bands (`check_pin_fits`); None: 10 um/px.

    Order: a vote along the gradients for circles of the flange's and the barrel's radii
    (`circle_votes`, blind to which side is bright) finds each pin within `search_px` of its guess;
    the barrel top is the best vote for its radius within the largest lean of it, refined as the
    innermost strong falling edge near its radius (on a leaning pin the flange rim runs just outside
    it); the dome highlight is searched inside the plunger; the flange rim is searched around the
    centre the barrel-to-dome lean predicts, wide then narrow. The
    edge fits of all pins run together (`radial_edge_circles`). Each pin's ``unreliable`` lists the
    self-checks its fits failed (`check_pin_fits`).
    """
    mm_per_px = mm_per_px or 0.01
    guesses = np.asarray(guesses_px, float).reshape(-1, 2)
    half = int(math.ceil(flange_r_px + search_px + 6))
    S = 2 * half + 1
    stack, origins = gray_rois(image, guesses, half)
    rois = [(stack[i * S:(i + 1) * S], o) for i, o in enumerate(origins)]
    # where the flange rim (the largest circle of the pin's own) and the barrel-top rim are: a vote that
    # knows their radii (the pad rim, the fillet and the bore have other radii, so their votes spread)
    k = vote_scale(barrel_r_px)  # reduced while the barrel keeps >= 10 vote px of radius
    acc_f, acc_b = circle_votes(stack, S, (flange_r_px, barrel_r_px), k=k)
    # the pin: both rims' votes together (a flange under solder votes weakly, a barrel top rarely does)
    c1, scores = acc_peaks(acc_f + acc_b, guesses - origins, search_px, k=k)
    # the barrel top sits within the largest lean searched of the pin's centre
    lean_px = (barrel_length_px or 2 * barrel_r_px) * math.sin(math.radians(PARAMS.top.max_lean_deg)) + 2.0 * k
    cb0, _ = acc_peaks(acc_b, c1, lean_px, k=k)
    band_b = max(3.0, 0.12 * barrel_r_px)
    barrels = radial_edge_circles(stack, S, cb0, barrel_r_px - 0.5, polarity="falling", band_px=band_b, first=True, refine=2)
    cb = np.array([b.center_px if b.ok else c for b, c in zip(barrels, cb0)]).reshape(-1, 2)
    domes = dome_centres(stack, S, cb, 0.8 * plunger_r_px)
    # the flange centre the barrel-to-dome lean predicts (the pin's vote peak where that lean is unknown)
    cf = c1.copy()
    if barrel_length_px and dome_above_barrel_px:
        max_lean = math.sin(math.radians(PARAMS.top.max_lean_deg))
        for i, (b, d) in enumerate(zip(barrels, domes)):
            if b.ok and d.ok:
                lean = (d.center_px - cb[i]) / dome_above_barrel_px
                n = float(np.hypot(*lean))
                if n > max_lean:
                    lean = lean * (max_lean / n)
                cf[i] = cb[i] - lean * barrel_length_px
    # a wide first pass (the prediction can be off by a few px), then a narrow one from its centre; the
    # radius checks (`check_pin_fits`) catch a lock onto the pad or fillet rim
    # (the wide pass only seeds the narrow one's centre, so half the rays do; it is the widest, costliest pass)
    wide = radial_edge_circles(stack, S, cf, flange_r_px - 0.5, polarity="falling", band_px=0.25 * flange_r_px, refine=0,
                               n_rays=PARAMS.top.n_rays // 2)
    cf = np.array([w.center_px if w.ok else c for w, c in zip(wide, cf)]).reshape(-1, 2)
    band_f = max(4.0, 0.1 * flange_r_px)
    keep = _rays_clear_of_barrel(cf, cb, [b.ok for b in barrels], barrel_r_px=barrel_r_px, inner_px=flange_r_px - 0.5 - band_f)
    flanges = radial_edge_circles(stack, S, cf, flange_r_px - 0.5, polarity="falling", band_px=band_f, n_rays=PARAMS.top.n_rays,
                                  keep_rays=keep)
    out = []
    for i, ((g, o), cc, score) in enumerate(zip(rois, c1, scores)):
        for f in (barrels[i], flanges[i], domes[i]):
            if f.ok:
                f.center_px = f.center_px + o
        fit = PinTopFit(flange=flanges[i], barrel=barrels[i], dome=domes[i], roi_origin=o, gray=g,
                        coarse_px=cc + o, match_score=float(score))
        fit.unreliable = check_pin_fits(fit, flange_r_px=flange_r_px, barrel_r_px=barrel_r_px,
                                        barrel_length_px=barrel_length_px, mm_per_px=mm_per_px, n_rays=PARAMS.top.n_rays,
                                        n_flange_rays=int(keep[i].sum()))
        out.append(fit)
    return out


def _rays_clear_of_barrel(flange_px: np.ndarray, barrel_px: np.ndarray, barrel_ok, *, barrel_r_px: float,
                          inner_px: float) -> np.ndarray:
    """(N, n_rays) bool: the flange rim's rays whose search band (from `inner_px` out) the barrel's silhouette
    does not reach.

    Seen from above, a leaning pin's barrel is the discs of its radius along its axis from the flange top up to the
    barrel top: along a ray from the flange centre it reaches ``barrel_r + max(0, lean . ray)`` (lean: the barrel
    top's centre from the flange's), plus the edge's blur (`PARAMS.top.rim_blur_px`). A type-A pin (flange 0.70,
    barrel 0.50 mm, 2.0 mm long) leaning 4.6 deg or more brings it within the band on its lean side, where the
    flange fit took the barrel's edge (edge residual 1.2-1.4 px against 0.15, tilt read 0.35-0.41 deg high, base
    17-21 um off: draws 47714-47715 at 14 um/px). Those rays give no point; the others fit the flange."""
    ct, st = ray_directions(PARAMS.top.n_rays)
    lean = np.where(np.asarray(barrel_ok, bool)[:, None], np.asarray(barrel_px, float) - np.asarray(flange_px, float), 0.0)
    reach = barrel_r_px + np.maximum(lean[:, 0, None] * ct[None] + lean[:, 1, None] * st[None], 0.0) + PARAMS.top.rim_blur_px
    return reach < inner_px


def fit_pin_top(image: np.ndarray, guess_px, **kw) -> PinTopFit:
    """`fit_pins_top` for one pin: `guess_px` (2,), the same keyword options."""
    return fit_pins_top(image, np.asarray(guess_px, float).reshape(1, 2), **kw)[0]


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
    grey_fillet: object | None = None  # just outside the flange: a fillet's steep part, or a flat film or pad
    grey_fillet_foot: object | None = None  # farther out: a fillet's flat foot, or the same film or pad
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
                            mm_per_px=s)
    feats = (("flange", g.h_flange_top_mm, PARAMS.top.u_floor_flange_px), ("barrel", g.h_barrel_top_mm, PARAMS.top.u_floor_barrel_px),
             ("dome", g.h_dome_centre_mm, PARAMS.top.u_floor_dome_px))
    # every fitted centre to mm at once, with the local Jacobian (central differences, 1 px)
    fitted = [getattr(f, n) for f in all_fits for n, _, _ in feats]
    uv = np.array([f.center_px if f.ok else (0.0, 0.0) for f in fitted], float).reshape(-1, 2)
    steps = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], float)
    mm = np.asarray(to_board((uv[:, None, :] + steps[None]).reshape(-1, 2)), float).reshape(-1, 5, 2)
    jac = np.stack([(mm[:, 1] - mm[:, 2]) / 2, (mm[:, 3] - mm[:, 4]) / 2], axis=2)  # (M, 2, 2)
    # each centre's covariance in mm: the fit's plus its feature's floor, through the Jacobian
    floors = np.array([fl for _, _, fl in feats] * len(all_fits), float)
    # a rim's residuals are not independent from ray to ray where solder or a fillet deforms it: its
    # centre is then uncertain by about rms / sqrt(independent arcs), whatever the ray count says
    rim = np.array([n != "dome" for n, _, _ in feats] * len(all_fits))
    rms = np.array([f.rms_px if f.ok else 0.0 for f in fitted], float)
    floors = np.where(rim, np.maximum(floors, rms / math.sqrt(PARAMS.top.rim_independent_arcs)), floors) ** 2
    cov_px = np.array([f.cov_px if f.ok else np.zeros((2, 2)) for f in fitted], float).reshape(-1, 2, 2)
    cov_mm = jac @ (cov_px + floors[:, None, None] * np.eye(2)) @ jac.transpose(0, 2, 1)
    # solder cues first (all pins in one call): colour of the flange top, the barrel-top ring and the fillet
    # zone; a flange top under solder also says its rim is the solder's outline, not the flange's
    rings: list[tuple] = []
    ring_of: dict[int, int] = {}
    r_bore = g.bore_radius_mm
    for i, fits in enumerate(all_fits):
        if image.ndim == 3 and fits.flange.ok and fits.barrel.ok:
            fc, bc = fits.flange.center_px, fits.barrel.center_px
            ring_of[i] = len(rings)
            rings += [
                (fc, (g.barrel_radius_mm + 0.08) / s, (g.flange_radius_mm - 0.05) / s, (bc, (g.barrel_radius_mm + 0.08) / s)),
                (bc, (r_bore + 0.04) / s, (g.barrel_radius_mm - 0.05) / s, None),
            ]
            # beside the flange and at a fillet's foot: their lightness says seated or on a film
            rings += [(fc, (g.flange_radius_mm + a) / s, (g.flange_radius_mm + b) / s, None)
                      for a, b in (PARAMS.top.fillet_inner_band_mm, PARAMS.top.fillet_outer_band_mm)]
    colours = grey_rings(image, rings) if rings else []
    out = []
    to_fit: list[int] = []  # pins whose axis is fitted, and their centres in the slots of `feats`
    heights = np.array([h for _, h, _ in feats], float)
    use = np.zeros((len(all_fits), len(feats)), bool)
    xy = np.zeros((len(all_fits), len(feats), 2))
    for i, fits in enumerate(all_fits):
        pres = pin_presence(fits.barrel, fits.flange)
        pt = PinTop(present=pres.present, presence_score=pres.score, presence_confidence=pres.confidence,
                    detail=pres.detail, fits=fits)
        out.append(pt)
        if not pres.present:
            continue
        if fits.unreliable:  # a fit that failed its own check gives no number (the item goes to REVIEW)
            pt.reason = "; ".join(f"unreliable:{b}" for b in fits.unreliable)
            continue
        if i in ring_of:
            k = ring_of[i]
            pt.grey_flange, pt.grey_barrel_ring, pt.grey_fillet, pt.grey_fillet_foot = colours[k:k + 4]
        for j, (name, h, _) in enumerate(feats):
            if getattr(fits, name).ok:
                use[i, j] = True
                xy[i, j] = mm[3 * i + j, 0]
                if name == "dome":
                    xy[i, j] = highlight_to_sphere_centre(xy[i, j], dome_radius_mm=g.dome_radius_mm, light=light, dome_height_mm=h)
        if use[i].all():
            (f, b, d), (hf, hb, hd) = xy[i], heights
            pred = f + (d - f) * (hb - hf) / (hd - hf)
            if np.hypot(*(b - pred)) > PARAMS.top.barrel_outlier_px * s:
                pt.detail += f"; barrel-top rim {np.hypot(*(b - pred)) / s:.1f} px off the flange-dome axis, left out"
                use[i, 1] = False
        to_fit.append(i)
    if not to_fit:
        return out
    axes = fit_axes(np.tile(heights, (len(to_fit), 1)), xy[to_fit], cov_mm.reshape(len(all_fits), len(feats), 2, 2)[to_fit],
                    use[to_fit])
    placed = []
    for i, axis in zip(to_fit, axes):
        pt = out[i]
        pt.axis = axis
        if not axis.ok:
            pt.reason = axis.reason
            continue
        pt.base_mm, pt.base_cov_mm2 = axis.point_at(0.0)
        pt.tip_mm, pt.tip_cov_mm2 = axis.point_at(g.axial_length_mm)
        placed.append(pt)
    if placed:  # every base and tip to pixels in one call
        px = np.asarray(to_pixel(np.array([q for pt in placed for q in (pt.base_mm, pt.tip_mm)])), float).reshape(-1, 2, 2)
        for pt, (b, t) in zip(placed, px):
            pt.base_px, pt.tip_px = b, t
    return out


def measure_pin_top(image: np.ndarray, guess_px, **kw) -> PinTop:
    """`measure_pins_top` for one pin at `guess_px` (2,), the same keyword options."""
    return measure_pins_top(image, np.asarray(guess_px, float).reshape(1, 2), **kw)[0]


def check_pin_fits(fit: PinTopFit, *, flange_r_px: float, barrel_r_px: float, barrel_length_px: float | None,
                   mm_per_px: float, n_rays: int = PARAMS.top.n_rays, n_flange_rays: int | None = None) -> list[str]:
    """The self-checks of one pin's rim fits against what the recipe and the calibration predict.

    Returns the failed checks, each ``"<fit>_fit: why"`` (empty: the fits are consistent). Checked:
    each rim's radius against the pin type's (`RIM_RADIUS_TOL_REL` / `RIM_RADIUS_TOL_PX`), the share of
    rays that found the rim (`PARAMS.top.rim_min_inlier_fraction`), its residual (`PARAMS.top.rim_max_rms_rel`), and the
    barrel top lying within the largest searched lean (`PARAMS.top.max_lean_deg`) of the flange's centre.
    A missing rim is not reported here (presence decides about it). ``n_flange_rays``: the rays the flange fit
    could use (those clear of a leaning barrel's silhouette, `_rays_clear_of_barrel`); None: all ``n_rays``.
    """
    bad = []
    flange_rays = n_rays if n_flange_rays is None else n_flange_rays
    for name, f, r_exp, rays in (("flange", fit.flange, flange_r_px, flange_rays), ("barrel", fit.barrel, barrel_r_px, n_rays)):
        if not f.ok:
            continue
        lo = r_exp - PARAMS.top.rim_edge_break_mm / mm_per_px - PARAMS.top.rim_blur_px
        hi = r_exp + PARAMS.top.rim_oversize_mm / mm_per_px + PARAMS.top.rim_blur_px
        if not lo <= f.radius_px <= hi:
            bad.append(f"{name}_fit: radius {f.radius_px:.1f} px, the pin type gives {lo:.1f}-{hi:.1f} px")
        elif f.n_points < PARAMS.top.rim_min_inlier_fraction * rays:
            bad.append(f"{name}_fit: rim found on {f.n_points} of {rays} rays")
        elif f.rms_px > PARAMS.top.rim_max_rms_rel * r_exp:
            bad.append(f"{name}_fit: edge residual {f.rms_px:.2f} px > {PARAMS.top.rim_max_rms_rel * r_exp:.2f} px")
    if fit.flange.ok and fit.barrel.ok:
        lean_px = (barrel_length_px or 2 * barrel_r_px) * math.sin(math.radians(PARAMS.top.max_lean_deg))
        d = float(np.hypot(*(fit.barrel.center_px - fit.flange.center_px)))
        if d > lean_px:
            bad.append(f"flange_fit: barrel top {d:.1f} px off the flange centre, more than a {PARAMS.top.max_lean_deg:g} deg lean ({lean_px:.1f} px)")
    return bad


def fit_pad_rims_top(image: np.ndarray, centres_px: np.ndarray, *, pad_r_px: float, band_px: float) -> list[CircleFit]:
    """The outer rim of the solder pad under each pin (the pad's copper edge against the mask), (N, 2) guesses px.

    The pad is etched from the same artwork as the fiducials, so where the fiducials are out of view it
    is the pin's own position reference. Which side of the rim is brighter depends on the mask colour
    (gold on black or green is brighter, on white it may be darker): both polarities are fitted and, per
    pad, the one with the stronger edge whose radius is within `band_px` of `pad_r_px` is kept. A pad
    whose rim neither fit finds stays a failed CircleFit with the reason.
    """
    c = np.asarray(centres_px, float).reshape(-1, 2)
    half = int(math.ceil(pad_r_px + 2 * band_px + 6))
    S = 2 * half + 1
    stack, origins = gray_rois(image, c, half)
    local = c - origins
    fits = [radial_edge_circles(stack, S, local, pad_r_px, polarity=pol, band_px=band_px, refine=1)
            for pol in ("falling", "rising")]
    out = []
    for i, o in enumerate(origins):
        ok = [f[i] for f in fits if f[i].ok and abs(f[i].radius_px - pad_r_px) <= band_px]
        if not ok:
            out.append(fits[0][i] if not fits[0][i].ok else CircleFit(reason=f"no pad rim of radius {pad_r_px:.1f} px"))
            continue
        best = max(ok, key=lambda f: f.contrast)
        best.center_px = best.center_px + o
        out.append(best)
    return out
