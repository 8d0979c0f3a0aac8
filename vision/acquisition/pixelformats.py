"""GenICam pixel formats (PFNC names) to numpy images.

Output: (H, W) for mono, (H, W, 3) RGB for colour; uint8 for 8-bit formats, uint16 for
Mono10/Mono12 (unpacked: one sample per 16-bit little-endian container, values not rescaled).
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.acquisition.base import FrameError

#: format -> (container dtype, channels in the buffer, max value)
FORMATS: dict[str, tuple[type, int, int]] = {
    "Mono8": (np.uint8, 1, 255),
    "Mono10": (np.uint16, 1, 1023),
    "Mono12": (np.uint16, 1, 4095),
    "Mono16": (np.uint16, 1, 65535),
    "RGB8": (np.uint8, 3, 255),
    "BGR8": (np.uint8, 3, 255),
    "RGBa8": (np.uint8, 4, 255),
    "BayerRG8": (np.uint8, 1, 255),
    "BayerGR8": (np.uint8, 1, 255),
    "BayerGB8": (np.uint8, 1, 255),
    "BayerBG8": (np.uint8, 1, 255),
}

# OpenCV names Bayer patterns by the 2x2 block starting at the second row/col, so
# PFNC BayerRG (R at (0,0)) is OpenCV's BayerBG: see OpenCV's "Bayer -> RGB" docs.
_BAYER = {
    "BayerRG8": cv2.COLOR_BayerBG2RGB,
    "BayerGR8": cv2.COLOR_BayerGB2RGB,
    "BayerGB8": cv2.COLOR_BayerGR2RGB,
    "BayerBG8": cv2.COLOR_BayerRG2RGB,
}


def to_numpy(data: np.ndarray, *, width: int, height: int, pixel_format: str, copy: bool = True) -> np.ndarray:
    """Convert a raw GenTL component buffer to an image.

    Parameters
    ----------
    data : ndarray
        The component's 1-D buffer as harvesters hands it over (any dtype; reinterpreted as bytes
        where needed). Empty when harvesters does not know the format.
    width, height : int
        Image size in pixels.
    pixel_format : str
        PFNC name, e.g. ``"Mono8"``, ``"Mono12"``, ``"BayerRG8"``, ``"RGBa8"``.
    copy : bool, keyword-only
        Return an array that owns its memory (required before the buffer is queued back).

    Returns
    -------
    ndarray
        (height, width) or (height, width, 3), uint8 or uint16.

    Raises
    ------
    FrameError
        Unknown format, empty component, or a buffer of the wrong size.
    """
    if pixel_format not in FORMATS:
        raise FrameError(f"pixel format {pixel_format!r} is not supported; set the camera's PixelFormat to one of {', '.join(FORMATS)}")
    if width <= 0 or height <= 0:
        raise FrameError(f"frame has no pixels ({width}x{height}); check the camera's Width/Height")
    if data is None or np.asarray(data).size == 0:
        raise FrameError(f"the {pixel_format} frame arrived empty (harvesters could not interpret it); use Mono8, Mono12, RGB8 or BayerRG8")
    dtype, ch, vmax = FORMATS[pixel_format]
    raw = np.asarray(data)
    if raw.dtype != dtype:
        raw = raw.view(np.uint8).view(dtype) if raw.nbytes % np.dtype(dtype).itemsize == 0 else raw
    n = width * height * ch
    if raw.dtype != dtype or raw.size != n:
        raise FrameError(
            f"{pixel_format} frame of {width}x{height} px needs {n} samples of {np.dtype(dtype).name} "
            f"but the buffer has {raw.size} of {raw.dtype}; the frame is truncated or the format is wrong"
        )
    img = raw.reshape((height, width) if ch == 1 else (height, width, ch))
    if pixel_format in _BAYER:
        return cv2.cvtColor(img, _BAYER[pixel_format])  # new array
    if pixel_format == "RGBa8":
        return np.ascontiguousarray(img[:, :, :3])  # drop alpha (copies)
    if pixel_format == "BGR8":
        return np.ascontiguousarray(img[:, :, ::-1])
    if vmax < 65535 and dtype is np.uint16 and img.size and int(img.max()) > vmax:
        raise FrameError(f"{pixel_format} frame has values above {vmax}: the data is packed or of another format")
    return img.copy() if copy else img
