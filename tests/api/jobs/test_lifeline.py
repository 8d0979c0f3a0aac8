"""Workers end with their parent (issue #15 item 7), tested with a real SIGKILL: the worker processes
of `pogoscope serve` and the children of `pogoscope worker --processes 2` exit within seconds
instead of staying behind with parent 1."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.api.jobs.conftest import wait_for
from tests.api.service.support import Server, png, setup_board, wait_done

pytestmark = pytest.mark.timeout(120)


def children(pid: int) -> set[int]:
    """Live processes whose parent is `pid`, from /proc."""
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.add(int(d.name))
    return out


def alive(pids: set[int]) -> set[int]:
    out = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] != "Z":
            out.add(p)
    return out


def _kill_left(pids: set[int]) -> None:
    for p in alive(pids):
        os.kill(p, signal.SIGKILL)


def test_kill_9_of_serve_leaves_no_worker_behind(tmp_path, synth_board):
    board = synth_board(seed=3, rows=2, cols=4)
    srv = Server({"POGOSCOPE_DATA_DIR": str(tmp_path / "data"), "POGOSCOPE_WORKERS": "2"}, log=tmp_path / "serve.log").start()
    workers: set[int] = set()
    try:
        with srv.client() as c:
            setup_board(c, board)
            r = c.post("/v1/inspections", data={"serial": "LIFE-1", "recipe_id": board.recipe["recipe_id"]},
                       files={"top": ("t.png", png(board.image), "image/png")})
            assert wait_done(c, r.json()["id"])["status"] == "done"
        workers = children(srv.proc.pid)
        assert len(workers) >= 2, "the pool's worker processes run"
        os.kill(srv.proc.pid, signal.SIGKILL)  # the service only, not its process group: a crash
        srv.proc.wait(10)
        t0 = time.monotonic()
        wait_for(lambda: not alive(workers), timeout_s=10, what="the workers to exit after their parent's SIGKILL")
        assert time.monotonic() - t0 < 5
    finally:
        _kill_left(workers)
        srv.kill()


def test_kill_9_of_the_worker_supervisor_leaves_no_child_behind(spawn_workers):
    (sup,) = spawn_workers(1, "--processes", "2")
    wait_for(lambda: len(children(sup.pid)) == 2, timeout_s=40, what="the supervisor to start 2 workers")
    kids = children(sup.pid)
    time.sleep(1.0)
    try:
        os.kill(sup.pid, signal.SIGKILL)
        sup.wait(10)
        wait_for(lambda: not alive(kids), timeout_s=10, what="the worker children to exit after the supervisor's SIGKILL")
    finally:
        _kill_left(kids)
