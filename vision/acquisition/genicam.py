"""A GenICam camera through `harvesters` (GenTL producer `.cti`).

Device chosen by serial number, user id or index; Width/Height/PixelFormat/frame rate,
exposure, gain and trigger set through the node map when the device has those nodes.
With a ``TriggerSoftware`` node each `grab` fires a software trigger; without one (the
virtual producer shipped with the ``genicam`` wheel) the camera free-runs and `grab`
fetches the newest frame on demand -- `trigger_mode` says which.

harvesters' own fetch timeout may not fire when a device disappears, so every fetch runs
on a worker thread and a watchdog of our own gives up after ``fetch_timeout_s +
watchdog_margin_s`` (the stuck worker is abandoned with its acquirer). The worker is a daemon
thread and `close` gives up on a device that does not stop within ``close_timeout_s``, so a
stopping station never waits for a camera (`interrupt` abandons a fetch in progress).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import queue
import threading
import time
from pathlib import Path

import numpy as np

from models.errors import InputError
from vision.acquisition.base import AcquisitionError, DeviceLost, FetchTimeout, FrameError, FrameSource, Interrupted
from vision.acquisition.pixelformats import FORMATS, to_numpy

log = logging.getLogger("pogoscope.acquisition.genicam")


def _quiet_harvesters() -> None:
    """We report acquisition failures ourselves, in one line. harvesters gives each of its modules a logger with
    its own level and stream handler (`harvesters.core` at ERROR), so the parent's level does not reach them:
    its fetch thread printed a traceback when a signal closed the device under it."""
    for name in [n for n in logging.root.manager.loggerDict if n == "harvesters" or n.startswith("harvesters.")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)


class _Fetcher:
    """One daemon thread that runs fetches: unlike a ThreadPoolExecutor's worker, a fetch stuck in
    the producer never holds up the interpreter's exit."""

    def __init__(self) -> None:
        self._q: queue.Queue = queue.Queue()
        threading.Thread(target=self._loop, name="genicam-fetch", daemon=True).start()

    def submit(self, fn, *args) -> cf.Future:
        fut: cf.Future = cf.Future()
        self._q.put((fut, fn, args))
        return fut

    def shutdown(self) -> None:
        self._q.put(None)

    def _loop(self) -> None:
        while (item := self._q.get()) is not None:
            fut, fn, args = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # handed to the waiting grab
                fut.set_exception(exc)


class GenICamSource(FrameSource):
    """One GenICam device.

    Parameters
    ----------
    cti : path
        GenTL producer file.
    serial, user_id, index : keyword-only
        Which device (first given wins); index 0 when none is given.
    width, height : int, optional
        Image size in px (set on the device).
    pixel_format : str, optional
        PFNC name, one of `vision.acquisition.pixelformats.FORMATS` the device offers.
    frame_rate_hz, exposure_us, gain_db : float, optional
        Set when the device has ``AcquisitionFrameRate`` / ``ExposureTime`` / ``Gain``;
        a value asked for on a device without the node is logged and ignored.
    fetch_timeout_s : float
        harvesters fetch timeout.
    watchdog_margin_s : float
        Extra time before our watchdog declares the device lost.
    close_timeout_s : float
        `close` waits this long for the device to stop, then abandons it.
    """

    def __init__(
        self,
        cti: str | Path,
        *,
        serial: str | None = None,
        user_id: str | None = None,
        index: int | None = None,
        width: int | None = None,
        height: int | None = None,
        pixel_format: str | None = None,
        frame_rate_hz: float | None = None,
        exposure_us: float | None = None,
        gain_db: float | None = None,
        fetch_timeout_s: float = 2.0,
        watchdog_margin_s: float = 1.0,
        close_timeout_s: float = 1.0,
    ) -> None:
        super().__init__()
        if pixel_format is not None and pixel_format not in FORMATS:
            raise InputError(f"pixel_format {pixel_format!r} is not supported; use one of {', '.join(FORMATS)}")
        if fetch_timeout_s <= 0 or watchdog_margin_s <= 0:
            raise InputError("fetch_timeout_s and watchdog_margin_s must be > 0 s")
        self.cti = Path(cti)
        self.serial, self.user_id, self.index = serial, user_id, index
        self.settings = {"Width": width, "Height": height, "PixelFormat": pixel_format,
                         "AcquisitionFrameRate": frame_rate_hz, "ExposureTime": exposure_us, "Gain": gain_db}
        self.fetch_timeout_s = float(fetch_timeout_s)
        self.watchdog_margin_s = float(watchdog_margin_s)
        self.close_timeout_s = float(close_timeout_s)
        self.name = f"genicam:{'serial=' + serial if serial else 'user_id=' + user_id if user_id else f'index={index or 0}'}"
        self.trigger_mode = "unknown"  # "software" or "fetch-on-demand"
        self.notes: list[str] = []
        self._h = None
        self._ia = None
        self._pool: _Fetcher | None = None
        self._lock = threading.Lock()
        self.expected_shape = None
        if width and height and pixel_format:
            ch = 1 if FORMATS[pixel_format][1] == 1 or pixel_format.startswith("Bayer") else 3
            self.expected_shape = (height, width) if ch == 1 else (height, width, 3)

    # -- connection ------------------------------------------------------------
    def open(self) -> None:
        # harvesters' ImageAcquirer, created on the main thread, replaces the process's SIGINT
        # handler with one that destroys the acquirer and swallows the Ctrl-C: the station never
        # heard it, reconnected, and the next fetch blocked inside the producer with the GIL held
        # (Ctrl-C never stopped a station). The caller's handler is put back.
        with _keep_sigint_handler():
            self._open()

    def _open(self) -> None:
        from harvesters.core import Harvester

        _quiet_harvesters()  # its modules' loggers exist once it is imported

        if not self.cti.is_file():
            raise InputError(f"GenTL producer {self.cti} does not exist; set cameras.<name>.cti to the .cti file of your camera's SDK")
        with self._lock:
            self._h = Harvester()
            self._h.add_file(str(self.cti))
            self._h.update()
            devs = self._h.device_info_list
            if not devs:
                self._release()
                raise DeviceLost(f"{self.name}: the producer {self.cti.name} lists no devices; is the camera connected?")
            try:
                if self.serial is not None:
                    self._ia = self._h.create({"serial_number": self.serial})
                elif self.user_id is not None:
                    self._ia = self._h.create({"user_defined_name": self.user_id})
                else:
                    self._ia = self._h.create(self.index or 0)
            except (ValueError, IndexError):
                seen = ", ".join(_describe(d) for d in devs)
                self._release()
                raise DeviceLost(f"{self.name}: no such device on {self.cti.name} (seen: {seen})") from None
            try:
                self._configure()
                self._ia.start()
            except BaseException:
                self._release()
                raise
            self._pool = _Fetcher()
        log.info("%s opened (%s)", self.name, self.trigger_mode)

    def _configure(self) -> None:
        nm = self._ia.remote_device.node_map
        self.notes = []
        for node, value in self.settings.items():
            if value is None:
                continue
            if not nm.has_node(node):
                self.notes.append(f"device has no {node} node; {node}={value} ignored")
                log.warning("%s: %s", self.name, self.notes[-1])
                continue
            n = getattr(nm, node)
            if node == "PixelFormat":
                if value not in n.symbolics:
                    raise InputError(f"{self.name}: PixelFormat {value!r} not offered by the device; it offers {', '.join(n.symbolics)}")
            else:
                lo, hi = n.min, n.max
                if not lo <= value <= hi:
                    raise InputError(f"{self.name}: {node}={value} is outside the device range [{lo}, {hi}]")
                value = type(n.value)(value)
            n.value = value
        if nm.has_node("TriggerMode") and nm.has_node("TriggerSoftware"):
            if nm.has_node("TriggerSelector"):
                nm.TriggerSelector.value = "FrameStart"
            nm.TriggerMode.value = "On"
            if nm.has_node("TriggerSource"):
                nm.TriggerSource.value = "Software"
            self.trigger_mode = "software"
            self.has_trigger = True
        else:
            self.trigger_mode = "fetch-on-demand"
            self.has_trigger = False
            self.notes.append("device has no TriggerSoftware node: free-running, frames fetched on demand (newest buffer)")
            # keep only the newest frame so an on-demand fetch is at most one frame period old
            self._ia.buffer_handling_mode = "NewestOnly"

    def close(self) -> None:
        """Stop and release the device; gives up after ``close_timeout_s`` (a device that does not
        stop, e.g. with a fetch still inside the producer, is abandoned to a daemon thread)."""
        done = threading.Event()

        def release() -> None:
            with self._lock:
                self._release()
            done.set()

        threading.Thread(target=release, name="genicam-close", daemon=True).start()
        if not done.wait(self.close_timeout_s):
            log.warning("%s: the device did not stop within %.1f s; abandoned", self.name, self.close_timeout_s)

    def _release(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()
        ia, self._ia = self._ia, None
        if ia is not None:
            for step in (ia.stop, ia.destroy):
                try:
                    step()
                except Exception:  # the device may already be gone; nothing left to release
                    pass
        h, self._h = self._h, None
        if h is not None:
            try:
                h.reset()
            except Exception:
                pass

    @property
    def is_open(self) -> bool:
        return self._ia is not None

    @property
    def node_map(self):
        if self._ia is None:
            raise DeviceLost(f"{self.name}: not open")
        return self._ia.remote_device.node_map

    # -- frames ------------------------------------------------------------------
    def _fetch_once(self, ia) -> tuple[np.ndarray, str, dict]:
        if self.has_trigger:
            ia.remote_device.node_map.TriggerSoftware.execute()
        with ia.fetch(timeout=self.fetch_timeout_s) as buffer:  # queued back on exit
            comps = buffer.payload.components if buffer.payload is not None else []
            if not comps:
                raise FrameError(f"{self.name}: the buffer has no image component (unknown payload); check PixelFormat")
            c = comps[0]
            img = to_numpy(c.data, width=int(c.width), height=int(c.height), pixel_format=str(c.data_format), copy=True)
            return img, str(c.data_format), {"camera": self.name}

    def _grab(self, *, view, timeout_s):
        from genicam.gentl import TimeoutException

        ia, pool = self._ia, self._pool
        if ia is None or pool is None:
            raise DeviceLost(f"{self.name}: camera is not connected")
        fut = pool.submit(self._fetch_once, ia)
        limit = min(timeout_s, self.fetch_timeout_s) + self.watchdog_margin_s
        deadline = time.monotonic() + limit
        while not fut.done():  # in short slices, so `interrupt` is seen at once
            left = deadline - time.monotonic()
            if self._interrupted.is_set():
                raise Interrupted(f"{self.name}: capture abandoned: the station is stopping")
            if left <= 0:
                # harvesters did not return: treat the device as gone and abandon the worker
                self.close()
                raise DeviceLost(f"{self.name}: watchdog: fetch did not return within {limit:.1f} s; device presumed lost")
            cf.wait([fut], timeout=min(0.05, left))
        try:
            return fut.result()
        except AcquisitionError:
            raise
        except TimeoutException:
            raise FetchTimeout(f"{self.name}: no frame within {self.fetch_timeout_s:.2f} s (fetch timeout)") from None
        except Exception as exc:  # invalid handle, acquirer destroyed, transport error
            raise DeviceLost(f"{self.name}: device lost during fetch: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None

    def reconnect(self) -> None:
        """Full re-discovery: reset the producer, find the device again, re-apply every setting."""
        self.close()
        self.open()


@contextlib.contextmanager
def _keep_sigint_handler():
    """Restore the SIGINT handler that was in place before the block (harvesters installs its own)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can set handlers; harvesters does not touch them from elsewhere
        return
    old = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        if old is not None and signal.getsignal(signal.SIGINT) is not old:
            signal.signal(signal.SIGINT, old)


def list_devices(cti: str | Path) -> list[dict]:
    """Devices a producer offers: [{serial, model, vendor, id, user_id}]."""
    from harvesters.core import Harvester

    h = Harvester()
    try:
        h.add_file(str(cti))
        h.update()
        return [_info(d) for d in h.device_info_list]
    finally:
        h.reset()


def _info(d) -> dict:
    out = {}
    for key, attr in (("serial", "serial_number"), ("model", "model"), ("vendor", "vendor"), ("id", "id_"), ("user_id", "user_defined_name")):
        try:
            out[key] = str(getattr(d, attr))
        except Exception:  # producers may not implement every info field
            out[key] = None
    return out


def _describe(d) -> str:
    i = _info(d)
    return f"serial={i['serial']} id={i['id']}"


def find_virtual_cti() -> Path | None:
    """The virtual GenTL producer shipped inside the ``genicam`` wheel, if installed."""
    try:
        import genicam
    except ImportError:
        return None
    hits = sorted(Path(genicam.__file__).parent.glob("*.cti"))
    return hits[0] if hits else None
