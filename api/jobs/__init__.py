"""Inspection jobs: the one interface between the service (which persists submissions) and
whatever runs the inspections.

Contract
--------
* The service persists a submission, then calls ``get_queue(settings).submit(inspection_id)``.
* A job runs the function named by ``settings.job_func`` (the service plugs in
  ``api.service.worker:run_inspection``; jobs never import the service), which loads the persisted
  submission, inspects it and commits the result **exactly once** (a no-op when the inspection already
  has a result), so redelivery is harmless; ``settings.fail_func`` records a job that cannot succeed.
* ``submit`` raises `QueueFull` (with ``retry_after_s``) when the backlog is at its limit; the API
  turns that into ``503`` with ``Retry-After``.

Backends: in-process (default: one machine, ``make run``) and a broker-backed distributed queue
selected by ``POGOSCOPE_BROKER_URL`` (see `api.jobs.broker`).
"""

from __future__ import annotations

import importlib
from typing import Callable, Protocol

from models.errors import InputError


def resolve(spec: str, *, what: str = "job function") -> Callable:
    """Import ``"package.module:function"``; InputError naming what is missing."""
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise InputError(f"{what} {spec!r} must look like package.module:function")
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        raise InputError(f"{what} {spec!r}: module {exc.name!r} not found on this worker") from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise InputError(f"{what} {spec!r}: {mod_name} has no function {attr!r}")
    return fn


class QueueFull(Exception):
    """The inspection backlog is at its limit; try again after `retry_after_s`."""

    def __init__(self, depth: int, limit: int, retry_after_s: int = 5):
        super().__init__(f"{depth} inspections are waiting (limit {limit}); retry after {retry_after_s} s")
        self.depth, self.limit, self.retry_after_s = depth, limit, retry_after_s


class JobQueue(Protocol):
    def submit(self, inspection_id: str) -> None: ...

    def depth(self) -> int: ...

    def workers(self) -> int: ...

    def close(self) -> None: ...


def get_queue(settings, **kw) -> JobQueue:
    """The job queue for `settings`: the in-process pool unless ``settings.broker_url`` is set."""
    if getattr(settings, "broker_url", None):
        from api.jobs.broker import BrokerQueue  # the distributed backend (another module)

        return BrokerQueue(settings, **kw)
    from api.jobs.local import LocalQueue

    return LocalQueue(settings, **kw)
