"""The frame-source interface and the frame it delivers.

A station drives every source the same way: ``open()``, then per board ``begin_board()``
(a replay moves to its next recorded board; a camera does nothing) and ``grab(view=...)``
once per view it serves, then ``close()``. Every source is a context manager.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np


class AcquisitionError(RuntimeError):
    """A frame could not be acquired; the message is one line for the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class DeviceLost(AcquisitionError):
    """The device went away (unplugged, handle invalid, watchdog expired); reconnect."""


class FetchTimeout(AcquisitionError):
    """No frame arrived within the fetch timeout; the device may still be there."""


class FrameError(AcquisitionError):
    """A frame arrived but is unusable (wrong size, unknown or empty pixel format)."""


class Interrupted(AcquisitionError):
    """The capture was abandoned because the caller is stopping (`FrameSource.interrupt`)."""


@dataclass(frozen=True)
class Frame:
    """One captured image.

    Attributes
    ----------
    image : ndarray
        (H, W) mono or (H, W, 3) RGB, dtype uint8 or uint16 (Mono10/12 unpacked, not rescaled).
    pixel_format : str
        The GenICam PFNC name it was delivered in (``Mono8``, ``RGB8``, ...), or ``file``.
    timestamp_s : float
        Host wall-clock time (UNIX seconds) when the frame was handed over; the virtual
        producer has no buffer timestamps, so frames are stamped on the host.
    frame_id : int
        Running number within the source.
    source : str
        Which source delivered it (e.g. ``genicam:serial=1``, ``replay:/path/board_0003``).
    meta : dict
        Extra facts (file path, board serial of a replay, ...).
    """

    image: np.ndarray
    pixel_format: str
    timestamp_s: float
    frame_id: int
    source: str
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.image.shape)


class FrameSource(ABC):
    """Common interface of cameras, file sources and replays."""

    name: str = "source"
    #: True when the source is triggered per board; False -> fetch-on-demand.
    has_trigger: bool = False

    def __init__(self) -> None:
        self._frame_id = 0
        self.expected_shape: tuple[int, ...] | None = None
        self._interrupted = threading.Event()

    def interrupt(self) -> None:
        """Abandon a capture in progress (and every later one): a waiting `grab` or `begin_board`
        raises `Interrupted` within about 50 ms. Used when a station is told to stop."""
        self._interrupted.set()

    def _check_interrupt(self) -> None:
        if self._interrupted.is_set():
            raise Interrupted(f"{self.name}: capture abandoned: the station is stopping")

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def begin_board(self) -> dict:
        """Called once per board before the views are grabbed; returns board metadata (may be empty)."""
        return {}

    @abstractmethod
    def _grab(self, *, view: str | None, timeout_s: float) -> tuple[np.ndarray, str, dict]: ...

    def grab(self, *, view: str | None = None, timeout_s: float = 2.0) -> Frame:
        """Capture one frame for `view`.

        Raises DeviceLost, FetchTimeout or FrameError (all `AcquisitionError`); a frame whose
        shape differs from ``expected_shape`` (when set) raises FrameError.
        """
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 s, got {timeout_s}")
        self._check_interrupt()
        img, fmt, meta = self._grab(view=view, timeout_s=timeout_s)
        if self.expected_shape is not None and tuple(img.shape) != tuple(self.expected_shape):
            raise FrameError(
                f"{self.name}: frame is {_shape(img.shape)} but {_shape(self.expected_shape)} was expected; "
                "check the camera's Width/Height/PixelFormat against the station config"
            )
        self._frame_id += 1
        return Frame(image=img, pixel_format=fmt, timestamp_s=time.time(), frame_id=self._frame_id, source=self.name, meta=meta)

    def reconnect(self) -> None:
        """Close and open again (cameras override with a full device re-discovery)."""
        self.close()
        self.open()

    def __enter__(self) -> "FrameSource":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _shape(s) -> str:
    s = tuple(s)
    return f"{s[1]}x{s[0]}" + (f"x{s[2]}" if len(s) > 2 else "") + " px"
