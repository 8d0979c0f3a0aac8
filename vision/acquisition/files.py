"""Images on disk as a frame source: each grab returns the next file, in name order."""

from __future__ import annotations

from pathlib import Path

from models.errors import InputError
from vision.acquisition.base import FetchTimeout, FrameSource
from vision.io import read_image


class FileSource(FrameSource):
    """Frames from image files.

    Parameters
    ----------
    paths : path, glob pattern or list of paths
        A folder (all PNG/TIFF/JPEG/BMP in it), a glob (``"run1/*.png"``) or explicit files.
    loop : bool, keyword-only
        Start again after the last file; otherwise a grab past the end raises FetchTimeout.
    """

    def __init__(self, paths, *, loop: bool = False) -> None:
        super().__init__()
        self.loop = loop
        if isinstance(paths, (str, Path)):
            p = Path(paths)
            if p.is_dir():
                files = sorted(f for f in p.iterdir() if f.suffix.lower() in {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"})
            elif any(ch in str(p) for ch in "*?["):
                files = sorted(p.parent.glob(p.name))
            else:
                files = [p]
        else:
            files = [Path(f) for f in paths]
        if not files:
            raise InputError(f"no image files in {paths}; give a folder, a glob or a list of PNG/TIFF/JPEG files")
        self.files = files
        self.name = f"files:{files[0].parent}"
        self._i = 0

    def open(self) -> None:
        self._i = 0

    def close(self) -> None:
        pass

    def _grab(self, *, view, timeout_s):
        if self._i >= len(self.files):
            if not self.loop:
                raise FetchTimeout(f"{self.name}: no more files (all {len(self.files)} delivered)")
            self._i = 0
        f = self.files[self._i]
        self._i += 1
        img = read_image(f)
        return img, "file", {"path": str(f)}
