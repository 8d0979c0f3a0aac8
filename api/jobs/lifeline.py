"""Worker processes end with their parent: `exit_with_parent` watches, in a daemon thread, whether
the process that started this one is still its parent; when it is not (the parent died, even by
SIGKILL, and this process was re-parented to init or a subreaper) the process exits at once.

Why not ``prctl(PR_SET_PDEATHSIG)``: Linux sends that signal when the parent *thread* that forked the
child ends, and the service starts its pool from whichever thread submits first (a request thread
of the server's pool, which ends when idle): its workers would be killed while the service lives.
Watching the parent id has no such trap and works on every POSIX system; it costs one getppid()
per `poll_s`. A board a worker was inspecting stays ``running`` in the database and is handed out
again when the service restarts."""

from __future__ import annotations

import os
import threading


def exit_with_parent(parent_pid: int | None = None, *, poll_s: float = 0.5, code: int = 0) -> threading.Thread:
    """Exit this process (``os._exit(code)``) within `poll_s` once `parent_pid` (default: the current
    parent) is no longer its parent."""
    ppid = parent_pid if parent_pid is not None else os.getppid()
    if os.getppid() != ppid:  # died before we looked
        os._exit(code)

    def watch() -> None:
        ev = threading.Event()
        while not ev.wait(poll_s):
            if os.getppid() != ppid:
                os._exit(code)

    t = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    t.start()
    return t
