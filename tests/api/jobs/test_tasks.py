"""Retry policy of the inspection job: bounded for the job's own failures, long for outages."""

from __future__ import annotations

import psycopg
import pytest

from api.jobs.broker import JobSettings
from api.jobs.store import BlobNotFound, open_store
from api.jobs.tasks import is_infrastructure_error, retry_policy
from models.errors import InputError


def _raised(fn):
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - the exception itself is the fixture
        return exc
    raise AssertionError("did not raise")


def test_real_outages_are_infrastructure_errors(tmp_path):
    down = _raised(lambda: psycopg.connect("postgresql://root@127.0.0.1:1/test", connect_timeout=2))
    assert type(down).__name__ == "OperationalError" and is_infrastructure_error(down)
    assert is_infrastructure_error(_raised(lambda: open(tmp_path / "missing")))
    missing = _raised(lambda: open_store(tmp_path).get("a" * 64))  # the share holds no such image
    assert isinstance(missing, BlobNotFound) and is_infrastructure_error(missing)

    def wrapped():
        try:
            open(tmp_path / "missing")
        except OSError as exc:
            raise RuntimeError("could not load the submission") from exc

    assert is_infrastructure_error(_raised(wrapped))  # judged along the cause chain


def test_the_jobs_own_failures_are_not():
    def hidden():
        try:
            open("/nonexistent/x")
        except OSError:
            raise InputError("bad image") from None  # context suppressed: not an outage

    assert not is_infrastructure_error(_raised(hidden))
    assert not is_infrastructure_error(ValueError("decoder blew up"))


@pytest.mark.parametrize("exc, retried_until", [
    (ValueError("decoder blew up"), 2),
    (InputError("not a decodable image"), 0),
    (ConnectionRefusedError(111, "refused"), 30),
    (BlobNotFound("image not in the store"), 30),
])
def test_retry_policy(exc, retried_until):
    when = retry_policy(JobSettings(job_max_retries=2, job_max_infra_retries=30))
    decisions = [when(r, exc) for r in range(40)]
    assert decisions == [True] * retried_until + [False] * (40 - retried_until)
