"""`pogoscope worker` refuses bad settings in one line with exit status 2 (never a traceback)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.api.jobs.conftest import REPO


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("POGOSCOPE_")}
    return subprocess.run([sys.executable, "-m", "api.cli", "worker", *args], cwd=REPO, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, env, message", [
    ((), {}, "no broker URL; set POGOSCOPE_BROKER_URL"),
    (("--broker-url", "redis://127.0.0.1:6379/0"), {}, "scheme 'redis' is not supported"),
    (("--broker-url", "amqp://guest:guest@127.0.0.1:1/", "--job-func", "tests.api.jobs.standin:run_inspection"),
     {"POGOSCOPE_FAIL_FUNC": "tests.api.jobs.standin:record_failure", "POGOSCOPE_STORE_URL": "{tmp}"},
     "cannot reach the broker at amqp://127.0.0.1:1/"),
    (("--broker-url", "amqp://guest:guest@127.0.0.1:5672/", "--job-func", "tests.api.jobs.standin:run_inspection"),
     {"POGOSCOPE_FAIL_FUNC": "tests.api.jobs.standin:record_failure", "POGOSCOPE_STORE_URL": "{tmp}/unmounted"},
     "image store directory {tmp}/unmounted does not exist on this machine"),
    (("--broker-url", "amqp://guest:guest@127.0.0.1:5672/", "--job-func", "no_such_module:run"), {},
     "job function (POGOSCOPE_JOB_FUNC) 'no_such_module:run': module 'no_such_module' not found"),
    (("--broker-url", "amqp://guest:guest@127.0.0.1:5672/", "--job-func", "tests.api.jobs.standin:run_inspection"),
     {"POGOSCOPE_FAIL_FUNC": "tests.api.jobs.standin:nothing"}, "standin has no function 'nothing'"),
])
def test_bad_worker_settings_exit_2_with_one_line(args, env, message, tmp_path):
    r = _run(*args, **{k: v.format(tmp=tmp_path) for k, v in env.items()})
    message = message.format(tmp=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pogoscope: error: ") and message in lines[0], r.stderr
