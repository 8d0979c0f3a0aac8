"""Real `pogoscope worker` processes on the real RabbitMQ and PostgreSQL: delivery semantics.

Each test persists submissions of generated boards (vision.synth.top) as the service would, submits
them through `BrokerQueue`, and checks the stand-in's tables (tests/api/jobs/standin.py), whose
results table has no unique constraint so that a duplicate write would be seen.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
import struct
import zlib

import pytest

from api.jobs.broker import DELIVERY_LIMIT, BrokerQueue
from api.jobs.store import open_store
from tests.api.jobs.conftest import wait_for
from tests.api.jobs.standin import submit_board

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


def _rows(conn, sql, *args):
    conn.rollback()  # a fresh snapshot each time
    rows = conn.execute(sql, args).fetchall()
    conn.rollback()
    return rows


def _results(conn):
    return _rows(conn, "SELECT inspection_id, status, reason, n_pins, image_shape, worker_pid FROM results")


def _attempts(conn, inspection_id=None):
    if inspection_id is None:
        return _rows(conn, "SELECT inspection_id, pid, outcome FROM attempts ORDER BY n")
    return _rows(conn, "SELECT inspection_id, pid, outcome FROM attempts WHERE inspection_id = %s ORDER BY n", inspection_id)


def _running(conn):
    """(inspection id, pid) of jobs started and not finished."""
    return _rows(conn, "SELECT inspection_id, pid FROM attempts WHERE outcome IS NULL ORDER BY n")


def _bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring 10^10 pixels: OpenCV's decoder throws (a real decoder crash)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture
def queue(broker_url, queue_name):
    q = BrokerQueue(broker_url=broker_url, queue_name=queue_name, max_depth=1000)
    yield q
    q.close()


def _start(spawn_workers, queue, n):
    procs = spawn_workers(n)
    wait_for(lambda: queue.workers() >= n, timeout_s=40, what=f"{n} workers to attach to the queue")
    return procs


def test_sigkill_mid_batch_every_board_inspected_exactly_once(synth_board, pg_schema, worker_env, queue, spawn_workers):
    _, conn = pg_schema
    store = open_store(worker_env["POGOSCOPE_STORE_URL"])
    boards = {f"b{i:02d}": synth_board(seed=100 + i, cols=4) for i in range(12)}
    for iid, b in boards.items():
        submit_board(conn, store, iid, b, dwell_s=0.4)
    procs = _start(spawn_workers, queue, 3)
    for iid in boards:
        queue.submit(iid)

    # Kill a worker while it is in the middle of a job (its attempt started and not finished).
    victim_job, victim_pid = wait_for(lambda: next(iter(_running(conn)), None), timeout_s=30, poll_s=0.02,
                                      what="a job in progress")
    assert victim_pid in {p.pid for p in procs}
    os.kill(victim_pid, signal.SIGKILL)

    wait_for(lambda: len(_results(conn)) >= len(boards) and queue.depth() == 0, timeout_s=60, what="all results")
    res = _results(conn)
    ids = [r[0] for r in res]
    assert sorted(ids) == sorted(boards), "every board once: none lost, none duplicated"
    assert all(r[1] == "done" for r in res), res
    for iid, status, _, n_pins, shape, pid in res:
        truth = boards[iid]
        assert n_pins == len(truth.scene.pins)
        assert list(shape) == list(truth.image.shape)
        assert pid != victim_pid or iid != victim_job
    # The killed job was delivered again (acks late) and committed by another worker.
    tries = _attempts(conn, victim_job)
    assert len(tries) >= 2 and tries[0][1] == victim_pid and tries[0][2] is None
    assert [t[2] for t in tries].count("done") == 1
    # After the dust settles nothing is waiting, in flight or dead.
    assert queue.depth() == 0 and queue.dead_letters() == 0
    assert sum(p.poll() is None for p in procs) == 2


def test_worker_dying_after_commit_before_ack_is_redelivered_as_a_noop(synth_board, pg_schema, worker_env, queue,
                                                                       spawn_workers):
    _, conn = pg_schema
    store = open_store(worker_env["POGOSCOPE_STORE_URL"])
    submit_board(conn, store, "late-ack", synth_board(seed=7), fault="die_after_commit")
    submit_board(conn, store, "after", synth_board(seed=8))
    _start(spawn_workers, queue, 2)
    queue.submit("late-ack")
    queue.submit("after")
    # the redelivered attempt's row is written when it starts and its outcome when it ends: wait for the outcome
    wait_for(lambda: [t[2] is not None for t in _attempts(conn, "late-ack")[:2]] == [True, True] and len(_results(conn)) >= 2,
             timeout_s=40, what="the redelivery's outcome")
    tries = [t[2] for t in _attempts(conn, "late-ack")]
    assert tries[:2] == ["done", "noop"], tries  # committed, died before the ack, redelivered: nothing rewritten
    assert sorted(r[0] for r in _results(conn)) == ["after", "late-ack"]


def test_poison_jobs_are_bounded_recorded_failed_and_do_not_block(synth_board, pg_schema, worker_env, queue,
                                                                  spawn_workers):
    _, conn = pg_schema
    store = open_store(worker_env["POGOSCOPE_STORE_URL"])
    good = synth_board(seed=3)
    submit_board(conn, store, "bomb", good, image_bytes=_bomb_png())  # the real decoder refuses it: bad input
    submit_board(conn, store, "boom", good, fault="raise")  # an unexpected error: retried, bounded
    submit_board(conn, store, "segv", good, fault="segv")  # the worker process dies in the decoder
    submit_board(conn, store, "corrupt", good, image_bytes=b"\x89PNG\r\n\x1a\n not an image")  # InputError
    submit_board(conn, store, "flaky-db", good)  # the database is down for its first 4 attempts
    for i in range(4):
        submit_board(conn, store, f"ok{i}", synth_board(seed=20 + i))
    # a supervisor of 2 processes replaces the ones the segfaults kill
    spawn_workers(1, "--processes", "2")
    wait_for(lambda: queue.workers() >= 2, timeout_s=40, what="2 workers")
    for iid in ["bomb", "boom", "segv", "corrupt", "flaky-db", "ok0", "ok1", "ok2", "ok3"]:
        queue.submit(iid)

    # Good boards are not held up by the poison ones (the segfault alone costs several restarts).
    wait_for(lambda: {r[0] for r in _results(conn) if r[1] == "done"} >= {"ok0", "ok1", "ok2", "ok3", "flaky-db"},
             timeout_s=40, what="the good boards")
    wait_for(lambda: {"bomb", "boom", "segv", "corrupt"} <= {r[0] for r in _results(conn)}, timeout_s=60,
             what="the poison jobs to be recorded failed")
    res = {r[0]: r for r in _results(conn)}
    seen = f"results {_results(conn)}; attempts {_attempts(conn)}"
    assert len(_results(conn)) == 9, seen
    # an outage is retried past the poison bound (job_max_retries = 2) and then succeeds
    assert res["flaky-db"][1] == "done", seen
    assert (Path(worker_env["POGOSCOPE_STORE_URL"]) / "outage-flaky-db").read_text() == "x" * 5, seen
    assert res["bomb"][1] == "failed" and "CV_IO_MAX_IMAGE_PIXELS" in res["bomb"][2], seen
    assert len(_attempts(conn, "bomb")) == 1, seen  # bad input: no retry can cure it
    assert res["boom"][1] == "failed" and "decoder library fault" in res["boom"][2], seen
    assert "3 attempt" in res["boom"][2] and len(_attempts(conn, "boom")) == 3, seen  # job_max_retries = 2
    assert res["corrupt"][1] == "failed" and "not a decodable image" in res["corrupt"][2], seen
    assert len(_attempts(conn, "corrupt")) == 1, seen  # bad input: no retry can cure it
    assert res["segv"][1] == "failed" and "died" in res["segv"][2], seen
    assert len(_attempts(conn, "segv")) == DELIVERY_LIMIT + 1, seen  # counted by the broker, then dead-lettered
    wait_for(lambda: queue.dead_letters() == 0, timeout_s=10, what="the dead-letter queue to drain")


def test_sigterm_finishes_the_running_job_acks_it_and_exits(synth_board, pg_schema, worker_env, queue, spawn_workers):
    _, conn = pg_schema
    store = open_store(worker_env["POGOSCOPE_STORE_URL"])
    submit_board(conn, store, "slow", synth_board(seed=9), dwell_s=1.5)
    (proc,) = _start(spawn_workers, queue, 1)
    queue.submit("slow")
    wait_for(lambda: _running(conn), timeout_s=30, poll_s=0.02, what="the job to start")
    os.kill(proc.pid, signal.SIGTERM)  # e.g. a rolling update of the worker machines
    assert proc.wait(timeout=30) == 0
    assert [t[2] for t in _attempts(conn, "slow")] == ["done"]  # finished, not abandoned
    assert [r[0] for r in _results(conn)] == ["slow"]
    assert queue.depth() == 0 and queue.workers() == 0  # acknowledged: nothing comes back


class _Proxy:
    """A TCP relay on loopback between one worker and RabbitMQ, so the test can cut that worker's
    network (a partition) while its process, and its job, go on."""

    def __init__(self, target_port: int = 5672):
        import socket
        import threading

        self.target_port, self.socks = target_port, []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def cut(self):
        import socket

        self.server.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_partitioned_worker_its_job_runs_twice_but_is_committed_once(synth_board, pg_schema, worker_env, queue,
                                                                     spawn_workers, broker_url):
    _, conn = pg_schema
    store = open_store(worker_env["POGOSCOPE_STORE_URL"])
    for iid in ("p1", "p2"):
        submit_board(conn, store, iid, synth_board(seed=11), dwell_s=2.0)
    proxy = _Proxy()
    try:
        direct = spawn_workers(1)
        worker_env["POGOSCOPE_BROKER_URL"] = broker_url.replace(":5672/", f":{proxy.port}/")
        behind = spawn_workers(1)
        wait_for(lambda: queue.workers() >= 2, timeout_s=40, what="2 workers")
        queue.submit("p1")
        queue.submit("p2")  # one job each (prefetch 1)
        running = wait_for(lambda: len(_running(conn)) == 2 and _running(conn), timeout_s=30, poll_s=0.02,
                           what="both jobs running")
        cut_job = next(iid for iid, pid in running if pid == behind[0].pid)
        proxy.cut()  # the broker sees the connection drop and hands the job to the other worker
        wait_for(lambda: len(_attempts(conn, cut_job)) >= 2, timeout_s=30, what="the redelivery")
        wait_for(lambda: all(o is not None for _, _, o in _attempts(conn)), timeout_s=30, what="all attempts to end")
    finally:
        proxy.cut()
    tries = _attempts(conn, cut_job)
    assert [pid for _, pid, _ in tries][:2] == [behind[0].pid, direct[0].pid]
    assert sorted(o for _, _, o in tries) == ["done", "noop"], tries  # ran twice, committed once
    assert sorted(r[0] for r in _results(conn)) == ["p1", "p2"]
