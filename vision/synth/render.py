"""Shared drawing helpers of the generator: anti-aliased shapes, blur, lighting, sensor noise.

All drawing happens on a `Canvas`: a float32 linear-radiance image (H, W, C) at the final
resolution. Each shape's pixel coverage is computed on a supersampled grid inside the shape's
bounding box (``supersample`` x ``supersample`` samples per pixel, each sample itself
anti-aliased over one sample width from a signed distance), then composited
``img = img * (1 - a) + colour * a``. Coverage is therefore accurate to well below 0.01 px in
position, so the geometry of the image matches the truth.

Pixel convention: OpenCV, (u, v) = (column, row), integer values at pixel centres; pixel
(u, v) covers [u - 0.5, u + 0.5] x [v - 0.5, v + 0.5].

Signed distances are in pixels, negative inside a shape.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from vision.colour import srgb_to_linear

ColorLike = float | tuple[float, ...] | np.ndarray
SDF = Callable[[np.ndarray, np.ndarray], np.ndarray]


# -- colours --------------------------------------------------------------------------------------
def linear_to_srgb(x) -> np.ndarray:
    """Linear values in [0, 1] -> sRGB-encoded values in [0, 1]."""
    x = np.clip(np.asarray(x, float), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def rgb8(r: int, g: int, b: int) -> np.ndarray:
    """An sRGB 8-bit colour as linear radiance (3,)."""
    return srgb_to_linear(np.array([r, g, b], float) / 255.0, dtype=np.float64)


# -- signed distances ---------------------------------------------------------------------------------
def sdf_ellipse_capsule(c0_px, c1_px, M_px) -> SDF:
    """Signed distance (approx., px) to an ellipse swept along a segment.

    The ellipse is ``{c + M @ q : |q| <= 1}`` with ``M`` (2, 2) in px (columns = the semi-axis
    vectors); swept from centre ``c0_px`` to ``c1_px`` it is the orthographic image of a tilted
    cylinder (the convex hull of its end discs). With ``c1 == c0`` it is a plain ellipse. Exact for
    circles; first-order exact near the boundary of ellipses (all that anti-aliasing needs).
    """
    c0 = np.asarray(c0_px, float)
    M = np.asarray(M_px, float)
    Minv = np.linalg.inv(M)
    d = Minv @ (np.asarray(c1_px, float) - c0)
    dd = float(d @ d)

    def f(u, v):
        qx = Minv[0, 0] * (u - c0[0]) + Minv[0, 1] * (v - c0[1])
        qy = Minv[1, 0] * (u - c0[0]) + Minv[1, 1] * (v - c0[1])
        if dd > 0:
            s = np.clip((qx * d[0] + qy * d[1]) / dd, 0.0, 1.0)
            qx = qx - s * d[0]
            qy = qy - s * d[1]
        r = np.hypot(qx, qy)
        rs = np.maximum(r, 1e-12)
        nx, ny = qx / rs, qy / rs
        # |d r / d p| = |M^-T n|: converts the q-space distance into pixels
        gx = Minv[0, 0] * nx + Minv[1, 0] * ny
        gy = Minv[0, 1] * nx + Minv[1, 1] * ny
        return (r - 1.0) / np.maximum(np.hypot(gx, gy), 1e-12)

    return f


def sdf_disc(center_px, radius_px: float) -> SDF:
    """Exact signed distance to a disc."""
    cx, cy = map(float, center_px)
    return lambda u, v: np.hypot(u - cx, v - cy) - radius_px


def sdf_polygon(vertices_px) -> SDF:
    """Exact signed distance to a simple polygon (N, 2) px (any orientation)."""
    P = np.asarray(vertices_px, float)

    def f(u, v):
        d2 = np.full(u.shape, np.inf)
        inside = np.zeros(u.shape, bool)
        n = len(P)
        for i in range(n):
            a, b = P[i], P[(i + 1) % n]
            e = b - a
            wx, wy = u - a[0], v - a[1]
            t = np.clip((wx * e[0] + wy * e[1]) / max(float(e @ e), 1e-300), 0, 1)
            dx, dy = wx - t * e[0], wy - t * e[1]
            d2 = np.minimum(d2, dx * dx + dy * dy)
            # even-odd crossing test
            cond = (a[1] <= v) != (b[1] <= v)
            with np.errstate(divide="ignore", invalid="ignore"):
                xc = a[0] + (v - a[1]) * e[0] / (e[1] if e[1] != 0 else 1e-300)
            inside ^= cond & (u < xc)
        d = np.sqrt(d2)
        return np.where(inside, -d, d)

    return f


def sdf_union(*fs: SDF) -> SDF:
    return lambda u, v: np.minimum.reduce([f(u, v) for f in fs])


def sdf_intersection(*fs: SDF) -> SDF:
    return lambda u, v: np.maximum.reduce([f(u, v) for f in fs])


def sdf_subtract(a: SDF, b: SDF) -> SDF:
    """Region of `a` outside `b`."""
    return lambda u, v: np.maximum(a(u, v), -b(u, v))


def ellipse_bbox(c0_px, c1_px, M_px, pad: float = 2.0) -> tuple[float, float, float, float]:
    """(u0, v0, u1, v1) bounding box of `sdf_ellipse_capsule`'s shape, padded by `pad` px."""
    M = np.asarray(M_px, float)
    ext = np.sqrt((M**2).sum(axis=1))  # half-extent of the ellipse along u and v
    c = np.array([c0_px, c1_px], float)
    lo = c.min(axis=0) - ext - pad
    hi = c.max(axis=0) + ext + pad
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


# -- coverage and compositing --------------------------------------------------------------------------
def coverage(sdf: SDF, bbox, *, supersample: int = 4, shape: tuple[int, int] | None = None):
    """Pixel coverage of the region ``sdf < 0`` inside `bbox`.

    Parameters
    ----------
    sdf : callable (u, v) -> signed distance in px (negative inside), vectorised over arrays.
    bbox : (u0, v0, u1, v1) px; clipped to the image when `shape` (H, W) is given.
    supersample : samples per pixel along each axis.

    Returns
    -------
    alpha : (h, w) float32 array in [0, 1], coverage of each pixel of the box.
    origin : (col0, row0) integer pixel of ``alpha[0, 0]``; None when the box is empty.
    """
    u0, v0, u1, v1 = bbox
    c0, r0 = int(np.floor(u0 + 0.5)), int(np.floor(v0 + 0.5))
    c1, r1 = int(np.ceil(u1 + 0.5)), int(np.ceil(v1 + 0.5))
    if shape is not None:
        c0, r0 = max(c0, 0), max(r0, 0)
        c1, r1 = min(c1, shape[1]), min(r1, shape[0])
    if c1 <= c0 or r1 <= r0:
        return np.zeros((0, 0), np.float32), None
    n = int(supersample)
    offs = (np.arange(n) + 0.5) / n - 0.5
    us = (np.arange(c0, c1)[:, None] + offs[None, :]).ravel()
    vs = (np.arange(r0, r1)[:, None] + offs[None, :]).ravel()
    U, V = np.meshgrid(us, vs)
    d = sdf(U, V)
    # each sample is itself a 1/n px square: linear ramp over its width
    a = np.clip(0.5 - d * n, 0.0, 1.0)
    h, w = r1 - r0, c1 - c0
    alpha = a.reshape(h, n, w, n).mean(axis=(1, 3)).astype(np.float32)
    return alpha, (c0, r0)


class Canvas:
    """A linear-radiance float image to draw on.

    Parameters
    ----------
    height_px, width_px : image size.
    channels : 3 (RGB) or 1 (mono; stored as (H, W, 1)).
    background : colour (linear) of the empty canvas.
    supersample : samples per pixel along each axis for shape coverage.
    """

    def __init__(self, height_px: int, width_px: int, *, channels: int = 3, background: ColorLike = 0.0,
                 supersample: int = 4) -> None:
        if height_px < 1 or width_px < 1:
            raise ValueError(f"canvas size must be positive, got {width_px}x{height_px}")
        self.image = np.empty((int(height_px), int(width_px), int(channels)), np.float32)
        self.image[...] = np.asarray(background, np.float32)
        self.supersample = int(supersample)

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[:2]

    def pixel_grid(self, origin, shape) -> tuple[np.ndarray, np.ndarray]:
        """(U, V) pixel-centre coordinates of a box at `origin` (col, row) of `shape` (h, w)."""
        c0, r0 = origin
        h, w = shape
        return np.meshgrid(np.arange(c0, c0 + w, dtype=float), np.arange(r0, r0 + h, dtype=float))

    def fill(self, sdf: SDF, bbox, color: ColorLike | Callable[[np.ndarray, np.ndarray], np.ndarray], *,
             opacity: float = 1.0, supersample: int | None = None) -> np.ndarray | None:
        """Composite the region ``sdf < 0`` in `color` over the canvas.

        `color` is a constant (C,) or a callable (U, V) -> (h, w, C) (or (h, w)) of pixel-centre
        coordinates, for shading inside the shape. `supersample` overrides the canvas's (1 is enough
        for large shapes with straight edges). Returns the coverage (h, w) drawn, or None.
        """
        n = self.supersample if supersample is None else int(supersample)
        alpha, origin = coverage(sdf, bbox, supersample=n, shape=self.shape)
        if origin is None:
            return None
        c0, r0 = origin
        h, w = alpha.shape
        if callable(color):
            U, V = self.pixel_grid(origin, (h, w))
            col = np.asarray(color(U, V), np.float32)
            if col.ndim == 2:
                col = col[..., None]
        else:
            col = np.asarray(color, np.float32).reshape(1, 1, -1)
        a = (alpha * float(opacity))[..., None]
        region = self.image[r0:r0 + h, c0:c0 + w]
        region *= 1.0 - a
        region += a * col
        return alpha

    def fill_ellipse(self, c0_px, M_px, color, *, c1_px=None, opacity: float = 1.0):
        """Fill an ellipse ``{c0 + M q : |q| <= 1}`` (swept to `c1_px` if given); see `sdf_ellipse_capsule`."""
        c1 = c0_px if c1_px is None else c1_px
        return self.fill(sdf_ellipse_capsule(c0_px, c1, M_px), ellipse_bbox(c0_px, c1, M_px), color, opacity=opacity)

    def fill_disc(self, center_px, radius_px: float, color, *, opacity: float = 1.0):
        u, v = map(float, center_px)
        r = float(radius_px)
        return self.fill(sdf_disc(center_px, r), (u - r - 2, v - r - 2, u + r + 2, v + r + 2), color, opacity=opacity)

    def fill_polygon(self, vertices_px, color, *, opacity: float = 1.0, supersample: int | None = None):
        P = np.asarray(vertices_px, float)
        lo, hi = P.min(axis=0) - 2, P.max(axis=0) + 2
        return self.fill(sdf_polygon(P), (lo[0], lo[1], hi[0], hi[1]), color, opacity=opacity, supersample=supersample)


# -- finishing: texture, optics, lighting, sensor -----------------------------------------------------
def smooth_noise(shape: tuple[int, int], rng: np.random.Generator, *, sigma_px: float = 3.0) -> np.ndarray:
    """Zero-mean, unit-std spatially correlated noise (H, W) float32 (Gaussian-filtered white noise)."""
    n = rng.standard_normal(shape).astype(np.float32)
    if sigma_px > 0:
        n = cv2.GaussianBlur(n, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    s = float(n.std())
    return n / s if s > 0 else n


def optical_blur(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian point-spread function of the optics (per channel); sigma in px."""
    if sigma_px <= 0:
        return img
    out = cv2.GaussianBlur(img, (0, 0), float(sigma_px), borderType=cv2.BORDER_REFLECT)
    return out.reshape(img.shape)


def lighting_field(shape: tuple[int, int], *, gain: float = 1.0, gradient: tuple[float, float] = (0.0, 0.0),
                   vignetting: float = 0.0) -> np.ndarray:
    """Multiplicative illumination field (H, W): ``gain * (1 + gx*x + gy*y) * (1 - vignetting*r^2)``,
    with x, y in [-1, 1] across the image and r the normalised distance from the centre."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x = 2 * x / max(w - 1, 1) - 1
    y = 2 * y / max(h - 1, 1) - 1
    f = gain * (1 + gradient[0] * x + gradient[1] * y) * (1 - vignetting * (x * x + y * y) / 2)
    return f.astype(np.float32)


def sensor(img: np.ndarray, rng: np.random.Generator, *, exposure: float = 1.0, full_well_e: float = 10000.0,
           read_noise_e: float = 6.0, adc_bits: int = 10, gamma: bool = True) -> np.ndarray:
    """Linear radiance (H, W[, C]) -> 8-bit image with shot and read noise.

    ``exposure`` scales radiance to the fraction of full well; electrons are Poisson distributed,
    read noise is Gaussian (e-), the ADC quantises to `adc_bits`, then sRGB gamma (if `gamma`) and
    8-bit output. A (H, W, 1) input gives (H, W).
    """
    e = np.clip(img.astype(np.float64) * exposure, 0, None) * full_well_e
    e = rng.poisson(e).astype(np.float64) + rng.normal(0.0, read_noise_e, e.shape)
    levels = 2**adc_bits - 1
    dn = np.clip(np.round(e / full_well_e * levels), 0, levels) / levels
    out = linear_to_srgb(dn) if gamma else dn
    out = np.round(out * 255).astype(np.uint8)
    if out.ndim == 3 and out.shape[2] == 1:
        out = out[..., 0]
    return out
