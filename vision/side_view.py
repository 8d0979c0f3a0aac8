"""Side view of a 1 x N pin row: board line, tip height, tilt in the image plane, seating gap, plunger
protrusion and solder wicking, from a backlit silhouette and a front-lit colour image.

Both images come from one telecentric camera looking along the board's +y at the vertical plane of
the row; its `CalibrationRecord` maps pixels to that plane's (x, z) in mm. Every height is the
perpendicular distance above the fitted board line, in mm of that plane.

Subpixel edges use the area (zeroth-moment) method on *linear* intensity: across a step edge blurred
by any point-spread function, the sum of the normalised intensity over a window that spans the
transition equals the edge's distance from the window's end -- exact for any blur, unbiased by noise.
Centres of the barrel and plunger per row are first moments of the darkness, likewise exact.

Conventions: images (H, W) or (H, W, 3), axis 0 = v (rows, down), axis 1 = u (columns, right);
pixel centres at integers (OpenCV). Angles in degrees; ``tilt_xz_deg`` is positive when the pin
leans towards the plane's +x.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from models.errors import InputError
from calibration.record import CalibrationRecord
from models.pin_geometry import PinGeometry
from vision.colour import srgb_to_linear
from vision.params import PARAMS
from vision.subpixel.robust import robust_sigma

__all__ = ["BoardLine", "SidePin", "SideRow", "linearize", "find_board_line", "find_pin_columns",
           "measure_pin_silhouette", "measure_wicking", "inspect_side_row"]



def across_tilt_u_mm(radius_mm: float) -> float:
    """Standard uncertainty (mm) a hidden tilt across the view gives a height read at `radius_mm` from the axis."""
    # the hidden tilt lowers the flange's silhouette and moves the solder ring's front point; bounded, uniform
    return radius_mm * math.sin(math.radians(PARAMS.side.tilt_across_bound_deg)) / math.sqrt(3)


@functools.lru_cache(maxsize=1)
def _lut8() -> np.ndarray:
    """Linear value (float32) of each 8-bit sRGB code, 256 entries (read-only, shared)."""
    lut = srgb_to_linear(np.arange(256) / 255.0, dtype=np.float64).astype(np.float32)
    lut.flags.writeable = False
    return lut


def linearize(img: np.ndarray) -> np.ndarray:
    """sRGB-encoded uint8/uint16 (H, W[, 3]) -> linear float32 of the same shape in [0, 1]."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        if a.ndim == 2 and a.flags.c_contiguous and a.size > 4096:
            return cv2.LUT(a, _lut8())  # several times faster than numpy's gather for whole images
        return _lut8()[a]
    if a.dtype == np.uint16:
        c = a.astype(np.float32) / 65535.0
    else:
        c = np.clip(a.astype(np.float32), 0, 1)
    return srgb_to_linear(c)


def shoulder_span_mm(g: PinGeometry) -> tuple[float, float]:
    """Distances from the axis (mm) of the barrel-top shoulder columns: clear of the plunger and of the rim."""
    return g.plunger_radius_mm + 0.08, g.barrel_radius_mm - 0.07


def shoulder_bulge_mm(g: PinGeometry) -> float:
    """Mean of sqrt(r_b^2 - d^2) over the shoulder columns: a tilt across the view raises the barrel top's
    silhouette there by sin(tilt) times this (the top face's rim seen as a thin ellipse)."""
    d = np.linspace(*shoulder_span_mm(g), 32)
    return float(np.mean(np.sqrt(np.clip(g.barrel_radius_mm**2 - d * d, 0, None))))


def _linefit(x: np.ndarray, y: np.ndarray, deg: int = 1) -> np.ndarray:
    """Least-squares line ``y = c[0] x + c[1]`` (numpy.polyfit's order), without its overhead."""
    xm, ym = x.mean(), y.mean()
    dx = x - xm
    b = float(dx @ (y - ym)) / max(float(dx @ dx), 1e-300)
    return np.array([b, ym - b * xm])


# -- board line ------------------------------------------------------------------------------------------
@dataclass
class BoardLine:
    """The board surface seen edge-on: ``v = v0_px + slope * (u - u_ref_px)``."""

    ok: bool
    reason: str = ""
    v0_px: float = float("nan")
    slope: float = float("nan")
    u_ref_px: float = 0.0
    cov: np.ndarray | None = None  # (2, 2) of (v0, slope)
    rms_px: float = float("nan")
    n_columns: int = 0
    columns_px: np.ndarray | None = None  # u of the columns used
    edges_px: np.ndarray | None = None  # their subpixel edge rows (all valid columns)
    valid: np.ndarray | None = None  # (W,) bool: column had a usable edge
    note: str = ""  # how the line was taken when it is not a refined one

    def v_at(self, u) -> np.ndarray:
        return self.v0_px + self.slope * (np.asarray(u, float) - self.u_ref_px)

    def u_v_at(self, u: float) -> float:
        """Standard uncertainty (px) of the line's row at column u."""
        j = np.array([1.0, u - self.u_ref_px])
        return float(math.sqrt(max(j @ self.cov @ j, 0.0)))


def _levels(lin: np.ndarray, board_rows: slice, top_rows: slice) -> tuple[np.ndarray, np.ndarray]:
    """Per-column board level (bottom rows) and background level (top rows), (W,) each."""
    return _col_median(lin[board_rows]), _col_median(lin[top_rows])


def _col_median(x: np.ndarray) -> np.ndarray:
    """np.median(x, axis=0) of (n, W) finite values, equal to it: a sort along the rows is 5x faster for a few tens
    of rows than numpy's column-by-column partition (a side row reads six such medians of 800-1600 columns)."""
    n = len(x)
    y = np.sort(x, axis=0)
    return y[n // 2] if n % 2 else (y[n // 2 - 1] + y[n // 2]) / y.dtype.type(2)


def find_board_line(lin: np.ndarray, *, exclude: np.ndarray | None = None, half_window_px: int = 6,
                    step_px: float = 0.0, offset_px: np.ndarray | None = None, min_columns: int = 40,
                    row_range: tuple[int, int] | None = None, clip: bool = False) -> BoardLine:
    """Subpixel board line of a side image (board below, background above, either polarity).

    Parameters
    ----------
    lin : (H, W) linear intensity.
    exclude : (W,) bool, columns to leave out (pins, pads and fillets standing on the board).
    half_window_px : half height of each column's edge window.
    step_px : height (px) of the lowest things that stand on the board (pads, fiducials); the trimming
        ends below half of it so that their tops are not taken for the board.
    offset_px : (W,) px added to each column's edge before the fit (the known height of a pad standing
        there), so that pad columns count as board.
    row_range : (first, stop) rows of a band that holds the line (a refinement): only it is searched.
    clip : clip the normalised window to [0, 1]: for front-lit images, where pads are a third level
        (brighter than the board's edge) that would otherwise count as negative background.
    min_columns : fewer usable columns than this is a failure (``ok=False`` with the reason).

    Each column's edge is the lowest crossing between the board level (median of the bottom rows) and
    the background level (median of the top rows), refined by the area method. A line is fitted with
    asymmetric trimming (anything standing on the board lies above the line), then 3-sigma trimming.
    """
    if row_range is not None:  # refine inside a band around a known line (fast)
        r0 = max(int(row_range[0]), 0)
        r1 = min(int(row_range[1]), lin.shape[0])
        sub = find_board_line(lin[r0:r1], exclude=exclude, half_window_px=half_window_px, step_px=step_px,
                              offset_px=offset_px, min_columns=min_columns, clip=clip)
        if sub.ok:
            sub.v0_px += r0
            sub.edges_px = sub.edges_px + r0
        return sub
    H, W = lin.shape
    if H < 30 or W < min_columns:
        return BoardLine(ok=False, reason=f"image {W}x{H} px is too small for a board line")
    nb = max(5, H // 20)
    lb, lt = _levels(lin, slice(H - nb - 1, H - 1), slice(1, nb + 1))
    contrast = lt - lb
    ok_col = np.abs(contrast) > 0.08 * max(float(np.abs(contrast).max()), 1e-6)
    div = np.where(np.abs(contrast) > 1e-6, contrast, 1.0)
    # lowest crossing: last row (from the top) where the column still looks like background; every other
    # row is enough for that (the subpixel window below spans it)
    above = (lin[::2] - lb) / div > 0.5
    last_bg = np.where(above.any(axis=0), above.shape[0] - 1 - np.argmax(above[::-1], axis=0), -1) * 2
    last_bg = np.where((last_bg + 1 < H) & (((lin[np.minimum(last_bg + 1, H - 1), np.arange(W)] - lb) / div) > 0.5),
                       last_bg + 1, last_bg)
    vc = last_bg + 1  # first board-like row
    k = half_window_px
    valid = ok_col & (vc - k >= 1) & (vc + k < H - 1)
    if exclude is not None:
        valid &= ~np.asarray(exclude, bool)
    us = np.nonzero(valid)[0]
    if len(us) < min_columns:
        return BoardLine(ok=False, reason=f"only {len(us)} columns show a board edge (need {min_columns})")
    a = vc[us] - k
    idx = a[None, :] + np.arange(2 * k)[:, None]
    win = (lin[idx, us[None, :]] - lb[us]) / div[us]  # 0 board, 1 background
    if clip:
        win = np.clip(win, 0.0, 1.0)
    e = a - 0.5 + win.sum(axis=0)  # area method: background fraction = distance of the edge from the window top
    # per-column check: the window must really hold one transition (background on top, board at the bottom)
    good = (win[:2].mean(axis=0) > 0.8) & (win[-2:].mean(axis=0) < 0.2)
    us, e = us[good], e[good]
    if offset_px is not None:
        e = e + np.asarray(offset_px, float)[us]
    if len(us) < min_columns:
        return BoardLine(ok=False, reason=f"only {len(us)} columns show a clean board edge (need {min_columns})")
    u_ref = float(W / 2)
    keep = np.ones(len(us), bool)
    coef = _linefit(us - u_ref, e, 1)
    last = max(0.35, 0.45 * step_px) if step_px > 0 else 1.2
    keep = np.ones(len(us), bool)
    for thr in (60.0, 25.0, 10.0, 4.0, 2.0, 1.2, last, last):
        r = e - np.polyval(coef, us - u_ref)
        k = r >= -max(thr, last)  # things on the board are above (smaller v)
        if k.sum() < min_columns:
            break
        keep = k
        coef = _linefit(us[keep] - u_ref, e[keep], 1)
    for it in range(3):
        r = e - np.polyval(coef, us - u_ref)
        s = robust_sigma(r[keep], floor=1e-3)
        thr = max(3 * s, 0.15)
        if step_px > 0:
            thr = min(thr, max(0.45 * step_px, 0.15))
        k2 = np.abs(r) < thr
        if k2.sum() < min_columns:
            if it == 0 and keep.sum() < min_columns:
                return BoardLine(ok=False, reason="the board edge is not straight (too few columns agree on one line)")
            break  # the line sits between two levels (board and pad tops); the caller refines it
        keep = k2
        coef = _linefit(us[keep] - u_ref, e[keep], 1)
    r = e[keep] - np.polyval(coef, us[keep] - u_ref)
    X = np.column_stack([np.ones(keep.sum()), us[keep] - u_ref])
    var = float(r @ r) / max(keep.sum() - 2, 1)
    cov = np.linalg.inv(X.T @ X) * var
    vmask = np.zeros(W, bool)
    vmask[us] = True
    return BoardLine(ok=True, v0_px=float(coef[1]), slope=float(coef[0]), u_ref_px=u_ref, cov=cov,
                     rms_px=float(math.sqrt(var)), n_columns=int(keep.sum()), columns_px=us[keep].astype(float),
                     edges_px=e[keep], valid=vmask)


def _rough_line(lin: np.ndarray, *, step_px: float, col_step: int = 2) -> BoardLine:
    """`find_board_line` on every `col_step`-th column: enough to find the pins and the band to refine in."""
    sub = find_board_line(np.ascontiguousarray(lin[:, ::col_step]), step_px=step_px, min_columns=20)
    if not sub.ok:
        return sub
    W = lin.shape[1]
    valid = np.zeros(W, bool)
    valid[::col_step] = sub.valid
    # sub column j is image column col_step * j
    return BoardLine(ok=True, v0_px=sub.v0_px, slope=sub.slope / col_step,
                     u_ref_px=sub.u_ref_px * col_step, cov=sub.cov * np.array([[1, 1 / col_step], [1 / col_step, 1 / col_step**2]]),
                     rms_px=sub.rms_px, n_columns=sub.n_columns, columns_px=sub.columns_px * col_step, edges_px=sub.edges_px,
                     valid=valid)


# -- normalisation and pins ---------------------------------------------------------------------------------
def _brightness(lin: np.ndarray, line: BoardLine) -> np.ndarray:
    """Backlit image -> brightness fraction (0 opaque, 1 backlight), per column normalised."""
    H, W = lin.shape
    top = lin[2:12].mean(axis=0)
    bl = line.v_at(np.arange(W))
    lo = int(min(H - 2, max(bl.max() + 8, 0)))
    dark = lin[lo:min(lo + 12, H - 1)].mean(axis=0) if lo < H - 2 else np.full(W, float(lin.min()))
    span = np.maximum(top - dark, 1e-4)
    out = np.subtract(lin, dark)  # in place from here: one whole-image array, not two
    return np.divide(out, span, out=out)


def find_pin_columns(bright: np.ndarray, line: BoardLine, *, band_px: tuple[float, float], min_width_px: float,
                     ) -> list[tuple[float, float, bool]]:
    """Dark runs across a horizontal band above the board line: [(centre u, width px, touches_edge)].

    `band_px` = (low, high) heights above the line, in px, of the band to look in (the barrels).
    """
    H, W = bright.shape
    u = np.arange(W)
    lo, hi = band_px
    vs = np.clip(np.round(line.v_at(u)[None, :] - np.linspace(lo, hi, 9)[:, None]).astype(int), 0, H - 1)
    dark = 1.0 - bright[vs, u[None, :]].mean(axis=0)
    isd = dark > 0.5
    runs = []
    d = np.diff(np.concatenate([[0], isd.astype(np.int8), [0]]))
    for s, e in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]):
        if e - s < min_width_px:
            continue
        w = np.clip(dark[s:e], 0, None)
        runs.append((float((u[s:e] * w).sum() / w.sum()), float(e - s), bool(s == 0 or e == W)))
    return runs


# -- one pin -------------------------------------------------------------------------------------------------
@dataclass
class SidePin:
    """What the side view measured for one pin (heights above the board line, mm, with std u)."""

    ok: bool
    reason: str = ""
    u_px: float = float("nan")  # barrel centre column (detection)
    x_mm: float = float("nan")  # base centre along the board line (plane x, mm)
    u_x_mm: float = float("nan")
    tilt_xz_deg: float = float("nan")
    u_tilt_xz_deg: float = float("nan")
    tip_height_mm: float = float("nan")
    u_tip_height_mm: float = float("nan")
    barrel_top_mm: float = float("nan")
    u_barrel_top_mm: float = float("nan")
    protrusion_mm: float = float("nan")
    u_protrusion_mm: float = float("nan")
    light_gap_mm: float = float("nan")  # light between pad top and flange bottom
    u_light_gap_mm: float = float("nan")
    wicking_above_flange_mm: float = float("nan")
    u_wicking_mm: float = float("nan")
    wicking_reason: str = ""
    solder_edge_px: tuple[float, float] | None = None
    plunger_grey_fraction: float = float("nan")
    erosion_px: float = 0.0  # how much thinner the plunger looks than its nominal diameter, per side
    bulge_sin: float = float("nan")  # |a_y| as the barrel top's shoulders show it
    across_tilt_sin: float = float("nan")  # |sin| of the tilt across the view, from the flange's silhouette (raised pins)
    u_across_tilt_sin: float = float("nan")
    flange_dip_mm: float = float("nan")  # what that tilt lowered the flange's underside by (added to the gap);
    u_flange_dip_mm: float = float("nan")  # 0 +- the across-tilt allowance when light is seen but the tilt unknown
    px: dict[str, list[float]] = field(default_factory=dict)  # tip, base, barrel_top, dome centre (u, v)
    edges_px: dict[str, np.ndarray] = field(default_factory=dict)  # left/right silhouette edges (N, 2) for overlays


class _Frame:
    """Pixel <-> (x along the board line, h above it) in mm of the calibration plane."""

    def __init__(self, record: CalibrationRecord, line: BoardLine, W: int):
        self.rec = record
        p0 = record.pixel_to_plane(np.array([[0.0, line.v_at(0.0)], [W - 1.0, line.v_at(W - 1.0)]]))
        t = p0[1] - p0[0]
        self.t = t / np.linalg.norm(t)
        n = np.array([-self.t[1], self.t[0]])
        # "up" is the plane's +z side; the board line's normal pointing there
        self.n = n if n[1] > 0 else -n
        self.o = p0[0]
        self.s = record.scale_mm_per_px()
        self.affine = None
        if record.model == "telecentric":
            # one affine map each way (the record's own methods invert its matrix on every call)
            T = np.vstack([self.t, self.n])  # plane -> (x, h)
            Ainv = np.linalg.inv(record.telecentric.matrix)
            M = T @ Ainv
            c = -T @ (Ainv @ record.telecentric.offset + self.o)
            self.affine = (M, c, np.linalg.inv(M))

    def xh(self, uv) -> np.ndarray:
        q = np.asarray(uv, float).reshape(-1, 2)
        if self.affine is not None:
            M, c, _ = self.affine
            return q @ M.T + c
        p = self.rec.pixel_to_plane(q) - self.o
        return np.column_stack([p @ self.t, p @ self.n])

    def uv(self, xh) -> np.ndarray:
        q = np.asarray(xh, float).reshape(-1, 2)
        if self.affine is not None:
            _, c, Minv = self.affine
            return (q - c) @ Minv.T
        p = self.o + q[:, :1] * self.t + q[:, 1:] * self.n
        return self.rec.plane_to_pixel(p)


def _row_centroids(bright, v_rows, u_centres, half_w, *, clip: bool = False):
    """First moment of darkness across each row's window: centre (u px), width (px), valid mask.

    Rows whose window leaves the image are invalid unless `clip` (then only the width is meaningful).
    """
    H, W = bright.shape
    v = np.asarray(v_rows, int)
    if np.ndim(u_centres) == 0 and np.ndim(half_w) == 0 and len(v) > 1 and (np.diff(v) == v[1] - v[0]).all() and v[1] > v[0] \
            and v[0] >= 0 and v[-1] < H:
        # one window for all rows: plain slices, no gather
        a, b = int(round(u_centres - half_w)), int(round(u_centres + half_w)) + 1
        a0, b0 = max(a, 0), min(b, W)
        if b0 - a0 < 4:
            return np.full(len(v), np.nan), np.zeros(len(v)), np.zeros(len(v), bool)
        d = 1.0 - bright[v[0]:v[-1] + 1:v[1] - v[0], a0:b0]
        sw = d.sum(axis=1)
        cen = (d @ np.arange(a0, b0, dtype=d.dtype)) / np.where(sw > 0, sw, 1.0)
        ends = np.maximum(d[:, 0] + d[:, 1] + d[:, 2], d[:, -1] + d[:, -2] + d[:, -3]) / 3
        full = a0 == a and b0 == b
        ok = (sw > 2) & (ends < 0.08) & (full or clip)
        return np.where(sw > 0, cen, np.nan), sw, ok
    uc = np.broadcast_to(np.asarray(u_centres, float), v.shape)
    hw = np.broadcast_to(np.asarray(half_w, float), v.shape)
    n = int(np.ceil(hw.max())) * 2 + 1
    a = np.round(uc - hw).astype(int)
    cols = a[:, None] + np.arange(n)[None, :]
    inwin = cols <= np.round(uc + hw).astype(int)[:, None]
    inside = (cols >= 0) & (cols < W) & (v[:, None] >= 0) & (v[:, None] < H)
    d = 1.0 - bright[np.clip(v, 0, H - 1)[:, None], np.clip(cols, 0, W - 1)]
    wgt = inwin & inside
    d = np.where(wgt, d, 0.0)
    sw = d.sum(axis=1)
    cen = (cols * d).sum(axis=1) / np.where(sw > 0, sw, 1.0)
    full = (inwin <= inside).all(axis=1)
    # both window ends must be background: nothing else (a neighbour, the edge) in the window
    last = (inwin.sum(axis=1) - 1)
    r = np.arange(len(v))
    ends = np.maximum(d[:, :3].mean(axis=1), (d[r, last] + d[r, np.maximum(last - 1, 0)] + d[r, np.maximum(last - 2, 0)]) / 3)
    ok = (sw > 2) & (ends < 0.08) & (full | clip)
    return np.where(sw > 0, cen, np.nan), sw, ok


def _col_top_edges(bright, u_cols, v_top, v_bot):
    """Top edge (v px) of the dark run in each column between rows v_top (background) and v_bot (dark)."""
    H = bright.shape[0]
    us = np.asarray(u_cols, int)
    a, b = max(int(v_top), 0), min(int(v_bot), H - 1)
    if b - a < 4 or len(us) == 0:
        return np.array([]), np.array([], bool)
    win = bright[a:b + 1][:, us]
    e = a - 0.5 + np.clip(win, -0.2, 1.2).sum(axis=0)
    ok = (win[:2].mean(axis=0) > 0.85) & (win[-2:].mean(axis=0) < 0.15)
    return e, ok


def _fit_circle_fixed_r(x, h, r, x0, h0, iters=12):
    """Least squares centre (xc, hc) of the upper arc h = hc + sqrt(r^2 - (x - xc)^2), fixed r. Returns centre, cov, rms."""
    xc, hc = float(x0), float(h0)
    for _ in range(iters):
        dx = x - xc
        s = np.sqrt(np.maximum(r * r - dx * dx, 1e-12))
        res = h - (hc + s)
        J = np.column_stack([dx / s, np.ones_like(x)])  # d model / d (xc, hc)
        step = np.linalg.solve(J.T @ J, J.T @ res)
        xc += step[0]
        hc += step[1]
        if abs(step).max() < 1e-7:
            break
    dx = x - xc
    s = np.sqrt(np.maximum(r * r - dx * dx, 1e-12))
    res = h - (hc + s)
    J = np.column_stack([dx / s, np.ones_like(x)])
    var = float(res @ res) / max(len(x) - 2, 1)
    cov = np.linalg.inv(J.T @ J) * var
    return xc, hc, cov, math.sqrt(var)


def measure_pin_silhouette(bright: np.ndarray, frame: _Frame, line: BoardLine, u_guess: float, g: PinGeometry, *,
                           pad_top_mm: float = 0.0) -> SidePin:
    """Measure one pin in the normalised silhouette (`_brightness`) near column `u_guess`: find its plunger and
    barrel, fit its axis, then its tip, barrel top and seating gap, each step in its own function.

    Returns a `SidePin`; ``ok=False`` with a reason when a part cannot be measured.
    """
    out = SidePin(ok=False, u_px=float(u_guess))
    vline = float(line.v_at(u_guess))
    found = _locate_pin(bright, frame, vline, u_guess, g, out)
    if found is None:
        return out
    v_tip0, v_bt0 = found
    ax = _fit_pin_axis(bright, frame, vline, u_guess, v_tip0, v_bt0, g, out)
    if ax is None:
        return out
    tip = _measure_tip(bright, frame, line, vline, u_guess, v_tip0, ax, g, out)
    if tip is None:
        return out
    _measure_barrel_top(bright, frame, vline, v_bt0, ax, tip, g, out)
    _measure_seating_gap(bright, frame, vline, (vline - v_bt0) * frame.s, ax, pad_top_mm, g, out)
    x0, kx, cov_ax = ax.x0, ax.kx, ax.cov
    s = frame.s
    base_h = (out.light_gap_mm if math.isfinite(out.light_gap_mm) else 0.0) + pad_top_mm
    out.x_mm = x0 + kx * base_h
    out.u_x_mm = math.sqrt(cov_ax[0, 0] + (base_h**2) * cov_ax[1, 1]) + 0.02 * s
    out.px["base"] = frame.uv([[out.x_mm, base_h]])[0].tolist()
    out.ok = True
    return out


@dataclass
class _PinAxis:
    """The pin's axis in the side plane: ``x = x0 + kx * h`` (mm), its covariance, and the edge erosion (px)."""

    x0: float
    kx: float
    cov: np.ndarray
    cos_t: float
    erosion_px: float
    h_tip0: float  # coarse tip height (mm)


def _locate_pin(bright, frame: _Frame, vline: float, u_guess: float, g: PinGeometry, out: SidePin):
    """Coarse tip row and barrel-top row of the pin near `u_guess`, or None (with ``out.reason``)."""
    W = bright.shape[1]
    s = frame.s
    # coarse tip: highest dark row near the axis
    a, b = int(round(u_guess - g.plunger_radius_mm / s / 2)), int(round(u_guess + g.plunger_radius_mm / s / 2)) + 1
    if a < 0 or b > W:
        out.reason = "the pin's plunger is cut by the image edge"
        return None
    col_dark = (1.0 - bright[:, a:b].mean(axis=1)) > 0.5
    rows = np.nonzero(col_dark[: int(vline)])[0]
    if len(rows) == 0:
        out.reason = "no silhouette above the board"
        return None
    v_tip0 = float(rows.min())
    # barrel top: highest row whose dark width is barrel-like
    hb = g.barrel_radius_mm / s
    # the barrel top lies between a dome below the tip and a whole protrusion (plus slack) below it
    rows_all = np.arange(int(v_tip0 + 0.5 * g.dome_radius_mm / s), int(min(vline, v_tip0 + (g.plunger_protrusion_mm + 0.4) / s)))
    # widths only (windows clipped at the image edge): a pin cut by the edge still shows its barrel
    _, w, _ = _row_centroids(bright, rows_all, float(u_guess), hb + 14, clip=True)
    barrelish = w > (1.5 * g.plunger_radius_mm + 0.5 * g.barrel_radius_mm) / s
    if barrelish.sum() < 10:
        out.reason = "no barrel found in the silhouette"
        return None
    v_bt0 = float(rows_all[barrelish].min())
    return v_tip0, v_bt0


def _fit_pin_axis(bright, frame: _Frame, vline: float, u_guess: float, v_tip0: float, v_bt0: float, g: PinGeometry,
                  out: SidePin) -> _PinAxis | None:
    """The axis through the row centres of the barrel and the plunger (robust line fit), the tilt along the row and
    the edge erosion; None (with ``out.reason``) when the edges are not clear."""
    s = frame.s
    hb = g.barrel_radius_mm / s
    h_tip0 = (vline - v_tip0) * s
    # axis from row centres of the barrel and the plunger
    v_bar = np.arange(int(v_bt0 + 0.12 / s), int(v_bt0 + (g.barrel_length_mm - 0.15) / s), 2)  # rows 2 px apart: the blur correlates neighbours anyway
    v_plg = np.arange(int(v_tip0 + (g.dome_radius_mm + 0.04) / s), int(v_bt0 - 0.06 / s))
    v_rows = np.concatenate([v_bar, v_plg])
    c1, w1, o1 = _row_centroids(bright, v_bar, u_guess, hb + 12)
    c2, w2, o2 = _row_centroids(bright, v_plg, u_guess, g.plunger_radius_mm / s + 10)
    cents, widths, oks = np.concatenate([c1, c2]), np.concatenate([w1, w2]), np.concatenate([o1, o2])
    oks = oks & np.isfinite(cents)
    # edge erosion: shiny metal seen against a backlight glints at grazing angles and looks thinner than it is;
    # the plunger's known diameter measures how much, and the dome (same metal, same light) loses as much
    in_plg = oks[len(v_bar):]
    erosion_px = 0.0
    if in_plg.sum() >= 5:
        erosion_px = (2 * g.plunger_radius_mm / s - float(np.median(widths[len(v_bar):][in_plg]))) / 2
    out.erosion_px = erosion_px
    if oks.sum() < 8:
        out.reason = "the pin's barrel and plunger edges are not clear (neighbour too close or cut by the image edge)"
        return None
    out.edges_px["left"] = np.column_stack([cents[oks] - widths[oks] / 2, v_rows[oks]])
    out.edges_px["right"] = np.column_stack([cents[oks] + widths[oks] / 2, v_rows[oks]])
    pts = frame.xh(np.column_stack([cents[oks], v_rows[oks]]))
    A = np.column_stack([np.ones(len(pts)), pts[:, 1]])
    coef, *_ = np.linalg.lstsq(A, pts[:, 0], rcond=None)
    res = pts[:, 0] - A @ coef
    # robust: drop rows that disagree (e.g. a solder meniscus or a chipped edge), refit
    sd = robust_sigma(res, center=0.0, floor=1e-6)
    k = np.abs(res) < 4 * sd + 0.2 * s
    if k.sum() >= 8:
        A, ptsk = A[k], pts[k]
        coef, *_ = np.linalg.lstsq(A, ptsk[:, 0], rcond=None)
        res = ptsk[:, 0] - A @ coef
    var = float(res @ res) / max(len(res) - 2, 1)
    # rows are correlated by the blur: each independent sample counts several times in the LS covariance
    cov_ax = np.linalg.inv(A.T @ A) * var * PARAMS.side.axis_row_correlation
    x0, kx = float(coef[0]), float(coef[1])  # x = x0 + kx * h
    tilt = math.degrees(math.atan(kx))
    lever = float(np.ptp(A[:, 1])) if len(A) else 1.0
    # glints need not be the same on both sides of the pin: half the erosion may shift a row's centre
    u_glint = 0.5 * abs(erosion_px) * s / max(lever, 0.5) if abs(erosion_px) > 0.1 else 0.0
    u_tilt = math.degrees(math.hypot(math.sqrt(cov_ax[1, 1]), u_glint) / (1 + kx * kx)) + 0.02  # 0.02 deg: calibration rotation
    cos_t = 1.0 / math.sqrt(1 + kx * kx)
    out.tilt_xz_deg, out.u_tilt_xz_deg = tilt, u_tilt
    out.edges_px["axis"] = frame.uv(np.array([[x0 + kx * h, h] for h in (0.0, h_tip0)]))

    return _PinAxis(x0, kx, cov_ax, cos_t, erosion_px, h_tip0)


def _measure_tip(bright, frame: _Frame, line: BoardLine, vline: float, u_guess: float, v_tip0: float, ax: _PinAxis,
                 g: PinGeometry, out: SidePin) -> tuple[float, float, float] | None:
    """Tip height from a circle of the dome's radius fitted to the dome's top edges: (h_tip, u_tip, u of the board
    line at the pin) mm, or None (with ``out.reason``)."""
    W = bright.shape[1]
    s = frame.s
    x0, kx, cos_t, erosion_px, h_tip0 = ax.x0, ax.kx, ax.cos_t, ax.erosion_px, ax.h_tip0
    # tip: circle of the dome radius fitted to the column-wise top edges of the dome
    r_d = g.dome_radius_mm
    h_dc0 = h_tip0 - r_d
    x_dc0 = x0 + kx * h_dc0
    u_dc0 = frame.uv([[x_dc0, h_dc0]])[0, 0]
    half_cols = 0.72 * min(g.plunger_radius_mm, r_d) / s
    ucols = np.arange(int(math.ceil(u_dc0 - half_cols)), int(math.floor(u_dc0 + half_cols)) + 1)
    ucols = ucols[(ucols >= 0) & (ucols < W)]
    e, oke = _col_top_edges(bright, ucols, v_tip0 - 10, v_tip0 + 0.55 * r_d / s)
    if oke.sum() < 5:
        out.reason = "the tip dome's outline is not clear"
        return None
    pe = frame.xh(np.column_stack([ucols[oke], e[oke]]))
    xc, hc, cov_c, _ = _fit_circle_fixed_r(pe[:, 0], pe[:, 1], r_d, x_dc0, h_dc0)
    h_tip = hc + r_d * cos_t + erosion_px * s
    x_tip = xc + r_d * kx * cos_t
    u_line_mm = line.u_v_at(u_guess) * s
    u_scale_rel = (frame.rec.mm_per_px_std or 0.0) / s
    # a tilt across the view (y) is invisible here: the apex lies lower than the silhouette's by up to r_d(1-cos t)
    u_model = r_d * (1 - math.cos(math.radians(4.0))) / math.sqrt(3)
    # the erosion correction is as good as the plunger's diameter tolerance (~5 um) and the likeness of dome and plunger
    u_ero = math.hypot(0.3 * erosion_px * s, 0.0025) if abs(erosion_px) > 0.1 else 0.0
    u_tip = math.sqrt(cov_c[1, 1] * 2.0 + u_line_mm**2 + (h_tip * u_scale_rel) ** 2 + u_model**2 + (0.03 * s) ** 2 + u_ero**2)
    out.tip_height_mm, out.u_tip_height_mm = float(h_tip), float(u_tip)
    out.px["tip"] = frame.uv([[x_tip, h_tip]])[0].tolist()
    out.px["dome_centre"] = frame.uv([[xc, hc]])[0].tolist()
    out.edges_px["dome"] = np.column_stack([ucols[oke], e[oke]])

    return h_tip, u_tip, u_line_mm


def _measure_barrel_top(bright, frame: _Frame, vline: float, v_bt0: float, ax: _PinAxis, tip: tuple[float, float, float],
                        g: PinGeometry, out: SidePin) -> None:
    """Barrel-top height from the column-wise top edges of its shoulders, and the plunger's protrusion."""
    W = bright.shape[1]
    s = frame.s
    x0, kx, cos_t, erosion_px = ax.x0, ax.kx, ax.cos_t, ax.erosion_px
    h_tip, u_tip, u_line_mm = tip
    # barrel top: column-wise top edges on both shoulders; the face is perpendicular to the axis
    h_bt0 = (vline - v_bt0) * s
    x_bt = x0 + kx * h_bt0
    d_in, d_out = shoulder_span_mm(g)
    xs = np.concatenate([np.linspace(x_bt - d_out, x_bt - d_in, 8), np.linspace(x_bt + d_in, x_bt + d_out, 8)])
    uc = np.unique(np.round(frame.uv(np.column_stack([xs, np.full(len(xs), h_bt0)]))[:, 0]).astype(int))
    uc = uc[(uc >= 0) & (uc < W)]
    e2, ok2 = _col_top_edges(bright, uc, v_bt0 - 10, v_bt0 + 10)
    if ok2.sum() >= 4:
        pb = frame.xh(np.column_stack([uc[ok2], e2[ok2]]))
        dcol = pb[:, 0] - (x0 + kx * pb[:, 1])
        hb_col = pb[:, 1] + kx * dcol  # back onto the axis along the tilted face
        # a tilt across the view shows the face's rim as a thin ellipse: the shoulders rise by |a_y| sqrt(r_b^2 - d^2)
        q = np.sqrt(np.clip(g.barrel_radius_mm**2 - dcol * dcol, 0, None))
        A2 = np.column_stack([np.ones(len(q)), q])
        sol, *_ = np.linalg.lstsq(A2, hb_col, rcond=None)
        # that shape is only trusted on a clean silhouette: glints round the rim's edge mimic it
        clean = abs(erosion_px) < 0.3 and len(q) >= 6 and sol[1] >= 0
        if clean:
            h_bt, kb = float(sol[0]), float(sol[1])
            res = hb_col - A2 @ sol
            var_h = (np.linalg.inv(A2.T @ A2) * float(res @ res) / max(len(q) - 2, 1))[0, 0]
            u_model = 0.0
        else:
            h_bt, kb = float(np.mean(hb_col)), float("nan")
            res = hb_col - h_bt
            var_h = float(res @ res) / max(len(q) - 1, 1) / len(q)
            u_model = math.hypot(across_tilt_u_mm(shoulder_bulge_mm(g)), abs(erosion_px) * s)
        out.bulge_sin = kb
        u_bt = math.sqrt(var_h * 3 + u_line_mm**2 + u_model**2)
        out.barrel_top_mm, out.u_barrel_top_mm = h_bt, u_bt
        out.protrusion_mm = (h_tip - h_bt) / cos_t
        out.u_protrusion_mm = math.sqrt(u_tip**2 + u_bt**2)
        out.px["barrel_top"] = frame.uv([[x0 + kx * h_bt, h_bt]])[0].tolist()



def _measure_seating_gap(bright, frame: _Frame, vline: float, h_bt0: float, ax: _PinAxis, pad_top_mm: float,
                         g: PinGeometry, out: SidePin) -> None:
    """Seating gap: the light under the flange, summed per column over the flange's middle."""
    W = bright.shape[1]
    s = frame.s
    x0, kx, erosion_px = ax.x0, ax.kx, ax.erosion_px
    u_scale_rel = (frame.rec.mm_per_px_std or 0.0) / s
    # seating gap: light under the flange, summed per column over the flange's middle
    h_mid = (h_bt0 - g.barrel_length_mm / 2) if math.isfinite(h_bt0) else g.flange_thickness_mm + 0.5
    xb = x0  # axis at the board
    xs = np.linspace(xb - 0.55 * g.flange_radius_mm, xb + 0.55 * g.flange_radius_mm, 24)
    ug = np.unique(np.round(frame.uv(np.column_stack([xs, np.zeros(len(xs))]))[:, 0]).astype(int))
    ug = ug[(ug >= 0) & (ug < W)]
    if len(ug) >= 5:
        v_lo = int(round(vline + 3))
        v_hi = int(round(vline - h_mid / s))
        prof = bright[v_hi:v_lo + 1][:, ug].mean(axis=1)
        # the window ends a few px inside the flange: summing over the whole dark pin would add its faint glow
        lit = np.nonzero(prof > 0.5)[0]
        if len(lit):
            v_top = v_hi + int(lit.min()) - 6
        else:
            v_top = int(round(vline - pad_top_mm / s - 8))
        # the gap's light lies above the pad top; below it, in the rows of the pad's edge and the board
        # line, a seated pin still shows ~0.1 px of light (the blurred board line): the window ends one
        # px (the optical blur's sigma, at most) below the pad top, and the tail of the gap's light lost
        # there (<= 0.083 sigma for a Gaussian edge) joins the uncertainty
        v_gap_lo = min(v_lo, int(math.floor(vline - pad_top_mm / s + PARAMS.side.blur_sigma_px)))
        win = bright[v_top:v_gap_lo + 1][:, ug]
        # the dark level (black level, flare) of the board body below its top line in the same columns:
        # summed over the window it reads as ~0.1 px of light under a seated flange otherwise
        nrows = bright.shape[0]
        below = bright[min(nrows, v_lo + 2):min(nrows, v_lo + 10)][:, ug]
        floor, u_floor = (float(np.median(below)), float(np.std(below)) / math.sqrt(below.size)) if below.size >= 10 else (0.0, 0.0)
        light_px = (win - floor).sum(axis=0)
        gap = float(np.mean(light_px)) * s
        u_gap = math.sqrt(float(np.var(light_px)) / len(ug) * 3 * s * s + (0.05 * s) ** 2 + (gap * u_scale_rel) ** 2
                          + (u_floor * win.shape[0] * s) ** 2 + (0.083 * PARAMS.side.blur_sigma_px * s) ** 2)
        if gap > 0.5 * s:  # light seen: a tilt across the view would lower the flange's underside
            out.flange_dip_mm, out.u_flange_dip_mm = 0.0, across_tilt_u_mm(g.flange_radius_mm)
            u_gap = math.hypot(u_gap, out.u_flange_dip_mm)
        out.light_gap_mm = max(gap, 0.0)
        out.u_light_gap_mm = u_gap
        if gap > 4 * s:
            # light under the whole flange: its silhouette is clear, and how much taller than t_f it looks beside
            # the barrel tells the tilt across the view, which lowers the flange's underside at the centre
            k, u_k = _across_tilt_from_flange(bright, frame, out, x0, kx, gap, pad_top_mm, g, erosion_px)
            if k is not None:
                d = frame.xh(np.column_stack([ug, np.full(len(ug), vline)]))[:, 0] - x0
                q = float(np.mean(np.sqrt(np.clip(g.flange_radius_mm**2 - d * d, 0, None))))
                out.across_tilt_sin, out.u_across_tilt_sin = k, u_k
                out.flange_dip_mm, out.u_flange_dip_mm = k * q, u_k * q
                out.light_gap_mm = gap + k * q
                u_meas = math.sqrt(float(np.var(light_px)) / len(ug) * 3 * s * s + (0.05 * s) ** 2 + (gap * u_scale_rel) ** 2)
                out.u_light_gap_mm = math.hypot(u_meas, u_k * q)


def _across_tilt_from_flange(bright, frame: _Frame, pin: SidePin, x0: float, kx: float, gap: float, pad_top_mm: float,
                             g: PinGeometry, erosion_px: float) -> tuple[float | None, float]:
    """|a_y| of a raised pin from its flange's apparent thickness in the columns beside the barrel.

    A disc of radius r whose normal leans by a_y across the view projects to an ellipse of vertical half-height
    |a_y| sqrt(r^2 - d^2) at distance d from its centre, so the flange (two such discs t_f apart) looks
    ``E(d) = t_f + 2 |a_y| sqrt(r_f^2 - d^2)`` tall there. Both sides are used, which cancels the tilt along
    the row to first order. Returns (|a_y|, u) or (None, nan) when the flange's sides are not clear.
    """
    s = frame.s
    H, W = bright.shape
    h_lo = pad_top_mm + gap / 2  # middle of the lit gap
    h_hi = pad_top_mm + gap + g.flange_thickness_mm + 0.15  # above the flange beside the barrel: backlight
    ds = np.concatenate([-np.linspace(g.barrel_radius_mm + 0.05, g.flange_radius_mm - 0.06, 6),
                         np.linspace(g.barrel_radius_mm + 0.05, g.flange_radius_mm - 0.06, 6)])
    h_f = pad_top_mm + gap + g.flange_thickness_mm / 2
    uv = frame.uv(np.column_stack([x0 + kx * h_f + ds, np.full(len(ds), h_f)]))
    us = np.round(uv[:, 0]).astype(int)
    v_lo = frame.uv([[x0, h_lo]])[0, 1]
    v_hi = frame.uv([[x0, h_hi]])[0, 1]
    a, b = int(math.floor(v_hi)), int(math.ceil(v_lo))
    if a < 0 or b >= H or (us < 0).any() or (us >= W).any() or b - a < 8:
        return None, float("nan")
    win = bright[a:b + 1][:, us]
    if (win[:2].mean(axis=0) < 0.85).any() or (win[-2:].mean(axis=0) < 0.85).any():
        return None, float("nan")  # something else (fillet, neighbour) in the window
    E = (1.0 - win).sum(axis=0) * s + 2 * erosion_px * s  # the flange's edges glint like the plunger's
    q2 = 2 * np.sqrt(np.clip(g.flange_radius_mm**2 - ds * ds, 0, None))  # ds: offsets from the axis
    k = float(((E - g.flange_thickness_mm) @ q2) / (q2 @ q2))
    res = E - g.flange_thickness_mm - k * q2
    u_fit = math.sqrt(float(res @ res) / max(len(E) - 1, 1) / float(q2 @ q2))
    u_k = math.sqrt(u_fit**2 + (PARAMS.side.flange_thickness_u_mm / float(np.mean(q2))) ** 2 + (0.3 * erosion_px * s / float(np.mean(q2))) ** 2)
    return max(k, 0.0), u_k


# -- wicking (front-lit colour) -------------------------------------------------------------------------------
def _window_means(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Mean linear colour (n, 3) of each row's window: `img` (H, W, 3) at rows (n,) and columns (n, m), in range.

    8-bit images are gathered by OpenCV (nearest-pixel remap, window-major) and decoded by its LUT: the same
    values, summed in the same order, as numpy's gather and ``mean(axis=1)``, at half the cost (a side row's
    pins call this once each)."""
    if img.dtype != np.uint8:
        return linearize(img[rows[:, None], cols]).mean(axis=1)
    mu = np.ascontiguousarray(cols.T, dtype=np.float32)
    mv = np.ascontiguousarray(np.broadcast_to(rows[None, :], mu.shape), dtype=np.float32)
    lin = cv2.LUT(cv2.remap(img, mu, mv, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE), _lut8())  # (m, n, 3)
    return np.add.reduce(lin, axis=0) / np.float32(lin.shape[0])


def measure_wicking(front: np.ndarray, frame: _Frame, pin: SidePin, g: PinGeometry, *, pad_top_mm: float = 0.0) -> None:
    """Solder top edge on the barrel from gold vs grey, filled into `pin` (wicking_above_flange_mm, ...).

    Chroma ``(R - B) / (R + G + B)`` is independent of shading; gold is strongly chromatic, solder neutral.
    Each row's chroma is averaged over the middle of the barrel along the fitted axis; the grey fraction
    per row is ``(c_gold - c) / c_gold`` with ``c_gold`` from the plunger.
    """
    if not (pin.ok and math.isfinite(pin.barrel_top_mm)):
        pin.wicking_reason = "the barrel top was not measured in the silhouette"
        return
    H, W = front.shape[:2]
    if front.ndim != 3 or front.shape[2] != 3:
        pin.wicking_reason = "the front-lit image is not RGB: gold and solder cannot be told apart"
        return
    s = frame.s
    kx = math.tan(math.radians(pin.tilt_xz_deg))
    cos_t = 1 / math.sqrt(1 + kx * kx)
    gap = pin.light_gap_mm if math.isfinite(pin.light_gap_mm) else 0.0
    h_base = pad_top_mm + gap
    h_ft = h_base + g.flange_thickness_mm * cos_t
    h_bt = pin.barrel_top_mm
    x_axis = lambda h: pin.x_mm + kx * (h - h_base)  # noqa: E731
    h_rows = np.arange(h_ft + 0.02, min(h_bt + 0.25, pin.tip_height_mm - g.dome_radius_mm), s)
    uv = frame.uv(np.column_stack([x_axis(h_rows), h_rows]))
    half = max(2, int(0.38 * g.plunger_radius_mm / s))
    ui = np.round(uv[:, 0]).astype(int)
    vi = np.round(uv[:, 1]).astype(int)
    inside = (vi >= 0) & (vi < H) & (ui - half >= 0) & (ui + half < W)
    cols = np.clip(ui[:, None] + np.arange(-half, half + 1)[None, :], 0, W - 1)
    rgb = _window_means(front, np.clip(vi, 0, H - 1), cols)  # (n, 3): only these pixels are decoded
    chroma = np.where(inside, (rgb[:, 0] - rgb[:, 2]) / np.maximum(rgb.sum(axis=1), 1e-6), np.nan)
    plg = (h_rows > h_bt + 0.12) & np.isfinite(chroma)
    if plg.sum() < 3:
        pin.wicking_reason = "the plunger is too short in the front image to set the gold reference"
        return
    c_gold = float(np.median(chroma[plg]))
    if c_gold < 0.08:
        pin.wicking_reason = "no gold seen on the plunger: front-lit image too dark or not colour"
        return
    grey = np.clip((c_gold - chroma) / c_gold, 0, 1)
    grey = np.where(np.isfinite(grey), grey, 0.0)
    above_bt = (h_rows > h_bt + 0.01) & (h_rows < h_bt + 0.06)
    pin.plunger_grey_fraction = float(grey[above_bt].mean()) if above_bt.any() else float("nan")
    isg = grey > 0.5
    if not isg[:3].any():
        pin.wicking_above_flange_mm, pin.u_wicking_mm = 0.0, 1.5 * s
        return
    # end of the grey run that starts at the flange top
    j = int(np.argmin(isg)) if not isg.all() else len(isg) - 1
    lo_min = 0
    # solder that runs over the barrel top turns round its edge, where the front light glints off the
    # bend: within the blur (3 px) of the barrel top a short non-grey break does not end the run when
    # grey (the meniscus onto the plunger) follows it
    turn = np.abs(h_rows - h_bt) <= 3 * PARAMS.side.blur_sigma_px * s
    while j < len(isg) - 1 and not isg[j] and turn[j]:
        k = j
        while k < len(isg) and not isg[k] and turn[k]:
            k += 1
        if k >= len(isg) or not isg[k]:
            break
        rest = isg[k:]
        j, lo_min = k + (int(np.argmin(rest)) if not rest.all() else len(rest) - 1), k
    lo, hi = max(j - 6, lo_min), min(j + 6, len(isg))
    # area method along the axis: grey fraction of the window = distance of the edge above the window start
    h_edge = h_rows[lo] - s / 2 + float(grey[lo:hi].sum()) * s
    pin.wicking_above_flange_mm = (h_edge - h_base) / cos_t - g.flange_thickness_mm
    # a tilt across the view moves the front point of the solder ring by r_b * sin(tilt_y)
    pin.u_wicking_mm = math.sqrt((1.0 * s) ** 2 + across_tilt_u_mm(g.barrel_radius_mm) ** 2 + pin.u_light_gap_mm**2)
    pin.solder_edge_px = tuple(frame.uv([[x_axis(h_edge), h_edge]])[0].tolist())


# -- matching to the recipe ---------------------------------------------------------------------------------------
@dataclass
class RowMatch:
    """Detected pins <-> the recipe's pins of the row (both in x order)."""

    assign: list[int | None]  # per nominal pin: index of the detected pin, or None (not seen)
    shift_mm: float  # camera-plane x minus board x, fitted over the matched pins
    extra: list[int]  # detected pins that match no nominal pin
    ambiguous: bool = False


def match_row(x_det_mm, nominal_x_mm, *, pad_seen=None, known_empty=()) -> RowMatch:
    """Match detected pin x positions (camera plane, mm) to nominal x (board frame, mm) by order and pitch.

    Every pairing defines a shift; the shift that matches most pins (then: explains most unmatched
    nominal positions by a pad seen there via ``pad_seen(x_mm) -> bool`` or by another view's finding that
    the position is empty, `known_empty` (indices into `nominal_x_mm`), then: smallest residuals) wins.
    """
    empty = set(known_empty)
    xd = np.asarray(x_det_mm, float)
    xn = np.asarray(nominal_x_mm, float)
    if len(xn) == 0:
        return RowMatch([], 0.0, list(range(len(xd))))
    if len(xd) == 0:
        return RowMatch([None] * len(xn), 0.0, [])
    spacing = np.diff(np.sort(xn)).min() if len(xn) > 1 else 1.0
    gate = 0.35 * spacing
    scores = []
    cands = []
    for sh in {round(float(a - b), 4) for a in xd for b in xn}:
        d = np.abs(xd[None, :] - (xn[:, None] + sh))
        dmin = d.min(axis=1)
        ok = dmin < gate
        cands.append((int(ok.sum()), -float((dmin[ok] ** 2).sum()), sh, ok))
    nmax = max(c[0] for c in cands)
    for n, res, sh, ok in cands:
        if n < nmax:
            continue
        unmatched = np.nonzero(~ok)[0]
        known = sum(1 for k in unmatched if k in empty)  # another view's measured finding outranks a pad glimpsed here
        pads = sum(1 for k in unmatched if k not in empty and pad_seen is not None and pad_seen(float(xn[k] + sh)))
        scores.append(((n, known, pads, res), sh))
    scores.sort(key=lambda t: t[0], reverse=True)
    (n, known, pads, _), sh = scores[0]
    ambiguous = len(scores) > 1 and scores[1][0][:3] == (n, known, pads) and abs(scores[1][1] - sh) > gate
    d = np.abs(xd[None, :] - (xn[:, None] + sh))
    assign: list[int | None] = []
    used = set()
    for k in range(len(xn)):
        j = int(d[k].argmin())
        if d[k, j] < gate and j not in used:
            assign.append(j)
            used.add(j)
        else:
            assign.append(None)
    pairs = [(k, j) for k, j in enumerate(assign) if j is not None]
    if pairs:
        sh = float(np.median([xd[j] - xn[k] for k, j in pairs]))
    return RowMatch(assign, sh, [j for j in range(len(xd)) if j not in used], bool(ambiguous))


# -- the whole row -------------------------------------------------------------------------------------------------
@dataclass
class SideRow:
    line: BoardLine
    line_front: BoardLine | None
    pins: list[SidePin]  # detected pins, left to right
    match: RowMatch
    frame: _Frame
    notes: list[str] = field(default_factory=list)


def _rough_line_level(line0: BoardLine, frame: "_Frame", discs, *, step_px: float, tol_mm: float) -> BoardLine:
    """The rough line as the board line, at the board's level.

    The rough line rests on the lowest level that enough columns show. Where the pads of a dense row fill
    the view (2.0 mm pitch, 1.9 mm pads), no column shows bare board clear of a pad: the narrow gaps between
    pads blur into the pad edges and the level found is the pads' tops (rendered and generated rows: 18-21 um
    above the board with 20 um pads). The board is then taken a pad height below it, and the line's
    uncertainty gets the pad height's tolerance (`SideParams.pad_height_rel_u`) and, since the line may
    rest partly on the gaps, a level anywhere within one pad height (uniform: step / sqrt(12)). ``note``
    says which level was taken.
    """
    out = replace(line0)
    if step_px <= 0 or not len(line0.columns_px) or not discs:
        return out
    u = np.asarray(line0.columns_px, float)
    x = frame.xh(np.column_stack([u, line0.v_at(u)]))[:, 0]
    d = np.min([np.abs(x - xc) - r for xc, r, _ in discs], axis=0)  # signed distance outside the nearest pad
    bare = int((d > tol_mm).sum())
    if bare:
        out.note = f"which rests on {bare} bare-board columns"
        return out
    u_px = math.hypot(PARAMS.side.pad_height_rel_u * step_px, step_px / math.sqrt(12.0))
    out.v0_px = line0.v0_px + step_px
    out.edges_px = line0.edges_px + step_px
    out.cov = line0.cov + np.array([[u_px**2, 0.0], [0.0, 0.0]])
    out.note = (f"which rests on pads only (none of its {len(u)} columns is clear of a pad: they fill the view): the board "
                f"is taken a pad height ({step_px * frame.s * 1e3:.0f} um) below it, +-{u_px * frame.s * 1e3:.0f} um")
    return out


def inspect_side_row(back: np.ndarray | None, front: np.ndarray | None, record: CalibrationRecord, g: PinGeometry, *,
                     nominal_x_mm, pad_top_mm: float = 0.0, pad_radius_mm: float | None = None,
                     fiducials: list[tuple[float, float]] = (), name: str = "side view",
                     known_empty: tuple[int, ...] = ()) -> SideRow:
    """Board line, pin matching and every pin of a side view.

    Parameters
    ----------
    back : (H, W) or (H, W, 3) backlit silhouette (required: all geometry comes from it).
    front : (H, W, 3) RGB front-lit image, or None (then no wicking).
    record : the side camera's calibration (vertical plane, coordinates (x, z) mm).
    g : pin dimensions.
    nominal_x_mm : (N,) the row's nominal pin x positions (board frame, mm).
    pad_top_mm, pad_radius_mm : pad height above the board and pad radius (pads stand on the board line).
    fiducials : [(x_mm, radius_mm)] other pads seen edge-on (board frame).

    Raises InputError when the board line cannot be found or when more pins are seen than the row has.
    """
    if back is None:
        raise InputError(f"{name}: the backlit image (side_back) is needed for heights; give side_back with side_front")
    record.check_image(np.asarray(back).shape, what=f"{name} side_back")
    lin = linearize(back)
    if lin.ndim == 3:
        lin = lin.mean(axis=2)
    H, W = lin.shape
    s = record.scale_mm_per_px()
    step_px = pad_top_mm / s
    line0 = _rough_line(lin, step_px=step_px)
    if not line0.ok:
        raise InputError(f"{name}: the board line cannot be found in side_back ({line0.reason}); check the framing and the backlight")
    frame = _Frame(record, line0, W)
    bright = _brightness(lin, line0)
    band = ((g.flange_thickness_mm + 0.35 * g.barrel_length_mm) / s, (g.flange_thickness_mm + 0.75 * g.barrel_length_mm) / s)
    runs = find_pin_columns(bright, line0, band_px=band, min_width_px=0.6 * g.barrel_radius_mm / s)
    x_runs = np.array([frame.xh([[u, line0.v_at(u)]])[0, 0] for u, _, _ in runs])
    notes: list[str] = []
    pad_r = pad_radius_mm if pad_radius_mm is not None else g.flange_radius_mm + 0.25

    # pad evidence for resolving missing pins at the ends of the row
    u_all = np.arange(W)
    x_cols = frame.xh(np.column_stack([u_all, line0.v_at(u_all)]))[:, 0]
    # height (px) of whatever stands on the rough line in each column, from its darkness just above it
    R0 = np.round(line0.v_at(u_all)).astype(int)
    rows = np.clip(R0[None, :] - 12 + np.arange(12)[:, None], 0, H - 1)
    edge_h = (1.0 - bright[rows, u_all[None, :]]).sum(axis=0)
    board_h = np.nanpercentile(edge_h, 5)

    def pad_seen(x):
        m = np.abs(x_cols - x) < 0.4 * pad_r
        return bool(m.any() and step_px > 0.6 and np.nanmedian(edge_h[m]) - board_h > 0.5 * step_px)

    match = match_row(x_runs, nominal_x_mm, pad_seen=pad_seen, known_empty=known_empty)
    if match.extra:
        raise InputError(
            f"{name}: side_back shows {len(runs)} pins but the row has {len(nominal_x_mm)} "
            f"({len(match.extra)} do not fit the recipe's positions); check the recipe or the image")
    if match.ambiguous:
        notes.append(f"{name}: the pins seen could sit at more than one place of the row (pins missing at its end "
                     "and no pad visible): which pin is which is not known, so the side view measures none of them")

    # refit the board line: bare columns as they are, pad tops brought down by the pad height
    excl = np.zeros(W, bool)
    offs = np.zeros(W)
    tol = 0.06
    missing = {k for k, j in enumerate(match.assign) if j is None}
    discs = [(float(x) + match.shift_mm, pad_r, k in missing) for k, x in enumerate(np.asarray(nominal_x_mm, float))]
    discs += [(float(x) + match.shift_mm, float(r), False) for x, r in fiducials]
    for xc, r, paste in discs:
        d = np.abs(x_cols - xc)
        excl |= (d > r - tol) & (d < r + tol)
        inside = d <= r - tol
        if paste:
            excl |= inside
        offs[inside] = step_px
    for x in x_runs:
        excl |= np.abs(x_cols - x) < g.flange_radius_mm + 0.2 + 0.06
    band = (int(line0.v0_px - abs(line0.slope) * W - 30), int(line0.v0_px + abs(line0.slope) * W + 30))
    line = find_board_line(lin, exclude=excl, offset_px=offs, row_range=band)
    if not line.ok:
        why = line.reason
        line = _rough_line_level(line0, frame, discs, step_px=step_px, tol_mm=tol)
        notes.append(f"{name}: too few clear board columns to refine the board line ({why}); used the rough line"
                     + (f", {line.note}" if line.note else ""))
    frame = _Frame(record, line, W)
    pins = [measure_pin_silhouette(bright, frame, line, uc, g, pad_top_mm=pad_top_mm) for uc, _, _ in runs]
    line_front = None
    if front is not None:
        record.check_image(np.asarray(front).shape, what=f"{name} side_front")
        fg = np.asarray(front)
        r0, r1 = max(band[0], 0), min(band[1], H)
        crop = fg[r0:r1] if fg.ndim == 2 else fg[r0:r1, :, 1]  # green: FR4 bright, background dark
        line_front = find_board_line(linearize(crop), exclude=excl, offset_px=offs, clip=True)
        if line_front.ok:
            line_front.v0_px += r0
            line_front.edges_px = line_front.edges_px + r0
        for p in pins:
            measure_wicking(fg, frame, p, g, pad_top_mm=pad_top_mm)
    return SideRow(line=line, line_front=line_front, pins=pins, match=match, frame=frame, notes=notes)
