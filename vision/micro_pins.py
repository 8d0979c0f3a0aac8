"""Pogo pins seen from above in a microscope focus stack: tip, barrel-top and flange heights, tilt.

A pin under a coaxially lit microscope shows a dark plunger disc (the dome reflects the light away
except for a small highlight), a bright barrel-top annulus around it and a dimmer flange ring. Smooth
gold carries almost no texture, so per-pixel depth from focus is unreliable on a pin; instead each
*feature* gets its own focus curve, averaged over the ring where it makes an edge:

* the plunger rim (the outline of the dark disc, radius r_p) lies where the dome meets the plunger
  cylinder, ``cap = r_dome - sqrt(r_dome^2 - r_p^2)`` below the apex, so ``apex = z_rim + cap``;
* the barrel-top annulus edge (r_b) and the flange rim (r_f) give the barrel-top and flange-top
  heights when they lie inside the stack's z range (otherwise they are reported as not measured:
  the peak of their focus curve sits on the first/last slice);
* tilt: the rim centre and the barrel-top centre lie on the pin axis, so the lean is their xy offset
  over their height difference (the measured barrel-top height, or the recipe's nominal one with
  its tolerance when the barrel top lies below the stack -- raised with the rim where the rim stands
  above its own nominal height: a plunger never stands out beyond its free length). Each centre is
  the axis point at the height its outline shows: the rim's edge fit at the rim, a thresholded
  outline somewhat below its feature (`StackParams.disc_centre_height_mm`: it moves with the uneven
  brightness around a pin seen off its own axis as that lower point would);
* the barrel top's sheen beside its peers': solder wicked over it into the plunger gap is dull where
  gold mirrors the light, and its focus takes the rim's place (`_barrel_sheen`).

Coordinates: the calibration record maps the focus plane to pixels with its plane origin on the
optical axis; a point ``dh`` mm above the focus plane of a perspective lens is scaled by
``D / (D - dh)`` about the axis (D = working distance: a pinhole record's, else measured on the stack
itself from the plunger discs' drift, `stack_perspective`). Stage xy (the board position of the optical axis) comes from the
stack's manifest. A pin cut by the image edge is measured on the visible arcs of its outlines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.errors import InputError
from calibration.record import CalibrationRecord
from models.pin_geometry import PinGeometry
from vision.io import luma
from vision.focus import focus_measure
from vision.focus_peaks import refine_peak
from vision.params import PARAMS
from vision.subpixel.circles import fit_circle, radial_edge_circle

__all__ = ["MicroPin", "StackPerspective", "measure_pins", "stack_perspective", "working_distance_mm", "locate_pins", "axis_origin_mm", "limb_offset_mm"]


@dataclass
class MicroPin:
    """One pin measured in a focus stack (heights in the stack's z frame, mm; xy relative to the stage)."""

    id: str
    center_px: tuple[float, float]
    ok: bool
    reason: str = ""
    #: whether a pin was seen at all (False: nothing there, or no plunger where it should be) -- a failed
    #: measurement of a pin that is there keeps it True; callers read this, never the reason's text
    pin_seen: bool = True
    apex_z_mm: float = float("nan")
    u_apex_z_mm: float = float("nan")
    #: (lowest, highest) tip height when the rim lies below the stack's range (`_sunk_rim`); apex_z_mm is then the
    #: middle of it and u_apex_z_mm that of a uniform distribution over it
    apex_range_mm: tuple[float, float] | None = None
    rim_z_mm: float = float("nan")
    barrel_top_z_mm: float = float("nan")
    u_barrel_top_z_mm: float = float("nan")
    barrel_why: str = ""
    flange_top_z_mm: float = float("nan")
    u_flange_top_z_mm: float = float("nan")
    flange_why: str = ""
    rim_xy_mm: tuple[float, float] = (float("nan"), float("nan"))
    barrel_xy_mm: tuple[float, float] = (float("nan"), float("nan"))
    barrel_center_px: tuple[float, float] = (float("nan"), float("nan"))
    tilt_deg: float = float("nan")
    u_tilt_deg: float = float("nan")
    tilt_azimuth_deg: float = float("nan")
    tilt_uses_nominal_barrel: bool = False
    #: how far the whole pin stands above a seated one (flange bottom above the pad top), read from its rim where
    #: that stands clear of a seated pin's spread (`_axis_barrel_top`); nan: not read
    raise_mm: float = float("nan")
    u_raise_mm: float = float("nan")
    base_xy_mm: tuple[float, float] = (float("nan"), float("nan"))  # flange-bottom centre, axis frame
    base_cov_mm2: np.ndarray | None = None
    xy_why: str = ""
    #: barrel top's mean brightness over the brightest barrel top in the stack (nan: not judged)
    barrel_sheen: float = float("nan")
    barrel_sheen_why: str = ""
    #: the rim's least-squares focus peak's (residual variance, degrees of freedom, vertex variance per unit of it,
    #: mm^2), for `_pool_rim_noise`; None: the peak was not a least-squares fit
    rim_noise: tuple[float, int, float] | None = None
    curves: dict = field(default_factory=dict)
    centres: "_Centres | None" = None


def working_distance_mm(record: CalibrationRecord) -> float:
    """Camera-to-focus-plane distance of a pinhole record (inf for telecentric)."""
    if record.model != "pinhole" or record.pinhole is None or record.pinhole.plane_tvec_mm is None:
        return math.inf
    R, _ = cv2.Rodrigues(np.asarray(record.pinhole.plane_rvec, float))
    return float(abs(R[:, 2] @ np.asarray(record.pinhole.plane_tvec_mm, float)))


def axis_origin_mm(record: CalibrationRecord) -> np.ndarray:
    """Plane coordinates (mm) of the point where the optical axis meets the focus plane.

    A record calibrated from a target has its plane origin where the target put it (a lattice
    corner near the image centre, up to a square away), not on the optical axis that a stage
    position refers to: the axis is the principal point of a pinhole record, the image centre
    otherwise."""
    if record.model == "pinhole" and record.pinhole is not None:
        K = np.asarray(record.pinhole.camera_matrix, float)
        pp = np.array([[K[0, 2], K[1, 2]]])
    else:
        W, H = record.image_size_px
        pp = np.array([[(W - 1) / 2.0, (H - 1) / 2.0]])
    return np.asarray(record.pixel_to_plane(pp), float).reshape(2)


def _px_to_axis_mm(record: CalibrationRecord, uv, dh_mm: float, inv_distance_per_mm: float | None = None) -> np.ndarray:
    """Pixel -> xy (mm) relative to the optical axis, for a point dh_mm above the focus plane (1/D from the
    record's working distance unless given: see `stack_perspective`)."""
    kap = 1.0 / working_distance_mm(record) if inv_distance_per_mm is None else inv_distance_per_mm
    p = np.asarray(record.pixel_to_plane(np.asarray(uv, float).reshape(-1, 2)), float).reshape(-1, 2) - axis_origin_mm(record)
    return (p * (1.0 - dh_mm * kap)).reshape(np.shape(uv))


def axis_mm_to_px(record: CalibrationRecord, xy, dh_mm: float = 0.0) -> np.ndarray:
    D = working_distance_mm(record)
    q = np.asarray(xy, float).reshape(-1, 2)
    if math.isfinite(D):
        q = q * D / (D - dh_mm)
    return np.asarray(record.plane_to_pixel(q + axis_origin_mm(record)), float).reshape(np.shape(xy))


def limb_offset_mm(geometry: PinGeometry) -> tuple[float, float]:
    """(offset, standard uncertainty) of the plunger-rim focus peak above the outline's height.

    A dome narrower than a hemisphere meets the plunger cylinder in a crease: the outline is that
    crease and the rim curve focuses on it (0, 0; rendered type-A pins read +2 +- 2 um). A
    hemispherical dome (plunger radius = dome radius) has no crease: its outline is the limb, and what
    the lens sees sharpest there lies above the equator -- the aperture's oblique rays graze the sphere
    up to ``R * NA`` higher, and the dome's steep band just above the equator mirrors the lit barrel
    top below it. The offset is measured, as a share of the dome radius (`StackParams.limb_focus_offset_rel`),
    with its spread (`StackParams.limb_focus_offset_u_rel`); the rim curve's own noise is in its fit.
    """
    R, rp = geometry.dome_radius_mm, geometry.plunger_radius_mm
    if rp < R * (1 - 1e-6):
        return 0.0, 0.0
    return PARAMS.stack.limb_focus_offset_rel * R, PARAMS.stack.limb_focus_offset_u_rel * R


def _ring_mask(shape, c, r0, r1):
    """Pixels of an image of `shape` at distance [r0, r1) from `c` (computed in the ring's bounding box)."""
    H, W = shape[0], shape[1]
    m = np.zeros((H, W), bool)
    x0, x1 = max(int(math.floor(c[0] - r1)), 0), min(int(math.ceil(c[0] + r1)) + 1, W)
    y0, y1 = max(int(math.floor(c[1] - r1)), 0), min(int(math.ceil(c[1] + r1)) + 1, H)
    if x0 < x1 and y0 < y1:
        yy, xx = np.ogrid[y0:y1, x0:x1]
        rr = np.hypot(xx - c[0], yy - c[1])
        m[y0:y1, x0:x1] = (rr >= r0) & (rr < r1)
    return m


def _min_contrast(g: np.ndarray) -> float:
    """`StackParams.disc_min_contrast_dn` in the units of `g` (grey levels of 255, or 0-1 when its values are)."""
    return PARAMS.stack.disc_min_contrast_dn * (1 / 255 if g.max() <= 1 else 1)


def _dark_disc_centre(img: np.ndarray, c, r_px: float) -> tuple[np.ndarray, float] | None:
    """Centroid (u, v) of the dark plunger disc near c and its equivalent radius (px)."""
    g = img.astype(np.float32)
    inner = g[_ring_mask(g.shape, c, 0, 0.8 * r_px)]
    ring = g[_ring_mask(g.shape, c, 1.25 * r_px, 1.6 * r_px)]
    if inner.size < 10 or ring.size < 10:
        return None
    lo, hi = np.percentile(inner, 30), np.median(ring)
    if hi - lo < _min_contrast(g):
        return None
    local = _ring_mask(g.shape, c, 0, 1.5 * r_px)
    m = ((g < 0.5 * (lo + hi)) & local).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n, lab, st, cen = cv2.connectedComponentsWithStats(m)
    if n < 2:
        return None
    k = 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))
    blob = (lab == k).astype(np.uint8)
    cnts, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(blob)
    cv2.drawContours(filled, cnts, -1, 1, -1)  # fill the highlight hole
    M = cv2.moments(filled, binaryImage=True)
    if M["m00"] < 0.3 * math.pi * r_px**2:
        return None
    return np.array([M["m10"] / M["m00"], M["m01"] / M["m00"]]), math.sqrt(M["m00"] / math.pi)


_RIM_RAYS = 72


def _rim_edge_circle(img: np.ndarray, c, r_px: float):
    """The plunger's rim in one slice: a circle through the steepest dark-to-bright step on rays from `c` (the
    innermost strong one, not the bore's beyond it), or None when the fit fails or its radius is not the plunger's.

    A thresholded outline moves with the brightness around it, which is uneven around a pin seen off its own axis
    (off the lens axis, or leaning): its centroid lies on the axis well below the rim (`StackParams.
    disc_centre_height_mm`); the steepest step stays on the rim's edge (`StackParams.rim_edge_centre_height_mm`)."""
    P = PARAMS.stack
    g = cv2.GaussianBlur(img.astype(np.float32), (0, 0), P.rim_edge_smooth_px)
    fit = radial_edge_circle(g, c, r_px, polarity="rising", band_px=P.rim_edge_band_rel * r_px, n_rays=_RIM_RAYS, first=True,
                             drop_clipped=True)
    # a quarter of the outline at least (a disc cut by the image edge), and the plunger's radius
    if not fit.ok or fit.n_points < 0.25 * _RIM_RAYS or abs(fit.radius_px - r_px) > P.rim_edge_radius_tol_rel * r_px:
        return None
    return fit


def _rim_edge_centre(img: np.ndarray, c, r_px: float, limb_dz_mm: float) -> tuple[np.ndarray, float, float] | None:
    """`_rim_edge_circle`'s centre as `_Centres` takes it: (centre px, its standard uncertainty px, its height on the
    axis above the rim's height mm), or None. The outline lies where the rim curve focuses: `limb_dz_mm` above the
    equator on a hemispherical dome (`limb_offset_mm`)."""
    fit = _rim_edge_circle(img, c, r_px)
    if fit is None:
        return None
    P = PARAMS.stack
    return fit.center_px, max(fit.u_center_px, P.rim_edge_centre_u_px), limb_dz_mm + P.rim_edge_centre_height_mm


def _arc_circle(blob: np.ndarray, r_px: float, tol_px: float, *, c=None, r_min_px: float = 0.0, r_max_px: float | None = None):
    """Circle fitted to the visible arc of the outline of the largest blob of `blob` (points on the
    image border left out, and those nearer `c` than `r_min_px`: the inner outline of a ring cut open by
    the border), checked against the expected radius `r_px` (or up to `r_max_px`) within `tol_px`; None if
    less than a quarter of the outline is visible or the circle is not that radius."""
    H, W = blob.shape
    n, lab, st, _ = cv2.connectedComponentsWithStats(blob)
    if n < 2:
        return None
    k = 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))
    cnts, _ = cv2.findContours((lab == k).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    P = max(cnts, key=len).reshape(-1, 2).astype(float)
    P = P[(P[:, 0] > 1) & (P[:, 0] < W - 2) & (P[:, 1] > 1) & (P[:, 1] < H - 2)]
    if c is not None:
        P = P[np.hypot(P[:, 0] - c[0], P[:, 1] - c[1]) >= r_min_px]
    if len(P) < 0.5 * math.pi * r_px:  # less than a quarter of the outline visible
        return None
    fit = fit_circle(P)
    if not fit.ok or not (r_px - tol_px <= fit.radius_px <= max(r_px, r_max_px or r_px) + tol_px):
        return None
    return fit


def _arc_disc_centre(img: np.ndarray, c, r_px: float, search_px: float, *, bore_px: float | None = None):
    """A dark plunger disc cut by the image edge: the circle (`CircleFit`) of the visible arc of its
    outline, or None. The outline is the plunger's rim, or the bore's when the clearance between them
    is dark too (`bore_px`, its radius): its radius follows from the recipe (within a pixel of blur and
    thresholding, or 10 %)."""
    g = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.0)
    fit = None
    for _ in range(2):  # the second pass from the first's centre: a guess a third of the radius off mixes the references
        inner = g[_ring_mask(g.shape, c, 0, 0.5 * r_px)]
        # the bright reference is the lit barrel top around the bore, wherever it is in view (beyond it the defocused
        # flange and the board can be as dark as the plunger)
        ring = g[_ring_mask(g.shape, c, 1.0 * r_px + search_px, 1.6 * r_px + search_px)]
        if inner.size < 10 or ring.size < 10:
            return fit
        lo, hi = np.percentile(inner, 30), np.percentile(ring, 90)
        if hi - lo < _min_contrast(g):
            return fit  # nothing dark there: the threshold would cut a blob out of the noise
        thr = 0.5 * (lo + hi)
        m = ((g < thr) & _ring_mask(g.shape, c, 0, 1.2 * r_px + search_px)).astype(np.uint8)
        got = _arc_circle(m, r_px, max(2.0, 0.1 * r_px), r_max_px=bore_px)
        if got is None:
            # the dome's highlight is a bright hole in the disc; cut open by the image edge it is no hole but a bite out
            # of the outline, whose contour the circle followed (draw 40517 boards 19, 21, 55): closed, as a hole is
            k = max(3, int(0.6 * r_px) | 1)
            m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
            got = _arc_circle(m, r_px, max(2.0, 0.1 * r_px), r_max_px=bore_px)
        if got is None:
            return fit
        fit, c, search_px = got, got.center_px, min(search_px, 2.0)
    return fit


def _arc_barrel_centre(img: np.ndarray, c, r_in_px: float, r_out_px: float, r_halo_px: float):
    """The bright barrel-top disc cut by the image edge: the circle (`CircleFit`) of the visible arc of
    its outer outline, or None. The top face's outline lies inside the barrel's radius by its broken
    edge (0.01-0.06 mm, `TopParams.rim_edge_break_mm`), blur and the threshold move it by a pixel or
    two: its radius must be the barrel's within 10 % and 2 px."""
    g = img.astype(np.float32)
    ring = g[_ring_mask(g.shape, c, r_in_px + 0.3 * (r_out_px - r_in_px), r_out_px * 0.95)]
    halo = g[_ring_mask(g.shape, c, r_out_px * 1.15, r_halo_px)]
    if ring.size < 10 or halo.size < 10:
        return None
    thr = 0.5 * (np.median(ring) + np.median(halo))
    m = ((g > thr) & _ring_mask(g.shape, c, 0, 1.1 * r_halo_px)).astype(np.uint8)
    return _arc_circle(m, r_out_px, 0.1 * r_out_px + 2.0, c=c, r_min_px=0.5 * (r_in_px + r_out_px))


def _dark_in_bright(img: np.ndarray, c, r_dark_px: float, r_bright_px: float, search_px: float, *, min_seen: float = 0.3):
    """The centre within `search_px` of `c` where a dark disc (radius `r_dark_px`) stands most below the bright
    annulus around it (out to `r_bright_px`), judged on the pixels in the image only (the centre may lie outside
    it, as long as `min_seen` of both the disc and the annulus are in view); None where nowhere is."""
    g = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.0)
    R = int(math.ceil(r_bright_px))
    pad = int(math.ceil(search_px)) + R
    x0, y0 = int(round(c[0])) - pad, int(round(c[1])) - pad
    H, W = g.shape
    win = np.zeros((2 * pad + 1, 2 * pad + 1), np.float32)
    seen = np.zeros_like(win)
    xs0, ys0, xs1, ys1 = max(x0, 0), max(y0, 0), min(x0 + 2 * pad + 1, W), min(y0 + 2 * pad + 1, H)
    if xs0 >= xs1 or ys0 >= ys1:
        return None
    win[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0] = g[ys0:ys1, xs0:xs1]
    seen[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0] = 1.0
    yy, xx = np.mgrid[-R : R + 1, -R : R + 1]
    rr = np.hypot(xx, yy)
    disc, ring = (rr <= r_dark_px).astype(np.float32), ((rr > 1.1 * r_dark_px) & (rr <= r_bright_px)).astype(np.float32)

    def mean_over(k):
        n = cv2.filter2D(seen, -1, k, borderType=cv2.BORDER_CONSTANT)
        return cv2.filter2D(win, -1, k, borderType=cv2.BORDER_CONSTANT) / np.maximum(n, 1e-6), n / k.sum()

    md, fd = mean_over(disc)
    mr, fr = mean_over(ring)
    score = np.where((fd >= min_seen) & (fr >= min_seen), mr - md, -np.inf)
    near = np.hypot(*np.mgrid[-pad : pad + 1, -pad : pad + 1][::-1]) <= search_px
    score[~near] = -np.inf
    k = np.unravel_index(int(np.argmax(score)), score.shape)
    if not np.isfinite(score[k]) or score[k] <= 0:
        return None
    return np.array([x0 + k[1], y0 + k[0]], float)


def _partial_pin(pid: str, c, imgs, F, z, step: float, radii: tuple[float, float, float], s: float, geometry: PinGeometry,
                 pad_top_z_mm: float, search_px: float) -> MicroPin:
    """A pin partly outside the stack's view: its tip height from the visible arc of the plunger rim, its
    axis (tilt, base) from the centres of the circles fitted to the visible arcs of the rim and of the
    barrel top, each with the fit's covariance (at least `StackParams.arc_centre_u_px`)."""
    rp, rb, rf = radii
    why = "the pin lies partly outside this stack's view"
    mid = imgs[len(imgs) // 2]
    bore = geometry.bore_radius_mm / s
    fit = _arc_disc_centre(mid, c, rp, search_px=0.5 * rp, bore_px=bore)
    if fit is None:
        # a leaning pin's plunger lies off the recipe's place by its lean (3.8 deg: 0.2 mm, 24 px at 9 um/px; draw
        # 31337 board 22 P01): where its disc is, the visible part of a dark disc in a bright barrel top says
        c2 = _dark_in_bright(mid, c, bore, 0.9 * rb, search_px)
        if c2 is not None:
            fit = _arc_disc_centre(mid, c2, rp, search_px=0.5 * rp, bore_px=bore)
    if fit is None:
        # as a whole pin without its dark disc: maybe nothing there (a missing pin's empty pad is no barrel top either)
        return MicroPin(pid, tuple(c), False, f"{why}; its plunger's visible arc was not found", pin_seen=False)
    cen = fit.center_px
    # the search reaches far (a leaning pin's plunger lies off its place): beside a missing pin's defocused pad it found
    # an arc of the dark board around it (draw 92857 board 38 P03), which no lit barrel top rings
    unlit = _unlit_disc(mid, cen, rp, bore, rb)
    if unlit:
        return MicroPin(pid, tuple(c), False, f"{why}; {unlit}", pin_seen=False)
    rim_curve = _feature_curve(F, cen, 0.92 * rp, 1.12 * rp)
    pk = _peak(z, rim_curve, step)
    k_rim = None
    if math.isfinite(pk.z_mm):
        k_rim = int(np.argmin(np.abs(z - pk.z_mm)))
        fit2 = _arc_disc_centre(imgs[k_rim], cen, rp, search_px=2.0, bore_px=bore)
        if fit2 is not None:
            fit, cen = fit2, fit2.center_px
            rim_curve = _feature_curve(F, cen, 0.92 * rp, 1.12 * rp)
            pk = _peak(z, rim_curve, step)
    if not math.isfinite(pk.z_mm):
        mp = _sunk_rim(pid, cen, pk.why, z, rim_curve, step, geometry, pad_top_z_mm)
        mp.reason = f"{why}; {mp.reason}"
        return mp
    mp, z_rim, u_rim, limb_dz = _rim_pin(pid, cen, pk, geometry, flange_why=why)
    mp.curves["rim"] = rim_curve
    # the barrel top: its visible arc near its nominal height, its height where its curve peaks
    sm = lambda im: cv2.GaussianBlur(im.astype(np.float32), (0, 0), 1.5)  # noqa: E731
    k_b = int(np.argmin(np.abs(z - (pad_top_z_mm + geometry.h_barrel_top_mm))))
    bfit = _arc_barrel_centre(sm(imgs[k_b]), cen, rp, rb, 0.5 * (rb + rf))
    cb = bfit.center_px if bfit is not None else cen
    bc = _feature_curve(F, cb, rb - 0.15 * (rb - rp), rb + 0.15 * (rb - rp))
    mp.barrel_top_z_mm, mp.u_barrel_top_z_mm, mp.barrel_why = _barrel_height(z, bc, step, z_rim)
    zb, u_zb, base_dz = _axis_barrel_top(mp, z_rim, u_rim, pad_top_z_mm, geometry)
    if not mp.tilt_uses_nominal_barrel and bfit is not None:
        k_b = int(np.argmin(np.abs(z - zb)))
        bfit = _arc_barrel_centre(sm(imgs[k_b]), cb, rp, rb, 0.5 * (rb + rf)) or bfit
    mp.curves["barrel"] = bc
    if bfit is None:
        mp.reason = f"tilt not measured: {why} and its barrel top's visible arc was not found"
        mp.xy_why = f"{why} and its barrel top's visible arc was not found"
        return mp
    mp.barrel_center_px = tuple(bfit.center_px)
    P = PARAMS.stack
    u_arc = P.arc_centre_u_px
    rim_c, u_rim_px, rim_h = (_rim_edge_centre(imgs[k_rim], cen, rp, limb_dz)
                              or (np.asarray(cen, float), max(u_arc, fit.u_center_px), P.arc_rim_centre_height_mm))
    mp.centres = _Centres(rim_c, z_rim - z[k_rim], u_rim_px, np.asarray(bfit.center_px, float), zb - z[k_b], max(u_arc, bfit.u_center_px),
                          z_rim, u_rim, zb, u_zb, base_dz, rim_h, P.disc_centre_height_mm)
    return mp


def _lit_all_round(img: np.ndarray, c, r_dark_px: float, r_in_px: float, r_out_px: float, *, sectors: int = 12) -> tuple[float, int]:
    """How much of the in-view part of the annulus `r_in_px`..`r_out_px` around `c` is lit against the dark disc
    inside `r_dark_px`: the share of its angular sectors (of `sectors`, those with pixels in view) whose brightest
    tenth stands at least half as far above the disc's darker third as the brightest sector's does, and how many
    sectors are in view.

    A plunger disc is ringed by its lit barrel top all round (a leaning pin shifts the ring within the band, solder
    dulls it evenly); the dark board beside a missing pin's defocused pad is bright only on the pad's side."""
    g = np.asarray(img, np.float32)
    H, W = g.shape
    x0, x1 = max(int(math.floor(c[0] - r_out_px)), 0), min(int(math.ceil(c[0] + r_out_px)) + 1, W)
    y0, y1 = max(int(math.floor(c[1] - r_out_px)), 0), min(int(math.ceil(c[1] + r_out_px)) + 1, H)
    if x0 >= x1 or y0 >= y1:
        return 0.0, 0
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dx, dy = xx - c[0], yy - c[1]
    rr = np.hypot(dx, dy)
    win = g[y0:y1, x0:x1]
    disc = win[rr <= r_dark_px]
    if disc.size < 10:
        return 0.0, 0
    dark = float(np.percentile(disc, 30))
    band = (rr >= r_in_px) & (rr <= r_out_px)
    k = ((np.arctan2(dy, dx) + math.pi) / (2 * math.pi) * sectors).astype(int) % sectors
    lit = [float(np.percentile(win[band & (k == j)], 90)) - dark for j in range(sectors) if np.count_nonzero(band & (k == j)) >= 5]
    if not lit:
        return 0.0, 0
    top = max(lit)
    if top <= 0:
        return 0.0, len(lit)
    return float(np.mean(np.asarray(lit) >= 0.5 * top)), len(lit)


def _unlit_disc(img: np.ndarray, c, rp: float, bore: float, rb: float) -> str:
    """Why the dark disc at `c` is no plunger ('' when it is one): no lit barrel top rings it (`_lit_all_round` over
    the band from the bore's clearance to just beyond the barrel, below `StackParams.disc_lit_min_share`)."""
    lit, n = _lit_all_round(img, c, 0.5 * rp, rp + 0.5 * (bore - rp), 1.1 * rb)
    if lit >= PARAMS.stack.disc_lit_min_share:
        return ""
    return f"the dark disc found is no plunger: no lit barrel top rings it ({lit:.0%} of {n} sectors lit)"


def _bright_disc_centre(img: np.ndarray, c, r_in_px: float, r_out_px: float, r_halo_px: float):
    """Centre of the bright barrel-top disc (annulus r_in..r_out, its hole filled), or None."""
    g = img.astype(np.float32)
    ring = g[_ring_mask(g.shape, c, r_in_px + 0.3 * (r_out_px - r_in_px), r_out_px * 0.95)]
    halo = g[_ring_mask(g.shape, c, r_out_px * 1.15, r_halo_px)]
    if ring.size < 10 or halo.size < 10:
        return None
    thr = 0.5 * (np.median(ring) + np.median(halo))
    m = ((g > thr) & _ring_mask(g.shape, c, 0, 1.1 * r_halo_px)).astype(np.uint8)
    n, lab, st, _ = cv2.connectedComponentsWithStats(m)
    if n < 2:
        return None
    k = 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))
    cnts, _ = cv2.findContours((lab == k).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cnt = max(cnts, key=cv2.contourArea)
    if len(cnt) < 8:
        return None
    filled = np.zeros_like(m)
    cv2.drawContours(filled, [cnt], -1, 1, -1)
    M = cv2.moments(filled, binaryImage=True)
    if M["m00"] < 0.5 * math.pi * r_in_px**2:
        return None
    return np.array([M["m10"] / M["m00"], M["m01"] / M["m00"]])


def locate_pins(image: np.ndarray, *, plunger_radius_px: float, barrel_radius_px: float, max_pins: int,
                min_separation_px: float) -> np.ndarray:
    """Candidate pin centres (K, 2) px: dark disc in a bright ring, by normalised template matching."""
    g = image.astype(np.float32)
    R = int(math.ceil(barrel_radius_px * 1.3))
    yy, xx = np.mgrid[-R : R + 1, -R : R + 1]
    rr = np.hypot(xx, yy)
    tpl = np.where(rr < plunger_radius_px, 0.0, np.where(rr < barrel_radius_px, 1.0, 0.5)).astype(np.float32)
    score = cv2.matchTemplate(g, tpl, cv2.TM_CCOEFF_NORMED)
    out = []
    s = score.copy()
    for _ in range(max_pins):
        _, mx, _, loc = cv2.minMaxLoc(s)
        if mx < 0.4:
            break
        out.append((loc[0] + R, loc[1] + R))
        cv2.circle(s, loc, int(min_separation_px), -1.0, -1)
    return np.array(out, float).reshape(-1, 2)


def _feature_curve(F: np.ndarray, c, r0: float, r1: float) -> np.ndarray:
    m = _ring_mask(F.shape[1:], c, r0, r1)
    return F[:, m].mean(axis=1)


@dataclass(frozen=True)
class _Peak:
    """A focus curve's refined peak (`_peak`): height, standard uncertainty, or why there is none."""

    z_mm: float
    u_mm: float
    why: str = ""
    #: (residual variance of log focus, its degrees of freedom, the vertex's variance per unit of it in mm^2) when
    #: the peak is a least-squares fit, which `_pool_rim_noise` pools over a stack's pins; None otherwise
    noise: tuple[float, int, float] | None = None


def _height(z: np.ndarray, curve: np.ndarray, step: float, *, min_contrast: float = 1.3):
    """Refined focus-curve peak with uncertainty, or (nan, nan, why): `_peak` as a tuple."""
    p = _peak(z, curve, step, min_contrast=min_contrast)
    return p.z_mm, p.u_mm, p.why


def _peak(z: np.ndarray, curve: np.ndarray, step: float, *, min_contrast: float = 1.3) -> _Peak:
    """Refined focus-curve peak with uncertainty, or a `_Peak` of nan with why."""
    nan = float("nan")
    zp, sigma, k = refine_peak(z, curve)
    lo = float(np.min(curve))
    if k == 0 or k == len(z) - 1:
        side = "below" if k == 0 else "above"
        return _Peak(nan, nan, f"its focus peak is on the {'first' if k == 0 else 'last'} slice (the surface lies {side} the stack's z range)")
    if not math.isfinite(zp) or curve[k] < min_contrast * lo:
        return _Peak(nan, nan, "its focus curve has no clear peak")
    if zp < z[0] + step or zp > z[-1] - step:
        # a peak within one step of the end is most often the tail of a surface outside the range
        return _Peak(nan, nan, "its focus peak is within one step of the end of the stack (the surface may lie outside it)")
    if _tail_of_a_surface_beyond(z, curve, k, lo):
        return _Peak(nan, nan, ("its focus curve does not fall between its peak and the end of the stack as "
                                "it falls on its other side (the tail of a surface beyond the range)"))
    # 0.1 step for the peak fit (stated bound of the method on generated stacks) and the curve width
    # scaled by the relative noise of the curve (floor / peak).
    u = math.hypot(0.1 * step, (sigma if math.isfinite(sigma) else step) * lo / curve[k] * 0.05)
    m = min(int(round(sigma / step)) if math.isfinite(sigma) else 1, 3, k, len(z) - 1 - k)
    if m >= 2:
        # a focus curve wider than the step: the three top samples carry its noise straight into the
        # peak (rendered type-A rims: 22 um off at a 50 um step); a least-squares parabola in log
        # focus over about one curve sigma either side averages it, and its residuals say how well
        got = _lsq_log_peak(z[k - m : k + m + 1], curve[k - m : k + m + 1])
        if got is not None:
            zp, s2, dof, gain = got
            return _Peak(zp, math.hypot(0.1 * step, math.sqrt(s2 * gain)), "", (s2, dof, gain))
    return _Peak(zp, u)


def _rim_pin(pid: str, c, rim: _Peak, geometry: PinGeometry, **fields) -> tuple[MicroPin, float, float, float]:
    """A pin whose plunger rim's focus peaked at `rim`: the rim's height is the peak's less the limb's offset
    (`limb_offset_mm`), the apex a dome's cap above it. Returns the pin, the rim's height and its standard uncertainty
    (mm), and the limb's offset (mm)."""
    limb_dz, u_limb = limb_offset_mm(geometry)
    z_rim, u_rim = rim.z_mm - limb_dz, math.hypot(rim.u_mm, u_limb)
    mp = MicroPin(pid, (float(c[0]), float(c[1])), True, apex_z_mm=z_rim + geometry.cap_mm, u_apex_z_mm=math.hypot(u_rim, 0.002),
                  rim_z_mm=z_rim, rim_noise=rim.noise, **fields)
    return mp, z_rim, u_rim, limb_dz


def _pool_rim_noise(pins: list[MicroPin]) -> None:
    """Tip heights' uncertainties from one noise level for the rim curves of one stack.

    A least-squares peak through 5-7 slices has 2-4 degrees of freedom: its own residual variance is too uncertain
    to judge a tolerance by (a flat-topped rim curve put a marginal pin's u at 36 um, four times its error: REVIEW
    `tip_height`, draw 50503). The rims of one stack share optics, finish and noise, and their residual variances
    scatter no more than chi-square sampling alone would (Smyth's moderated-variance prior, fitted to 71 rim fits of
    21 stacks -- rendered-dev's four and 17 of draws 47711-47712 --: prior degrees of freedom infinite, per type too),
    so the stack's pooled variance (their residual sums of squares over their degrees of freedom) stands for each; a
    stack of one pin keeps its own."""
    fitted = [mp for mp in pins if mp.rim_noise is not None and math.isfinite(mp.u_apex_z_mm)]
    if len(fitted) < 2:
        return
    s2 = sum(mp.rim_noise[0] * mp.rim_noise[1] for mp in fitted) / sum(mp.rim_noise[1] for mp in fitted)
    for mp in fitted:
        own, _, gain = mp.rim_noise
        mp.u_apex_z_mm = math.sqrt(max(mp.u_apex_z_mm**2 + (s2 - own) * gain, 0.0))


def _tail_of_a_surface_beyond(z: np.ndarray, curve: np.ndarray, k: int, lo: float) -> bool:
    """Whether the peak at `k`, a few steps from an end of the stack, is a bump on the tail of a surface beyond
    that end: a surface's own curve falls towards the end as it falls on its other side (its half width there
    gives its Gaussian sigma); one that stays up by more than `focus_tail_excess` of the peak's height over what
    that sigma predicts is another surface's tail (solder in a plunger gap below the range took the rim's place,
    0.3 mm low: draw 31337 board 12 P02)."""
    P = PARAMS.stack
    n = len(z)
    e = 0 if k <= n - 1 - k else n - 1
    if abs(e - k) > P.focus_tail_steps:
        return False
    height = float(curve[k]) - lo
    half = lo + 0.5 * height
    step = 1 if e == 0 else -1  # away from the end
    j = k
    while 0 <= j + step < n and curve[j + step] > half:
        j += step
    if not 0 <= j + step < n:
        return False  # it never falls to half on its other side: no width to judge by
    a, b = float(curve[j]), float(curve[j + step])
    hwhm = abs(z[j] - z[k]) + abs(z[j + step] - z[j]) * (a - half) / max(a - b, 1e-12)
    sigma = hwhm / math.sqrt(2 * math.log(2))
    d = abs(z[e] - z[k])
    expected = height * math.exp(-0.5 * (d / sigma) ** 2)
    return float(curve[e]) - lo - expected > P.focus_tail_excess * height


def _barrel_height(z: np.ndarray, curve: np.ndarray, step: float, z_rim_mm: float):
    """`_height` of a barrel-top curve, which must peak below the plunger rim: a barrel top never rises to its own
    rim (a plunger pressed fully home still stands 0.2 mm above it). A peak above it is another feature's -- a
    neighbour's rim or barrel reaching into the ring of a pin cut by the image edge (draw 40517 boards 19 and 41:
    3.43 mm for a barrel top at 2.32) -- and the barrel top is then as unmeasured as one below the stack."""
    zb, u, why = _height(z, curve, step)
    if math.isfinite(zb) and zb > z_rim_mm - PARAMS.stack.min_rim_above_barrel_mm:
        return float("nan"), float("nan"), f"its focus peak ({zb:.3f} mm) is not below the plunger rim ({z_rim_mm:.3f} mm): another feature's"
    return zb, u, why


def _sunk_rim(pid: str, c, why: str, z: np.ndarray, curve: np.ndarray, step: float, geometry: PinGeometry,
              pad_top_z_mm: float) -> MicroPin:
    """A pin whose plunger rim focuses at or within one step of the stack's lowest slice: the rim lies below the
    stack's range. A plunger cannot sink below its barrel's top (pressed fully home), so its rim lies between
    that and the range's first step, and the tip a dome's cap above it: ``apex_range_mm`` (``apex_z_mm`` its
    middle, ``u_apex_z_mm`` a uniform distribution's over it, width / sqrt 12). The pin stays not ok and its tip
    unmeasured; the inspection judges the tolerance on the interval (`vision.inspect.stack`, cue ``tip_height``).
    The stacks are taken about the nominal tip, so such a tip lies far below its tolerance (depressed plungers,
    rendered draws 17389 and 33305: REVIEW `not_measured` before). Anything else stays as it was."""
    mp = MicroPin(pid, tuple(float(v) for v in c), False, f"plunger rim: {why}")
    zp, _, k = refine_peak(z, curve)
    if not (k == 0 or (math.isfinite(zp) and zp < z[0] + step)) or curve[k] < 1.3 * float(np.min(curve)):
        return mp
    lo, hi = pad_top_z_mm + geometry.h_barrel_top_mm, float(z[0]) + step
    if hi <= lo:
        return mp  # the stack reaches below the barrel top: a rim there is no plunger's
    mp.apex_z_mm = 0.5 * (lo + hi) + geometry.cap_mm
    mp.u_apex_z_mm = (hi - lo) / math.sqrt(12.0)
    mp.apex_range_mm = (lo + geometry.cap_mm, hi + geometry.cap_mm)
    mp.reason = (f"plunger rim below the stack's range (its focus peaks at its lowest slice): the tip lies between "
                 f"{mp.apex_range_mm[0]:.3f} and {mp.apex_range_mm[1]:.3f} mm (a plunger sinks no lower than its barrel top)")
    return mp


def _lsq_log_peak(z: np.ndarray, f: np.ndarray) -> tuple[float, float, int, float] | None:
    """Vertex of a least-squares parabola through log f(z), or None when the fit has no maximum inside the samples.

    Returns ``(z_vertex, s2, dof, gain)``: the residuals' variance (log units) with its degrees of freedom, and the
    vertex's variance per unit of it (mm^2; the delta method through the fit's covariance), so that its standard
    uncertainty is ``sqrt(s2 * gain)`` -- or that with a noise level pooled over curves of one kind."""
    x = z - z.mean()
    y = np.log(np.maximum(f, 1e-30))
    V = np.column_stack([np.ones_like(x), x, x * x])
    coef, *_ = np.linalg.lstsq(V, y, rcond=None)
    c0, b, a = coef
    if a >= 0:
        return None
    xv = -b / (2 * a)
    if not (x[0] <= xv <= x[-1]):
        return None
    r = y - V @ coef
    dof = max(len(x) - 3, 1)
    g = np.array([0.0, -1 / (2 * a), b / (2 * a * a)])
    gain = max(float(g @ np.linalg.inv(V.T @ V) @ g), 0.0)
    return float(z.mean() + xv), float(r @ r) / dof, dof, gain


def measure_pins(
    images: np.ndarray,
    z_mm: np.ndarray,
    record: CalibrationRecord,
    geometry: PinGeometry,
    *,
    pad_top_z_mm: float = 0.0,
    expected_px: dict[str, tuple[float, float]] | None = None,
    ids: list[str] | None = None,
    search_radius_px: float | None = None,
    measure: str = "sml",
) -> list[MicroPin]:
    """Measure every pin in a focus stack.

    Parameters
    ----------
    images : ndarray (N, H, W[, 3])
        Slices in increasing z (mm, board frame: z = 0 on the board surface).
    z_mm : ndarray (N,)
    record : CalibrationRecord
        The microscope's record at the focus plane (plane origin on the optical axis).
    geometry : PinGeometry
        The pin type (`models.recipe.PinType.geometry`).
    pad_top_z_mm : float
        Pad top above the board surface (the flange bottom of a seated pin).
    expected_px : {id: (u, v)}, optional
        Predicted pin centres (from the stage position and the recipe); pins are searched within
        `search_radius_px` of these. Without it, pins are found by template matching and named
        from `ids` in order of increasing u.

    Returns
    -------
    list of MicroPin
    """
    imgs = np.asarray(images)
    if imgs.ndim == 4:
        imgs = np.stack([luma(i) for i in imgs])
    z = np.asarray(z_mm, float)
    n, H, W = imgs.shape
    record.check_image((H, W), what="focus-stack slice")
    s = record.scale_mm_per_px()
    rp, rb, rf = geometry.plunger_radius_mm / s, geometry.barrel_radius_mm / s, geometry.flange_radius_mm / s
    bore = geometry.bore_radius_mm / s
    step = float(np.median(np.diff(z)))
    mid = imgs[n // 2]
    partial: set[str] = set()
    if expected_px:
        cands = {}
        rad = search_radius_px or 2.5 * rb
        for pid, uv in expected_px.items():
            u, v = uv
            if not (-rb < u < W + rb and -rb < v < H + rb):
                continue
            x0, y0 = int(max(0, u - rad - rb * 1.3)), int(max(0, v - rad - rb * 1.3))
            x1, y1 = int(min(W, u + rad + rb * 1.3)), int(min(H, v + rad + rb * 1.3))
            if not (1.6 * rp <= u <= W - 1 - 1.6 * rp and 1.6 * rp <= v <= H - 1 - 1.6 * rp):
                # the plunger disc and the ring around it reach the image edge: template matching needs the
                # whole pin; the visible arc of the disc's outline is fitted instead (see below)
                partial.add(pid)
                cands[pid] = np.array([u, v], float)
                continue
            if x1 - x0 < 2.6 * rb or y1 - y0 < 2.6 * rb:
                cands[pid] = None
                continue
            found = locate_pins(mid[y0:y1, x0:x1], plunger_radius_px=rp, barrel_radius_px=rb, max_pins=1, min_separation_px=rb)
            cands[pid] = found[0] + (x0, y0) if len(found) else None
    else:
        ids = list(ids or [])
        if not ids:
            raise InputError("the stack names no pins; list them under 'items' in its manifest")
        found = locate_pins(mid, plunger_radius_px=rp, barrel_radius_px=rb, max_pins=len(ids), min_separation_px=2 * rb)
        found = found[np.argsort(found[:, 0])] if len(found) else found
        cands = {pid: (found[i] if i < len(found) else None) for i, pid in enumerate(ids)}

    F = np.stack([focus_measure(im, measure=measure, window_px=3, presmooth_px=0.0) for im in imgs])
    out = []
    for pid, c in cands.items():
        if c is None:
            out.append(MicroPin(pid, (float("nan"), float("nan")), False, "no pin found where the recipe puts it in this stack's view",
                                pin_seen=False))
            continue
        c = np.asarray(c, float)
        if pid in partial:
            out.append(_partial_pin(pid, c, imgs, F, z, step, (rp, rb, rf), s, geometry, pad_top_z_mm, search_radius_px or 2.5 * rb))
            continue
        # centre on the dark disc, then the rim curve, then re-centre in the rim's sharpest slice
        got = _dark_disc_centre(mid, c, rp)
        if got is None:
            out.append(MicroPin(pid, tuple(c), False, "no dark plunger disc at the pin position", pin_seen=False))
            continue
        c = got[0]
        unlit = _unlit_disc(mid, c, rp, bore, rb)
        if unlit:
            out.append(MicroPin(pid, tuple(c), False, unlit, pin_seen=False))
            continue
        rim_curve = _feature_curve(F, c, 0.92 * rp, 1.12 * rp)
        pk = _peak(z, rim_curve, step)
        if not math.isfinite(pk.z_mm):
            out.append(_sunk_rim(pid, c, pk.why, z, rim_curve, step, geometry, pad_top_z_mm))
            continue
        k_rim = int(np.argmin(np.abs(z - pk.z_mm)))
        got = _dark_disc_centre(imgs[k_rim], c, rp)
        if got is not None:
            c = got[0]
            rim_curve = _feature_curve(F, c, 0.92 * rp, 1.12 * rp)
            pk = _peak(z, rim_curve, step)
            if not math.isfinite(pk.z_mm):
                out.append(MicroPin(pid, tuple(c), False, "plunger rim lost after re-centring"))
                continue
        mp, z_rim, u_rim, limb_dz = _rim_pin(pid, c, pk, geometry)
        mp.curves["rim"] = rim_curve
        # outlines by threshold at mid-level on a smoothed slice (blob centroids are immune to the edges of
        # neighbouring rings); the rim then by its steepest step within a band of its radius, where that holds,
        # which does not move with the brightness around it (`_rim_edge_circle`)
        sm = lambda im: cv2.GaussianBlur(im.astype(np.float32), (0, 0), 1.5)  # noqa: E731
        got_r = _dark_disc_centre(sm(imgs[k_rim]), c, rp)
        u_disc = PARAMS.stack.disc_centre_u_px
        rim_c, u_rim_px = (got_r[0], u_disc) if got_r is not None else (c, 1.0)
        rim_h = PARAMS.stack.disc_centre_height_mm
        if got_r is not None:
            rim_c, u_rim_px, rim_h = _rim_edge_centre(imgs[k_rim], got_r[0], rp, limb_dz) or (rim_c, u_rim_px, rim_h)
        # barrel top: its ring is centred on the barrel, which a leaning pin shifts off the plunger;
        # find the disc near the nominal barrel height first, measure its height around that centre
        k_b = int(np.argmin(np.abs(z - (pad_top_z_mm + geometry.h_barrel_top_mm))))
        bcen = _bright_disc_centre(sm(imgs[k_b]), c, rp, rb, 0.5 * (rb + rf))
        cb = bcen if bcen is not None else c
        bc = _feature_curve(F, cb, rb - 0.15 * (rb - rp), rb + 0.15 * (rb - rp))
        mp.barrel_top_z_mm, mp.u_barrel_top_z_mm, mp.barrel_why = _barrel_height(z, bc, step, z_rim)
        zb, u_zb, base_dz = _axis_barrel_top(mp, z_rim, u_rim, pad_top_z_mm, geometry)
        if not mp.tilt_uses_nominal_barrel:
            k_b = int(np.argmin(np.abs(z - zb)))
            bcen = _bright_disc_centre(sm(imgs[k_b]), cb, rp, rb, 0.5 * (rb + rf))
            cb = bcen if bcen is not None else cb
        # flange: centred where the axis (rim centre -> barrel centre) reaches the nominal flange top
        zf_nom = pad_top_z_mm + geometry.flange_thickness_mm
        cf = np.asarray(cb) + (np.asarray(cb) - rim_c) * (zb - zf_nom) / max(z_rim - zb, 1e-3)
        fc = _feature_curve(F, cf, rf - 0.1 * (rf - rb), rf + 0.1 * (rf - rb))
        mp.flange_top_z_mm, mp.u_flange_top_z_mm, mp.flange_why = _height(z, fc, step)
        mp.curves["barrel"], mp.curves["flange"] = bc, fc
        if got_r is None:
            rim_c = None
        # tilt: rim centre vs barrel-top centre, both on the axis (in mm once the stack's perspective is known)
        if bcen is None or rim_c is None:
            mp.reason = "tilt not measured: barrel-top or rim outline not found"
            mp.xy_why = "the barrel-top or rim outline was not found"
        else:
            mp.barrel_center_px = tuple(bcen)
            mp.centres = _Centres(np.asarray(rim_c, float), z_rim - z[k_rim], u_rim_px, np.asarray(bcen, float), zb - z[k_b], u_disc,
                                  z_rim, u_rim, zb, u_zb, base_dz, rim_h, PARAMS.stack.disc_centre_height_mm)
        out.append(mp)
    if expected_px:
        _one_pin_per_place(out, expected_px)
    persp = stack_perspective(imgs, z, record, [mp for mp in out if mp.centres is not None], rp, bore_px=bore)
    for mp in out:
        if mp.centres is not None:
            _axis(mp, record, persp, pad_top_z_mm)
    # a leaning pin's silhouette drifts along its lean with the focus: the perspective is taken again
    # without pins that lean more than a good pin may
    lean = {mp.id for mp in out if mp.centres is not None and mp.tilt_deg > PARAMS.stack.perspective_max_tilt_deg}
    if lean and persp.ids & lean:
        persp = stack_perspective(imgs, z, record, [mp for mp in out if mp.centres is not None and mp.id not in lean], rp,
                                  fallback=persp, bore_px=bore)
        for mp in out:
            if mp.centres is not None:
                _axis(mp, record, persp, pad_top_z_mm)
    _barrel_sheen(imgs, z, out, geometry, s, pad_top_z_mm)
    _pool_rim_noise(out)
    return out


def _one_pin_per_place(pins: list[MicroPin], expected_px: dict) -> None:
    """A pin found nearer another pin's place than its own is that other pin: the one searched for is not seen.

    Why: the search around a pin cut by the stack's edge reaches half a pitch and more (a leaning pin's plunger lies
    off its place by its lean); where that pin is missing it found its neighbour's disc and measured it as its own
    (a missing pin read with the neighbour's tip, 1.36 mm off its place: FAIL `xy_position`, the wrong reason). Two
    pins are never more than half a pitch off their places (they would touch), so the nearer place is the owner."""
    places = {pid: np.asarray(uv, float) for pid, uv in expected_px.items()}
    for i, mp in enumerate(pins):
        c = np.asarray(mp.center_px, float)
        if mp.id not in places or not np.all(np.isfinite(c)):
            continue
        own = float(np.hypot(*(c - places[mp.id])))
        other = min(((float(np.hypot(*(c - q))), pid) for pid, q in places.items() if pid != mp.id), default=(math.inf, ""))
        if other[0] < own:
            pins[i] = MicroPin(mp.id, tuple(float(v) for v in places[mp.id]), False,
                               f"no pin found at its place: the one found {own:.0f} px away is {other[1]}'s, nearer its place",
                               pin_seen=False)


def barrel_top_dull(mp: MicroPin) -> bool:
    """Whether the stack found `mp`'s barrel top dull beside its peers (see `_barrel_sheen`)."""
    return math.isfinite(mp.barrel_sheen) and mp.barrel_sheen < PARAMS.stack.barrel_sheen_dull


def _barrel_sheen(imgs: np.ndarray, z: np.ndarray, pins: list[MicroPin], geometry: PinGeometry, s: float, pad_top_z_mm: float) -> None:
    """Each seen pin's barrel-top sheen: the mean brightness of its barrel top (between bore and barrel radius,
    trimmed by a fifth of that width either side) in the slice nearest the nominal barrel top, over the brightest
    barrel top in the stack.

    Why: solder wicked over the barrel top into the plunger gap is dull grey where gold mirrors the coaxial light
    white, and in focus it sits just under the rim: its curve takes the rim's place (0.3 mm low at a confident
    +-8 um: draw 60493 board 18 P19, type B). A mono stack cannot see solder's colour, but it sees the mirror
    missing. The reference is the stack's own brightest barrel top (same light, exposure and defocus), so a stack
    needs two barrel tops (each at least `StackParams.barrel_sheen_min_seen` in view: an upright top is as bright all
    round) to judge any; one where every top is dull cannot tell. Pins leaning beyond
    `StackParams.barrel_sheen_max_tilt_deg` are not judged (their mirror turns the light away)."""
    P = PARAMS.stack
    img = imgs[int(np.argmin(np.abs(z - (pad_top_z_mm + geometry.h_barrel_top_mm))))]
    rb, rbo = geometry.barrel_radius_mm / s, geometry.bore_radius_mm / s
    r0, r1 = rbo + 0.2 * (rb - rbo), rb - 0.2 * (rb - rbo)
    min_px = P.barrel_sheen_min_seen * math.pi * (r1 * r1 - r0 * r0)
    sheen = {}
    for mp in pins:
        if not mp.pin_seen or not math.isfinite(mp.center_px[0]):
            continue  # a pin whose rim was not measured is still judged: solder in its gap is one reason why
        c = np.asarray(mp.barrel_center_px if math.isfinite(mp.barrel_center_px[0]) else mp.center_px, float)
        m = _ring_mask(img.shape, c, r0, r1)
        if m.sum() < min_px:
            continue  # mostly outside the view
        sheen[mp.id] = float(img[m].mean())
    if len(sheen) < 2:
        return
    ref = max(sheen.values())
    if ref <= 0:
        return
    for mp in pins:
        if mp.id not in sheen:
            continue
        if math.isfinite(mp.tilt_deg) and mp.tilt_deg > P.barrel_sheen_max_tilt_deg:
            mp.barrel_sheen_why = f"not judged: it leans {mp.tilt_deg:.1f} deg, which turns its mirror away"
            continue
        mp.barrel_sheen = sheen[mp.id] / ref


@dataclass
class _Centres:
    """What the axis of one pin is computed from: two centres (px) each seen in one slice, the height of
    its feature above that slice's focus plane (mm), their standard uncertainties (px), and the heights."""

    rim_px: np.ndarray
    rim_dh_mm: float
    u_rim_px: float
    barrel_px: np.ndarray
    barrel_dh_mm: float
    u_barrel_px: float
    z_rim_mm: float
    u_z_rim_mm: float
    z_barrel_mm: float
    u_z_barrel_mm: float
    base_dz_mm: float = 0.0  # the flange bottom above the pad top (a raised pin whose barrel top lies below the stack)
    #: the height (mm) above its feature at which each centre lies on the pin's axis: a thresholded outline seen off the
    #: pin's axis (off the lens axis, or leaning) moves as the axis point below it would (`StackParams.disc_centre_height_mm`)
    rim_h_mm: float = 0.0
    barrel_h_mm: float = 0.0


def _axis_barrel_top(mp: MicroPin, z_rim_mm: float, u_rim_mm: float, pad_top_z_mm: float,
                     geometry: PinGeometry) -> tuple[float, float, float]:
    """The barrel-top height (mm) the axis of `mp` is computed from, its standard uncertainty, and how far the
    flange bottom stands above the pad top: the measured barrel top where the stack reaches it, else its nominal
    height (``mp.tilt_uses_nominal_barrel`` set).

    A plunger never stands out of its barrel beyond its free length, so a rim above its nominal height (seated,
    plunger out) says the whole pin stands that much higher: its barrel top too (a pin raised 0.16 mm and leaning
    4.2 deg read 3.65 deg when its barrel top was taken at the seated height: draw 73529 board 32 P13). A rim at or
    below its nominal height is a seated pin (a depressed plunger lowers the rim, not the barrel): the nominal
    barrel top, within `StackParams.nominal_barrel_top_u_mm`; so is a rim less than twice its own and that spread's
    uncertainty above it (the rim's focus scatters by 10-15 um on type-B domes: read as a raise, it moved good pins'
    bases by up to 3 um).

    A raise read so is kept in ``mp.raise_mm`` (``u_raise_mm``) whether or not the barrel top was measured: the
    seating gap of a pin whose flange lies below the stack (raised pins there read FAIL `tip_height` without
    `not_seated`: draws 24481 and 73529; one raised by less than the tip's tolerance would have passed). A plunger
    stuck part-way down lowers the rim: the raise read is then the least the pin stands up.
    """
    u_seated = PARAMS.stack.nominal_barrel_top_u_mm
    excess = z_rim_mm - pad_top_z_mm - (geometry.axial_length_mm - geometry.cap_mm)
    u_excess = math.hypot(u_seated, u_rim_mm)
    raised = excess > 2 * u_excess  # else seated within the rim's noise and a seated pin's spread: no raise read
    if raised:
        mp.raise_mm, mp.u_raise_mm = excess, u_excess
    if math.isfinite(mp.barrel_top_z_mm):
        return mp.barrel_top_z_mm, mp.u_barrel_top_z_mm, 0.0
    mp.tilt_uses_nominal_barrel = True
    if not raised:
        return pad_top_z_mm + geometry.h_barrel_top_mm, u_seated, 0.0
    return pad_top_z_mm + geometry.h_barrel_top_mm + excess, u_excess, excess


@dataclass
class StackPerspective:
    """How the image scale of a feature changes with its height above the focus plane.

    A camera and lens moved together along z keep the focus plane's scale, but a perspective lens shows a
    point ``dh`` above the focus plane magnified by ``D / (D - dh)`` about the optical axis (D: working
    distance). ``inv_distance_per_mm`` is 1/D (0 for a telecentric lens), ``u`` its standard uncertainty;
    ``source`` says where it came from; ``ids`` the pins it was measured on."""

    inv_distance_per_mm: float
    u: float
    source: str
    ids: set = field(default_factory=set)


def stack_perspective(imgs: np.ndarray, z: np.ndarray, record: CalibrationRecord, pins: list[MicroPin], plunger_radius_px: float,
                      *, fallback: StackPerspective | None = None, bore_px: float | None = None) -> StackPerspective:
    """1/D of the microscope: from a pinhole record's working distance, else from the stack itself.

    A telecentric record (one target image at one focus cannot tell a perspective lens from a telecentric
    one) says nothing about D, but the stack does: the plunger disc of a pin ``p`` mm off the optical axis
    moves towards the axis by ``p / D`` per mm the focus plane rises (a disc cut by the image edge: the
    circle of its visible arc). Each pin at least
    ``rotation_min_lever_mm`` off the axis gives 1/D from the slope of its disc centroid over the slices
    (least squares, uncertainty from the residuals); the pins' values are combined by weighted mean, their
    scatter included, and divided by `disc_drift_ratio` (the disc's outline rises up the plunger with the focus,
    so it drifts slower than a point), whose spread is `perspective_rel_u`. Without such a pin the perspective is taken as telecentric with the uncertainty of
    the nearest pin's lever (its effect there is below that)."""
    D = working_distance_mm(record)
    if math.isfinite(D):
        return StackPerspective(1.0 / D, 0.0, "the calibration record's working distance")
    ax = axis_mm_to_px(record, np.zeros(2))
    s = record.scale_mm_per_px()
    lever_px = PARAMS.stack.rotation_min_lever_mm / s
    vals, us, ids = [], [], set()
    r = int(math.ceil(1.6 * plunger_radius_px)) + 2
    H, W = imgs.shape[1:]
    for mp in pins:
        c = np.asarray(mp.center_px, float)
        p = c - ax
        if float(np.hypot(*p)) < lever_px:
            continue
        x0, y0 = max(int(c[0]) - r, 0), max(int(c[1]) - r, 0)
        x1, y1 = min(int(c[0]) + r + 1, W), min(int(c[1]) + r + 1, H)
        cut = (x0, y0, x1, y1) != (int(c[0]) - r, int(c[1]) - r, int(c[0]) + r + 1, int(c[1]) + r + 1)
        off = np.array([x0, y0], float)
        cs, zs = [], []
        # ten slices over the stack's range measure the slope to well under its 20 % systematic
        for k in range(0, len(z), max(1, len(z) // 10)):
            g = imgs[k, y0:y1, x0:x1].astype(np.float32)
            if cut:  # a disc cut by the image edge: the circle of its visible arc
                fit = _arc_disc_centre(g, c - off, plunger_radius_px, search_px=2.0, bore_px=bore_px)
                got = None if fit is None else (fit.center_px,)
            else:
                got = _dark_disc_centre(cv2.GaussianBlur(g, (0, 0), 1.5), c - off, plunger_radius_px)
            if got is not None:
                cs.append(got[0] + off)
                zs.append(z[k])
        if len(zs) < 5:
            continue
        cs, zs = np.asarray(cs), np.asarray(zs)
        V = np.column_stack([np.ones_like(zs), zs - zs.mean()])
        coef, *_ = np.linalg.lstsq(V, cs, rcond=None)
        res = cs - V @ coef
        s2 = float((res**2).sum()) / max(2 * (len(zs) - 2), 1)
        u_slope = math.sqrt(s2 / float(((zs - zs.mean()) ** 2).sum()))
        pp = float(p @ p)
        vals.append(-float(coef[1] @ p) / pp)  # slope = -p / D (px per mm)
        us.append(u_slope / math.sqrt(pp))
        ids.add(mp.id)
    if not vals:
        if fallback is not None:
            return fallback
        kmax = 1.0 / PARAMS.stack.min_working_distance_mm
        return StackPerspective(0.5 * kmax, kmax / math.sqrt(12.0), "no pin off the optical axis to measure it on: 1/D uniform "
                                "between telecentric and the shortest working distance", ids)
    v, u = np.asarray(vals), np.asarray(us)
    w = 1 / np.maximum(u, 1e-9) ** 2
    mean = float((w * v).sum() / w.sum())
    u_mean = math.sqrt(1 / w.sum())
    if len(v) > 1:
        u_mean = math.hypot(u_mean, float(np.std(v, ddof=1)) / math.sqrt(len(v)))
    # the disc's outline rises up the plunger with the focus: it drifts by disc_drift_ratio of a point's rate
    ratio = PARAMS.stack.disc_drift_ratio
    mean, u_mean = mean / ratio, u_mean / ratio
    u_mean = math.hypot(u_mean, PARAMS.stack.perspective_rel_u * abs(mean))
    return StackPerspective(mean, u_mean, f"the stack: plunger discs of {len(v)} pin(s) drifting with the focus", ids)


def _axis(mp: MicroPin, record: CalibrationRecord, persp: StackPerspective, pad_top_z_mm: float) -> None:
    """Tilt, azimuth and the base centre of `mp` from its two centres, with the stack's perspective."""
    c = mp.centres
    s = record.scale_mm_per_px()
    kap = persp.inv_distance_per_mm
    # each centre is the axis point at its feature's height plus the centre's own offset (`_Centres.rim_h_mm`)
    rim_dh, bar_dh = c.rim_dh_mm + c.rim_h_mm, c.barrel_dh_mm + c.barrel_h_mm
    z_rim, z_bar = c.z_rim_mm + c.rim_h_mm, c.z_barrel_mm + c.barrel_h_mm
    rim_xy = _px_to_axis_mm(record, c.rim_px, rim_dh, kap)
    bar_xy = _px_to_axis_mm(record, c.barrel_px, bar_dh, kap)
    # the perspective's own uncertainty moves a centre by |p| |dh| u(1/D), that of the centre's height by |p| u(h) / D
    u_h = PARAMS.stack.centre_height_u_mm
    p_rim, p_bar = float(np.hypot(*rim_xy)), float(np.hypot(*bar_xy))
    u_rim_px = math.hypot(c.u_rim_px, p_rim * abs(rim_dh) * persp.u / s, p_rim * kap * u_h / s)
    u_b_px = math.hypot(c.u_barrel_px, p_bar * abs(bar_dh) * persp.u / s, p_bar * kap * u_h / s)
    mp.rim_xy_mm, mp.barrel_xy_mm = tuple(rim_xy), tuple(bar_xy)
    d = rim_xy - bar_xy
    dz = z_rim - z_bar
    mp.tilt_deg = float("nan")
    if dz <= PARAMS.stack.min_rim_above_barrel_mm:
        mp.reason = "tilt not measured: rim not above the barrel top"
        mp.xy_why = "the rim is not above the barrel top"
        return
    # base (flange-bottom centre, on the pad top or `base_dz_mm` above it): the axis through the rim and
    # barrel-top centres carried down to it; centre errors grow with the lever k
    k = (z_bar - pad_top_z_mm - c.base_dz_mm) / dz
    base = bar_xy - d * k
    var = s * s * ((1 + k) ** 2 * u_b_px**2 + k * k * u_rim_px**2)
    u_hr, u_hb = math.hypot(c.u_z_rim_mm, u_h), math.hypot(c.u_z_barrel_mm, u_h)
    dk = (z_rim - pad_top_z_mm - c.base_dz_mm) / dz**2 * math.hypot(u_hb, u_hr)  # the heights' share
    mp.base_xy_mm = (float(base[0]), float(base[1]))
    mp.base_cov_mm2 = np.eye(2) * var + np.outer(d, d) * dk * dk
    lean = float(np.hypot(*d))
    mp.tilt_deg = math.degrees(math.atan2(lean, dz))
    u_xy = math.hypot(u_rim_px, u_b_px) * s
    u_t = math.hypot(u_xy / dz, lean * math.hypot(u_hr, u_hb) / dz**2)
    mp.u_tilt_deg = math.degrees(u_t / (1 + (lean / dz) ** 2))
    # plane frame: +x right, +y up for a record built with the board axes (see module doc)
    mp.tilt_azimuth_deg = math.degrees(math.atan2(d[1], d[0])) % 360.0
