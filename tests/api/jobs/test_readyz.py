"""/readyz in broker mode reports the worker processes attached to the queue (real RabbitMQ, real
`pogoscope worker` processes): none, two after they start, one after one is SIGKILLed."""

from __future__ import annotations

import os
import signal

import pytest

from fastapi.testclient import TestClient

from api.service.app import create_app
from api.settings import Settings
from tests.api.jobs.conftest import wait_for

pytestmark = pytest.mark.timeout(90)


def test_readyz_counts_the_workers_attached_to_the_broker(broker_url, queue_name, spawn_workers, tmp_path, monkeypatch):
    monkeypatch.setenv("POGOSCOPE_QUEUE_NAME", queue_name)  # the service's queue is the workers' (worker_env)
    (tmp_path / "images").mkdir()  # the shared store the workers check at start (worker_env)
    settings = Settings(data_dir=tmp_path / "svc", broker_url=broker_url, store_url=str(tmp_path / "images"))
    with TestClient(create_app(settings)) as c:
        r = c.get("/readyz").json()
        assert (r["status"], r["queue_depth"], r["workers"]) == ("ready", 0, 0)
        assert "no worker is attached" in r["note"]
        procs = spawn_workers(2)
        wait_for(lambda: c.get("/readyz").json()["workers"] == 2, timeout_s=40, what="/readyz to count 2 workers")
        assert "note" not in c.get("/readyz").json()
        os.kill(procs[0].pid, signal.SIGKILL)  # its connection drops: the broker removes its consumer
        wait_for(lambda: c.get("/readyz").json()["workers"] == 1, timeout_s=20, what="/readyz to count 1 worker")


def test_readyz_reports_the_in_process_pool(tmp_path):
    settings = Settings(data_dir=tmp_path, workers=3, worker_mode="thread")
    with TestClient(create_app(settings)) as c:
        assert c.get("/readyz").json() == {"status": "ready", "queue_depth": 0, "workers": 3, "deliveries": []}
