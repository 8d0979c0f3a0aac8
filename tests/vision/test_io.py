"""Image decoding: whole images decode exactly; bad files get one precise line."""

import cv2
import numpy as np
import pytest

from models.errors import InputError
from vision.io import decode_image, read_image, to_gray_float


def _png(img):
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def test_rgb_order_and_round_trip(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red in RGB
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    out = read_image(p)
    assert out.shape == (4, 5, 3) and np.array_equal(out, rgb)
    assert read_image(p, color=False).shape == (4, 5)


def test_16bit_mono_kept(tmp_path):
    img = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)
    out = decode_image(_png(img))
    assert out.dtype == np.uint16 and np.array_equal(out, img)
    assert to_gray_float(out).max() == pytest.approx(55000 / 65535, rel=1e-6)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"this is not an image at all", "not a decodable image"),
    ],
)
def test_garbage(data, words):
    with pytest.raises(InputError, match=words):
        decode_image(data, name="x.png")


def test_truncated_png_and_jpeg():
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    png = _png(img)
    with pytest.raises(InputError, match="truncated|not a decodable"):
        decode_image(png[: len(png) // 2], name="t.png")
    ok, jpg = cv2.imencode(".jpg", img)
    jpg = jpg.tobytes()
    with pytest.raises(InputError, match="truncated|not a decodable"):
        decode_image(jpg[: len(jpg) - 200], name="t.jpg")


def test_unsupported_and_missing(tmp_path):
    p = tmp_path / "board.gif"
    p.write_bytes(b"GIF89a")
    with pytest.raises(InputError, match="unsupported image format .gif"):
        read_image(p)
    with pytest.raises(InputError, match="no such image file"):
        read_image(tmp_path / "nope.png")


def test_float_tiff_rejected(tmp_path):
    p = tmp_path / "f.tif"
    cv2.imwrite(str(p), np.ones((4, 4), np.float32))
    with pytest.raises(InputError, match="8- or 16-bit"):
        read_image(p)


def test_decompression_bomb_header_is_one_line_input_error():
    """A PNG whose header declares 10^10 pixels: OpenCV refuses it; that is bad input, not a crash."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    with pytest.raises(InputError) as e:
        decode_image(png, name="bomb.png")
    assert "bomb.png" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("dtype, channels", [(np.uint8, 3), (np.uint8, 1), (np.uint16, 1)])
def test_write_image_round_trips_exactly_in_rgb_order(tmp_path, dtype, channels):
    from vision.io import write_image

    rng = np.random.default_rng(1)
    shape = (17, 23, 3) if channels == 3 else (17, 23)
    img = rng.integers(0, np.iinfo(dtype).max, shape).astype(dtype)
    write_image(tmp_path / "a.png", img)
    back = read_image(tmp_path / "a.png")
    assert back.dtype == dtype and np.array_equal(back, img)


def test_write_image_refuses_what_it_cannot_write(tmp_path):
    from vision.io import write_image

    img = np.zeros((4, 4), np.uint8)
    with pytest.raises(InputError, match="use one of"):
        write_image(tmp_path / "a.gif", img)
    with pytest.raises(InputError, match="writable"):
        write_image(tmp_path / "missing" / "a.png", img)
