"""The all-in-focus picture of a focus stack: a Laplacian-pyramid merge with a consistent frame choice.

The height map (`vision.focus.depth_from_focus`) is the metrology; this is the picture an engineer
judges the part by. Taking every pixel from its own best slice (what the height map's
``all_in_focus`` does) posterises flat areas and leaves seams and halos wherever neighbouring pixels
come from different slices. Here the slices are merged band by band instead (Burt & Adelson's
Laplacian pyramid, as in the wavelet merge of Petteri Aimonen's focus-stack):

1. every slice's luma is split into ``levels`` band-pass layers and a low-pass residual;
2. per layer and pixel, the slice whose coefficients carry the most local energy (squared
   coefficient summed over a ``window_px`` box of that layer) is chosen -- an energy window rather
   than a single coefficient, so noise on flat solder mask does not flip the choice pixel by pixel;
3. the choice is made consistent: a 3x3 majority filter replaces isolated choices by the frame most
   of their neighbours took;
4. the colour layers (R, G, B, each its own pyramid) are copied from the chosen slice with that one
   choice, so colour and texture come from coherent regions; the low-pass residual (1/32 of the
   size at 5 levels) is the mean of the slices -- coarse brightness does not depend on focus;
5. the layers are collapsed and clipped to the slices' range.

Slices are processed one at a time (two passes: luma for the choice, colour for the copy), so
memory stays at a few frames whatever the stack length.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.errors import InputError
from vision.io import luma

__all__ = ["fuse_all_in_focus"]


def _laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """``levels`` band-pass layers (finest first) and the low-pass residual.

    uint8 slices stay integer (layers int16, exact: each layer is the difference to the rounded
    up-sampled coarser level, so collapsing restores the slice); other types go through float32."""
    g = img if img.dtype == np.uint8 else img.astype(np.float32)
    ddepth = cv2.CV_16S if g.dtype == np.uint8 else cv2.CV_32F
    out = []
    for _ in range(levels):
        down = cv2.pyrDown(g)
        out.append(cv2.subtract(g, cv2.pyrUp(down, dstsize=(g.shape[1], g.shape[0])), dtype=ddepth))
        g = down
    out.append(g)
    return out


def _collapse(pyr: list[np.ndarray], dtype) -> np.ndarray:
    """The image of a pyramid (layers of any type): float32 throughout, rounded and saturated to
    `dtype` in the last step."""
    img = pyr[-1].astype(np.float32)
    last = {np.dtype(np.uint8): cv2.CV_8U, np.dtype(np.uint16): cv2.CV_16U}.get(np.dtype(dtype), cv2.CV_32F)
    for j, lap in enumerate(pyr[-2::-1]):
        img = cv2.add(cv2.pyrUp(img, dstsize=(lap.shape[1], lap.shape[0])), lap, dtype=last if j == len(pyr) - 2 else cv2.CV_32F)
    return img


def _majority3(idx: np.ndarray, n: int) -> np.ndarray:
    """Each pixel takes the frame most of its 3x3 neighbourhood chose (a tie keeps the pixel's own)."""
    best_cnt = np.zeros(idx.shape, np.uint8)
    out = idx.copy()
    for k in range(n):
        m = cv2.compare(idx, k, cv2.CMP_EQ)
        if not cv2.countNonZero(m):
            continue
        cnt = cv2.boxFilter(m >> 7, cv2.CV_8U, (3, 3), normalize=False, borderType=cv2.BORDER_REPLICATE)
        # strictly more votes wins; an equal count wins too where k is the pixel's own frame
        upd = cv2.bitwise_or(cv2.compare(cnt, best_cnt, cv2.CMP_GT), cv2.bitwise_and(cv2.compare(cnt, best_cnt, cv2.CMP_EQ), m))
        out[upd.view(bool)] = k
        cv2.max(best_cnt, cnt, dst=best_cnt)
    return out


def fuse_all_in_focus(images, *, levels: int = 5, window_px: int = 7, threads: int | None = None) -> np.ndarray:
    """All-in-focus picture of aligned slices by a Laplacian-pyramid merge (see the module docstring).

    Parameters
    ----------
    images : sequence of ndarray, each (H, W) or (H, W, 3), uint8/uint16/float
        The slices, already aligned to each other (`vision.focus.align_stack` for hand-held stacks).
    levels : int
        Band-pass layers (>= 1); the low-pass residual is 2**levels times smaller than the slice.
    window_px : int
        Side of the box (odd, in each layer's own pixels) over which coefficient energy is summed
        to choose a slice.
    threads : int, optional
        Slices decomposed in parallel (OpenCV releases the GIL); default ``cv2.getNumThreads()``.

    Returns
    -------
    ndarray, same shape and dtype as one slice
    """
    from vision.parallel import prefetch

    n = len(images)
    if n < 1:
        raise InputError("an all-in-focus picture needs at least one slice")
    if n > 255:
        raise InputError(f"an all-in-focus picture merges at most 255 slices, got {n}")
    if levels < 1:
        raise InputError(f"levels must be >= 1, got {levels}")
    if window_px < 1 or window_px % 2 == 0:
        raise InputError(f"window_px must be an odd number >= 1, got {window_px}")
    first = np.asarray(images[0])
    H, W = first.shape[:2]
    levels = int(min(levels, max(1, int(np.log2(max(2, min(H, W)))) - 2)))
    colour = first.ndim == 3
    win = (window_px, window_px)

    def slice_k(k: int) -> np.ndarray:
        img = np.asarray(images[k])
        if img.shape != first.shape or img.dtype != first.dtype:
            raise InputError(f"slice {k} is {img.shape} {img.dtype} but slice 0 is {first.shape} {first.dtype}; all slices must have one size and type")
        return img

    def energy(k: int) -> list[np.ndarray]:
        img = slice_k(k)
        g = luma(img.astype(np.float32) if colour and img.dtype == np.float64 else img)  # OpenCV converts no float64 colour
        return [cv2.sqrBoxFilter(p, cv2.CV_32F, win, normalize=False, borderType=cv2.BORDER_REFLECT) for p in _laplacian_pyramid(g, levels)[:-1]]

    # pass 1: the slice with the most band energy, per layer and pixel (running maximum)
    best = idx = None
    for k, en in enumerate(prefetch(energy, n, threads)):
        if best is None:
            best, idx = en, [np.zeros(e.shape, np.uint8) for e in en]
            continue
        for b, e, i in zip(best, en, idx):
            upd = cv2.compare(e, b, cv2.CMP_GT)
            cv2.copyTo(e, upd, b)
            i[upd.view(bool)] = k
    del best
    # the consistency step: no isolated choices
    idx = [_majority3(i, n) for i in idx]

    # pass 2: copy each layer's coefficients from the chosen slice; the low-pass is the slices' mean
    out = None
    low = None
    for k, pyr in enumerate(prefetch(lambda k: _laplacian_pyramid(slice_k(k), levels), n, threads)):
        if out is None:
            out = [np.zeros_like(p) for p in pyr[:-1]]
            low = np.zeros(pyr[-1].shape, np.float32)
        for lay, o, i in zip(pyr[:-1], out, idx):
            cv2.copyTo(lay, cv2.compare(i, k, cv2.CMP_EQ), o)
        cv2.add(low, pyr[-1], dst=low, dtype=cv2.CV_32F)
    low *= np.float32(1 / n)
    return _collapse([*out, low], first.dtype).astype(first.dtype, copy=False)
