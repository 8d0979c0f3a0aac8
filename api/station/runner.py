"""The station runner: wait for trigger -> capture every view -> inspect -> persist/submit -> publish.

State machine: ``idle`` -> ``capturing`` -> ``inspecting`` -> ``idle``; ``fault`` while a
camera is lost (the runner keeps reconnecting and returns to ``idle`` when it is back).
One board's failure never stops the line and never yields PASS: it is recorded as
``not_inspected`` with the reason. Cameras and replays go through the same `_capture`.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
import uuid
from pathlib import Path


from api.service.calref import record_ref
from api.station.outbox import Outbox
from api.station.records import CapturedView, StationRecord
from models.errors import InputError
from vision.acquisition.base import AcquisitionError, DeviceLost, FetchTimeout, FrameSource, Interrupted

log = logging.getLogger("pogoscope.station")


class ReplayDone(Exception):
    pass


def make_source(cam) -> FrameSource:
    if cam.kind == "genicam":
        from vision.acquisition.genicam import GenICamSource, find_virtual_cti

        cti = find_virtual_cti() if str(cam.cti) == "virtual" else cam.cti
        return GenICamSource(cti, serial=cam.serial, user_id=cam.user_id, index=cam.index, width=cam.width, height=cam.height,
                             pixel_format=cam.pixel_format, frame_rate_hz=cam.frame_rate_hz, exposure_us=cam.exposure_us,
                             gain_db=cam.gain_db, fetch_timeout_s=cam.fetch_timeout_s, watchdog_margin_s=cam.watchdog_margin_s)
    if cam.kind == "replay":
        from vision.acquisition.replay import ReplaySource

        return ReplaySource(cam.root, rate_hz=cam.rate_hz, loop=cam.loop, cache=cam.cache)
    from vision.acquisition.files import FileSource

    return FileSource(cam.paths, loop=cam.loop)


def default_inspect(serial, images, calibrations, recipe, stacks=None):
    from vision.inspect import BoardInput, inspect_board

    # the station keeps and delivers the result document; overlays are drawn where someone looks at them
    return inspect_board(BoardInput(serial=serial, recipe=recipe, images=images, calibrations=calibrations, stacks=stacks or {},
                                    overlays=False)).result


class StationRunner:
    """Drives one station. `inspect(serial, images, calibrations, recipe) -> BoardResult` is injectable."""

    def __init__(self, cfg, *, sources: dict[str, FrameSource] | None = None, trigger=None, inspect=default_inspect,
                 outbox: Outbox | None = None, recorder=None, submit: bool | None = None, mode: str = "run") -> None:
        """`mode` "record" (`station record`): boards go to `recorder` only -- no inspection, no
        outbox (the delivery outbox is never opened), see `record`."""
        from api.station.triggers import make_trigger

        self.cfg = cfg
        self.sources = sources if sources is not None else {n: make_source(c) for n, c in cfg.cameras.items()}
        self.trigger = trigger if trigger is not None else make_trigger(cfg.trigger)
        self.inspect = inspect
        if mode not in ("run", "record"):
            raise ValueError(f"mode {mode!r}")
        if mode == "record" and recorder is None:
            raise InputError("station record needs a folder to record into (--out)")
        self.mode = mode
        self.outbox = outbox if outbox is not None or mode == "record" else Outbox(cfg.database)
        self.recorder = recorder
        self.submit = (cfg.sink.kind == "service") if submit is None else submit
        self.state = "idle"
        self.state_since = time.time()
        self.faulted: dict[str, str] = {}
        self.counts = {"boards": 0, "inspected": 0, "not_inspected": 0} if mode == "run" else {"boards": 0, "recorded": 0, "not_recorded": 0}
        self.last: dict | None = None
        self.listeners: list = []
        self.deliverer = None  # set by whoever runs the delivery thread; its fault is the station's
        self._mqtt = None
        self._stop = threading.Event()
        self._last_reconnect = 0.0
        self._last_prune = 0.0
        self._recipe = self._load_recipe(cfg.recipe) if cfg.recipe else None
        self._cals = {}
        for v, vc in cfg.views.items():
            if vc.calibration is not None:
                from calibration.record import CalibrationRecord

                self._cals[v] = CalibrationRecord.load(vc.calibration)

    @staticmethod
    def _load_recipe(p):
        from models.recipe import Recipe

        return Recipe.from_yaml(p)

    def _board_calibrations(self, meta: dict) -> dict:
        """Calibration records by the pipeline's key (``top``, ``side``): the station config's first,
        else a replayed board's own (see `calibration_files`)."""
        from api.boardset import calibration_key
        from calibration.record import CalibrationRecord

        cals = {calibration_key(v): rec for v, rec in self._cals.items()}
        for key, f in self.calibration_files(meta, required=False).items():
            if key not in cals:
                cals[key] = CalibrationRecord.load(f)
        return cals

    @staticmethod
    def _board_stacks(meta: dict) -> dict:
        """A replayed board's focus stacks (``stacks: {name: folder}`` in its board.yaml), loaded by
        `vision.stack_io.load_stack` like the CLI and the service: the manifest is the stack's truth."""
        named = meta.get("stacks")
        if not meta.get("dir") or not isinstance(named, dict):
            return {}
        from vision.stack_io import load_stack

        return {str(n): load_stack(Path(meta["dir"]) / str(f)) for n, f in named.items()}

    # -- state -------------------------------------------------------------------
    def _set(self, state: str, why: str = "") -> None:
        if state != self.state:
            log.info("station %s: %s -> %s%s", self.cfg.station_id, self.state, state, f" ({why})" if why else "")
            self.state, self.state_since = state, time.time()

    def health(self) -> dict:
        cams = {}
        for n, s in self.sources.items():
            cams[n] = {"source": s.name, "trigger_mode": getattr(s, "trigger_mode", "replay" if "replay" in s.name else "files"),
                       "notes": list(getattr(s, "notes", [])), "fault": self.faulted.get(n)}
        faults = [f"camera {n}: {e}" for n, e in self.faulted.items()]
        delivery = None
        if self.deliverer is not None:
            d = self.deliverer
            delivery = {"fault": d.fault, "last_error": d.last_error, "notes": list(d.notes), "checked": d.checked_ok}
            if d.fault:
                faults.append(f"delivery: {d.fault}")
        state = "fault" if faults and self.state in ("idle", "fault") else self.state
        trig = {"kind": self.trigger.kind, "waiting": self.trigger.queue.qsize(), "dropped": self.trigger.dropped}
        return {"station_id": self.cfg.station_id, "state": state, "since": self.state_since, "faults": faults, "cameras": cams,
                "trigger": trig,
                "counts": dict(self.counts), "outbox": self.outbox.counts() if self.outbox is not None else None, "delivery": delivery, "last": self.last}

    # -- lifecycle ---------------------------------------------------------------
    def prune(self, *, force: bool = False) -> int:
        """Apply the configured retention to the outbox (every ``retention.prune_every_s``)."""
        ret = self.cfg.retention
        if self.outbox is None:
            return 0
        if not force and time.time() - self._last_prune < ret.prune_every_s:
            return 0
        self._last_prune = time.time()
        n = self.outbox.prune(delivered_h=ret.delivered_h, local_h=ret.local_h)
        if n:
            log.info("outbox: %d old row(s) pruned (retention: delivered %s h, local %s h)", n, ret.delivered_h, ret.local_h)
        return n

    def open(self) -> None:
        if self.outbox is not None:
            self.prune(force=True)
        for n, s in self.sources.items():
            try:
                s.open()
                for note in getattr(s, "notes", []):
                    log.warning("camera %s: %s", n, note)
            except AcquisitionError as exc:
                self.faulted[n] = str(exc)
                self._set("fault", str(exc))
        if self.cfg.publish.mqtt_topic:
            import paho.mqtt.client as mqtt

            self._mqtt = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            self._mqtt.connect_async(self.cfg.publish.mqtt_host, self.cfg.publish.mqtt_port)
            self._mqtt.loop_start()
        self.trigger.start()

    def close(self) -> None:
        self.trigger.stop()
        for s in self.sources.values():
            s.close()
        if self._mqtt is not None:
            self._mqtt.loop_stop()
            self._mqtt.disconnect()

    def stop(self) -> None:
        """Ask the station to stop (safe from a signal handler): no new board is started, a capture
        in progress is abandoned (the board is recorded ``not_inspected``), an inspection in
        progress is finished; `run` then returns."""
        self._stop.set()
        for s in self.sources.values():
            s.interrupt()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, max_boards: int | None = None) -> None:
        """Serve triggers until stopped, the replay ends, a timer trigger is done, or `max_boards`."""
        n = 0
        while not self._stop.is_set() and (max_boards is None or n < max_boards):
            self._try_reconnect()
            self.prune()
            t = self.trigger.get(timeout=0.05)
            if t is None:
                if self.trigger.finished and self.trigger.queue.empty():
                    break
                continue
            try:
                self.record(t) if self.mode == "record" else self.handle(t)
            except ReplayDone:
                log.info("replay finished")
                break
            n += 1

    def _try_reconnect(self, *, force: bool = False) -> None:
        if not self.faulted or (not force and time.time() - self._last_reconnect < self.cfg.reconnect_every_s):
            return
        self._last_reconnect = time.time()
        for n in list(self.faulted):
            try:
                self.sources[n].reconnect()
            except (AcquisitionError, InputError) as exc:
                self.faulted[n] = str(exc)
                continue
            log.info("camera %s reconnected", n)
            del self.faulted[n]
        if not self.faulted and self.state == "fault":
            self._set("idle", "cameras back")

    # -- one board -----------------------------------------------------------------
    def _capture(self, meta: dict) -> dict:
        """Every view from its source; the same path for cameras and replays."""
        frames = {}
        for n in dict.fromkeys(vc.camera for vc in self.cfg.views.values()):
            try:
                meta.update(self.sources[n].begin_board())
            except FetchTimeout as exc:
                if "replay finished" in str(exc):
                    raise ReplayDone() from None
                raise
        for view, vc in self.cfg.views.items():
            frames[view] = self.sources[vc.camera].grab(view=view, timeout_s=self.cfg.grab_timeout_s)
        return frames

    def _capture_board(self, meta: dict) -> tuple[dict, str | None]:
        """Every view of one board, or no frames and the reason (a lost camera puts the station in
        fault; a stop abandons the board). ReplayDone passes through."""
        self._try_reconnect(force=True)
        if self.faulted:
            return {}, "station in fault: " + "; ".join(f"camera {n}: {e}" for n, e in self.faulted.items())
        self._set("capturing")
        try:
            return self._capture(meta), None
        except ReplayDone:
            self._set("idle")
            raise
        except Interrupted:
            return {}, "the station stopped during capture (board abandoned)"
        except AcquisitionError as exc:
            if isinstance(exc, DeviceLost):
                for n, s in self.sources.items():
                    if s.name in str(exc) or not getattr(s, "is_open", True):
                        self.faulted[n] = str(exc)
                self._set("fault", str(exc))
            return {}, f"capture failed: {exc}"
        except InputError as exc:
            return {}, f"capture failed: {exc}"

    def recipe_file(self, meta: dict) -> Path:
        """The station config's recipe, else the replayed board's own (named in its board.yaml, or
        ``recipe.yaml``); InputError when there is none."""
        if self.cfg.recipe is not None:
            return self.cfg.recipe
        board_dir = Path(meta["dir"]) if meta.get("dir") else None
        for name in ((meta.get("recipe"), "recipe.yaml") if board_dir is not None else ()):
            if isinstance(name, str) and (board_dir / name).is_file():
                return board_dir / name
        raise InputError("no recipe: set 'recipe' in the station config")

    def calibration_files(self, meta: dict, *, required: bool = True) -> dict[str, Path]:
        """The calibration record file of each calibration key this board needs: the station
        config's, else the replayed board's own (named under ``calibrations`` in its board.yaml, or
        ``calibration_<view>.json``). With `required`, InputError naming a view that has none."""
        from api.boardset import calibration_key

        board_dir = Path(meta["dir"]) if meta.get("dir") else None
        named = meta.get("calibrations") if isinstance(meta.get("calibrations"), dict) else {}
        cals: dict[str, Path] = {}
        for v, vc in self.cfg.views.items():
            key = calibration_key(v)
            if key in cals:
                continue
            if vc.calibration is not None:
                cals[key] = vc.calibration
                continue
            for f in ((named.get(key), named.get(v), f"calibration_{v}.json") if board_dir is not None else ()):
                if isinstance(f, str) and (board_dir / f).is_file():
                    cals[key] = board_dir / f
                    break
            else:
                if required:
                    raise InputError(f"no calibration record for the {v} view: set views.{v}.calibration in the station config")
        for name in (meta.get("stacks") if isinstance(meta.get("stacks"), dict) and board_dir is not None else {}):
            f = named.get(f"stack:{name}")  # a replayed board's focus stacks bring their microscope records
            if isinstance(f, str) and (board_dir / f).is_file():
                cals[f"stack:{name}"] = board_dir / f
        return cals

    def record(self, trig) -> dict:
        """`station record`: capture one board into the recorder as a complete board folder (recipe
        and calibration records copied beside the images); no inspection, nothing in the outbox."""
        meta: dict = {}
        frames, reason = self._capture_board(meta)
        serial = trig.serial or meta.get("serial") or f"{self.cfg.station_id}-{uuid.uuid4().hex[:8]}"
        folder = None
        if reason is None:
            try:
                folder = self.recorder.save(serial, frames, meta=meta, recipe=self.recipe_file(meta), calibrations=self.calibration_files(meta))
            except InputError as exc:
                reason = f"not recorded: {exc}"
        self.counts["boards"] += 1
        self.counts["recorded" if folder else "not_recorded"] += 1
        out = {"serial": serial, "status": "recorded" if folder else "not_recorded", "folder": str(folder) if folder else None,
               "reason": reason}
        self.last = out
        if reason:
            log.warning("board %s not recorded: %s", serial, reason)
        if not self.faulted:
            self._set("idle")
        return out

    def handle(self, trig) -> StationRecord:
        t0 = time.perf_counter()
        key = str(uuid.uuid4())
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
        serial, recipe, reason, verdict, result = trig.serial, self._recipe, None, None, None
        cal_refs: dict[str, str] = {}
        frames: dict = {}
        meta: dict = {}
        timings = {}
        frames, reason = self._capture_board(meta)
        timings["capture"] = (time.perf_counter() - t0) * 1e3
        serial = serial or meta.get("serial") or f"{self.cfg.station_id}-{key[:8]}"
        if reason is None:
            self._set("inspecting")
            t1 = time.perf_counter()
            try:
                cals = self._board_calibrations(meta)
                cal_refs = {k: record_ref(rec) for k, rec in cals.items()}  # the service must use these same records
                if recipe is None:
                    recipe = self._load_recipe(self.recipe_file(meta))
                stacks = self._board_stacks(meta)
                res = self.inspect(serial, {v: f.image for v, f in frames.items()}, cals, recipe, **({"stacks": stacks} if stacks else {}))
                result = res.model_dump(mode="json")
                verdict = res.board.verdict.value
            except Exception as exc:  # one board's failure never stops the line
                reason = f"inspection failed: {type(exc).__name__ if not isinstance(exc, InputError) else ''}{': ' if not isinstance(exc, InputError) else ''}{exc}".replace("failed: : ", "failed: ")
            timings["inspect"] = (time.perf_counter() - t1) * 1e3
        rec = StationRecord(
            key=key, station_id=self.cfg.station_id, serial=serial, recipe_id=recipe.recipe_id if recipe else None,
            status="inspected" if reason is None else "not_inspected", verdict=verdict if reason is None else None,
            reason=reason, trigger=trig.source, triggered_utc=now, timings_ms=timings,
            views={v: CapturedView(source=f.source, frame_id=f.frame_id, shape=list(f.image.shape), pixel_format=f.pixel_format,
                                   timestamp_s=f.timestamp_s) for v, f in frames.items()},
            result=result, calibrations=cal_refs)
        images = None
        if self.submit and frames:
            images = {v: _png(f.image) for v, f in frames.items()}
        t2 = time.perf_counter()
        self.outbox.add(rec, images_png=images, deliver=self.submit)
        if self.recorder is not None and frames:
            from api.boardset import calibration_key

            # keep the images even when the board lacks a recipe or record (they show what the camera saw);
            # `station record` is strict and writes only boards `pogoscope inspect` reads
            try:
                rfile = self.recipe_file(meta)
            except InputError:
                rfile = None
            cfiles = self.calibration_files(meta, required=False)
            self.recorder.save(serial, frames, meta=meta, recipe=rfile, calibrations=cfiles)
            if rfile is None or len(cfiles) < len({calibration_key(v) for v in self.cfg.views}):
                log.warning("board %s recorded without its recipe or a calibration record: not inspectable as recorded", serial)
        timings["persist"] = (time.perf_counter() - t2) * 1e3
        self._publish(rec)
        timings["total"] = (time.perf_counter() - trig.received) * 1e3
        self.counts["boards"] += 1
        self.counts[rec.status] += 1
        if reason:
            log.warning("board %s not inspected: %s", serial, reason)
        if not self.faulted:
            self._set("idle")
        return rec

    def _publish(self, rec: StationRecord) -> None:
        summary = {"key": rec.key, "serial": rec.serial, "status": rec.status, "verdict": rec.verdict, "reason": rec.reason}
        self.last = summary
        if self._mqtt is not None:
            import json

            self._mqtt.publish(self.cfg.publish.mqtt_topic, json.dumps(summary), qos=1)
        for fn in self.listeners:
            try:
                fn(rec)
            except Exception:
                log.exception("result listener failed")


def _png(img) -> bytes:
    from vision.io import encode_png

    return encode_png(img)
