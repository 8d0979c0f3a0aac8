"""Distributed inspection queue: Dramatiq over RabbitMQ (selected by ``POGOSCOPE_BROKER_URL``).

Delivery semantics (tested in tests/api/jobs with the real broker, database and worker processes):

* **acks late**: a message is acknowledged only after the job function returned, i.e. after the
  inspection's result was committed. A worker that dies before that (SIGKILL, power loss, OOM)
  drops its AMQP connection and RabbitMQ hands the message to another worker at once.
* **exactly-once result**: the job function writes idempotently, keyed by the inspection id, so a
  redelivered or duplicated message changes nothing once a result exists.
* **poison jobs are bounded**: an exception is retried ``job_max_retries`` times with back-off, then
  the inspection is recorded failed with the exception as the reason. A job that kills its worker
  process (a decoder crash) is redelivered at most `DELIVERY_LIMIT` more times -- counted by the
  broker itself, a quorum queue's ``x-delivery-limit`` -- then dead-lettered, and a reaper in every
  worker records it failed. Neither blocks the queue: other jobs keep flowing meanwhile.
* **outages are not poison**: an unreachable database or image store (or an image this worker's
  share does not hold yet) is retried ``job_max_infra_retries`` times, about 25 minutes.
* **known limit**: a graceful stop (SIGTERM) hands back the one job a worker had prefetched and not
  started; RabbitMQ counts that as a delivery too, so a job unlucky enough to be handed back by
  ``DELIVERY_LIMIT + 1`` stopping workers in a row would be recorded failed.
* **back-pressure**: `BrokerQueue.submit` raises `api.jobs.QueueFull` once the number of waiting
  jobs reaches ``queue_max_depth``.

Messages are persistent and published with confirms: once `submit` returns, the job survives a
broker restart.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import dramatiq
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.common import dq_name, xq_name
from api.jobs import QueueFull
from api.settings import Settings
from models.errors import InputError

__all__ = ["ACTOR_NAME", "DELIVERY_LIMIT", "JobSettings", "BrokerQueue", "make_broker", "job_settings"]

log = logging.getLogger("pogoscope.jobs")

ACTOR_NAME = "pogoscope.inspect"

#: Redeliveries after a worker died mid-job before the message is dead-lettered (so at most
#: DELIVERY_LIMIT + 1 deliveries). It is a queue argument: every service and worker must agree on
#: it, which is why it is a constant and not a setting.
DELIVERY_LIMIT = 2


#: The queue's settings are fields of the one `api.settings.Settings` (broker_url, queue_name,
#: queue_max_depth, job_*, fail_func, store_url); the name stays for callers that used it.
JobSettings = Settings


def job_settings(settings: Settings | None = None, **overrides) -> Settings:
    """The queue's settings: `settings` (default: from the environment) with `overrides` (None
    values ignored), and ``store_url`` set to the store the service opens (``store_url``, else the
    ``store_dir``/``data_dir`` directory), so a worker checks the same store at start."""
    base = settings if settings is not None else Settings()
    merged = {k: v for k, v in overrides.items() if v is not None}
    if "store_url" not in merged:
        merged["store_url"] = base.image_store_url
    return base.model_copy(update=merged)


class _QuorumRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's RabbitMQ broker with quorum queues, so RabbitMQ counts deliveries and
    dead-letters a message whose worker died `DELIVERY_LIMIT` + 1 times (a poison job that crashes
    the process can never cycle forever)."""

    def _build_queue_arguments(self, queue_name):
        args = super()._build_queue_arguments(queue_name)
        args.update({"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT})
        return args


def make_broker(url: str, *, confirm_delivery: bool = True) -> RabbitmqBroker:
    """A Dramatiq broker for `url` (``amqp://`` or ``amqps://``), connection not yet opened."""
    if not url:
        raise InputError("no broker URL; set POGOSCOPE_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/")
    scheme = urlparse(url).scheme
    if scheme not in ("amqp", "amqps"):
        raise InputError(f"broker URL scheme {scheme!r} is not supported; use amqp://user:pass@host:5672/ (RabbitMQ)")
    # heartbeat: a worker busy with an inspection keeps its connection; a dead one is noticed
    # by the TCP close at once, or by the heartbeat within 2 x 30 s when its machine vanished.
    sep = "&" if "?" in url else "?"
    if "heartbeat=" not in url:
        url = f"{url}{sep}heartbeat=30"
    return _QuorumRabbitmqBroker(url=url, confirm_delivery=confirm_delivery)


def _broker_error(exc: Exception, url: str, queue_name: str = "") -> InputError:
    parts = urlparse(url)
    safe = f"{parts.scheme}://{parts.hostname}:{parts.port or 5672}{parts.path}"  # no password in messages
    text = str(exc)
    if "PRECONDITION_FAILED" in text:
        return InputError(f"queue {queue_name!r} on {safe} exists with other arguments (not a pogoscope quorum queue); "
                          "delete it or set another POGOSCOPE_QUEUE_NAME")
    if "ACCESS_REFUSED" in text or "authentication" in text.lower():
        why = "login refused: wrong user or password"
    elif "refused" in text.lower():
        why = "connection refused"
    else:
        why = " ".join(text.split())[:160]
    return InputError(f"cannot reach the broker at {safe} ({why}); is RabbitMQ running and the URL right?")


class BrokerQueue:
    """`api.jobs.JobQueue` backed by RabbitMQ: the service side (submit, depth, close).

    Parameters
    ----------
    settings : api.settings.Settings, optional
        Reads ``broker_url``, ``queue_name`` and ``queue_max_depth``.
    broker_url, queue_name, max_depth : optional
        Override the settings (tests isolate with their own queue name).
    """

    def __init__(self, settings=None, *, broker_url: str | None = None, queue_name: str | None = None,
                 max_depth: int | None = None):
        self.config = job_settings(settings, broker_url=broker_url, queue_name=queue_name, queue_max_depth=max_depth)
        self.queue_name = self.config.queue_name
        self.limit = self.config.queue_max_depth
        self.broker = make_broker(self.config.broker_url or "")
        try:
            self.broker.declare_queue(self.queue_name, ensure=True)
        except dramatiq.errors.BrokerConnectionError as exc:
            raise _broker_error(exc, self.config.broker_url, self.queue_name) from None

    def _call(self, op):
        """``op(channel)`` on this thread's own channel (pika is not thread-safe); an idle connection
        the broker closed meanwhile (missed heartbeats) is reopened once."""
        for attempt in (1, 2):
            try:
                return op(self.broker.channel)
            except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError) as exc:
                del self.broker.connection
                if attempt == 2:
                    raise _broker_error(exc, self.config.broker_url, self.queue_name) from None

    def _counts(self) -> tuple[int, int]:
        """(waiting jobs, consumers attached): ready messages of the queue and its delay queue."""

        def op(ch):
            main = ch.queue_declare(self.queue_name, passive=True).method
            delayed = ch.queue_declare(dq_name(self.queue_name), passive=True).method
            return main.message_count + delayed.message_count, main.consumer_count

        return self._call(op)

    def depth(self) -> int:
        """Jobs waiting for a worker (not counting the ones being inspected right now)."""
        return self._counts()[0]

    def workers(self) -> int:
        """Worker processes currently consuming the queue (one AMQP consumer each; for /readyz)."""
        return self._counts()[1]

    def dead_letters(self) -> int:
        """Messages dead-lettered and not yet recorded by a worker's reaper."""
        return self._call(lambda ch: ch.queue_declare(xq_name(self.queue_name), passive=True).method.message_count)

    def submit(self, inspection_id: str) -> None:
        """Enqueue the inspection; raises `QueueFull` when `queue_max_depth` jobs are waiting."""
        if not isinstance(inspection_id, str) or not inspection_id:
            raise InputError("inspection id must be a non-empty string")
        waiting, consumers = self._counts()
        if waiting >= self.limit:
            # With no worker attached the backlog will not drain: ask the caller to wait longer.
            raise QueueFull(waiting, self.limit, retry_after_s=5 if consumers else 30)
        msg = dramatiq.Message(queue_name=self.queue_name, actor_name=ACTOR_NAME, args=(inspection_id,),
                               kwargs={}, options={})
        self.broker.enqueue(msg)

    def purge(self) -> None:
        """Drop every waiting job (tests and operators only)."""
        self._call(lambda ch: self.broker.flush(self.queue_name))

    def delete(self) -> None:
        """Delete the queue and its delay/dead-letter queues (tests only)."""
        def op(ch):
            for name in (self.queue_name, dq_name(self.queue_name), xq_name(self.queue_name)):
                ch.queue_delete(name)

        self._call(op)

    def close(self) -> None:
        self.broker.close()
