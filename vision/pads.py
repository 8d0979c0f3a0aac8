"""Mating pads: where they are, flatness, scratches, discolouration (oxidation), roughness, overlays.

The reference for a good pad: flat to about 0.01 mm, no scratches, no oxidation, smooth gold.

* **Flatness** (`flatness`): the pad's depth-from-focus height map is reduced to block medians
  (robust to the noisy pixels of a weakly textured surface; blocks whose pixels disagree are
  dropped); the pad interior is used when it carries enough valid blocks, else the band along the
  pad edge too (smooth, specular ENIG shows almost no focusable texture: its edge is then all there
  is). A quadric ``z = c0 + c1 x + c2 y + c3 x^2 + c4 y^2 + c5 xy`` is fitted (iteratively
  trimmed); a group of blocks well below it is a local dent, its depth from a paraboloid through
  its pixels. The peak-to-valley is taken over the pad of that surface minus its best plane --
  grooves and outliers do not reach it -- with a bootstrap bias correction (a PV of noisy
  coefficients is never negative) and a Monte-Carlo uncertainty. The shape is named from the
  quadric's curvatures: ``flat``, ``dome``/``dish``, ``bow``, ``saddle``, plus ``local dent``.
* **Scratches** (`find_scratches`): dark thin lines on the pad. Sato's ridge filter
  (scikit-image) at the groove widths, hysteresis thresholds relative to the pad's own response
  (median + k * MAD), connected pieces measured by PCA: length along the main axis, width across;
  pieces wider than a groove or not elongated are dropped -- unless they are grooves that meet: cut at
  the skeleton's junctions (a V, a T), or, meeting at a shallow angle with no clean junction, taken
  apart into the straight lines that make up the piece (`_straight_parts`).
* **Oxidation** (`discoloured_fraction`): a pixel is oxide when it is more than half covered: its
  linear luminance below half the clean gold's (oxide returns little light under coaxial light) and
  its hue moved off gold's, towards red -- CIELAB chroma normalised by lightness, ``(a*, b*) / (L* + 16)``,
  which pure shading (a slope or a dent) leaves unchanged. The band along the pad's edge (board colour
  bleeds into it) takes the verdict of the nearest judged pixel. Needs a colour image.
* **Roughness** (`roughness_sa`): Sa of the height map around the smooth surface. Depth from focus
  at 10 um steps has a per-pixel noise of a few um and averages over its focus window (~60 um),
  so ENIG grain (~0.25 um rms, ~8 um correlation) is far below what it resolves: Sa is reported
  only when it clearly exceeds the method's own noise (2x the larger of the median pixel
  uncertainty and 0.1 z step), otherwise "not measured" with that bound in the reason. Waviness
  at tens of um is what it can see; micro-roughness needs an interferometer or a stylus.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.errors import InputError
from vision.subpixel.robust import robust_sigma
from vision.colour import srgb_to_linear
from vision.dents import bowl_depth_scale, bowl_heights, bowls_from_shading
from vision.io import to_gray_float
from vision.params import PARAMS

__all__ = [
    "PadRegion",
    "Scratch",
    "Flatness",
    "locate_pads",
    "pad_mask",
    "find_scratches",
    "edge_scratches",
    "edge_notches",
    "segment_distance_px",
    "line_evidence",
    "pad_frame_mm",
    "pad_frame_to_px",
    "discoloured_fraction",
    "flatness",
    "roughness_sa",
    "EdgeHeights",
    "edge_heights",
]


@dataclass
class PadRegion:
    """A pad found in an image: rotated rectangle (centre px, size px (w, h), angle deg)."""

    center_px: tuple[float, float]
    size_px: tuple[float, float]
    angle_deg: float
    id: str | None = None

    def polygon(self) -> np.ndarray:
        return cv2.boxPoints((self.center_px, self.size_px, self.angle_deg)).astype(np.float64)


def _axis_angle_rad(region: PadRegion) -> float:
    """The pad's own x axis (its w side) in the image, folded into (-90, 90] deg: a rectangle's axis has no sense,
    and two upright views of one board then agree on it."""
    a = (region.angle_deg + 90.0) % 180.0 - 90.0
    return math.radians(90.0 if a == -90.0 else a)


def pad_frame_mm(region: PadRegion, uv_px: np.ndarray, *, mm_per_px: float) -> np.ndarray:
    """Image points (N, 2) (u, v) px -> (N, 2) mm on the pad's own axes from its centre, +y up (the image's v runs
    down). Both views must see the board upright (not turned by 180 deg against each other)."""
    t = _axis_angle_rad(region)
    d = np.asarray(uv_px, float).reshape(-1, 2) - np.asarray(region.center_px, float)
    c, s_ = math.cos(t), math.sin(t)
    return np.column_stack([(c * d[:, 0] + s_ * d[:, 1]) * mm_per_px, -(-s_ * d[:, 0] + c * d[:, 1]) * mm_per_px])


def pad_frame_to_px(region: PadRegion, xy_mm: np.ndarray, *, mm_per_px: float) -> np.ndarray:
    """The inverse of `pad_frame_mm`: (N, 2) mm on the pad's axes -> (N, 2) (u, v) px."""
    t = _axis_angle_rad(region)
    q = np.asarray(xy_mm, float).reshape(-1, 2) / mm_per_px
    a, b = q[:, 0], -q[:, 1]
    c, s_ = math.cos(t), math.sin(t)
    return np.column_stack([c * a - s_ * b, s_ * a + c * b]) + np.asarray(region.center_px, float)


def _pad_channels(img: np.ndarray):
    """Single-channel images in which gold pads stand out: luma, and for colour images the CIELAB
    yellowness b* (gold b* ~ 30-40, neutral masks and empty space ~ 0)."""
    yield to_gray_float(img)
    if img.ndim == 3 and img.shape[2] == 3:
        f = img.astype(np.float32) / np.float32(65535.0 if img.dtype == np.uint16 else 255.0 if img.dtype == np.uint8 else 1.0)
        yield cv2.cvtColor(f, cv2.COLOR_RGB2Lab)[..., 2] / np.float32(100.0)


def _pad_blobs(ch: np.ndarray, pad_size_px, area_tolerance: float) -> list[PadRegion]:
    sm = cv2.GaussianBlur(ch, (0, 0), 1.5)
    lo, hi = float(np.percentile(sm, 0.5)), float(np.percentile(sm, 99.5))
    g8 = np.clip((sm - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    _, m = cv2.threshold(g8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    cnts, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    want = pad_size_px[0] * pad_size_px[1]
    out = []
    for c in cnts:
        # the outline's convex hull: oxide or a scratch reaching the pad edge cuts into the bright
        # outline (up to a third of the pad on rendered oxidised pads) but not into its hull, and a
        # rectangle is its own hull
        hull = cv2.convexHull(c)
        (cx, cy), (w, h), ang = cv2.minAreaRect(hull)
        if abs(w * h - want) > area_tolerance * want:
            continue
        if cv2.contourArea(hull) < PARAMS.stack.pad_hull_fill_min * w * h:  # not rectangular (e.g. two pads touching corner to corner)
            continue
        # report with w along the longer expected side's orientation
        if (pad_size_px[0] >= pad_size_px[1]) != (w >= h):
            w, h, ang = h, w, ang - 90.0
        out.append(PadRegion((float(cx), float(cy)), (float(w), float(h)), float(ang)))
    return out


def locate_pads(image: np.ndarray, *, pad_size_px: tuple[float, float], max_pads: int = 64,
                area_tolerance: float = 0.4) -> list[PadRegion]:
    """Bright rectangular pads of about `pad_size_px` (w, h) on a darker board.

    Parameters
    ----------
    image : ndarray (H, W[, 3])
    pad_size_px : (float, float)
        Expected pad size in pixels (either orientation).
    area_tolerance : float
        Accept blobs whose area is within this fraction of the expected area.

    Returns
    -------
    list of PadRegion, largest first (at most `max_pads`).
    """
    img = np.asarray(image)
    best: list[PadRegion] = []
    # gold is both bright and yellow; which of the two sets it apart depends on the mask colour (a
    # white or pale mask is as bright as gold, and empty space around a small board is darker than
    # both): the channel giving the most pad-sized rectangles wins
    for ch in _pad_channels(img):
        got = _pad_blobs(ch, pad_size_px, area_tolerance)
        if len(got) > len(best):
            best = got
    out = best
    out.sort(key=lambda r: -r.size_px[0] * r.size_px[1])
    return out[:max_pads]


def pad_mask(shape: tuple[int, int], region: PadRegion, *, inset_px: float = 0.0) -> np.ndarray:
    """Boolean mask (H, W) of the pad rectangle shrunk by `inset_px` on each side."""
    w, h = region.size_px
    poly = cv2.boxPoints((region.center_px, (max(w - 2 * inset_px, 1), max(h - 2 * inset_px, 1)), region.angle_deg))
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(poly * 16).astype(np.int32)], 1, shift=4)
    return m.astype(bool)


# -- scratches ---------------------------------------------------------------------------------
@dataclass
class Scratch:
    p0_px: tuple[float, float]
    p1_px: tuple[float, float]
    length_mm: float
    angle_deg: float  # of the line in the image, from +u towards +v, in [0, 180)
    width_px: float
    n_px: int


def find_scratches(image: np.ndarray, mask: np.ndarray, *, mm_per_px: float,
                   groove_width_mm: tuple[float, float] = (0.008, 0.04), min_length_mm: float = 0.03,
                   k_high: float = 8.0, k_low: float = 4.0, exclude: np.ndarray | None = None,
                   line_k: tuple[float, float] | None = None, line_length_mm: float = 0.25):
    """Thin dark lines on a pad.

    Parameters
    ----------
    image : ndarray (H, W[, 3])
    mask : ndarray (H, W) bool
        The pad (inset from its edge so the edge itself is not a line).
    mm_per_px : float
    groove_width_mm : (float, float)
        Range of groove widths to look for; sets the ridge filter's sigmas and the width limit.
    min_length_mm : float
        Shorter pieces are ignored (grain, noise).
    k_high, k_low : float
        Hysteresis thresholds in robust standard deviations of the pad's ridge response.
    exclude : ndarray (H, W) bool, optional
        Pixels not to search (e.g. discoloured areas whose outlines look like lines).
    line_k : (float, float), optional
        Also look for grooves too faint to stand out pixel by pixel (`line_evidence`): the ridge response
        averaged along straight segments of ``line_length_mm`` at every angle, seeded where it is ``line_k[0]``
        robust sigmas above the pad's median and grown to ``line_k[1]``. None: not searched.
    line_length_mm : float
        Length of those segments.

    Returns
    -------
    scratches : list of Scratch, longest first
    line_mask : ndarray (H, W) bool
    """
    from skimage.filters import apply_hysteresis_threshold, sato

    mask = np.asarray(mask, bool)
    if mask.sum() < 50:
        raise InputError("the pad region is too small to look for scratches; check the pad size in the recipe and the calibration")
    ys, xs = np.nonzero(mask)
    pad = 6
    y0, y1 = max(0, ys.min() - pad), min(mask.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(mask.shape[1], xs.max() + pad + 1)
    g = to_gray_float(np.asarray(image))[y0:y1, x0:x1]
    m = mask[y0:y1, x0:x1]
    if exclude is not None:
        m = m & ~np.asarray(exclude, bool)[y0:y1, x0:x1]
    w_lo, w_hi = (w / mm_per_px for w in groove_width_mm)
    sig = np.unique(np.clip(np.round(np.geomspace(max(w_lo / 2.5, 0.7), max(w_hi / 2.5, 1.0), 3) * 2) / 2, 0.7, None))
    r = sato(g, sigmas=sig, black_ridges=True)
    vals = r[m]
    med = float(np.median(vals))
    mad = robust_sigma(vals, center=med, floor=1e-9)
    lines = apply_hysteresis_threshold(np.where(m, r, 0.0), med + k_low * mad, med + k_high * mad)
    n, lab = cv2.connectedComponents(lines.astype(np.uint8), connectivity=8)
    out = []
    max_w = max(3.0, 2.5 * w_hi)
    # clean gold: oxide, grooves and shading only darken a pad, so the upper half of its histogram is
    # clean gold and p84 - p50 one sigma of it
    gv = g[m]
    p50, p84 = (float(np.percentile(gv, 50)), float(np.percentile(gv, 84))) if gv.size else (0.0, 0.0)
    gold_lo = p50 - 3 * max(p84 - p50, 1e-6)
    for k in range(1, n):
        piece = lab == k
        vv, uu = np.nonzero(piece)
        if len(uu) < 5:
            continue
        got = _line_piece(uu, vv, mm_per_px, min_length_mm, max_w, (x0, y0))
        cands = [got] if got is not None else [
            # grooves that cross or meet (a V, a T) form one piece that is neither thin nor elongated:
            # cut its skeleton at the junctions and judge each branch as a line of its own
            _line_piece(bu, bv, mm_per_px, min_length_mm, max_w, (x0, y0), width_from=piece) for bu, bv in _branches(piece)]
        if not any(c is not None for c in cands) and len(uu) <= 3 * max_w * math.hypot(np.ptp(uu) + 1, np.ptp(vv) + 1):
            # two grooves crossing at a shallow angle (an X with a long waist) leave no clean junctions: take the
            # straight lines out of the piece one by one (`_straight_parts`) -- if they make up the piece: lines
            # drawn through a blob (an oxide patch's outline, a dent's shading) leave most of it out. (Three
            # grooves across the piece's extent hold at most 3 widths x its diagonal: a larger piece is a blob.)
            parts = [_line_piece(lu, lv, mm_per_px, min_length_mm, max_w, (x0, y0)) for lu, lv in _straight_parts(uu, vv, max_w)]
            parts = [sc for sc in parts if sc is not None]
            if parts and _covered(uu + x0, vv + y0, parts) >= PARAMS.stack.pad_straight_parts_min_cover:
                cands = parts
        # a groove is a thin dark line in the gold: both its flanks are clean gold; the dark gaps between
        # the spots of an oxide patch (seen without colour) are lines flanked by oxide
        out += [sc for sc in cands if sc is not None and _flanked_by_gold(g, m, sc, (x0, y0), max_w, gold_lo)]
    if line_k is not None:
        z = (r - med) / mad
        # where the pixel search found a groove, label its segment (1 + its index in `out`)
        seen = np.zeros(g.shape, np.int32)
        for i, sc in enumerate(out):
            a, b = (np.asarray(p, float) - (x0, y0) for p in (sc.p0_px, sc.p1_px))
            cv2.line(seen, tuple(int(round(v)) for v in a), tuple(int(round(v)) for v in b), i + 1, int(math.ceil(max_w)))
        drop = set()
        for sc, px in _faint_lines(z, m, L=_segment_px(line_length_mm, mm_per_px), k=line_k, max_w=max_w,
                                   mm_per_px=mm_per_px, offset=(x0, y0)):
            if sc.length_mm < min_length_mm or not _flanked_by_gold(g, m, sc, (x0, y0), max_w, gold_lo):
                continue
            # a groove the pixel search found already is not counted twice; where it found only stretches
            # of a faint one (its pixels hover about the threshold), the whole line replaces them
            hit = {int(i) - 1 for i in np.unique(seen[px]) if i}
            if hit and sc.length_mm <= max(out[i].length_mm for i in hit):
                continue
            drop |= hit
            out.append(sc)
            lines[px] = True
        out = [sc for i, sc in enumerate(out) if i not in drop]
    out.sort(key=lambda s: -s.length_mm)
    full = np.zeros(mask.shape, bool)
    full[y0:y1, x0:x1] = lines
    return out, full


@functools.lru_cache(maxsize=4)
def _line_kernels(length_px: int, n_angles: int) -> tuple[np.ndarray, ...]:
    """Anti-aliased straight segments of `length_px` (odd) at `n_angles` angles over 180 deg, each summing to 1."""
    K = length_px + 2
    c, d = (K - 1) / 2, (length_px - 1) / 2
    out = []
    for i in range(n_angles):
        t = math.pi * i / n_angles
        k = np.zeros((K, K), np.float32)
        for s in np.linspace(-d, d, 4 * length_px):
            x, y = c + s * math.cos(t), c + s * math.sin(t)
            u, v = int(math.floor(x)), int(math.floor(y))
            fx, fy = x - u, y - v
            k[v:v + 2, u:u + 2] += np.array([[(1 - fx) * (1 - fy), fx * (1 - fy)], [(1 - fx) * fy, fx * fy]], np.float32)
        k /= k.sum()
        k.flags.writeable = False
        out.append(k)
    return tuple(out)


def _segment_px(length_mm: float, mm_per_px: float) -> int:
    """A segment of `length_mm` in whole pixels, odd (it has a centre pixel), at least 3."""
    return max(3, int(round(length_mm / mm_per_px)) | 1)


def line_evidence(z: np.ndarray, mask: np.ndarray, *, length_px: int, n_angles: int = 16, clip: tuple[float, float] = (-3.0, 6.0)) -> np.ndarray:
    """How strongly a straight dark line runs through each pixel: the ridge response averaged along a segment.

    A groove 1-2 um deep barely stands out of the gold's grain pixel by pixel (its ridge response 3-5 robust
    sigmas, as the grain's own peaks), but it does so all along its length, while the grain's peaks are
    scattered: averaged along ``length_px`` the line keeps its level and the grain's scatter shrinks.

    Parameters
    ----------
    z : ndarray (H, W) float
        Ridge response in robust sigmas above its median (0 = typical gold); clipped to `clip` so a single
        pit or speck cannot make a line.
    mask : ndarray (H, W) bool
        Where the response counts (outside: 0).
    length_px : int
        Segment length (px), odd (`_segment_px`).
    n_angles : int
        Segment angles over 180 deg.

    Returns
    -------
    score : ndarray (H, W) float32
        The best segment mean through each pixel, in robust sigmas of its own spread over `mask` above its median.
    """
    zc = np.where(mask, np.clip(z, *clip), 0.0).astype(np.float32)
    best = np.full(zc.shape, -np.inf, np.float32)
    for k in _line_kernels(length_px, n_angles):
        np.maximum(best, cv2.filter2D(zc, -1, k, borderType=cv2.BORDER_CONSTANT), out=best)
    vals = best[mask]
    med = float(np.median(vals))
    return (best - med) / robust_sigma(vals, center=med, floor=1e-9)


def _faint_lines(z, m, *, L, k, max_w, mm_per_px, offset):
    """Grooves from `line_evidence`: (Scratch, pixels) per straight, thin stretch of high evidence.

    The segment average spreads a groove's evidence beyond its ends: for a groove longer than the segment,
    evidence P at its middle falls linearly to P/2 at an end and to 0 half a segment beyond, so the stretch
    above the threshold t overshoots each end by ``L (1/2 - t/P)``, which is taken off its length (`L`: the
    segment, px)."""
    from skimage.filters import apply_hysteresis_threshold

    score = line_evidence(z, m, length_px=L)
    hi = apply_hysteresis_threshold(np.where(m, score, -np.inf), k[1], k[0])
    n, lab = cv2.connectedComponents(hi.astype(np.uint8), connectivity=8)
    for i in range(1, n):
        px = lab == i
        vv, uu = np.nonzero(px)
        w = score[vv, uu]
        P = np.column_stack([uu, vv]).astype(float)
        c = np.average(P, axis=0, weights=w)
        # the direction from the stretch itself (the segments' angles are steps of 180/16 deg)
        C = np.cov((P - c).T, aweights=w)
        d = np.linalg.eigh(C)[1][:, -1]
        t = math.atan2(d[1], d[0])
        pr, pe = (P - c) @ d, (P - c) @ np.array([-d[1], d[0]])
        width_px = float(np.percentile(pe, 95) - np.percentile(pe, 5) + 1)
        peak = float(w.max())
        over = L * max(0.0, 0.5 - k[1] / peak)
        a, b = float(pr.min()) + over, float(pr.max()) - over
        length_px = b - a + 1
        if width_px > max_w or length_px < 4 * width_px:
            continue
        p0, p1 = c + a * d + offset, c + b * d + offset
        yield Scratch(tuple(map(float, p0)), tuple(map(float, p1)), length_px * mm_per_px, math.degrees(t) % 180.0,
                      width_px, int(len(uu))), np.nonzero(px)


def _edge_frame(image: np.ndarray, region: PadRegion, *, margin_px: float = 12.0):
    """What the edge tests read: the pad and `margin_px` around it as grey, blurred by 0.7 px, its offset (x0, y0) in
    `image`, and the pad's four sides as ``(half width, half length, along, outward normal)`` about its centre.
    Only the pad is read: a whole frame's blur per pad cost more than the tests themselves."""
    img = np.asarray(image)
    (cx, cy), (w, h), ang = region.center_px, region.size_px, region.angle_deg
    r_px = 0.5 * math.hypot(w, h) + margin_px
    x0, y0 = max(0, int(cx - r_px)), max(0, int(cy - r_px))
    x1, y1 = min(img.shape[1], int(cx + r_px) + 2), min(img.shape[0], int(cy + r_px) + 2)
    g = cv2.GaussianBlur(to_gray_float(img[y0:y1, x0:x1]).astype(np.float32), (0, 0), 0.7)
    t = math.radians(ang)
    ex, ey = np.array([math.cos(t), math.sin(t)]), np.array([-math.sin(t), math.cos(t)])
    sides = ((w / 2, h / 2, ey, ex), (w / 2, h / 2, ey, -ex), (h / 2, w / 2, ex, ey), (h / 2, w / 2, ex, -ey))
    return g, np.array([x0, y0], float), sides


def edge_scratches(image: np.ndarray, region: PadRegion, *, mm_per_px: float, band_px: tuple[float, float] = (1.0, 5.0),
                   ref_px: tuple[float, float] = (7.0, 10.0), corner_mm: float = 0.05, min_length_mm: float = 0.03,
                   k_high: float = 6.0, k_low: float = 3.0, exclude: np.ndarray | None = None) -> list[Scratch]:
    """Grooves running along a pad's edge, inside the band the area search (`find_scratches` on an inset
    mask) leaves out: a groove there merges with the edge's own fall in a ridge filter, but it darkens the
    band's pixels against the plateau a few px further in, over its length, while a clean edge keeps one
    ratio along the whole side.

    Per side: the darkest of the band (``band_px`` inside the outline) over the plateau (``ref_px``
    inside), every half pixel along the side (``corner_mm`` clear of the corners); stretches below the
    side's median by ``k_high`` robust sigmas, grown to ``k_low``, at least ``min_length_mm`` long, are
    grooves. Pixels in `exclude` (oxide reaching the edge darkens it too) do not count.
    """
    g, off, pad_sides = _edge_frame(image, region)
    c_px = corner_mm / mm_per_px
    sides = []
    for hw, hh, ax, nrm in pad_sides:
        # side at +hw along `nrm`, running along `ax` over +-hh
        L = hh - c_px
        if L <= 2:
            continue
        s = np.arange(-L, L + 1e-9, 0.5)
        base = np.asarray(region.center_px, float) + hw * nrm

        def at(d, base=base, s=s, ax=ax, nrm=nrm):
            return (base[None] + s[:, None] * ax[None] - d * nrm[None]).astype(np.float32)

        def samp(d, at=at):
            p = at(d) - off.astype(np.float32)
            return cv2.remap(g, p[:, 0][None], p[:, 1][None], cv2.INTER_LINEAR)[0]

        band = np.stack([samp(d) for d in np.arange(band_px[0], band_px[1] + 1e-9, 0.5)])
        ref = np.stack([samp(d) for d in np.arange(ref_px[0], ref_px[1] + 1e-9, 1.0)])
        ratio = band.min(axis=0) / np.maximum(np.median(ref, axis=0), 1e-6)
        ok = np.ones(len(s), bool)
        if exclude is not None:
            q = np.round(at(0.5 * (band_px[0] + ref_px[1]))).astype(int)
            inside = (q[:, 0] >= 0) & (q[:, 0] < exclude.shape[1]) & (q[:, 1] >= 0) & (q[:, 1] < exclude.shape[0])
            ok[inside] = ~np.asarray(exclude, bool)[q[inside, 1], q[inside, 0]]
        sides.append((s, at, ratio, ok, ax))
    if not sides:
        return []
    # a clean edge has one band-to-plateau ratio all round the pad (same gold, same blur): the statistics
    # come from all four sides, so that a groove along half of one side cannot hide in its side's median
    allr = np.concatenate([r[k] for _, _, r, k, _ in sides])
    if allr.size < 20:
        return []
    med = float(np.median(allr))
    sig = robust_sigma(allr, center=med, floor=1e-6)
    out = []
    for s, at, ratio, ok, ax in sides:
        low, high = (ratio < med - k_low * sig) & ok, (ratio < med - k_high * sig) & ok
        lab, n = _runs(low)
        for k in range(1, n + 1):
            run = lab == k
            if not high[run].any():
                continue
            i = np.flatnonzero(run)
            length_mm = (s[i[-1]] - s[i[0]] + 0.5) * mm_per_px
            if length_mm < min_length_mm:
                continue
            p = at(0.5 * (band_px[0] + band_px[1]))
            a = math.degrees(math.atan2(ax[1], ax[0])) % 180.0
            out.append(Scratch(tuple(map(float, p[i[0]])), tuple(map(float, p[i[-1]])), float(length_mm), a,
                               float(band_px[1] - band_px[0]), int(len(i))))
    out.sort(key=lambda sc: -sc.length_mm)
    return out


def edge_notches(image: np.ndarray, region: PadRegion, *, mm_per_px: float, window_mm: float = 0.15,
                 corner_mm: float = 0.06, min_length_mm: float = 0.03, k_high: float = 6.5, k_low: float = 4.0,
                 exclude: np.ndarray | None = None) -> list[Scratch]:
    """Grooves lying on a pad's very edge, found by where the edge is: a groove within a pixel or two of the
    outline takes the outermost gold's light (or, on a bowed pad, gives it back at another place), so the
    gold's edge, located to a fraction of a pixel, moves by up to a pixel along the groove's length, while
    a clean pad's edge is a straight line.

    Per side (``corner_mm`` clear of the corners), every half pixel: the edge where the profile across it
    crosses halfway from the board's level to the plateau's; a straight line fitted to those positions
    (trimmed at 3 robust sigmas, twice: the rectangle found for the pad is a pixel-level fit); the
    residuals averaged over ``window_mm`` along the side, in robust sigmas of that average over all four
    sides. Stretches beyond ``k_high``, grown to ``k_low``, are grooves (either sign: the edge moved in or
    out). Samples whose band (from the outline to 10 px in) meets `exclude` (oxide reaching the edge moves
    it too) are left out, and so are samples whose step from the board to the plateau is under half the pad's
    typical step (not on the edge: a pad whose end is dark with oxide is found short of it).

    Parameters
    ----------
    image : ndarray (H, W[, 3])
    region : PadRegion
        The pad's rectangle, to a pixel or so.
    mm_per_px : float
    window_mm : float
        Length over which the edge residuals are averaged (the spec's shortest groove is 0.1 mm).
    k_high, k_low : float
        Seed and grow thresholds, robust sigmas of the averaged residual.

    Returns
    -------
    list of Scratch, longest first (its two ends on the fitted edge).
    """
    g, off, pad_sides = _edge_frame(image, region)
    x0, y0 = (int(v) for v in off)
    centre = np.asarray(region.center_px, float) - off  # in the crop
    offs = np.arange(-4.0, 12.0 + 1e-9, 0.5)  # across the edge, px inward from the found outline
    c_px, win = corner_mm / mm_per_px, max(3, int(round(window_mm / mm_per_px / 0.5)))
    H, W = g.shape
    excl = None if exclude is None else np.asarray(exclude, bool)[y0:y0 + H, x0:x0 + W]
    raw = []
    for hw, hh, ax, nrm in pad_sides:
        L = hh - c_px
        if L <= win * 0.5:
            continue
        s = np.arange(-L, L + 1e-9, 0.5)
        base = centre + hw * nrm
        P = (base[None, None] + s[None, :, None] * ax - offs[:, None, None] * nrm).astype(np.float32)
        prof = cv2.remap(g, P[..., 0], P[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        board, plateau = np.median(prof[offs <= -3], axis=0), np.median(prof[offs >= 8], axis=0)
        half = 0.5 * (board + plateau)
        up = prof > half[None]
        i = np.clip(np.argmax(up, axis=0) - 1, 0, len(offs) - 2)
        cols = np.arange(len(s))
        v0, v1 = prof[i, cols], prof[i + 1, cols]
        step = v1 - v0
        e = offs[i] + 0.5 * np.clip((half - v0) / np.where(np.abs(step) > 1e-6, step, 1e-6), 0, 1)
        ok = up.any(axis=0) & ((P[..., 0] >= 0) & (P[..., 0] < W) & (P[..., 1] >= 0) & (P[..., 1] < H)).all(axis=0)
        if excl is not None:
            q = np.round(P[(offs >= 0) & (offs <= 10)]).astype(int)
            qx, qy = np.clip(q[..., 0], 0, W - 1), np.clip(q[..., 1], 0, H - 1)
            ok &= ~excl[qy, qx].any(axis=0)
        raw.append((s, e, ok, plateau - board, base, ax, nrm))
    if not raw:
        return []
    # an edge is where the board meets the gold: a sample whose step from board to plateau is under half the
    # pad's typical one is not on it (the rectangle found for a pad whose end is dark with oxide stops short
    # of its true edge, inside the gold)
    rise = float(np.median(np.concatenate([r[3][r[2]] for r in raw]))) if any(r[2].any() for r in raw) else 0.0
    sides = []
    for s, e, ok, step_, base, ax, nrm in raw:
        ok = ok & (step_ > 0.5 * rise) & (rise > 0)
        if ok.sum() < 2 * win:
            continue
        # least squares, trimmed twice at 3 robust sigmas (the rectangle found for the pad is a pixel-level
        # fit). A groove along more than half the side pulls the line towards itself, and the clean rest of
        # the side then stands off it the other way: found all the same, its place less sure
        fit = ok.copy()
        for _ in range(2):
            coef = np.polyfit(s[fit], e[fit], 1)
            r = e - np.polyval(coef, s)
            fit = ok & (np.abs(r) < 3 * robust_sigma(r[ok], center=0.0, floor=0.02))
        coef = np.polyfit(s[fit], e[fit], 1)
        r = np.where(ok, e - np.polyval(coef, s), 0.0)
        k = np.ones(win) / win
        avg = np.convolve(r, k, mode="same")
        full = np.convolve(ok.astype(float), k, mode="same") > 0.999  # windows wholly of judged samples
        sides.append((s, avg, full, base, ax, nrm, coef))
    if not sides:
        return []
    sig = robust_sigma(np.concatenate([a[f] for _, a, f, *_ in sides]), center=0.0, floor=1e-3)
    out = []
    for s, avg, full, base, ax, nrm, coef in sides:
        z = np.where(full, np.abs(avg) / sig, 0.0)
        lab, n = _runs(z >= k_low)
        for j in range(1, n + 1):
            idx = np.flatnonzero(lab == j)
            peak = float(z[idx].max())
            if peak < k_high:
                continue
            # the window spreads a groove's evidence past its ends (cf. `_faint_lines`)
            over = 0.5 * win * max(0.0, 0.5 - k_low / peak)
            a, b = s[idx[0]] + over, s[idx[-1]] - over
            length_mm = max(b - a + 0.5, 0.5) * mm_per_px
            if length_mm < min_length_mm:
                continue
            ends = [base + v * ax - float(np.polyval(coef, v)) * nrm + (x0, y0) for v in (a, b)]
            out.append(Scratch(tuple(map(float, ends[0])), tuple(map(float, ends[1])), float(length_mm),
                               math.degrees(math.atan2(ax[1], ax[0])) % 180.0, 2.0, int(len(idx))))
    out.sort(key=lambda sc: -sc.length_mm)
    return out


def _runs(mask: np.ndarray):
    """Label the runs of True in a 1-D mask: (labels, count)."""
    n, lab = cv2.connectedComponents(mask.astype(np.uint8)[None], connectivity=4)
    return lab[0], n - 1


def _line_piece(uu, vv, mm_per_px, min_length_mm, max_w, offset, width_from=None) -> Scratch | None:
    """A thin straight piece as a Scratch (PCA: length along, width across), or None."""
    P = np.column_stack([uu, vv]).astype(float)
    c = P.mean(0)
    _, _, Vt = np.linalg.svd(P - c, full_matrices=False)
    pr, pe = (P - c) @ Vt[0], (P - c) @ Vt[1]
    length_px = float(pr.max() - pr.min() + 1)
    straight_px = float(np.percentile(pe, 95) - np.percentile(pe, 5) + 1)
    if width_from is None:
        width_px, n_px = straight_px, len(uu)
    else:
        # a skeleton branch is one pixel wide: its groove's width is the piece's area along it
        near = cv2.dilate(np.isin(np.arange(width_from.size), np.ravel_multi_index((vv, uu), width_from.shape))
                          .reshape(width_from.shape).astype(np.uint8), np.ones((int(2 * max_w) | 1,) * 2, np.uint8)) > 0
        n_px = int((near & width_from).sum())
        width_px = max(straight_px, n_px / length_px)
    if length_px * mm_per_px < min_length_mm or width_px > max_w or straight_px > max_w or length_px < 4 * width_px:
        return None
    p0 = c + pr.min() * Vt[0] + offset
    p1 = c + pr.max() * Vt[0] + offset
    ang = math.degrees(math.atan2(Vt[0][1], Vt[0][0])) % 180.0
    return Scratch(tuple(p0), tuple(p1), length_px * mm_per_px, ang, width_px, n_px)


def _flanked_by_gold(g: np.ndarray, m: np.ndarray, sc: Scratch, offset, max_w: float, gold_lo: float) -> bool:
    """Whether the bands either side of a line (one groove width plus 2 px out) are clean gold: their mean
    at least `gold_lo`. A side mostly off the pad (a groove along its edge) is not judged."""
    p0 = np.asarray(sc.p0_px) - offset
    p1 = np.asarray(sc.p1_px) - offset
    L = float(np.hypot(*(p1 - p0)))
    if L < 1:
        return True
    t = np.linspace(0.0, 1.0, max(int(L), 2))[:, None]
    pts = p0 + t * (p1 - p0)
    nrm = np.array([-(p1 - p0)[1], (p1 - p0)[0]]) / L
    H, W = g.shape
    for side in (-1.0, 1.0):
        q = np.round(pts + side * (0.5 * max_w + 2.0) * nrm).astype(int)
        ok = (q[:, 0] >= 0) & (q[:, 0] < W) & (q[:, 1] >= 0) & (q[:, 1] < H)
        q = q[ok]
        inside = m[q[:, 1], q[:, 0]] if len(q) else np.zeros(0, bool)
        if inside.sum() < 0.5 * len(pts):
            continue
        if float(g[q[inside, 1], q[inside, 0]].mean()) < gold_lo:
            return False
    return True


def segment_distance_px(points: np.ndarray, p0, p1) -> np.ndarray:
    """Distance (px) of each of `points` (N, 2) from the segment p0-p1 (its nearest point, ends included)."""
    P = np.asarray(points, float).reshape(-1, 2)
    a, d = np.asarray(p0, float), np.asarray(p1, float) - np.asarray(p0, float)
    t = np.clip((P - a) @ d / max(float(d @ d), 1e-9), 0.0, 1.0)
    return np.hypot(*(P - a - t[:, None] * d).T)


def _covered(uu: np.ndarray, vv: np.ndarray, lines: list) -> float:
    """Share of the pixels (u, v) lying on any of the Scratch segments `lines`: within half its width and a pixel."""
    P = np.column_stack([uu, vv])
    near = np.zeros(len(P), bool)
    for sc in lines:
        near |= segment_distance_px(P, sc.p0_px, sc.p1_px) <= 0.5 * sc.width_px + 1.0
    return float(near.mean()) if len(P) else 0.0


def _straight_parts(uu: np.ndarray, vv: np.ndarray, max_w: float, *, core_px: float = 1.5, max_lines: int = 3,
                    n_pairs: int = 300, min_px: int = 5):
    """Straight, thin parts of a piece of line pixels (u, v) that is not one line (grooves crossing at a shallow
    angle). Repeatedly: the line through two of its pixels that holds the most pixels within `core_px` of it
    (a groove's core; RANSAC over `n_pairs` pairs, seeded: the same piece gives the same parts), and the
    longest run of those along it without a gap over 2 px, is one part; the pixels within half a groove width
    (`max_w` / 2) of that run are then taken out (its flanks, and the other groove where the two touch)."""
    rng = np.random.default_rng(0)
    P = np.column_stack([uu, vv]).astype(float)
    free = np.ones(len(P), bool)
    for _ in range(max_lines):
        idx = np.flatnonzero(free)
        if len(idx) < min_px:
            return
        Q = P[idx]
        i, j = rng.integers(0, len(Q), (2, n_pairs))
        d = Q[j] - Q[i]
        n = np.hypot(d[:, 0], d[:, 1])
        keep = n >= 2.0
        if not keep.any():
            return
        i, d = i[keep], d[keep] / n[keep, None]
        dist = np.abs((Q[None, :, 0] - Q[i, None, 0]) * d[:, 1, None] - (Q[None, :, 1] - Q[i, None, 1]) * d[:, 0, None])
        best = int(np.argmax((dist <= core_px).sum(1)))
        t = (Q - Q[i[best]]) @ d[best]
        core = np.flatnonzero(dist[best] <= core_px)
        order = core[np.argsort(t[core])]
        gaps = np.flatnonzero(np.diff(t[order]) > 2.0)
        starts, ends = np.r_[0, gaps + 1], np.r_[gaps + 1, len(order)]
        k = int(np.argmax(ends - starts))
        run = order[starts[k]:ends[k]]
        if len(run) < min_px:
            return
        t0, t1 = t[run].min(), t[run].max()
        free[idx[(dist[best] <= 0.5 * max_w) & (t >= t0) & (t <= t1)]] = False
        free[idx[run]] = False
        yield uu[idx[run]], vv[idx[run]]


def _branches(piece: np.ndarray):
    """(u, v) pixel lists of the skeleton branches of a piece, cut at its junctions."""
    from skimage.morphology import skeletonize

    sk = skeletonize(piece).astype(np.uint8)
    nb = cv2.filter2D(sk, -1, np.ones((3, 3), np.float32), borderType=cv2.BORDER_CONSTANT) - sk
    junction = (sk > 0) & (nb >= 3)
    cut = sk & ~(cv2.dilate(junction.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    n, lab = cv2.connectedComponents(cut.astype(np.uint8), connectivity=8)
    for k in range(1, n):
        vv, uu = np.nonzero(lab == k)
        if len(uu) >= 5:
            yield uu, vv


# -- discolouration ------------------------------------------------------------------------------
def discoloured_fraction(image_rgb: np.ndarray, mask: np.ndarray, *, half_cover_luminance: float = 0.5, min_hue_shift: float = 1.0,
                         edge_min_hue_turn_sigma: float | None = None, smooth_px: float = 1.5,
                         luminance_smooth_px: float = 0.0, exclude: np.ndarray | None = None, pad: np.ndarray | None = None):
    """Area fraction of a pad covered by oxide (more than half of a pixel).

    Parameters
    ----------
    image_rgb : ndarray (H, W, 3) uint8/uint16 RGB
    mask : ndarray (H, W) bool
        Where the pad's colour is judged (inset from its edge, whose pixels mix in the board).
    half_cover_luminance : float
        Linear luminance, relative to clean gold, below which a pixel is more than half oxide. A soft-edged
        patch blends into the gold as ``(1 - w) gold + w oxide``; under coaxial light the oxide returns
        about a tenth of the gold's light, so half cover (w = 1/2) reads about half the gold's luminance.
        The patch's area is the area inside that half-cover outline.
    min_hue_shift : float
        ... and only where the colour has also moved off gold's hue by this shading-free CIELAB difference
        (a slope or a dent's flank darkens gold without changing its hue), towards red (oxide is brown; a
        slope that mirrors a green, blue or white board is tinted the other way).
    edge_min_hue_turn_sigma : float, optional
        A detection lying wholly within twice `smooth_px` of the mask's outline (where the board can mix in)
        counts only where its hue has turned towards red, across gold's chroma direction, by this many robust
        sigmas of that turn over the clean gold. None: no such check.
    smooth_px : float
        Gaussian sigma before the colour conversion (sensor noise in the hue tests).
    luminance_smooth_px : float
        Gaussian sigma on the luminance before its half-cover threshold. The optics already blur the image; more
        blur fills the lighter spots inside a patch and rounds its outline before the threshold is applied
        (`PARAMS.stack.pad_oxide_luminance_smooth_px`, with the figures).
    exclude : ndarray (H, W) bool, optional
        Pixels left out of both the count and the area.
    pad : ndarray (H, W) bool, optional
        The whole pad: the band between it and `mask` takes the verdict of the nearest judged pixel (an
        oxide patch reaching the edge goes on to it), so the fraction is of the whole pad.

    Returns
    -------
    fraction : float
    discoloured : ndarray (H, W) bool
    u_fraction : float
        Standard uncertainty (boundary pixels: half the pixels on the mask outline count either way).
    """
    from skimage.color import rgb2lab

    img = np.asarray(image_rgb)
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError("discolouration needs a colour (RGB) image of the pad; this one is mono")
    m = np.asarray(mask, bool)
    if exclude is not None:
        m = m & ~np.asarray(exclude, bool)
    if m.sum() < 50:
        raise InputError("the pad region is too small to judge its colour; check the pad size and calibration")
    band = None if pad is None else np.asarray(pad, bool) & ~np.asarray(mask, bool)
    ys, xs = np.nonzero(m if band is None else m | band)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = img[y0:y1, x0:x1].astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
    mm = m[y0:y1, x0:x1]
    # luminance is averaged in linear light (the sensor's blend of gold and oxide is linear; an average of
    # gamma-encoded values reads a mottled patch darker than it is)
    lin = srgb_to_linear(crop)
    lum = lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    if smooth_px > 0:
        crop = cv2.GaussianBlur(crop, (0, 0), smooth_px)
    if luminance_smooth_px > 0:
        lum = cv2.GaussianBlur(lum, (0, 0), luminance_smooth_px)
    # oxide, grooves and shading only darken a pad: its brighter part is clean gold
    ref = float(np.percentile(lum[mm], 75))
    al, be, Lp = _shading_free_chroma(rgb2lab(crop))
    gold = mm & (lum > 0.8 * ref)
    if gold.sum() < 20:
        gold = mm
    ra, rb, Lr = np.median(al[gold]), np.median(be[gold]), np.median(Lp[gold])
    de = np.hypot(al - ra, be - rb) * Lr
    # more than half oxide: dark, off gold's hue, and redder than gold -- oxide is brown (Cu/Ni oxide under
    # thin gold); a slope's darker reflection of a green, blue or white board shifts the hue the other way
    disc = (lum < half_cover_luminance * ref) & (de > min_hue_shift) & ((al - ra) > 0) & mm
    n_ambiguous = 0
    if edge_min_hue_turn_sigma is not None and disc.any():
        # along the judged region's outline a pixel can mix in the board (within the smoothing's reach), which
        # darkens gold and shifts its colour without turning its hue to red -- the corners of a warped pad
        # read 1-2 % oxide so (white mask, rendered draw 71923). A detection lying wholly in that band must
        # show the turn: the shift across gold's chroma direction, against its scatter over the clean gold.
        # A patch that reaches in from the interior keeps its edge pixels.
        turn = _hue_turn(al, be, (ra, rb, Lr))
        s_turn = robust_sigma(turn[gold], floor=1e-6)
        near = cv2.distanceTransform(mm.astype(np.uint8), cv2.DIST_L2, 3) < 2.0 * max(smooth_px, 0.5)
        n_lab, lab_ = cv2.connectedComponents(disc.astype(np.uint8), connectivity=8)
        reaches_in = np.zeros(n_lab, bool)
        reaches_in[np.unique(lab_[disc & ~near])] = True
        edge_only = disc & ~reaches_in[lab_]
        turned = edge_only & (turn > edge_min_hue_turn_sigma * s_turn)
        # where the board itself lies redward of gold (a red or brown mask), a blend with it turns gold's hue as
        # oxide does, by up to the board's own turn: only a turn beyond that is oxide; the rest cannot be told
        # apart along the outline and counts half either way, in the uncertainty (the corners of a warped pad
        # on a red mask read 2 % oxide: draw 31337 board 26 Q06)
        board_turn = None if pad is None else _board_hue_turn(img, np.asarray(pad, bool), (ra, rb, Lr))
        beyond = turned & (turn > max(board_turn or 0.0, 0.0) + edge_min_hue_turn_sigma * s_turn)
        n_ambiguous = int((turned & ~beyond).sum())
        disc = (disc & ~edge_only) | beyond
    area = int(mm.sum())
    if band is not None:
        bb = band[y0:y1, x0:x1]
        grow = disc.copy()
        for _ in range(int(math.ceil(cv2.distanceTransform((~mm).astype(np.uint8), cv2.DIST_L2, 3)[bb].max(initial=0.0)))):
            grow |= cv2.dilate(grow.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & bb
        disc = disc | (grow & bb)
        area += int(bb.sum())
    full = np.zeros(m.shape, bool)
    full[y0:y1, x0:x1] = disc
    frac = float(disc.sum() / area)
    edge = cv2.morphologyEx(disc.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).sum()
    return frac, full, float(math.hypot(0.25 * edge / area + 1.0 / area, 0.5 * n_ambiguous / area))


def _shading_free_chroma(lab: np.ndarray):
    """CIELAB (..., 3) -> (a*/L', b*/L', L') with L' = L* + 16: chromaticity that a surface keeps under brighter or
    dimmer light (a*, b* and L* + 16 all scale with the cube root of the light)."""
    Lp = lab[..., 0] + 16.0
    return lab[..., 1] / Lp, lab[..., 2] / Lp, Lp


def _hue_turn(al, be, gold: tuple[float, float, float]):
    """How far chromaticities (a*/L', b*/L') lie across gold's chroma direction, towards red (+), in L'-scaled
    units; `gold` = its (a*/L', b*/L', L') medians."""
    ra, rb, Lr = gold
    return ((al - ra) * rb - (be - rb) * ra) / (math.hypot(ra, rb) + 1e-9) * Lr


def _board_hue_turn(img: np.ndarray, pad: np.ndarray, gold: tuple[float, float, float]) -> float | None:
    """`_hue_turn` of the board just outside `pad` (3-6 px beyond its outline). None where too little of the
    board is in the image."""
    from skimage.color import rgb2lab

    ys, xs = np.nonzero(pad)
    if not len(ys):
        return None
    y0, x0 = max(ys.min() - 7, 0), max(xs.min() - 7, 0)
    near = pad[y0 : ys.max() + 8, x0 : xs.max() + 8].astype(np.uint8)
    ring = (cv2.dilate(near, np.ones((13, 13), np.uint8)) > 0) & ~(cv2.dilate(near, np.ones((7, 7), np.uint8)) > 0)
    if ring.sum() < 20:
        return None
    crop = img[y0 : y0 + near.shape[0], x0 : x0 + near.shape[1]]
    rgb = np.median(crop[ring].astype(np.float32), axis=0) / (65535.0 if img.dtype == np.uint16 else 255.0)
    al, be, _ = _shading_free_chroma(rgb2lab(rgb[None, None, :])[0, 0])
    return float(_hue_turn(al, be, gold))


# -- edge heights by focus -----------------------------------------------------------------------------
@dataclass
class EdgeHeights:
    """Heights of a pad's outline from the focus of its edge, one per segment of its sides.

    ``x_mm``, ``y_mm``: segment centre on the outline, mm from the pad centre (+y up); ``z_mm`` the peak of
    the segment's focus curve; ``u_mm`` its standard uncertainty from the fit; ``side`` 0..3 (which side of
    the rectangle); ``sigma_mm`` the width of the focus curve."""

    x_mm: np.ndarray
    y_mm: np.ndarray
    z_mm: np.ndarray
    u_mm: np.ndarray
    side: np.ndarray
    sigma_mm: np.ndarray
    n_tried: int = 0

    def __len__(self) -> int:
        return len(self.z_mm)


def _gauss_offset_fit(z: np.ndarray, C: np.ndarray, iters: int = 30, min_half: int = 3):
    """Least-squares ``off + A exp(-(z - mu)^2 / (2 s^2))`` to every row of `C` (curves over `z`) at once
    (Levenberg-Marquardt, batched) over the whole curve (a window cut about the best slice, symmetric or
    not, scattered the peaks more on rendered pads). A best slice with fewer than `min_half` slices on
    either side is not ok (the peak is too close to the stack's end to be seen as one).
    Returns (mu, s, A, off, u_mu, ok)."""
    n, m = C.shape
    k = np.argmax(C, axis=1)
    half = np.minimum(k, m - 1 - k)
    ones = np.ones_like(C)  # the offset's column of the Jacobian
    off = C.min(axis=1)
    A = C.max(axis=1) - off
    mu = z[k].astype(float)
    span = float(z[-1] - z[0])
    s = np.full(n, span / 4)
    p = np.stack([A, mu, s, off], 1)
    lam = np.full(n, 1e-3)

    def resid(p):
        e = np.exp(-0.5 * ((z[None] - p[:, 1:2]) / p[:, 2:3]) ** 2)
        return C - (p[:, 3:4] + p[:, 0:1] * e), e

    r, e = resid(p)
    cost = (r**2).sum(1)
    for _ in range(iters):
        d = (z[None] - p[:, 1:2]) / p[:, 2:3]
        J = np.stack([e, p[:, 0:1] * e * d / p[:, 2:3], p[:, 0:1] * e * d * d / p[:, 2:3], ones], 2)
        JtJ = np.einsum("nmi,nmj->nij", J, J)
        g = np.einsum("nmi,nm->ni", J, r)
        Dg = JtJ * (1 + lam[:, None, None]) * np.eye(4)[None] + JtJ * (1 - np.eye(4))[None]
        try:
            step = np.linalg.solve(Dg + 1e-30 * np.eye(4)[None], g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            break
        q = p + step
        q[:, 2] = np.clip(np.abs(q[:, 2]), 0.05 * span / m, 4 * span)
        r2, e2 = resid(q)
        c2 = (r2**2).sum(1)
        better = c2 < cost
        p = np.where(better[:, None], q, p)
        r = np.where(better[:, None], r2, r)
        e = np.where(better[:, None], e2, e)
        done = better & (cost - c2 <= 1e-10 * cost)
        cost = np.where(better, c2, cost)
        lam = np.where(better, lam * 0.3, lam * 10)
        if done.all():
            break
    d = (z[None] - p[:, 1:2]) / p[:, 2:3]
    J = np.stack([e, p[:, 0:1] * e * d / p[:, 2:3], p[:, 0:1] * e * d * d / p[:, 2:3], ones], 2)
    JtJ = np.einsum("nmi,nmj->nij", J, J)
    ok = (half >= min_half) & (np.linalg.cond(JtJ) < 1e12)
    cov = np.full((n, 4, 4), np.nan)
    cov[ok] = np.linalg.inv(JtJ[ok]) * (cost[ok] / max(m - 4, 1))[:, None, None]
    u_mu = np.sqrt(np.abs(cov[:, 1, 1]))
    return p[:, 1], p[:, 2], p[:, 0], p[:, 3], u_mu, ok & np.isfinite(u_mu)


def edge_heights(images, z_mm, region: PadRegion, *, mm_per_px: float, segment_mm: float, band_in_px: float,
                 band_out_px: float, presmooth_px: float, corner_mm: float, exclude: np.ndarray | None = None) -> EdgeHeights:
    """Heights along a pad's outline from the focus of its edge (see `flatness`' ``anchors``).

    Smooth, specular ENIG shows no focusable texture of its own; its edge against the board is the one
    sharp feature on it. The edge band (from ``band_in_px`` inside each side of `region` to ``band_out_px``
    outside it, ``corner_mm`` clear of the corners, pixels in `exclude` left out) is cut into ``segment_mm``
    pieces; each piece's
    focus measure (sum-modified-Laplacian at ``presmooth_px``) is averaged over its pixels per slice --
    one focus curve of a few hundred pixels, not a median of noisy per-pixel peaks -- and a Gaussian plus
    offset is fitted to the whole curve. Its peak is the edge's height there; its standard uncertainty
    comes from the fit's residuals. Peaks outside the second..second-to-last slice, or curves no wider
    than a step or wider than the stack, are dropped.
    """
    from vision.focus import focus_measure

    z = np.asarray(z_mm, float)
    H, W = np.shape(images[0])[:2]
    (cx, cy), (w, h), ang = region.center_px, region.size_px, region.angle_deg
    t = math.radians(ang)
    ex, ey = np.array([math.cos(t), math.sin(t)]), np.array([-math.sin(t), math.cos(t)])  # rect axes in the image
    # pixels near the outline, in rect coordinates
    r = int(math.ceil(0.5 * math.hypot(w, h) + band_out_px + 2))
    u0, u1 = max(0, int(cx) - r), min(W, int(cx) + r + 1)
    v0, v1 = max(0, int(cy) - r), min(H, int(cy) + r + 1)
    vv, uu = np.mgrid[v0:v1, u0:u1]
    du, dv = uu - cx, vv - cy
    a_, b_ = du * ex[0] + dv * ex[1], du * ey[0] + dv * ey[1]
    hw, hh = w / 2, h / 2
    c_px = corner_mm / mm_per_px
    seg_px = segment_mm / mm_per_px
    keep = np.ones(a_.shape, bool) if exclude is None else ~np.asarray(exclude, bool)[v0:v1, u0:u1]
    labels = np.full(a_.shape, -1, np.int32)
    meta = []
    for side, (dist, along, half) in enumerate([(a_ - hw, b_, hh), (-a_ - hw, b_, hh), (b_ - hh, a_, hw), (-b_ - hh, a_, hw)]):
        inner = half - c_px
        if inner <= 0:
            continue
        nseg = max(1, int(round(2 * inner / seg_px)))
        seg_len = 2 * inner / nseg
        pv_, pu_ = np.nonzero((dist >= -band_in_px) & (dist <= band_out_px) & (np.abs(along) <= inner) & keep)
        idx = np.clip(((along[pv_, pu_] + inner) / seg_len).astype(int), 0, nseg - 1)
        cnt = np.bincount(idx, minlength=nseg)
        new_id = np.full(nseg, -1, np.int32)
        for k in np.flatnonzero(cnt >= 20):
            new_id[k] = len(meta)
            mid = -inner + (k + 0.5) * seg_len
            pa, pb = {0: (hw, mid), 1: (-hw, mid), 2: (mid, hh), 3: (mid, -hh)}[side]
            pu, pv = cx + pa * ex[0] + pb * ey[0], cy + pa * ex[1] + pb * ey[1]
            meta.append((side, (pu - cx) * mm_per_px, -(pv - cy) * mm_per_px))
        lab = new_id[idx]
        labels[pv_[lab >= 0], pu_[lab >= 0]] = lab[lab >= 0]
    if not meta:
        return EdgeHeights(*(np.zeros(0) for _ in range(6)))
    # the focus measure only over each side's strip (a tenth of the pad's box), with room for its kernel
    side_of = np.array([m[0] for m in meta])
    strips = []
    for side in range(4):
        vs, us = np.nonzero((labels >= 0) & (side_of[np.maximum(labels, 0)] == side))
        if len(us):
            m_ = int(math.ceil(3 * presmooth_px)) + 2
            sv0, sv1 = max(0, vs.min() - m_), min(labels.shape[0], vs.max() + m_ + 1)
            su0, su1 = max(0, us.min() - m_), min(labels.shape[1], us.max() + m_ + 1)
            lab_s = labels[sv0:sv1, su0:su1].ravel()
            on_s = (lab_s >= 0) & (side_of[np.maximum(lab_s, 0)] == side)
            strips.append((v0 + sv0, v0 + sv1, u0 + su0, u0 + su1, lab_s[on_s], on_s))
    cnt = np.bincount(labels[labels >= 0], minlength=len(meta)).astype(float)
    C = np.zeros((len(meta), len(z)))
    for j, img in enumerate(images):
        img = np.asarray(img)
        for sv0, sv1, su0, su1, lab_s, on_s in strips:
            f = focus_measure(img[sv0:sv1, su0:su1], measure="sml", window_px=1, presmooth_px=presmooth_px)
            C[:, j] += np.bincount(lab_s, weights=f.ravel()[on_s], minlength=len(meta))
    C /= cnt[:, None]
    mu, s, A, off, u_mu, ok = _gauss_offset_fit(z, C)
    step = float(np.median(np.diff(z)))
    ok &= (mu >= z[1]) & (mu <= z[-2]) & (s > step) & (s < (z[-1] - z[0])) & (A > 0)
    M = np.array(meta)
    return EdgeHeights(M[ok, 1], M[ok, 2], mu[ok], u_mu[ok], M[ok, 0].astype(int), s[ok], n_tried=len(meta))


# -- flatness ----------------------------------------------------------------------------------------
@dataclass
class Flatness:
    ok: bool
    reason: str = ""
    pv_um: float = float("nan")
    u_pv_um: float = float("nan")
    shape: str = ""
    coeffs: np.ndarray | None = None  # quadric (c0..c5) in mm, x/y in mm from the pad centre (+y up)
    n_blocks: int = 0
    dent_blocks: int = 0
    surface_mm: np.ndarray | None = None  # (H, W) smooth surface minus plane over the pad, NaN outside
    notes: list[str] = field(default_factory=list)


def _pad_side(mask: np.ndarray, u: np.ndarray, v: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """Side (0..3) of a rectangular pad mask whose edge band each point lies in (-1 where not `edge`):
    the pad's own axes from the moments of the mask, the side from |x|/half-width vs |y|/half-height."""
    vv, uu = np.nonzero(mask)
    cu, cv = uu.mean(), vv.mean()
    cov = np.cov(np.vstack([uu - cu, vv - cv]))
    _, E = np.linalg.eigh(cov)
    ax = E[:, 1]
    xs, ys = (uu - cu) * ax[0] + (vv - cv) * ax[1], -(uu - cu) * ax[1] + (vv - cv) * ax[0]
    hw, hh = max(np.abs(xs).max(), 1.0), max(np.abs(ys).max(), 1.0)
    px, py = (u - cu) * ax[0] + (v - cv) * ax[1], -(u - cu) * ax[1] + (v - cv) * ax[0]
    side = np.where(np.abs(px) / hw >= np.abs(py) / hh, np.where(px >= 0, 0, 1), np.where(py >= 0, 2, 3))
    return np.where(edge, side, -1).astype(int)


def _quad_design(x, y):
    return np.column_stack([np.ones_like(x), x, y, x * x, y * y, x * y])


def _dent_bottom(h, ok_px, u0, v0, radius_px, coef, center_px, mm_per_px) -> float | None:
    """Depth (mm, relative to the quadric `coef`) of a dent's bottom near (u0, v0): minimum of a
    paraboloid fitted to the pixel residuals within `radius_px` (a block median would flatten it)."""
    H, W = h.shape
    v_lo, v_hi = int(max(0, v0 - radius_px)), int(min(H, v0 + radius_px + 1))
    u_lo, u_hi = int(max(0, u0 - radius_px)), int(min(W, u0 + radius_px + 1))
    vv, uu = np.nonzero(ok_px[v_lo:v_hi, u_lo:u_hi])
    if len(uu) < 30:
        return None
    uu, vv = uu + u_lo, vv + v_lo
    x, y = (uu - center_px[0]) * mm_per_px, -(vv - center_px[1]) * mm_per_px
    res = h[vv, uu] - _quad_design(x, y) @ coef
    dx, dy = x - x.mean(), y - y.mean()
    D = _quad_design(dx, dy)
    p, *_ = np.linalg.lstsq(D, res, rcond=None)
    Hs = np.array([[2 * p[3], p[5]], [p[5], 2 * p[4]]])
    if np.any(np.linalg.eigvalsh(Hs) <= 0):
        return None
    xm = np.linalg.solve(Hs, -p[1:3])
    if np.hypot(*xm) > radius_px * mm_per_px:
        return None
    return float(p[0] + p[1] * xm[0] + p[2] * xm[1] + p[3] * xm[0] ** 2 + p[4] * xm[1] ** 2 + p[5] * xm[0] * xm[1])


def _gaussian_dent(x, y, res, mm_per_px, window_px):
    """A Gaussian bowl ``-D exp(-|p - p0|^2 / (2 s^2))`` fitted (robust least squares, scipy) to the pad's
    focused interior pixels at (x, y) mm, `res` their heights below the outline's surface: ((D, x0, y0, s) in mm,
    covariance) or None. A pressed dent relaxes into a smooth round bowl; its flanks are what focuses, and the
    bowl's shape carries them to its bottom. The pixels of one focus window share their errors: the covariance
    counts ``window_px``^2 pixels as one sample."""
    from scipy.optimize import least_squares

    if len(res) < 4 * window_px:
        return None
    k = int(np.argmin(res))
    dm = max(float(-np.percentile(res, 5)), 1e-3)

    def f(p):
        return res + p[0] * np.exp(-((x - p[1]) ** 2 + (y - p[2]) ** 2) / (2 * p[3] ** 2))

    # the flanks that focus are the steep ones, r >= sigma / 2 from the bottom of a Gaussian bowl, where it is
    # 0.88 of its depth deep or less: the bottom lies at most about twice as deep as the deepest of them
    d_max = max(2.0 * float(-np.percentile(res, 1)), 2.0 * dm)
    lo = [0.0, float(x.min()), float(y.min()), 2 * window_px * mm_per_px / 2.355]
    hi = [min(0.5, d_max), float(x.max()), float(y.max()), 0.5 * max(np.ptp(x), np.ptp(y))]
    if hi[3] <= lo[3]:
        return None
    best = None
    lo_a, hi_a = np.array(lo), np.array(hi)
    for s0 in np.geomspace(lo[3] * 1.2, hi[3] * 0.8, 3):
        # the start inside the bounds (a narrow spread of focused pixels leaves little room for the width)
        p0 = np.clip([dm, x[k], y[k], s0], lo_a + 1e-3 * (hi_a - lo_a), hi_a - 1e-3 * (hi_a - lo_a))
        sol = least_squares(f, p0, loss="soft_l1", f_scale=float(np.median(np.abs(res - np.median(res)))) + 1e-4,
                            bounds=(lo, hi))
        if best is None or sol.cost < best.cost:
            best = sol
    J = best.jac
    s2 = float(np.sum(best.fun**2)) / max(len(res) - 4, 1)
    try:
        cov = np.linalg.inv(J.T @ J) * s2 * window_px**2
    except np.linalg.LinAlgError:
        return None
    return best.x, cov


def _shaded_dents(shading, interior, x, y, res, *, center_px, mm_per_px, window_px, init):
    """Dents shaped by the pad's shading and sized by the finish's shading scale and the focus (`vision.dents`).

    `interior`: the pad's pixels clear of its outline's band; (x, y) mm and `res`: its focused pixels and their
    heights below the outline's surface. The shading gives each bowl's centre, width and ``A = D sqrt(k)``; the depth is ``beta A`` with ``beta =
    1/sqrt(k)``, a property of the finish under this microscope (`StackParams.pad_dent_shading_scale`). The pad's
    own focused pixels must size the bowls too, to within half that scale, and agree with it (within 3 standard
    uncertainties); their scale then joins it. Where they do not, the darkening is not a dent's as modelled (an
    oxide patch in a mono stack, another finish); where they lie level, it is no dent.

    Returns ``(None, why)`` when the shading shows no dent or the focus finds it level, ``("unsized", why)`` when the focus does not confirm the
    dent (too few focused pixels to size it to half its scale: a mono stack sees oxide darken alike) or its scale
    disagrees with the finish's, or
    ``("sized", bowls (n, 4) as (D, x0, y0, s) mm, sampler (rng, size) -> (size, n, 4), note)``."""
    P = PARAMS.stack
    sb = bowls_from_shading(shading, interior, center_px=center_px, mm_per_px=mm_per_px, init=init)
    if not sb.ok:
        return None, sb.reason
    where = ", ".join(f"{s_ * 1e3:.0f} um wide at ({x0:+.2f}, {y0:+.2f}) mm" for _, x0, y0, s_ in sb.bowls)
    seen = f"{len(sb.bowls)} dent(s) darken the pad's shading ({where}; darkest ring {sb.darkening:.2f} in log brightness)"
    b_f, u_f, n = bowl_depth_scale(res, x, y, sb.bowls, pixels_per_sample=window_px**2)
    b0, u0 = P.pad_dent_shading_scale, P.pad_dent_shading_scale_u
    if not (math.isfinite(b_f) and math.isfinite(u_f) and 0 < u_f <= P.pad_dent_focus_confirm_rel * b0):
        # a mono stack sees an oxide patch darken as a dent does: without focused flanks to confirm it, no depth
        got = "too few of its pixels focus" if not math.isfinite(b_f) else f"its {n} focused pixels size it only to {b_f:.3f} +- {u_f:.3f}"
        return "unsized", f"{seen}, but the focus does not confirm its depth ({got}; an oxide patch darkens a mono stack alike)"
    if abs(b_f - b0) > 3 * math.hypot(u_f, u0):
        if abs(b_f) <= 3 * u_f:  # the focus finds the darkened gold level: no dent (oxide darkens, it does not dip)
            return None, f"{seen}, but its {n} focused pixels lie level (scale {b_f:.3f} +- {u_f:.3f}): not a dent"
        return "unsized", (f"{seen}, but its {n} focused pixels size it at {b_f:.3f} +- {u_f:.3f} of the shading, not the "
                           f"finish's {b0:.3f} +- {u0:.3f}: not a dent as modelled (an oxide patch in a mono stack, another finish)")
    w0, wf = 1 / u0**2, 1 / u_f**2
    beta, u_beta = (w0 * b0 + wf * b_f) / (w0 + wf), math.sqrt(1 / (w0 + wf))
    how = f"the finish's shading scale and {n} focused pixels ({b_f:.3f} +- {u_f:.3f})"
    bowls = sb.bowls.copy()
    bowls[:, 0] *= beta

    def sampler(rng, size, sb=sb, beta=beta, u_beta=u_beta, rel=P.pad_dent_shape_rel_u):
        th = rng.multivariate_normal(sb.bowls.ravel(), sb.cov, size=size).reshape(size, -1, 4)
        th[..., [0, 3]] = np.abs(th[..., [0, 3]])
        # the scale is one for all the pad's bowls; the model's own error (lobe, bowl shape, merged dents) is each bowl's
        th[..., 0] *= np.abs(rng.normal(beta, u_beta, size=(size, 1))) * rng.normal(1.0, rel, size=th.shape[:2])
        return th

    depths = ", ".join(f"{d * 1e3:.0f}" for d in bowls[:, 0])
    return "sized", bowls, sampler, f"{seen}; depth(s) {depths} um, sized by {how}"


def flatness(height_mm: np.ndarray, valid: np.ndarray, mask: np.ndarray, *, mm_per_px: float,
             center_px: tuple[float, float], uncertainty_mm: np.ndarray | None = None, block_mm: float = 0.06,
             min_valid_fraction: float = 0.1, shape_tol_um: float = 3.0, min_dent_blocks: int = 3, max_scatter_mm: float | None = None, edge_band_px: float = 0.0,
             anchors: EdgeHeights | None = None, min_anchors_per_side: int = 3, gain_u: float = 0.0, window_px: int = 15,
             shading: np.ndarray | None = None, shading_exclude: np.ndarray | None = None, seed: int = 0) -> Flatness:
    """Peak-to-valley flatness of a pad from its height map.

    Parameters
    ----------
    height_mm, valid : ndarray (H, W)
        Depth-from-focus result (`vision.focus.DepthResult`).
    mask : ndarray (H, W) bool
        The pad; a band around its edge may be included (the edge is where the focus is sharpest).
    mm_per_px : float
        Lateral scale at the focus plane.
    center_px : (float, float)
        Pad centre (u, v); the quadric's x, y are mm from here (+y up).
    block_mm : float
        Side of the blocks whose medians are fitted.
    shape_tol_um : float
        A curvature term whose sag over the pad is below this is treated as zero when naming the shape.
    min_dent_blocks : int
        Neighbouring low blocks needed to call a local dent (its depth: its lowest block median).
    max_scatter_mm : float, optional
        Blocks whose valid pixels scatter more than this (robust sigma) are dropped -- on a weakly
        textured pad, focus peaks of noise scatter over the stack while a surface's agree. About
        one z step is a good value.
    edge_band_px : float
        Blocks closer than this to the mask's edge are left out when the interior alone has enough
        valid blocks (half of its cells); about half the focus window plus a few px.
    anchors : EdgeHeights, optional
        Heights of the pad's outline from the focus of its edge (`edge_heights`). When the interior is
        too plain to carry the fit, the quadric is fitted to these (weighted by their uncertainties,
        which are scaled up by the fit's own normalised scatter when that exceeds 1) instead of to the
        edge band's block medians; the interior blocks then only serve to find local dents. Needs
        ``min_anchors_per_side`` on each of the four sides (a quadric is fixed by its values around a
        rectangle's outline). ``gain_u``: relative standard uncertainty of the outline heights' scale. A
        plain pad focuses nowhere inside; a local dent's shading flanks do: when enough interior blocks lie
        below the outline's surface, a Gaussian bowl is fitted to the interior pixels (`_gaussian_dent`;
        ``window_px``, the focus window, sets how many pixels share one error) and joins the surface; a
        bowl whose depth is not 3 standard uncertainties above zero fails the check (not ok, with why).
    shading : ndarray (H, W), optional
        Linear luminance of the pad (the stack's all-in-focus picture). With outline anchors, the dents are
        shaped from it (`vision.dents`: one or two bowls, whose dark rings fix their centres and widths even
        where their flanks do not focus) and sized by the focus heights below the outline's surface. A dent
        that darkens its ring by ``PARAMS.stack.pad_dent_min_darkening`` is sized by the finish's shading scale,
        confirmed by the focused pixels. A shallow wide dent can lie wholly between two slices of focus: when the
        focus neither confirms the shading's dent nor fits a bowl of its own, the check fails
        (``unreliable:dent_depth``) -- the pad must not read flat.
    shading_exclude : ndarray (H, W) bool, optional
        Pixels the shading must not be read on: oxide that a colour view located (a mono stack sees it darken
        the pad as a dent's flanks do).

    Returns
    -------
    Flatness
    """
    h = np.asarray(height_mm, float)
    ok_px = np.asarray(valid, bool) & np.asarray(mask, bool) & np.isfinite(h)
    B = max(4, int(round(block_mm / mm_per_px)))
    H, W = h.shape
    # dents are only looked for in blocks well inside the pad (edge blocks mix in the board)
    inner = cv2.erode(np.asarray(mask, np.uint8), np.ones((2 * B + 1, 2 * B + 1), np.uint8)) > 0
    pts = []
    for v0 in range(0, H, B):
        for u0 in range(0, W, B):
            mb = mask[v0 : v0 + B, u0 : u0 + B]
            ob = ok_px[v0 : v0 + B, u0 : u0 + B]
            if mb.sum() < 0.25 * B * B or ob.sum() < max(8, min_valid_fraction * mb.sum()):
                continue
            hv = h[v0 : v0 + B, u0 : u0 + B][ob]
            med = float(np.median(hv))
            sc = robust_sigma(hv, center=med)
            if max_scatter_mm is not None and sc > max_scatter_mm:
                continue  # the block's pixels disagree: noise peaks, not a surface
            u = 1.2533 * sc / math.sqrt(len(hv))
            vv, uu = np.nonzero(ob)
            pts.append((u0 + uu.mean(), v0 + vv.mean(), med, max(u, 1e-4), v0 // B, u0 // B, float(inner[v0 : v0 + B, u0 : u0 + B].mean())))
    use_anchors = anchors is not None and all(int((anchors.side == k).sum()) >= min_anchors_per_side for k in range(4))
    if len(pts) < 8 and not use_anchors:
        return Flatness(False, f"only {len(pts)} pad blocks have a usable focus peak (need 8); the pad shows too little texture or lies outside the stack")
    P = np.array(pts).reshape(-1, 7)
    notes = []
    edge_sides = None  # per block: which pad side's edge band it lies in (0-3), -1 inside
    textured = False
    if edge_band_px > 0 and len(P):
        # next to the pad edge the focus window also sees the board below; use that band only when
        # the interior is too plain to carry the fit (smooth gold: the edge is then all there is)
        dist = cv2.distanceTransform(np.asarray(mask, np.uint8), cv2.DIST_L2, 5)
        edge = dist[P[:, 1].astype(int), P[:, 0].astype(int)] < edge_band_px
        n_cells = int((dist[B // 2 :: B, B // 2 :: B] >= edge_band_px).sum())
        textured = (~edge).sum() >= max(8, 0.5 * n_cells)
        if textured:
            P = P[~edge]
            notes.append(f"interior blocks only ({len(P)}); the {edge_band_px:g} px edge band is left out")
        elif use_anchors:
            P = P[~edge]  # the interior's few blocks: local dents only
            notes.append(f"pad interior too plain ({int((~edge).sum())}/{n_cells} blocks): the quadric is fitted to "
                         f"{len(anchors)} heights of the outline from the focus of its edge")
        else:
            notes.append(f"pad interior too plain ({int((~edge).sum())}/{n_cells} blocks): the edge band carries the fit")
            edge_sides = _pad_side(mask, P[:, 0], P[:, 1], edge)
    elif use_anchors:
        notes.append(f"the quadric is fitted to {len(anchors)} heights of the outline from the focus of its edge")
    anchored = use_anchors and not textured
    x = (P[:, 0] - center_px[0]) * mm_per_px
    y = -(P[:, 1] - center_px[1]) * mm_per_px
    A = _quad_design(x, y)
    if anchored:
        Aa = _quad_design(anchors.x_mm, anchors.y_mm)
        wa = 1.0 / np.maximum(anchors.u_mm, 1e-5)
        keep_a = np.ones(len(Aa), bool)
        for _ in range(6):
            c, *_ = np.linalg.lstsq(Aa[keep_a] * wa[keep_a, None], anchors.z_mm[keep_a] * wa[keep_a], rcond=None)
            ra = (anchors.z_mm - Aa @ c) * wa
            s_n = robust_sigma(ra[keep_a], center=0.0, floor=1e-6)
            new = np.abs(ra) < 3 * max(s_n, 1.0)
            if new.sum() < 6 or np.array_equal(new, keep_a):
                break
            keep_a = new
        # the fit's normalised scatter scales the anchors' own uncertainties (never down)
        scale = max(1.0, float(np.sqrt(np.mean(ra[keep_a] ** 2))))
        Ak = Aa[keep_a] * wa[keep_a, None]
        try:
            cov = np.linalg.inv(Ak.T @ Ak) * scale**2
        except np.linalg.LinAlgError:
            return Flatness(False, "the outline's heights do not constrain a curved surface")
        res_sigma = float(np.sqrt(np.mean(((anchors.z_mm - Aa @ c)[keep_a]) ** 2)))
        # interior blocks against that surface: only the local dents come from them
        r = P[:, 2] - A @ c
        s = robust_sigma(r, center=0.0, floor=1e-6) if len(r) >= 3 else np.inf
        keep = np.abs(r) < 3 * s
    else:
        keep = np.ones(len(P), bool)
        for _ in range(6):
            c, *_ = np.linalg.lstsq(A[keep], P[keep, 2], rcond=None)
            r = P[:, 2] - A @ c
            s = robust_sigma(r[keep], center=0.0, floor=1e-6)
            new = np.abs(r) < 3 * s
            if new.sum() < 6 or np.array_equal(new, keep):
                break
            keep = new
        res_sigma = s
    # blocks far from the quadric on the low side, in a group, are local dents
    dent = (~keep) & (r < -3 * s) & (np.abs(r) > 3 * P[:, 3]) & (P[:, 6] > 0.9)
    dent_pts = []
    gdent = None  # anchored: a Gaussian bowl fitted to the interior pixels (depth, x0, y0, sigma) and its covariance
    # the dents joining the surface: (n, 4) rows (D, x0, y0, s) mm, and how to draw them (rng, size) -> (size, n, 4)
    bowls_pt, bowl_sampler = None, None
    if anchored:
        # a plain pad focuses nowhere inside its outline; a dent's sloping flanks shade and so focus.
        # Blocks more than a z step (half of max_scatter_mm) below the outline's surface, enough of them
        # to make a dent, say one is there.
        floor = 0.5 * max_scatter_mm if max_scatter_mm is not None else 0.0
        # (these blocks already lie clear of the outline's band, where the focus window mixes in the board: no
        # further inset -- it hid the flanks of dents within 0.3 mm of the edge, draw 36187 board 47)
        dent = r < -np.maximum(3 * P[:, 3], floor)
        focus_dent = dent.sum() >= min_dent_blocks
        # the interior clear of the outline's band, its focused pixels and their heights below the outline's surface:
        # what both dent fits read
        interior = np.asarray(mask, bool) & (cv2.distanceTransform(np.asarray(mask, np.uint8), cv2.DIST_L2, 5) >= edge_band_px)
        vi, ui = np.nonzero(ok_px & interior)
        xi, yi = (ui - center_px[0]) * mm_per_px, -(vi - center_px[1]) * mm_per_px
        ri = h[vi, ui] - _quad_design(xi, yi) @ c
        if focus_dent:
            gdent = _gaussian_dent(xi, yi, ri, mm_per_px, window_px)
        if shading is not None:
            # oxide another view located darkens the pad as a dent's flanks do: its pixels stay out of the shading
            shade_px = interior if shading_exclude is None else interior & ~np.asarray(shading_exclude, bool)
            shaded = _shaded_dents(shading, shade_px, xi, yi, ri, center_px=center_px, mm_per_px=mm_per_px, window_px=window_px,
                                   init=None if gdent is None else gdent[0][1:])
            if shaded[0] == "unsized" and gdent is None:
                return Flatness(False, f"unreliable:dent_depth ({shaded[1]})", n_blocks=int(len(P)), dent_blocks=int(dent.sum()), notes=notes)
            if shaded[0] == "sized":
                bowls_pt, bowl_sampler = shaded[1], shaded[2]
                notes.append(shaded[3])
        if bowls_pt is None and focus_dent:
            if gdent is None:
                return Flatness(False, f"a local dent shows inside the pad ({int(dent.sum())} blocks below its outline's surface) "
                                       "but too few of its pixels focus to fit its bowl", n_blocks=int(len(P)), dent_blocks=int(dent.sum()))
            u_d = math.sqrt(gdent[1][0, 0])
            if gdent[0][0] < 3 * u_d:
                # not resolved: the PV keeps the bowl with its large uncertainty, so that the guard band sends
                # the pad to REVIEW (or FAIL when even the low end is over the limit), never to a confident PASS
                notes.append(f"local dent depth poorly resolved ({gdent[0][0] * 1e3:.0f} +- {u_d * 1e3:.0f} um): only its sloping flanks focus")
            bowls_pt = gdent[0][None]

            def bowl_sampler(rng, size, g=gdent):
                d = rng.multivariate_normal(g[0], g[1], size=size)
                d[:, [0, 3]] = np.abs(d[:, [0, 3]])  # a depth and a width are never negative
                return d[:, None, :]
    elif dent.any():  # a dent spans a group of >= min_dent_blocks neighbouring blocks; lone low blocks are noise
        grid = np.zeros((H // B + 1, W // B + 1), np.uint8)
        ij = P[:, 4:6].astype(int)
        grid[ij[dent, 0], ij[dent, 1]] = 1
        ng, lab = cv2.connectedComponents(grid, connectivity=8)
        gl = lab[ij[:, 0], ij[:, 1]]
        for g in range(1, ng):
            sel = dent & (gl == g)
            if sel.sum() >= min_dent_blocks:
                k = np.flatnonzero(sel)[np.argmin(r[sel])]
                depth = _dent_bottom(h, ok_px, P[k, 0], P[k, 1], 1.5 * B, c, center_px, mm_per_px)
                dent_pts.append((A[k], (float(r[k]) if depth is None else depth) + float(A[k] @ c)))
            else:
                dent[sel] = False
    if not anchored:
        # covariance of the quadric from the scatter of the kept blocks
        AtA = A[keep].T @ A[keep]
        try:
            cov = np.linalg.inv(AtA) * res_sigma**2
        except np.linalg.LinAlgError:
            return Flatness(False, "the pad blocks do not constrain a curved surface (too few, or in a line)")
    vv, uu = np.nonzero(mask)
    step = max(1, int(math.sqrt(len(uu) / 4000)))
    xs = (uu[::step] - center_px[0]) * mm_per_px
    ys = -(vv[::step] - center_px[1]) * mm_per_px
    Aq = _quad_design(xs, ys)

    def pv_of(coef: np.ndarray, extra_pts=None, bowls=None) -> float:
        z = Aq @ coef
        if bowls is not None:
            z = z - bowl_heights(bowls, xs, ys)
        X, Z = Aq[:, :3], z
        if extra_pts is not None and len(extra_pts[0]):
            X = np.vstack([X, extra_pts[0][:, :3]])
            Z = np.concatenate([Z, extra_pts[1]])
        pl, *_ = np.linalg.lstsq(X, Z, rcond=None)
        d = Z - X @ pl
        return float(d.max() - d.min())

    extra = (np.array([a for a, _ in dent_pts]), np.array([z for _, z in dent_pts])) if dent_pts else None
    pv = pv_of(c, extra, bowls_pt)
    rng = np.random.default_rng(seed)
    coefs = rng.multivariate_normal(c, cov, size=128)
    bowls = [None] * len(coefs) if bowl_sampler is None else bowl_sampler(rng, len(coefs))
    if edge_sides is not None:
        # Error model of an edge-band fit: next to the edge the focus window mixes the pad rim with
        # the board below, by an amount that depends on the side (its light, the board beneath),
        # so the errors are correlated along each side rather than independent per block. Each
        # side gets an unknown offset of the blocks' own scatter (res_sigma); the refits of the
        # quadric under those offsets carry that into the PV.
        Ak = A[keep]
        sk = edge_sides[keep]
        pinv = np.linalg.pinv(Ak)
        offs = rng.normal(0.0, res_sigma, size=(len(coefs), 4))
        dz = np.where(sk[None, :] >= 0, offs[:, np.clip(sk, 0, 3)], 0.0)
        coefs = coefs + dz @ pinv.T
    if anchored:
        # the outline's heights also scale with an uncertain gain (their slope against true heights scatters
        # by `gain_u` with the band's placement); a refit under that gain carries it into the PV
        coefs = coefs * (1.0 + rng.normal(0.0, gain_u, size=(len(coefs), 1)))
    sims = np.array([pv_of(cs, extra, bw) for cs, bw in zip(coefs, bowls)])
    # a PV is never negative: the error model alone gives a flat pad the PV of its perturbations
    # (the bias correction below removes its mean only where the shape is well above it), and flat pads
    # read up to 2.2 times that PV's half (10 rendered flat pads): the whole of it joins the uncertainty
    noise_pv = float(np.mean([pv_of(cs - c) for cs in coefs]))
    u_pv = math.hypot(float(np.std(sims)), noise_pv)
    # a peak-to-valley of noisy coefficients is biased upwards (it is never negative): bootstrap
    # bias correction, PV_bc = 2 PV - mean(PV of resampled coefficients), floored at 0.
    # A fitted bowl's draws are nothing like its error: depth and width fold at zero and the width runs up to the
    # pad's size, so their mean says nothing of the point value's bias (it doubled a 20 um dent to 35 um); with a
    # bowl the PV is the fitted surface's own, and the draws only give its uncertainty
    if bowls_pt is None:
        pv = max(0.0, 2 * pv - float(np.mean(sims)))
    elif u_pv > pv:
        # the bowl's depth is not resolved at all (two dents taken for one, say): a PV whose own uncertainty
        # exceeds it is no measurement; the pad goes to REVIEW for it
        return Flatness(False, f"unreliable:dent_fit (a local dent shows, {int(dent.sum())} blocks below the outline's "
                               f"surface, but its depth is not resolved: PV {pv * 1e3:.0f} +- {u_pv * 1e3:.0f} um)",
                        n_blocks=int(len(P)), dent_blocks=int(dent.sum()), notes=notes)
    # shape from the curvature terms: sag over the pad half-diagonal
    half = 0.5 * math.hypot(xs.max() - xs.min(), ys.max() - ys.min())
    Hs = np.array([[2 * c[3], c[5]], [c[5], 2 * c[4]]])
    lam = np.linalg.eigvalsh(Hs)
    sag_um = 0.5 * lam * half * half * 1e3
    big = np.abs(sag_um) > max(shape_tol_um, 3 * u_pv * 1e3)
    if big.sum() == 0:
        shape = "flat"
    elif big.sum() == 1:
        shape = "bow"
    elif np.sign(sag_um[0]) != np.sign(sag_um[1]):
        shape = "saddle"
    else:
        shape = "dome" if sag_um[0] < 0 else "dish"
    if dent_pts or bowls_pt is not None:
        shape = (shape + " + local dent") if shape != "flat" else "local dent"
    surf = np.full(mask.shape, np.nan, np.float32)
    Xa, Ya = (uu - center_px[0]) * mm_per_px, -(vv - center_px[1]) * mm_per_px
    zq = _quad_design(Xa, Ya) @ c
    pl, *_ = np.linalg.lstsq(_quad_design(Xa, Ya)[:, :3], zq, rcond=None)
    surf[vv, uu] = zq - _quad_design(Xa, Ya)[:, :3] @ pl
    if bowls_pt is not None:
        surf[vv, uu] -= bowl_heights(bowls_pt, Xa, Ya)
    if anchored:
        notes.append(f"{int(keep_a.sum())}/{len(anchors)} outline heights fit the surface; their scatter {res_sigma * 1e3:.1f} um")
    return Flatness(True, "", pv * 1e3, math.hypot(u_pv * 1e3, 0.1 * res_sigma * 1e3), shape, c, int(len(P)), int(dent.sum()), surf,
                    notes=notes + [f"{int(keep.sum())}/{len(P)} blocks of {B} px fit the surface; block scatter {res_sigma * 1e3:.1f} um"])


@dataclass
class Roughness:
    """Areal roughness of a pad; ``ok`` False says why in ``reason`` (never a number the method cannot resolve)."""

    ok: bool
    reason: str = ""
    sa_um: float = float("nan")
    u_sa_um: float = float("nan")


def roughness_sa(height_mm: np.ndarray, valid: np.ndarray, mask: np.ndarray, flat: Flatness, *, mm_per_px: float,
                 center_px: tuple[float, float], uncertainty_mm: np.ndarray, resolvable_factor: float = 2.0,
                 method_floor_mm: float = 0.0, min_valid_fraction: float = 0.0) -> Roughness:
    """Areal roughness Sa (um) around the fitted smooth surface, if the method resolves it.

    Not ``ok`` (with the reason) when the scatter is not clearly above the depth-from-focus noise
    (``resolvable_factor`` times the larger of the median per-pixel uncertainty and ``method_floor_mm`` -- the
    method's demonstrated accuracy, e.g. 0.1 z step, since per-pixel uncertainties miss correlated errors), or
    when fewer than `min_valid_fraction` of the pad's pixels focus at all (their scatter is then noise peaks').
    """
    if not flat.ok or flat.coeffs is None:
        return Roughness(False, f"no smooth surface to measure roughness against ({flat.reason})")
    m = np.asarray(valid, bool) & np.asarray(mask, bool) & np.isfinite(height_mm)
    vv, uu = np.nonzero(m)
    if len(uu) < 100:
        return Roughness(False, "too few pad pixels with a usable focus peak for roughness")
    n_pad = int(np.count_nonzero(mask))
    if n_pad and len(uu) < min_valid_fraction * n_pad:
        return Roughness(False, f"only {len(uu)} of the pad's {n_pad} pixels focus: a smooth surface, finer than what depth "
                                "from focus resolves (the few peaks are noise)")
    z = _quad_design((uu - center_px[0]) * mm_per_px, -(vv - center_px[1]) * mm_per_px) @ flat.coeffs
    d = (height_mm[vv, uu] - z) * 1e3
    d = d - np.median(d)
    sa = float(np.mean(np.abs(d)))
    noise = max(float(np.nanmedian(uncertainty_mm[vv, uu])), method_floor_mm) * 1e3 * math.sqrt(2 / math.pi)
    if sa <= resolvable_factor * noise:
        return Roughness(False, f"roughness below what depth from focus resolves here: pixel scatter Sa {sa:.1f} um is "
                                f"within {resolvable_factor:g}x the method noise ({noise:.1f} um); ENIG grain is far finer")
    return Roughness(True, sa_um=math.sqrt(max(sa * sa - noise * noise, 0.0)), u_sa_um=noise)
