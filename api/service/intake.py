"""Checks made at the door, before a submission or a record is stored (issue #15 items 2 and 3).

Everything here is cheap: image sizes come from the file header (Pillow reads the header only, no
pixels), so a 60000 x 60000 PNG header or a decompression bomb is refused in microseconds. What a
check cannot settle without the full inspection is left to the worker.

* `image_header`: format, decodable header, size within ``min_image_side_px`` ..
  ``max_image_pixels``; a PNG's chunk checksums.
* `check_view_calibration`: the record is for this kind of view (top/stack on the board plane,
  side on a vertical plane) and for images of this size.
* `check_recipe_fits`: the recipe's pins and fiducials fit in the top image at the record's
  scale (a recipe for another, larger board cannot be inspected on this image).
* `check_calibration_record`: an uploaded record's sizes, model parameters and plane make sense
  for the view it is stored for.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from typing import Annotated

from pydantic import AfterValidator

from models.errors import InputError

_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff", "BMP": "image/bmp", "PPM": "image/x-portable-pixmap"}


@dataclass(frozen=True)
class ImageHeader:
    media_type: str
    width_px: int
    height_px: int


def image_header(data: bytes, *, name: str, min_side_px: int, max_pixels: int) -> ImageHeader:
    """Format and size of an encoded image from its header; InputError (a sentence) when it is not
    an image the pipeline can inspect."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InputError(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: we apply our own limit below
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            fmt = im.format
            if w * h <= max_pixels and fmt == "PNG":
                im.verify()  # walks the chunks and their checksums; does not inflate the pixels
    except Image.DecompressionBombError:
        raise InputError(f"{name}: the header declares far more pixels than any camera image (over {max_pixels:,} allowed, "
                         "POGOSCOPE_MAX_IMAGE_PIXELS): refused as a decompression bomb") from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: not a decodable image (expected PNG, JPEG, TIFF, BMP or PGM/PPM)") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise InputError(f"{name}: the image file is damaged (its header or checksums are wrong); send the file as the camera wrote it") from None
    media = _FORMATS.get(fmt or "")
    if media is None:
        raise InputError(f"{name}: {fmt} images are not inspected; send PNG, JPEG, TIFF, BMP or PGM/PPM")
    if w * h > max_pixels:
        raise InputError(f"{name}: the header declares {w} x {h} px ({w * h:,} pixels); the limit is {max_pixels:,} "
                         "(POGOSCOPE_MAX_IMAGE_PIXELS), so it is refused before decoding")
    if min(w, h) < min_side_px:
        raise InputError(f"{name}: the image is {w} x {h} px; an inspectable image is at least {min_side_px} px on each side")
    return ImageHeader(media, w, h)


def _kind(key: str) -> str:
    return "side" if key == "side" else ("stack" if key.startswith("stack:") else "top")


def check_view_calibration(rec, key: str, hdr: ImageHeader | None, *, view: str, ref: str) -> None:
    """The record `rec` (a CalibrationRecord) can map images of `view` (calibration key `key`)."""
    want = "vertical" if _kind(key) == "side" else "board"
    if rec.plane != want:
        raise InputError(f"calibration {ref} is for the {rec.plane} plane, but the {view} image needs a record calibrated on the "
                         f"{want} plane; it is probably another camera's record")
    if hdr is not None and (hdr.width_px, hdr.height_px) != tuple(rec.image_size_px):
        raise InputError(f"the {view} image is {hdr.width_px} x {hdr.height_px} px but calibration {ref} is for "
                         f"{rec.image_size_px[0]} x {rec.image_size_px[1]} px images; send the image of the camera that record "
                         "calibrates, or name that camera's record in 'calibrations'")


def recipe_extent_mm(recipe) -> tuple[float, float] | None:
    """Width and depth (mm) spanned by a recipe's pins, pads and fiducials (None if it has none)."""
    pts = [p.xy_mm for p in recipe.pins] + [f.xy_mm for f in recipe.fiducials] + [p.center_mm for p in recipe.pads]
    if not pts:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return max(xs) - min(xs), max(ys) - min(ys)


def check_recipe_fits(recipe, rec, hdr: ImageHeader, *, ref: str) -> None:
    """The recipe's pins and fiducials fit in the top image at the record's scale."""
    ext = recipe_extent_mm(recipe)
    try:
        mm_px = rec.scale_mm_per_px()
    except InputError:
        return
    if ext is None or not mm_px or mm_px <= 0:
        return
    need_w, need_h = sorted((ext[0] / mm_px, ext[1] / mm_px))
    have_w, have_h = sorted((hdr.width_px, hdr.height_px))
    if need_w > have_w or need_h > have_h:
        raise InputError(f"recipe {recipe.recipe_id}@{recipe.version} spans {ext[0]:.1f} x {ext[1]:.1f} mm, that is "
                         f"{ext[0] / mm_px:.0f} x {ext[1] / mm_px:.0f} px at {mm_px:.4g} mm/px (calibration {ref}), more than the "
                         f"{hdr.width_px} x {hdr.height_px} px image shows: the board does not match the recipe")


def _finite(xs) -> bool:
    try:
        return all(math.isfinite(float(x)) for x in xs)
    except (TypeError, ValueError):
        return False


def check_calibration_record(rec, view: str) -> None:
    """An uploaded record's sizes, model parameters and plane, for a record stored for `view`
    (``top``, ``side``, ``stack:NAME``). InputError naming the field."""
    w, h = rec.image_size_px
    if not (16 <= w <= 100_000 and 16 <= h <= 100_000):
        raise InputError(f"image_size_px [{w}, {h}]: an image is 16 to 100000 px on each side")
    want = "vertical" if view == "side" else "board"
    if rec.plane != want:
        raise InputError(f"plane {rec.plane!r} does not fit view {view!r}: a {view} record is calibrated on the {want} plane "
                         f"({'pogoscope calibrate --plane vertical' if want == 'vertical' else 'without --plane vertical'})")
    if not math.isfinite(rec.rms_px):
        raise InputError("rms_px must be a finite number")
    if rec.model == "telecentric":
        t = rec.telecentric
        if len(t.A) != 2 or any(len(r) != 2 for r in t.A) or not _finite(sum(t.A, [])):
            raise InputError("telecentric.A must be a 2 x 2 matrix of finite numbers")
        if len(t.t_px) != 2 or not _finite(t.t_px):
            raise InputError("telecentric.t_px must be two finite numbers")
        scale = t.mm_per_px
        if not (1e-5 <= scale <= 10.0):
            raise InputError(f"telecentric.A gives {scale:.3g} mm/px; a camera image is between 0.00001 and 10 mm/px")
    else:
        p = rec.pinhole
        K = p.camera_matrix
        if len(K) != 3 or any(len(r) != 3 for r in K) or not _finite(sum(K, [])):
            raise InputError("pinhole.camera_matrix must be a 3 x 3 matrix of finite numbers")
        fx, fy, cx, cy = K[0][0], K[1][1], K[0][2], K[1][2]
        if fx <= 0 or fy <= 0:
            raise InputError(f"pinhole.camera_matrix: focal lengths fx={fx:g}, fy={fy:g} px must be positive")
        if not (0 <= cx <= w and 0 <= cy <= h):
            raise InputError(f"pinhole.camera_matrix: principal point ({cx:g}, {cy:g}) px lies outside the {w} x {h} px image")
        if [float(x) for x in K[2]] != [0.0, 0.0, 1.0]:
            raise InputError("pinhole.camera_matrix: the last row must be [0, 0, 1]")
        if len(p.dist_coeffs) not in (4, 5, 8, 12, 14) or not _finite(p.dist_coeffs):
            raise InputError(f"pinhole.dist_coeffs: {len(p.dist_coeffs)} values; OpenCV takes 4, 5, 8, 12 or 14 finite numbers")
        if p.plane_rvec is None or p.plane_tvec_mm is None or len(p.plane_rvec) != 3 or len(p.plane_tvec_mm) != 3 \
                or not _finite([*p.plane_rvec, *p.plane_tvec_mm]):
            raise InputError("pinhole.plane_rvec and plane_tvec_mm (three finite numbers each) are required: the service maps "
                             "pixels to the reference plane; calibrate with the target lying on that plane")
    if rec.mm_per_px is not None and not (math.isfinite(rec.mm_per_px) and 1e-5 <= rec.mm_per_px <= 10.0):
        raise InputError(f"mm_per_px {rec.mm_per_px:g}: a camera image is between 0.00001 and 10 mm/px")


def without_dir(message: str, directory, *, name: str = "the upload") -> str:
    """`message` with a server-side temporary `directory` removed (``<dir>/x.png`` -> ``x.png``,
    ``<dir>`` -> `name`): a client must not see the service's file system."""
    d = str(directory)
    return message.replace(d + "/", "").replace(d, name)


# -- identifiers: serials and station ids ------------------------------------------------------

SERIAL_MAX_CHARS = 200
STATION_ID_MAX_CHARS = 100


def clean_identifier(value: str, *, what: str = "serial", max_chars: int = SERIAL_MAX_CHARS) -> str:
    """The one rule for board serials and station ids: surrounding whitespace (a scanner's CR/LF)
    is removed; what remains is 1 to `max_chars` printable characters (no control characters: no
    NUL, CR, LF or tab inside; any other Unicode letter, digit, punctuation and the plain space
    are fine, ``/`` included -- routes take it as ``/v1/boards/LOT7/BRD-1`` or ``LOT7%2FBRD-1``)."""
    v = value.strip()
    if not v:
        raise ValueError(f"{what} is empty (or only whitespace)")
    if len(v) > max_chars:
        raise ValueError(f"{what} is {len(v)} characters; the limit is {max_chars}")
    if not v.isprintable():
        bad = next(c for c in v if not c.isprintable())
        raise ValueError(f"{what} contains the control character U+{ord(bad):04X}; use printable characters only")
    return v


def _serial(v: str) -> str:
    return clean_identifier(v, what="serial")


def _station(v: str | None) -> str | None:
    return None if v is None else clean_identifier(v, what="station_id", max_chars=STATION_ID_MAX_CHARS)


SerialStr = Annotated[str, AfterValidator(_serial)]
StationStr = Annotated[str, AfterValidator(_station)]
KeyNameStr = Annotated[str, AfterValidator(lambda v: clean_identifier(v, what="name", max_chars=100))]
