"""Replay a folder of recorded boards, in order, at a chosen rate.

Layout (written by `api.station.recorder` and by ``pogoscope generate``)::

    root/
      <board folder>/          one per board, played in name order
        board.yaml             serial, views {view: image file}, optional recipe / calibrations
        top.png [side_front.png ...]
        recipe.yaml, calibration_top.json   (optional)

A folder without ``views`` in board.yaml (or without board.yaml) offers every
``<view>.png`` it holds; the serial defaults to the folder name.
"""

from __future__ import annotations

import time
from pathlib import Path

from models.errors import InputError, read_yaml
from vision.acquisition.base import FetchTimeout, FrameError, FrameSource
from vision.io import read_image

KNOWN_VIEWS = ("top", "side_front", "side_back")


def read_board_folder(d: Path) -> dict:
    """Metadata of one recorded board: {serial, views: {view: Path}, dir, ...board.yaml}."""
    meta: dict = {}
    by = d / "board.yaml"
    if by.is_file():
        meta = read_yaml(by, what="board manifest") or {}
        if not isinstance(meta, dict):
            raise InputError(f"{by}: expected a mapping with serial and views")
    views = meta.get("views")
    if isinstance(views, dict) and views:
        views = {str(v): d / str(f) for v, f in views.items()}
    else:
        views = {v: d / f"{v}.png" for v in KNOWN_VIEWS if (d / f"{v}.png").is_file()}
    meta = dict(meta)
    meta["serial"] = str(meta.get("serial") or meta.get("board_serial") or d.name)
    meta["views"] = views
    meta["dir"] = d
    return meta


class ReplaySource(FrameSource):
    """Boards recorded in `root`, played in order.

    Parameters
    ----------
    root : path
        Folder of board folders (or a single board folder).
    rate_hz : float, optional, keyword-only
        Boards per second; `begin_board` waits to keep this pace. None: as fast as asked.
    loop : bool, keyword-only
        Start again after the last board (soak tests); otherwise the end raises FetchTimeout.
    cache : bool, keyword-only
        Keep decoded images in memory (benchmarks that should not time PNG decoding twice).
    """

    def __init__(self, root: str | Path, *, rate_hz: float | None = None, loop: bool = False, cache: bool = False) -> None:
        super().__init__()
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"replay folder {self.root} does not exist; record boards with `pogoscope station record` first")
        if rate_hz is not None and rate_hz <= 0:
            raise InputError(f"replay rate_hz must be > 0, got {rate_hz}")
        dirs = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        boards = [d for d in dirs if (d / "board.yaml").is_file() or any((d / f"{v}.png").is_file() for v in KNOWN_VIEWS)]
        if not boards and ((self.root / "board.yaml").is_file() or any((self.root / f"{v}.png").is_file() for v in KNOWN_VIEWS)):
            boards = [self.root]
        if not boards:
            raise InputError(f"replay folder {self.root} holds no recorded boards (folders with board.yaml or top.png)")
        self.boards = boards
        self.rate_hz, self.loop, self.cache = rate_hz, loop, cache
        self.name = f"replay:{self.root}"
        self._i = -1
        self._current: dict | None = None
        self._last_t: float | None = None
        self._images: dict = {}

    def open(self) -> None:
        self._i, self._current, self._last_t = -1, None, None

    def close(self) -> None:
        self._current = None

    def begin_board(self) -> dict:
        if self.rate_hz is not None and self._last_t is not None:
            wait = self._last_t + 1.0 / self.rate_hz - time.perf_counter()
            if wait > 0 and self._interrupted.wait(wait):
                self._check_interrupt()
        self._last_t = time.perf_counter()
        self._i += 1
        if self._i >= len(self.boards):
            if not self.loop:
                self._current = None
                raise FetchTimeout(f"{self.name}: replay finished (all {len(self.boards)} boards played)")
            self._i = 0
        self._current = read_board_folder(self.boards[self._i])
        return {k: v for k, v in self._current.items() if k != "views"}

    @property
    def current(self) -> dict | None:
        return self._current

    def _grab(self, *, view, timeout_s):
        if self._current is None:
            self.begin_board()
        cur = self._current
        v = view or next(iter(cur["views"]), None)
        if v not in cur["views"]:
            raise FrameError(f"{self.name}: board {cur['serial']} has no {v!r} view (it has {sorted(cur['views'])})")
        f = cur["views"][v]
        img = self._images.get(f) if self.cache else None
        if img is None:
            img = read_image(f)
            if self.cache:
                self._images[f] = img
        return img, "file", {"path": str(f), "serial": cur["serial"], "board_dir": str(cur["dir"])}
