"""Settings and start-up (issue #15 item 6): lists as comma-separated values, a missing or unsafe
webhook secret, a bad database URL (both kinds), a bad number and a port in use each stop
`pogoscope serve` with one line and exit 2; without an admin key one is created and printed once."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from api.settings import Settings, load_settings
from models.errors import InputError
from tests.api.service.support import REPO, free_port


def test_lists_take_commas_or_json(monkeypatch):
    monkeypatch.setenv("POGOSCOPE_WEBHOOK_URLS", "http://a/hook, http://b/hook")
    monkeypatch.setenv("POGOSCOPE_CORS_ORIGINS", "http://ui")
    s = Settings()
    assert s.webhook_urls == ["http://a/hook", "http://b/hook"] and s.cors_origins == ["http://ui"]
    monkeypatch.setenv("POGOSCOPE_WEBHOOK_URLS", '["http://a/hook"]')
    assert Settings().webhook_urls == ["http://a/hook"]
    monkeypatch.setenv("POGOSCOPE_WEBHOOK_URLS", "http://only/one")
    assert Settings().webhook_urls == ["http://only/one"]
    monkeypatch.setenv("POGOSCOPE_QUEUE_MAX_DEPTH", "0")
    with pytest.raises(InputError, match="^bad setting POGOSCOPE_QUEUE_MAX_DEPTH: Input should be greater than or equal to 1$"):
        load_settings()


def test_one_settings_class_for_service_and_workers(monkeypatch):
    """The distributed queue reads the same Settings: one default for POGOSCOPE_QUEUE_MAX_DEPTH."""
    from api.jobs.broker import JobSettings, job_settings

    assert JobSettings is Settings
    monkeypatch.setenv("POGOSCOPE_QUEUE_MAX_DEPTH", "77")
    monkeypatch.setenv("POGOSCOPE_JOB_MAX_RETRIES", "5")
    js = job_settings()
    assert isinstance(js, Settings) and (js.queue_max_depth, js.job_max_retries) == (77, 5)
    monkeypatch.delenv("POGOSCOPE_QUEUE_MAX_DEPTH")
    assert job_settings().queue_max_depth == Settings().queue_max_depth == 10000


def _serve(env: dict, tmp_path, *, timeout_s: float = 60) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("POGOSCOPE_")}
    return subprocess.run([sys.executable, "-m", "api.cli", "serve", "--port", str(env.pop("PORT", free_port()))], cwd=REPO,
                          env={**base, "PYTHONPATH": str(REPO), "POGOSCOPE_DATA_DIR": str(tmp_path / "d"),
                               "POGOSCOPE_ADMIN_KEY": "pgs_admin_key_for_tests", **env},
                          capture_output=True, text=True, timeout=timeout_s)


@pytest.mark.parametrize("env, words", [
    ({"POGOSCOPE_WEBHOOK_URLS": "http://127.0.0.1:9/a,http://127.0.0.1:9/b"}, "POGOSCOPE_WEBHOOK_SECRET is not set"),
    ({"POGOSCOPE_WEBHOOK_URLS": "http://127.0.0.1:9/a", "POGOSCOPE_WEBHOOK_SECRET": "change-me"}, "POGOSCOPE_WEBHOOK_SECRET is unsafe"),
    ({"POGOSCOPE_WEBHOOK_URLS": "ftp://x/y", "POGOSCOPE_WEBHOOK_SECRET": "x" * 32}, "is not an http(s) URL"),
    ({"POGOSCOPE_ADMIN_KEY": "short"}, "POGOSCOPE_ADMIN_KEY is shorter than 16"),
    ({"POGOSCOPE_DATABASE_URL": "postgresql+psycopg://root:pw@127.0.0.1:1/test"}, "cannot reach the database postgresql+psycopg://root:***@127.0.0.1:1/test"),
    ({"POGOSCOPE_DATABASE_URL": "not a url"}, "is not usable"),
    ({"POGOSCOPE_WORKERS": "two"}, "bad setting POGOSCOPE_WORKERS"),
    ({"POGOSCOPE_MQTT_TOPIC_PREFIX": "plant/#"}, "POGOSCOPE_MQTT_TOPIC_PREFIX"),
    ({"POGOSCOPE_STORE_URL": "/nonexistent/share/images"}, "/nonexistent/share/images"),
])
def test_start_up_failures_are_one_line_and_exit_2(env, words, tmp_path):
    out = _serve(dict(env), tmp_path)
    assert out.returncode == 2, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pogoscope: error: ") and words in lines[0], out.stderr
    assert "pw@" not in out.stderr  # no password in messages


def test_port_in_use_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        out = _serve({"PORT": s.getsockname()[1]}, tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "cannot listen on 127.0.0.1:" in out.stderr, out.stderr


def test_without_an_admin_key_one_is_created_and_printed_once(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("POGOSCOPE_")}
    env = {**base, "PYTHONPATH": str(REPO), "POGOSCOPE_DATA_DIR": str(tmp_path / "d"), "POGOSCOPE_WORKERS": "1"}
    outputs = []
    for _ in range(2):
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        with open(log, "wb") as f:
            p = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--log-level", "warning"], cwd=REPO,
                                 env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 60:
                assert p.poll() is None, log.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            text = log.read_text()
            outputs.append(text)
            keys = re.findall(r"created admin key (pgs_\S+)", text)
            if keys:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/keys", json={"name": "mes-1", "role": "mes"}, headers={"X-API-Key": keys[0]})
                assert r.status_code == 201, r.text
        finally:
            os.killpg(p.pid, 15)
            p.wait(20)
    assert len(re.findall(r"created admin key", outputs[0])) == 1, outputs[0]
    assert "created admin key" not in outputs[1], "the key is printed once, not at every start"


def test_every_setting_is_in_the_readme_table():
    text = (REPO / "README.md").read_text()
    table = text[text.index("## Service settings"):text.index("## The inline station")]
    first_column = " ".join(ln.split("|")[1] for ln in table.splitlines() if ln.startswith("| `"))
    listed = set(re.findall(r"`([A-Z_]+)`", first_column))
    missing = [n for n in Settings.model_fields if n.upper() not in listed]
    assert not missing, f"settings missing from the README table: {missing}"
    assert not listed - {n.upper() for n in Settings.model_fields}, "the table names a setting that does not exist"
