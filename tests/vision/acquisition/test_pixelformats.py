import cv2
import numpy as np
import pytest

from vision.acquisition.base import FrameError
from vision.acquisition.pixelformats import to_numpy


def rng_img(shape, dtype, vmax, seed=0):
    return np.random.default_rng(seed).integers(0, vmax + 1, size=shape).astype(dtype)


def test_mono8_and_mono12_round_trip_exactly():
    m8 = rng_img((6, 5), np.uint8, 255)
    out = to_numpy(m8.ravel(), width=5, height=6, pixel_format="Mono8")
    assert out.shape == (6, 5) and out.dtype == np.uint8 and np.array_equal(out, m8)
    m12 = rng_img((6, 5), np.uint16, 4095)
    # harvesters may hand the buffer over as bytes: reinterpret as little-endian 16-bit containers
    out = to_numpy(np.frombuffer(m12.astype("<u2").tobytes(), np.uint8), width=5, height=6, pixel_format="Mono12")
    assert out.dtype == np.uint16 and np.array_equal(out, m12)
    m10 = rng_img((4, 4), np.uint16, 1023)
    assert np.array_equal(to_numpy(m10.ravel(), width=4, height=4, pixel_format="Mono10"), m10)


def test_mono12_values_above_range_are_rejected_as_packed():
    bad = np.full(16, 5000, np.uint16)
    with pytest.raises(FrameError, match="packed"):
        to_numpy(bad, width=4, height=4, pixel_format="Mono12")


def test_rgb8_rgba8_keep_channel_order_and_drop_alpha():
    rgb = rng_img((3, 4, 3), np.uint8, 255)
    assert np.array_equal(to_numpy(rgb.ravel(), width=4, height=3, pixel_format="RGB8"), rgb)
    rgba = np.dstack([rgb, np.full((3, 4), 7, np.uint8)])
    out = to_numpy(rgba.ravel(), width=4, height=3, pixel_format="RGBa8")
    assert out.shape == (3, 4, 3) and np.array_equal(out, rgb)


def test_bayer_rg8_demosaics_a_flat_colour_to_that_colour():
    # a flat (R, G, B) scene sampled through an RGGB mosaic: R at (0,0), B at (1,1)
    r, g, b = 200, 120, 40
    h, w = 8, 10
    mosaic = np.full((h, w), g, np.uint8)
    mosaic[0::2, 0::2] = r
    mosaic[1::2, 1::2] = b
    out = to_numpy(mosaic.ravel(), width=w, height=h, pixel_format="BayerRG8")
    inner = out[2:-2, 2:-2].reshape(-1, 3)
    assert out.shape == (h, w, 3)
    assert np.all(np.abs(inner.astype(int) - [r, g, b]) <= 1)


def test_empty_unknown_and_truncated_buffers_give_one_line_errors():
    with pytest.raises(FrameError, match="arrived empty"):
        to_numpy(np.empty(0, np.uint8), width=4, height=4, pixel_format="Mono8")
    with pytest.raises(FrameError, match="not supported"):
        to_numpy(np.zeros(16, np.uint8), width=4, height=4, pixel_format="YUV422_8")
    with pytest.raises(FrameError, match="truncated") as ei:
        to_numpy(np.zeros(15, np.uint8), width=4, height=4, pixel_format="Mono8")
    assert "\n" not in str(ei.value)


def test_result_owns_its_memory():
    buf = np.arange(16, dtype=np.uint8)
    out = to_numpy(buf, width=4, height=4, pixel_format="Mono8")
    buf[:] = 0  # the GenTL buffer is reused after it is queued back
    assert out[3, 3] == 15
