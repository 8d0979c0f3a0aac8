"""Stopping a station on SIGINT/SIGTERM, and the one summary line it prints when it ends.

The first SIGINT or SIGTERM asks the runner to stop (`StationRunner.stop`): no new board, a
capture in progress abandoned and recorded ``not_inspected``, an inspection in progress finished.
The caller then closes the cameras, the trigger, the health endpoint and the deliverer, each with
a bounded wait, so the process ends within about 2 s. A second signal leaves at once (exit 130).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """Context manager: SIGINT/SIGTERM call `on_stop()` once; a second signal exits the process now."""

    def __init__(self, on_stop) -> None:
        self.on_stop = on_stop
        self.signal: str | None = None
        self.at: float | None = None
        self._old: dict = {}

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.signal is not None:
            sys.stderr.write(f"pogoscope: second {name} while stopping: leaving now, the outbox is consistent (committed per board)\n")
            sys.stderr.flush()
            os._exit(130)
        self.signal, self.at = name, time.monotonic()
        self.on_stop()

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)

    def elapsed_s(self) -> float | None:
        return None if self.at is None else time.monotonic() - self.at


def outbox_phrase(counts: dict[str, int]) -> str:
    order = ("delivered", "pending", "held", "rejected", "local", "local_only")
    parts = [f"{counts[k]} {k}" for k in order if counts.get(k)] + [f"{n} {k}" for k, n in counts.items() if k not in order and n]
    return ", ".join(parts) or "empty"


def undelivered(counts: dict[str, int]) -> int:
    """Boards the service has not accepted yet (will be sent later, or need `deliver --retry-rejected`)."""
    return sum(counts.get(k, 0) for k in ("pending", "held", "rejected"))


def summary_line(station_id: str, counts: dict[str, int], outbox: dict[str, int], *, config: str, why: str,
                 stop_s: float | None = None) -> str:
    """One line: what the station did, what its outbox holds, and how many boards still wait (and how to send them)."""
    line = (f"station {station_id} stopped ({why}{f', {stop_s:.2f} s after the signal' if stop_s is not None else ''}): "
            f"{counts.get('boards', 0)} boards, {counts.get('inspected', 0)} inspected, {counts.get('not_inspected', 0)} not inspected"
            + (f", {counts['recorded']} recorded" if counts.get("recorded") else "")
            + f"; outbox: {outbox_phrase(outbox)}")
    n = undelivered(outbox)
    if n:
        how = f"pogoscope station deliver --config {config}"
        if outbox.get("held") or outbox.get("rejected"):
            how += " --retry-rejected"
        line += f"; {n} board(s) NOT delivered yet: they are sent at the next start, or now with `{how}`"
    return line


def exit_cleanly_soon(grace_s: float = 0.3) -> None:
    """After a signal stop: if a library left a non-daemon thread behind (a camera SDK), do not let
    it hold the process past the stop budget; everything that matters is committed by now."""
    deadline = time.monotonic() + grace_s
    for t in threading.enumerate():
        if t is threading.main_thread() or t.daemon:
            continue
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() and not t.daemon and t is not threading.main_thread() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
