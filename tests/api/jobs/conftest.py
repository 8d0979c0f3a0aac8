"""Fixtures for the distributed-queue tests: the machine's real RabbitMQ and PostgreSQL, an
isolated queue and schema per test, and real `pogoscope worker` processes that are always killed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BROKER_URL = os.environ.get("POGOSCOPE_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG_URL = os.environ.get("POGOSCOPE_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/test")


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def broker_url() -> str:
    if not _reachable("127.0.0.1", 5672):
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672 (start rabbitmq-server)")
    return BROKER_URL


@pytest.fixture
def queue_name(broker_url):
    """A fresh queue; its delay and dead-letter queues are deleted afterwards."""
    name = f"pogoscope-test-{uuid.uuid4().hex[:10]}"
    yield name
    from dramatiq.common import dq_name, xq_name

    from api.jobs.broker import make_broker

    b = make_broker(broker_url)
    try:
        for n in (name, dq_name(name), xq_name(name)):
            b.channel.queue_delete(n)
    finally:
        b.close()


@pytest.fixture
def pg_schema():
    """(schema name, open psycopg connection with search_path set); schema dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    if not _reachable("127.0.0.1", 5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    from tests.api.jobs.standin import create_schema

    schema = f"jobs_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(PG_URL)
    create_schema(conn, schema)
    yield schema, conn
    conn.rollback()
    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.commit()
    conn.close()


@pytest.fixture
def worker_env(broker_url, queue_name, pg_schema, tmp_path):
    schema, _ = pg_schema
    env = {k: v for k, v in os.environ.items() if not k.startswith("POGOSCOPE_")}
    env.update({
        "POGOSCOPE_BROKER_URL": broker_url,
        "POGOSCOPE_QUEUE_NAME": queue_name,
        "POGOSCOPE_JOB_FUNC": "tests.api.jobs.standin:run_inspection",
        "POGOSCOPE_FAIL_FUNC": "tests.api.jobs.standin:record_failure",
        "POGOSCOPE_DATABASE_URL": PG_URL,
        "POGOSCOPE_DB_SCHEMA": schema,
        "POGOSCOPE_STORE_URL": str(tmp_path / "images"),
        "POGOSCOPE_JOB_MIN_BACKOFF_MS": "200",
        "POGOSCOPE_JOB_MAX_BACKOFF_MS": "400",
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
    })
    return env


@pytest.fixture
def spawn_workers(worker_env, tmp_path, request):
    """Start `pogoscope worker` processes (each in its own process group); all are SIGKILLed at the end,
    and their logs are printed when the test failed."""
    procs: list[subprocess.Popen] = []

    def spawn(n: int = 1, *args: str) -> list[subprocess.Popen]:
        started = []
        for _ in range(n):
            log = open(tmp_path / f"worker-{len(procs)}.log", "wb")
            p = subprocess.Popen([sys.executable, "-m", "api.cli", "worker", *args], cwd=REPO, env=worker_env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            procs.append(p)
            started.append(p)
        return started

    yield spawn
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for p in procs:
        p.wait(timeout=10)
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for log in sorted(tmp_path.glob("worker-*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep


def wait_for(predicate, *, timeout_s: float, poll_s: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture(scope="module")
def s3_endpoint():
    """URL of moto's S3 server on a free loopback port, with dummy credentials in the environment.

    moto is an S3-compatible test server (an emulation of the S3 HTTP API), not AWS: it shows the
    store speaks the protocol (signing, keys, errors), not AWS's consistency, latency or limits."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("moto_server not installed (pip install 'moto[server]'): no S3 endpoint to test against")
    from tests.api.service.support import free_port

    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("moto_server did not start")
                time.sleep(0.1)
        old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
        os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
        yield f"http://127.0.0.1:{port}"
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    finally:
        proc.kill()
        proc.wait(timeout=10)
