"""The inspection job and the worker that runs it (the worker side of `api.jobs.broker`).

One actor, ``pogoscope.inspect(inspection_id)``, calls the configured job function (default
``api.service.worker:run_inspection``), which loads the persisted submission, inspects it and
commits the result once. The worker acknowledges the message only after that function returned.

Failures end in the configured fail function (default ``api.service.worker:record_failure``,
``(inspection_id, reason) -> None``, idempotent, a no-op when a result exists):

* a job that raised after its last retry (or raised `InputError`, which no retry can cure) is
  recorded by `RecordFailure` with the exception as the reason;
* a job whose worker process died `DELIVERY_LIMIT` + 1 times is dead-lettered by RabbitMQ and
  recorded by `DeadLetterReaper` (every worker runs one).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import dramatiq
import pika
from dramatiq.common import xq_name
from dramatiq.middleware import CurrentMessage, Middleware, Retries

from api.jobs import resolve
from api.jobs.broker import ACTOR_NAME, DELIVERY_LIMIT, JobSettings, _broker_error, make_broker
from models.errors import InputError

__all__ = ["resolve", "register", "RecordFailure", "DeadLetterReaper", "Worker"]

log = logging.getLogger("pogoscope.worker")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


class RecordFailure(Middleware):
    """Record a job failed once dramatiq has given up on it (after `Retries` decided)."""

    def __init__(self, fail: Callable[[str, str], None]):
        self.fail = fail

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is None or not message.failed or message.actor_name != ACTOR_NAME:
            return
        inspection_id = message.args[0]
        reason = _one_line(exception)
        if message.options.get("retries", 1) > 1 or not isinstance(exception, InputError):
            # Retries has counted this attempt in options["retries"] before giving up.
            reason = f"{reason} (gave up after {message.options.get('retries', 1)} attempt(s))"
        log.warning("inspection %s failed: %s", inspection_id, reason)
        # A raise here would only be logged by dramatiq; the message is then nacked and
        # dead-lettered, and the reaper records it (fail functions are idempotent).
        self.fail(inspection_id, reason)


class DeadLetterReaper(threading.Thread):
    """Drain the dead-letter queue: record each dead job failed, then acknowledge it.

    Jobs land there when RabbitMQ's delivery limit was reached (the job's worker died every time)
    or when dramatiq rejected them after their last retry (already recorded by `RecordFailure`;
    recording again is a no-op). A fail function that raises (database down) leaves the message
    in the queue for the next pass.
    """

    def __init__(self, url: str, queue_name: str, fail: Callable[[str, str], None], *, poll_s: float = 1.0):
        super().__init__(name="pogoscope-dlq-reaper", daemon=True)
        self.url, self.queue = url, xq_name(queue_name)
        self.fail, self.poll_s = fail, poll_s
        self.stop_event = threading.Event()
        self.recorded = 0

    @staticmethod
    def reason(properties) -> str:
        deaths = (properties.headers or {}).get("x-death") or []
        why = deaths[0].get("reason") if deaths else None
        if isinstance(why, bytes):
            why = why.decode()
        if why == "delivery_limit":
            return (f"the worker process died on each of {DELIVERY_LIMIT + 1} deliveries (crashed or killed while "
                    "inspecting, e.g. in the image decoder); not retried again")
        if why == "rejected":
            return "failed after its last retry"
        return f"dead-lettered by the broker ({why or 'no reason given'})"

    def run(self) -> None:
        conn = None
        while not self.stop_event.is_set():
            try:
                if conn is None or conn.is_closed:
                    conn = pika.BlockingConnection(pika.URLParameters(self.url))
                    ch = conn.channel()
                method, props, body = ch.basic_get(self.queue, auto_ack=False)
                if method is None:
                    conn.sleep(self.poll_s)  # keeps the connection's heartbeats going
                    continue
                try:
                    msg = dramatiq.Message.decode(body)
                    inspection_id = msg.args[0] if msg.actor_name == ACTOR_NAME and msg.args else None
                except Exception:  # not ours or undecodable: nothing to record
                    inspection_id = None
                try:
                    if inspection_id is not None:
                        self.fail(inspection_id, self.reason(props))
                        self.recorded += 1
                except Exception:
                    log.exception("could not record dead job %s; will retry", inspection_id)
                    ch.basic_nack(method.delivery_tag, requeue=True)
                    conn.sleep(self.poll_s)
                    continue
                ch.basic_ack(method.delivery_tag)
            except (pika.exceptions.AMQPError, OSError) as exc:
                log.warning("dead-letter reaper: %s; reconnecting", _one_line(exc))
                conn = None
                self.stop_event.wait(self.poll_s)
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except pika.exceptions.AMQPError:
                pass

    def stop(self) -> None:
        self.stop_event.set()


def is_infrastructure_error(exc: BaseException) -> bool:
    """True for a failure to reach a shared service (database, image store, network), judged along
    the exception's cause chain: OSError (sockets, files) or a DB-API OperationalError/InterfaceError."""
    from api.jobs.store import BlobNotFound

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (OSError, BlobNotFound)) or type(exc).__name__ in ("OperationalError", "InterfaceError"):
            return True
        exc = exc.__cause__ if exc.__cause__ is not None else (None if exc.__suppress_context__ else exc.__context__)
        seen += 1
    return False


def retry_policy(config: JobSettings) -> Callable[[int, BaseException], bool]:
    """dramatiq ``retry_when``: bounded retries for a job's own failures, many for outages."""

    def retry_when(retries: int, exc: BaseException) -> bool:
        if is_infrastructure_error(exc):
            return retries < config.job_max_infra_retries
        if isinstance(exc, InputError):  # bad input: no retry can cure it
            return False
        return retries < config.job_max_retries

    return retry_when


def register(broker: dramatiq.Broker, config: JobSettings, job: Callable[[str], object]) -> dramatiq.Actor:
    """Declare the inspection actor on `broker` (its options are the retry policy)."""

    def inspect(inspection_id: str) -> None:
        msg = CurrentMessage.get_current_message()
        log.info("inspecting %s (attempt %d)", inspection_id, (msg.options.get("retries", 0) + 1) if msg else 1)
        job(inspection_id)  # commits the result; the message is acked only after this returns

    return dramatiq.actor(
        inspect,
        actor_name=ACTOR_NAME,
        queue_name=config.queue_name,
        broker=broker,
        max_retries=config.job_max_retries,
        retry_when=retry_policy(config),
        min_backoff=config.job_min_backoff_ms or 1,
        max_backoff=max(config.job_max_backoff_ms, 1),
        time_limit=config.job_time_limit_ms,
    )


class Worker:
    """A pogoscope worker: dramatiq consumer threads for the inspection queue plus the reaper.

    Parameters
    ----------
    config : JobSettings
        ``broker_url``, ``queue_name``, ``job_func``, ``fail_func`` and the retry policy.
    threads : int
        Inspections run concurrently in this process. Inspection is CPU-bound and holds the GIL
        for much of its time: scale with processes (``pogoscope worker --processes N``), not threads.
    """

    def __init__(self, config: JobSettings, *, threads: int = 1):
        if threads < 1:
            raise InputError(f"threads must be >= 1, got {threads}")
        if not config.broker_url:
            raise InputError("no broker URL; set POGOSCOPE_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/")
        self.config, self.threads = config, threads
        self.job = resolve(config.job_func, what="job function (POGOSCOPE_JOB_FUNC)")
        self.fail = resolve(config.fail_func, what="fail function (POGOSCOPE_FAIL_FUNC)")
        self.broker = make_broker(config.broker_url)
        self.broker.add_middleware(CurrentMessage())
        # after_* hooks run in reverse order: placed before Retries, this runs after it decided.
        self.broker.add_middleware(RecordFailure(self.fail), before=Retries)
        self.actor = register(self.broker, config, self.job)
        self.reaper = DeadLetterReaper(config.broker_url, config.queue_name, self.fail)
        self._worker: dramatiq.Worker | None = None
        if config.store_url:
            from api.jobs.store import open_store

            self.store_check = open_store(config.store_url).check
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def start(self) -> None:
        if self.config.store_url:
            self.store_check()  # a worker that cannot see the images would fail every job: refuse to start
        try:
            self.broker.declare_queue(self.config.queue_name, ensure=True)
        except dramatiq.errors.BrokerConnectionError as exc:
            raise _broker_error(exc, self.config.broker_url, self.config.queue_name) from None
        w = dramatiq.Worker(self.broker, worker_threads=self.threads, worker_timeout=200)
        # One unacknowledged job per thread: a long inspection never holds a second job hostage,
        # and a killed worker gives back only the job it was running.
        w.queue_prefetch = self.threads
        w.start()
        self._worker = w
        self.reaper.start()
        log.info("worker %s consuming %s with %d thread(s)", self.name, self.config.queue_name, self.threads)

    def stop(self, *, timeout_s: float = 600.0) -> None:
        """Finish the running jobs (acking them), then disconnect."""
        self.reaper.stop()
        if self._worker is not None:
            self._worker.stop(timeout=int(timeout_s * 1000))
        self.reaper.join(timeout=5)
        self.broker.close()

