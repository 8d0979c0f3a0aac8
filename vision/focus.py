"""Depth from focus: a focus measure per pixel, its peak over z, a height map and an all-in-focus image.

Pipeline (`depth_from_focus`):

1. each slice -> grey float32 -> a focus measure (`FOCUS_MEASURES`, chosen by name) averaged over a
   ``window_px`` box, optionally after a Gaussian pre-blur that makes it a band-pass (``presmooth_px``);
2. the best slice per pixel (a running maximum) and its weakest response are kept; the response of
   the sensor noise alone is measured from differences of neighbouring slices (per 32 px cell);
3. the peak is refined below the step by a Gaussian fit: a parabola through the logarithm of the
   focus measure at the top three slices (``fit_points=3``, the classic fit), or a least-squares
   parabola over 5 or 7 slices when the depth of field spans several steps (``"auto"`` chooses);
   unequal steps are handled;
4. pixels whose peak lies outside the second..second-to-last slice (the surface may be beyond the
   stack) or does not stand out from the defocused floor and from the sensor noise are masked
   (``reason``) -- flagged, not guessed. The usable range is the stack's minus one step at each end.

The default measure is the sum-modified-Laplacian (``"sml"``, Nayar & Nakagawa 1994), squared
before averaging so the response falls fast with defocus; ``"tenengrad"`` (Sobel gradient energy)
and ``"lapv"`` (local variance of the Laplacian, Pech-Pacheco 2000) are offered too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.errors import InputError
from vision.align import align_stack
from vision.focus_peaks import fit3, fit_log_parabola
from vision.io import luma, to_gray_float
from vision.parallel import prefetch

__all__ = [
    "FOCUS_MEASURES",
    "DepthResult",
    "REASON_OK",
    "REASON_PEAK_AT_END",
    "REASON_WEAK",
    "depth_from_focus",
    "focus_curve",
    "focus_measure",
]

REASON_OK, REASON_PEAK_AT_END, REASON_WEAK = 0, 1, 2
REASON_NAMES = {REASON_OK: "ok", REASON_PEAK_AT_END: "peak_at_end_of_stack", REASON_WEAK: "weak_peak"}

def _lapv_raw(g: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(g, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)


FOCUS_MEASURES = {
    "sml": "squared sum-modified-Laplacian |d2I/dx2| + |d2I/dy2| (default)",
    "tenengrad": "Sobel gradient energy gx^2 + gy^2",
    "lapv": "local variance of the Laplacian",
}


def focus_measure(image: np.ndarray, *, measure: str = "sml", window_px: int = 9, presmooth_px: float = 0.0) -> np.ndarray:
    """Per-pixel focus measure of one slice.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        uint8, uint16 or float slice (colour is converted to luma).
    measure : {"sml", "tenengrad", "lapv"}
        See `FOCUS_MEASURES`.
    window_px : int
        Side of the square averaging window (odd, >= 1).
    presmooth_px : float
        Gaussian sigma (px) applied before differentiating: turns the measure into a band-pass that
        ignores pixel noise (use ~1 px on noisy sensors; 0 = off).

    Returns
    -------
    ndarray, shape (H, W), float32, >= 0
    """
    if measure not in FOCUS_MEASURES:
        raise InputError(f"unknown focus measure {measure!r}; choose one of {', '.join(FOCUS_MEASURES)}")
    if window_px < 1 or window_px % 2 == 0:
        raise InputError(f"window_px must be an odd number >= 1, got {window_px}")
    g, scale = _gray_native(np.asarray(image))
    kx_d, ky_d, kx_s, ky_s = _kernels(measure, float(presmooth_px), scale)
    # two separable passes straight from the integer slice (smoothing, derivative and the 1/255 or
    # 1/65535 scale folded into the kernels): no float copy, no separate blur
    a = cv2.sepFilter2D(g, cv2.CV_32F, kx_d, ky_d, borderType=cv2.BORDER_REFLECT)
    b = cv2.sepFilter2D(g, cv2.CV_32F, kx_s, ky_s, borderType=cv2.BORDER_REFLECT)
    k = (int(window_px), int(window_px))
    if measure == "lapv":
        lap = cv2.add(a, b, dst=a)
        m = cv2.boxFilter(lap, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)
        m2 = cv2.boxFilter(cv2.multiply(lap, lap), cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)
        return cv2.max(cv2.subtract(m2, cv2.multiply(m, m, dst=m), dst=m2), 0.0)
    if measure == "sml":
        np.abs(a, out=a)
        np.abs(b, out=b)
        raw = cv2.add(a, b, dst=a)
        raw = cv2.multiply(raw, raw, dst=raw)
    else:
        raw = cv2.add(cv2.multiply(a, a, dst=a), cv2.multiply(b, b, dst=b), dst=a)
    return cv2.boxFilter(raw, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)


def _gray_native(img: np.ndarray) -> tuple[np.ndarray, float]:
    """Luma in the slice's own type and the factor that maps it to [0, 1]."""
    g = luma(img)
    if g.dtype == np.uint8:
        return g, 1 / 255
    if g.dtype == np.uint16:
        return g, 1 / 65535
    return g.astype(np.float32, copy=False), 1.0


_KERNELS: dict = {}


def _kernels(measure: str, sigma: float, scale: float):
    """(kx, ky) of the two separable passes: d2/dx2 and d2/dy2 (sml, lapv) or Sobel x and y
    (tenengrad), each convolved with the pre-smoothing Gaussian and scaled."""
    key = (measure, sigma, scale)
    if key not in _KERNELS:
        gk = cv2.getGaussianKernel(2 * int(math.ceil(3 * sigma)) + 1, sigma).ravel() if sigma > 0 else np.array([1.0])
        d = np.array([-1.0, 2.0, -1.0]) if measure in ("sml", "lapv") else np.array([-1.0, 0.0, 1.0])
        sm = np.array([0.0, 1.0, 0.0]) if measure in ("sml", "lapv") else np.array([1.0, 2.0, 1.0])
        kd, ks = np.convolve(gk, d) * scale, np.convolve(gk, sm)
        _KERNELS[key] = tuple(k.astype(np.float32) for k in (kd, ks, ks, kd))
    return _KERNELS[key]


def _noise_response_map(images, *, measure: str, window_px: int, presmooth_px: float, pairs: int = 4, cell_px: int = 32) -> np.ndarray:
    """What the sensor noise alone gives the focus measure, per pixel (H, W), from the stack itself.

    Neighbouring slices differ by their noise (and a little defocus): half the focus measure of
    their difference is the noise response with the sensor's true spectrum (render or demosaicing
    noise is not white, so a white-noise model misjudges it). Taken on up to `pairs` pairs spread
    over the stack as per-cell means, then the median over the pairs (an in-focus edge leaks into
    the difference of the pair that straddles its focus only), interpolated back to full size.
    """
    n = len(images)
    ks = np.unique(np.linspace(0, n - 2, min(pairs, n - 1)).round().astype(int))
    H, W = np.shape(images[0])[:2]
    ch, cw = max(1, H // cell_px), max(1, W // cell_px)
    maps = []
    for k in ks:
        a, sa = _gray_native(np.asarray(images[k]))
        b, _ = _gray_native(np.asarray(images[k + 1]))
        d = cv2.subtract(a, b, dtype=cv2.CV_32F)
        d *= np.float32(sa)
        f = focus_measure(d, measure=measure, window_px=window_px, presmooth_px=presmooth_px)
        maps.append(cv2.resize(f, (cw, ch), interpolation=cv2.INTER_AREA) * np.float32(0.5))
    m = np.median(np.stack(maps), axis=0).astype(np.float32)
    return cv2.resize(m, (W, H), interpolation=cv2.INTER_LINEAR)


def focus_curve(images, *, measure: str = "sml", window_px: int = 1, presmooth_px: float = 0.0, roi=None) -> np.ndarray:
    """Global focus of each slice, shape (N,): the mean focus measure over the frame (or over
    ``roi = (slice_rows, slice_cols)``); for ``"lapv"`` the variance of the Laplacian over it."""
    out = []
    for im in images:
        im = np.asarray(im)
        if roi is not None:
            im = im[roi[0], roi[1]]
        if measure == "lapv":
            g = to_gray_float(im)
            if presmooth_px > 0:
                g = cv2.GaussianBlur(g, (0, 0), float(presmooth_px))
            out.append(float(_lapv_raw(g).var()))
        else:
            out.append(float(focus_measure(im, measure=measure, window_px=window_px, presmooth_px=presmooth_px).mean()))
    return np.array(out)


@dataclass
class DepthResult:
    """Depth from focus of one stack.

    Attributes
    ----------
    height_mm : ndarray (H, W) float32
        Refined focus-peak height (mm, the stack's z); NaN where ``valid`` is False.
    uncertainty_mm : ndarray (H, W) float32
        Standard uncertainty of `height_mm` (NaN where invalid).
    valid : ndarray (H, W) bool
    reason : ndarray (H, W) uint8
        0 ok, 1 peak on the first/last slice (the surface may lie outside the stack), 2 weak peak.
    peak_index : ndarray (H, W) int16
        Best slice per pixel.
    contrast : ndarray (H, W) float32
        Peak focus over the defocused floor (>= 1); a confidence figure.
    all_in_focus : ndarray (H, W[, 3])
        Each pixel from its best slice (``picture="best_slice"``) or the pyramid merge of
        `vision.allfocus` (``picture="pyramid"``), same dtype as the slices.
    """

    height_mm: np.ndarray
    uncertainty_mm: np.ndarray
    valid: np.ndarray
    reason: np.ndarray
    peak_index: np.ndarray
    contrast: np.ndarray
    all_in_focus: np.ndarray
    z_mm: np.ndarray
    measure: str
    window_px: int
    notes: list[str] = field(default_factory=list)

    @property
    def z_step_mm(self) -> float:
        return float(np.median(np.diff(self.z_mm)))


def depth_from_focus(
    images,
    z_mm,
    *,
    measure: str = "sml",
    window_px: int = 9,
    min_contrast: float = 1.5,
    presmooth_px: float = 0.0,
    fit_points: int | str = 3,
    align: str | None = None,
    threads: int | None = None,
    picture: str = "best_slice",
) -> DepthResult:
    """Height map by depth from focus.

    Parameters
    ----------
    images : ndarray (N, H, W[, 3]) or sequence of (H, W[, 3]) arrays
        Slices in increasing z order (see `vision.stack_io.FocusStack`).
    z_mm : array_like, shape (N,)
        Focus-plane height of each slice (mm), strictly increasing.
    measure : str
        Focus measure name (`FOCUS_MEASURES`); default sum-modified-Laplacian.
    window_px : int
        Averaging window of the focus measure (odd px). Larger: less noise, blurrier height edges.
    min_contrast : float
        A peak must exceed by this factor both the pixel's weakest response and the response the
        local sensor noise alone gives (from differences of neighbouring slices, per 32 px cell).
    presmooth_px : float
        Gaussian pre-blur (px) of each slice before the focus measure; see `focus_measure`.
    fit_points : {3, 5, 7, "auto"}
        Slices around the best one used by the Gaussian fit (a least-squares parabola in log focus).
        3 is the classic three-point fit; when the depth of field spans several steps the focus
        curve is broad and 5 or 7 points average its noise down; ``"auto"`` picks the count from
        the median width of the focus curves (about one curve sigma either side).
    align : {None, "ecc", "phase"}
        Align hand-held frames to each other first (`align_stack`).
    threads : int, optional
        Slices measured in parallel (OpenCV releases the GIL); default ``cv2.getNumThreads()``.
        At most ``threads + 1`` focus maps are held at once with the 3-point fit.
    picture : {"best_slice", "pyramid"}
        ``all_in_focus``: each pixel from its best slice (what the height map saw; the measurements
        of pads use it), or the Laplacian-pyramid merge of `vision.allfocus` (the picture to look at).

    Returns
    -------
    DepthResult
    """
    z = np.asarray(z_mm, float).ravel()
    n = len(images)
    if n < 3:
        raise InputError(f"depth from focus needs at least 3 slices, got {n}")
    if len(z) != n:
        raise InputError(f"{n} slices but {len(z)} z values; give one z_mm per slice")
    if np.any(np.diff(z) <= 0):
        raise InputError("z_mm must be strictly increasing; load stacks with vision.stack_io.load_stack, which sorts them")
    if min_contrast < 1:
        raise InputError(f"min_contrast must be >= 1, got {min_contrast}")
    if fit_points not in (3, 5, 7, "auto"):
        raise InputError(f"fit_points must be 3, 5, 7 or 'auto', got {fit_points!r}")
    if picture not in ("best_slice", "pyramid"):
        raise InputError(f"picture must be 'best_slice' or 'pyramid', got {picture!r}")
    notes: list[str] = []
    if align is not None:
        al = align_stack(images, method=align, threads=threads)
        images, shifts = al.aligned, al.transforms
        notes.append(f"aligned with {align}; largest shift {max(math.hypot(*s[:2, 2]) for s in shifts):.1f} px")
        notes += [f"slice {k} not aligned: {why}" for k, why in al.failed]

    first = np.asarray(images[0])
    H, W = first.shape[:2]
    steps = np.diff(z)
    m = None if fit_points == "auto" else min((int(fit_points) - 1) // 2, (n - 1) // 2)
    stream = m == 1  # the 3-point fit needs only the best slice and its neighbours: no volume kept
    F = None if stream else np.empty((n, H, W), np.float32)
    best = np.full((H, W), -1.0, np.float32)
    floor = np.full((H, W), np.inf, np.float32)
    idx = np.zeros((H, W), np.int16)
    aif = np.empty_like(first)
    if stream:
        below = np.zeros((H, W), np.float32)
        above = np.zeros((H, W), np.float32)
        prev = None
    for k, img in enumerate(images):
        if np.shape(img) != first.shape:
            raise InputError(f"slice {k} is {np.shape(img)} but slice 0 is {first.shape}; all slices must have one size")

    def measure_slice(k):
        img = np.asarray(images[k])
        return focus_measure(img, measure=measure, window_px=window_px, presmooth_px=presmooth_px)

    for k, f in enumerate(prefetch(measure_slice, n, threads)):
        img = np.asarray(images[k])
        if stream and k > 0:
            np.copyto(above, f, where=idx == k - 1)
        upd = f > best  # running argmax: one pass per slice instead of a strided argmax over a volume
        mask = upd.view(np.uint8)  # cv2.copyTo: masked copies, fast also for colour
        cv2.copyTo(f, mask, best)
        np.copyto(idx, np.int16(k), where=upd)
        if picture == "best_slice":
            cv2.copyTo(np.ascontiguousarray(img), mask, aif)
        np.minimum(floor, f, out=floor)
        if stream:
            if prev is not None:
                cv2.copyTo(prev, mask, below)
            prev = f
        else:
            F[k] = f
    eps = np.float32(1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        # over the pixel's own defocused floor, and over what the slice's sensor noise alone gives
        nmap = _noise_response_map(images, measure=measure, window_px=window_px, presmooth_px=presmooth_px)
        contrast = best / (np.maximum(floor, nmap) + eps)
    inner = (idx > 0) & (idx < n - 1)
    if stream:
        x, a, u = fit3(below, best, above, idx, z, eps, contrast)
    else:
        if m is None:
            x3, a3, _ = fit_log_parabola(F, idx, z, 1, eps)
            cand = inner & (contrast >= min_contrast) & (a3 < 0)
            sig = np.sqrt(-1.0 / (2.0 * a3[cand])) if cand.any() else np.array([np.median(steps)])
            m = int(np.clip(np.round(np.median(sig) / np.median(steps)), 1, 3))
            m = min(m, (n - 1) // 2)
            notes.append(f"fit over {2 * m + 1} slices (median focus-curve sigma {np.median(sig) * 1e3:.1f} um)")
        x, a, u = fit_log_parabola(F, idx, z, m, eps, contrast=contrast)
    kc = np.clip(idx, m, n - 1 - m)
    z32 = z.astype(np.float32)
    zpk = z32[kc] + x
    # a surface beyond the stack shows a rising curve whose noisy maximum can sit one slice in from
    # the end: only peaks between the second and the second-to-last slice are trusted
    at_end = ~inner | (zpk < z32[1]) | (zpk > z32[n - 2])
    reason = np.zeros((H, W), np.uint8)
    reason[at_end] = REASON_PEAK_AT_END
    weak = ~at_end & ((contrast < min_contrast) | ~(a < 0) | ~np.isfinite(x))
    reason[weak] = REASON_WEAK
    valid = reason == REASON_OK
    height = np.where(valid, zpk, np.nan).astype(np.float32)
    unc = np.where(valid, u, np.nan).astype(np.float32)
    if not valid.any():
        notes.append("no pixel has a usable focus peak")
    if picture == "pyramid":
        from vision.allfocus import fuse_all_in_focus

        aif = fuse_all_in_focus(images, threads=threads)
    return DepthResult(
        height_mm=height,
        uncertainty_mm=unc,
        valid=valid,
        reason=reason,
        peak_index=idx,
        contrast=np.nan_to_num(contrast, nan=1.0, posinf=1e6).astype(np.float32),
        all_in_focus=aif,
        z_mm=z,
        measure=measure,
        window_px=int(window_px),
        notes=notes,
    )
