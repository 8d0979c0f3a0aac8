"""Trigger sources: an API call, an MQTT topic, a watched folder, or a timer (replays, soak).

Each puts `Trigger`s on one queue; the runner takes them with `get(timeout)`. A trigger
payload may carry the board serial (plain text or JSON ``{"serial": ...}``).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("pogoscope.station.trigger")


@dataclass
class Trigger:
    source: str
    serial: str | None = None
    received: float = field(default_factory=time.perf_counter)
    extra: dict = field(default_factory=dict)


def parse_payload(data: bytes | str) -> str | None:
    """Serial from a trigger payload: JSON {"serial": ...} or plain text; None when empty."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        s = obj.get("serial") if isinstance(obj, dict) else None
        return str(s) if s else None
    return text.splitlines()[0].strip()[:200] or None


class TriggerSource:
    """Triggers wait in a bounded queue: a source faster than the station never grows memory without
    bound (an unbounded queue made the station's RSS climb at full rate and kept it inspecting a
    backlog long after a stop). A trigger that finds `max_pending` waiting is dropped and counted."""

    kind = "base"
    max_pending = 1000

    def __init__(self) -> None:
        self.queue: queue.Queue[Trigger] = queue.Queue()
        self.finished = False  # a timer that fired its last trigger
        self.dropped = 0

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def fire(self, serial: str | None = None, **extra) -> bool:
        """Queue a trigger; False (and counted in `dropped`) when `max_pending` are already waiting."""
        if self.queue.qsize() >= self.max_pending:
            self.dropped += 1
            if self.kind != "timer" and (self.dropped == 1 or self.dropped % 100 == 0):
                log.warning("%s trigger dropped (%d so far): %d triggers already wait; the station cannot keep up",
                            self.kind, self.dropped, self.max_pending)
            return False
        self.queue.put(Trigger(source=self.kind, serial=serial, extra=extra))
        return True

    def get(self, timeout: float) -> Trigger | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None


class ApiTrigger(TriggerSource):
    """Fed by ``POST /trigger`` on the station's HTTP endpoint."""

    kind = "api"


class TimerTrigger(TriggerSource):
    """A tick while the station is still busy with the previous board is skipped (counted in
    `dropped`), so the station runs at most at its own pace and stops without a backlog."""

    kind = "timer"
    max_pending = 1

    def __init__(self, period_s: float, count: int | None = None) -> None:
        super().__init__()
        self.period_s, self.count = period_s, count
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="timer-trigger", daemon=True).start()

    def _loop(self) -> None:
        n, t_next = 0, time.perf_counter()
        while not self._stop.is_set() and (self.count is None or n < self.count):
            n += self.fire()  # `count` boards: a skipped tick does not count
            t_next = max(t_next + self.period_s, time.perf_counter() - self.period_s)  # after a long board: no burst of catch-up ticks
            self._stop.wait(max(0.0, t_next - time.perf_counter()))
        self.finished = True

    def stop(self) -> None:
        self._stop.set()


class FolderTrigger(TriggerSource):
    """A file dropped into `path` (``*.trigger``, ``*.txt`` or ``*.json``) is one trigger; it is moved to ``done/``."""

    kind = "folder"

    def __init__(self, path: str | Path, *, poll_s: float = 0.05) -> None:
        super().__init__()
        self.path = Path(path)
        self.poll_s = poll_s
        self._stop = threading.Event()

    def start(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "done").mkdir(exist_ok=True)
        threading.Thread(target=self._loop, name="folder-trigger", daemon=True).start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for f in sorted(self.path.iterdir(), key=lambda p: p.stat().st_mtime if p.exists() else 0):
                if f.is_file() and f.suffix in (".trigger", ".txt", ".json"):
                    try:
                        serial = parse_payload(f.read_bytes())
                        f.replace(self.path / "done" / f.name)
                    except OSError:  # still being written or already taken
                        continue
                    self.fire(serial, file=f.name)
            self._stop.wait(self.poll_s)

    def stop(self) -> None:
        self._stop.set()


class MqttTrigger(TriggerSource):
    """Subscribes to `topic` on an MQTT broker; each message is a trigger."""

    kind = "mqtt"

    def __init__(self, topic: str, *, host: str = "127.0.0.1", port: int = 1883) -> None:
        super().__init__()
        self.topic, self.host, self.port = topic, host, port
        self._client = None
        self.connected = threading.Event()

    def start(self) -> None:
        import paho.mqtt.client as mqtt

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.on_connect = lambda cl, ud, fl, rc, props=None: (cl.subscribe(self.topic, qos=1), self.connected.set())
        c.on_message = lambda cl, ud, msg: self.fire(parse_payload(msg.payload), topic=msg.topic)
        c.reconnect_delay_set(min_delay=1, max_delay=10)
        c.connect_async(self.host, self.port)
        c.loop_start()  # paho reconnects by itself if the broker restarts
        self._client = c

    def stop(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None


def make_trigger(cfg) -> TriggerSource:
    if cfg.kind == "api":
        return ApiTrigger()
    if cfg.kind == "timer":
        return TimerTrigger(cfg.period_s, cfg.count)
    if cfg.kind == "folder":
        return FolderTrigger(cfg.path, poll_s=cfg.poll_s)
    return MqttTrigger(cfg.topic, host=cfg.host, port=cfg.port)
