"""Aligning the slices of a hand-held or drifting focus stack onto one reference frame."""

from __future__ import annotations

import cv2
import numpy as np

from dataclasses import dataclass, field

from models.errors import InputError
from vision.io import to_gray_float

__all__ = ["align_stack", "StackAlignment"]


@dataclass
class StackAlignment:
    """Slices warped onto the reference frame, the maps, and the frame pairs that could not be registered.

    Unpacks as ``aligned, transforms = align_stack(...)``; ``failed`` lists ``(frame, reason)`` for each frame
    whose registration to its neighbour did not converge (it is then kept where it was, identity map).
    """

    aligned: list
    transforms: list
    failed: list[tuple[int, str]] = field(default_factory=list)

    def __iter__(self):
        return iter((self.aligned, self.transforms))


def align_stack(images, *, method: str = "ecc", max_side_px: int = 512, reference: int | None = None, threads: int | None = None):
    """Align hand-held slices to one reference frame.

    Neighbouring frames are registered to each other (their blur differs least) and the transforms
    chained out from the reference (the middle frame by default). ``"ecc"``: affine ECC
    (`cv2.findTransformECC`, handles the small magnification change of refocusing) on frames
    downscaled to `max_side_px`; ``"phase"``: translation by phase correlation.

    Returns
    -------
    StackAlignment
        ``aligned`` (list of ndarray, same shapes as the input), ``transforms`` (list of (2, 3) affine maps from
        each input frame to the reference frame, pixels) and ``failed`` (frames not registered, with why).
    """
    if method not in ("ecc", "phase"):
        raise InputError(f"unknown alignment {method!r}; use 'ecc' or 'phase'")
    imgs = [np.asarray(i) for i in images]
    n = len(imgs)
    H, W = imgs[0].shape[:2]
    s = min(1.0, max_side_px / max(H, W))
    small = [to_gray_float(cv2.resize(i, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else i) for i in imgs]
    small = [cv2.GaussianBlur(g, (0, 0), 1.0) for g in small]
    ref = n // 2 if reference is None else int(reference)
    failed: list[tuple[int, str]] = []

    def pair(src: int, dst: int) -> np.ndarray:
        """Affine (2, 3) mapping frame src onto frame dst, in full-resolution pixels."""
        if method == "phase":
            win = cv2.createHanningWindow(small[dst].shape[::-1], cv2.CV_32F)
            (dx, dy), _ = cv2.phaseCorrelate(small[dst], small[src], win)
            m = np.array([[1, 0, dx], [0, 1, dy]], np.float64)
        else:
            m = np.eye(2, 3, dtype=np.float32)
            crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
            try:
                _, m = cv2.findTransformECC(small[dst], small[src], m, cv2.MOTION_AFFINE, crit, None, 3)
            except cv2.error as exc:
                m = np.eye(2, 3, dtype=np.float32)  # no convergence: keep the frame as is, and say so
                failed.append((src, f"ECC did not converge onto frame {dst} ({str(exc).strip().splitlines()[-1][:80]})"))
            m = m.astype(np.float64)
        # warp maps dst coords -> src coords (WARP_INVERSE_MAP convention); scale to full resolution
        m[:, 2] /= s
        return m

    def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        A = np.vstack([a, [0, 0, 1]])
        B = np.vstack([b, [0, 0, 1]])
        return (A @ B)[:2]

    from concurrent.futures import ThreadPoolExecutor

    t = max(1, cv2.getNumThreads() if threads is None else int(threads))
    with ThreadPoolExecutor(max_workers=t) as ex:  # pairs are independent; OpenCV releases the GIL
        pairs = {k: ex.submit(pair, k, k + 1 if k < ref else k - 1) for k in range(n) if k != ref}
        maps = [None] * n
        maps[ref] = np.eye(2, 3)
        for k in range(ref - 1, -1, -1):
            maps[k] = compose(pairs[k].result(), maps[k + 1])
        for k in range(ref + 1, n):
            maps[k] = compose(pairs[k].result(), maps[k - 1])

        def warp(k):
            if k == ref:
                return imgs[k]
            # cubic: bilinear resampling low-passes each frame by its own sub-pixel shift and biases the focus
            return cv2.warpAffine(imgs[k], maps[k], (W, H), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)

        out = list(ex.map(warp, range(n)))
    return StackAlignment(out, maps, sorted(failed))
