"""In-process job queue: a pool of worker processes (or threads) inside the service.

Submissions wait in a FIFO; at most ``max_in_flight`` are handed to the pool at once, so the
backlog stays countable (`depth`) and bounded (`QueueFull` beyond ``Settings.queue_max_depth``).
Nothing here is durable: the database is. On start the service re-submits every inspection that
is not finished, and `run_inspection` is idempotent, so a restart loses none and inspects none twice.

An inspection whose worker could not find a stored image (`api.jobs.store.BlobNotFound`: an outage
such as a share not mounted) is submitted again after a back-off (``outage_retry_base_s``,
doubling), up to ``Settings.outage_retries`` times, then recorded failed with the reason.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing as mp
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from api.jobs import QueueFull, resolve
from api.backoff import backoff_s
from api.jobs.store import BlobNotFound
from api.settings import Settings

log = logging.getLogger("pogoscope.jobs")


def _run(inspection_id: str, settings_json: str) -> str:
    settings = Settings.model_validate_json(settings_json)
    resolve(settings.job_func, what="job function (POGOSCOPE_JOB_FUNC)")(inspection_id, settings=settings)
    return inspection_id


def _warm(nice: int = 0, parent_pid: int | None = None, job_func: str | None = None) -> None:  # import the heavy modules once per worker process, not per job
    import os

    from api.jobs.lifeline import exit_with_parent

    exit_with_parent(parent_pid)  # a service killed with -9 leaves no worker behind
    if nice:
        os.nice(nice)  # reads and submissions must not wait behind inspections for the CPU
    import vision.inspect  # noqa: F401
    if job_func:
        resolve(job_func, what="job function (POGOSCOPE_JOB_FUNC)")


class LocalQueue:
    """`api.jobs.JobQueue` backed by a process (or thread) pool in this process."""

    def __init__(self, settings: Settings, *, on_done: Callable[[str, BaseException | None], None] | None = None) -> None:
        self.settings = settings
        self._settings_json = settings.model_dump_json()
        n = max(1, settings.workers)
        self.max_in_flight = settings.max_in_flight or 2 * n
        self.limit = settings.queue_max_depth
        self.on_done = on_done
        self._n = n
        self._pool: Executor = self._make_pool()
        self._waiting: collections.deque[str] = collections.deque()
        self._queued: set[str] = set()
        self._in_flight: set[str] = set()
        self._suspects: set[str] = set()
        self._outages: dict[str, int] = {}  # inspection id -> retries after a missing image
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _make_pool(self) -> Executor:
        if self.settings.workers > 0 and self.settings.worker_mode == "process":
            import os

            return ProcessPoolExecutor(self._n, mp_context=mp.get_context("spawn"), initializer=_warm,
                                       initargs=(self.settings.worker_nice, os.getpid(), self.settings.job_func))
        return ThreadPoolExecutor(self._n, thread_name_prefix="inspect")

    def submit(self, inspection_id: str) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job queue is closed")
            if inspection_id in self._queued or inspection_id in self._in_flight or inspection_id in self._timers:
                return  # already waiting, running or due for a retry: a redelivery would only be a no-op
            depth = len(self._waiting) + len(self._in_flight)
            if depth >= self.limit:
                raise QueueFull(depth, self.limit)
            self._waiting.append(inspection_id)
            self._queued.add(inspection_id)
        self._pump()

    def depth(self) -> int:
        with self._lock:
            return len(self._waiting) + len(self._in_flight)

    def workers(self) -> int:
        """Inspections this pool runs at once (its processes or threads)."""
        return self._n

    def _pump(self) -> None:
        while True:
            with self._lock:
                # after a worker died, the boards that were in flight run one at a time until each has
                # finished, so a board that kills its worker cannot use up a bystander's attempts
                limit = 1 if self._suspects else self.max_in_flight
                if self._closed or not self._waiting or len(self._in_flight) >= limit:
                    return
                iid = self._waiting.popleft()
                self._queued.discard(iid)
                self._in_flight.add(iid)
                pool = self._pool
            try:
                fut = pool.submit(_run, iid, self._settings_json)
            except RuntimeError:  # pool shut down (closing) or broken (its callbacks replace it)
                with self._lock:
                    self._in_flight.discard(iid)
                    if self._closed:
                        return
                    self._waiting.appendleft(iid)
                    self._queued.add(iid)
                    if self._pool is pool:
                        return
                continue  # the pool was replaced meanwhile: go on with the new one
            fut.add_done_callback(lambda f, iid=iid, pool=pool: self._done(iid, f, pool))

    def _done(self, iid: str, fut: Future, pool: Executor) -> None:
        exc = None if fut.cancelled() else fut.exception()
        if isinstance(exc, BrokenProcessPool) and not self._closed:
            # a worker process died (crash, OOM kill): new pool, and the inspection goes again;
            # run_inspection fails it once it has been started Settings.max_attempts times
            log.error("inspection %s: worker process died; restarting the pool", iid)
            with self._lock:
                if self._pool is pool:
                    self._pool = self._make_pool()
                    pool.shutdown(wait=False, cancel_futures=True)
                self._in_flight.discard(iid)
                self._waiting.appendleft(iid)
                self._queued.add(iid)
                self._suspects.add(iid)
            self._pump()
            return
        if isinstance(exc, BlobNotFound) and not self._closed:
            with self._lock:
                self._in_flight.discard(iid)
                self._suspects.discard(iid)
            self._retry_later(iid, exc)
            self._pump()
            return
        if exc is not None:
            log.error("inspection %s: worker failed: %s: %s", iid, type(exc).__name__, exc)
        with self._lock:
            self._in_flight.discard(iid)
            self._suspects.discard(iid)
            self._outages.pop(iid, None)
        if self.on_done is not None:
            try:
                self.on_done(iid, exc)
            except Exception:
                log.exception("on_done hook failed")
        self._pump()

    def _retry_later(self, iid: str, exc: BaseException) -> None:
        """Submit `iid` again after a back-off, or record it failed once the retries are used up."""
        with self._lock:
            n = self._outages.get(iid, 0)
            if n >= self.settings.outage_retries:
                self._outages.pop(iid, None)
                give_up = True
            else:
                self._outages[iid] = n + 1
                give_up = False
                delay = backoff_s(n, base_s=self.settings.outage_retry_base_s, max_s=self.settings.outage_retry_max_s)
                t = threading.Timer(delay, self._resubmit, (iid,))
                t.daemon = True
                self._timers[iid] = t
        if give_up:
            record_failure = resolve(self.settings.fail_func, what="fail function (POGOSCOPE_FAIL_FUNC)")
            log.error("inspection %s: image still missing after %d retries; failing it", iid, n)
            record_failure(iid, f"{exc} (still missing after {n} retries)", settings=self.settings)
            return
        log.warning("inspection %s: %s; retry %d in %.1f s", iid, exc, n + 1, delay)
        t.start()

    def _resubmit(self, iid: str) -> None:
        with self._lock:
            self._timers.pop(iid, None)
            if self._closed:
                return
        try:
            self.submit(iid)
        except QueueFull:  # it stays queued in the database: the next start re-submits it
            log.warning("inspection %s: queue full, retry left to the next start", iid)

    def close(self, *, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
            for t in self._timers.values():
                t.cancel()
            self._timers.clear()
            self._waiting.clear()
            self._queued.clear()
        self._pool.shutdown(wait=wait, cancel_futures=True)
