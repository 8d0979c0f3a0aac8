"""One running station per outbox database: an exclusive lock on ``<database>.lock`` (flock, released
by the kernel when the process ends, even on kill -9), naming the holder when another station has it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from models.errors import InputError


class DatabaseLock:
    def __init__(self, database: Path, *, who: str) -> None:
        self.path = Path(str(database) + ".lock")
        self.who = who
        self._f = None

    def acquire(self) -> "DatabaseLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise InputError(f"outbox database {self.path.with_suffix('')} is in use by {holder}; give each station its own "
                             "'database' (two stations sharing one would send each other's boards)") from None
        f.seek(0)
        f.truncate()
        f.write(f"{self.who} (pid {os.getpid()})")
        f.flush()
        self._f = f
        return self

    def release(self) -> None:
        if self._f is not None:
            self._f.close()  # closing drops the flock
            self._f = None

    def __enter__(self) -> "DatabaseLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
