"""Content-addressed image store on disk: a blob lives at ``<root>/ab/cdef...`` named by its sha256,
so the same image uploaded twice is stored once and a stored blob can never change."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from calibration.errors import InputError

# Leading bytes of the image formats the pipeline decodes (vision.io).
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
    (b"P5", "image/x-portable-graymap"),
    (b"P6", "image/x-portable-pixmap"),
]


def sniff_image(data: bytes, *, name: str) -> str:
    """Media type of an encoded image, checked cheaply (no decode: that happens in the worker).

    Raises InputError for an empty file, an unknown format or a PNG/JPEG without its end marker.
    """
    if not data:
        raise InputError(f"{name}: the file is empty")
    for magic, media in _MAGIC:
        if data.startswith(magic):
            if media == "image/png" and b"IEND" not in data[-16:]:
                raise InputError(f"{name}: the PNG file is truncated (no IEND chunk); send the whole file")
            if media == "image/jpeg" and b"\xff\xd9" not in data[-4:]:
                raise InputError(f"{name}: the JPEG file is truncated (no end-of-image marker); send the whole file")
            return media
    raise InputError(f"{name}: not a decodable image (expected PNG, JPEG, TIFF, BMP or PGM/PPM)")


class ImageStore:
    """Blobs by sha256 under `root`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InputError(f"{sha256!r} is not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:]

    def put(self, data: bytes) -> str:
        """Store `data` (once) and return its sha256; the write is atomic (temp file + rename)."""
        sha = self.digest(data)
        p = self.path(sha)
        if p.exists():
            return sha
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise InputError(f"image {sha256} is not in the store") from None

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()
