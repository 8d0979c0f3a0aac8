"""Helpers for the service tests: databases (SQLite file / PostgreSQL schema), a real service in a
subprocess on a free loopback port, boards from the generator, PNG encoding."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import cv2
import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[3]
PG_URL = os.environ.get("POGOSCOPE_TEST_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
ADMIN_KEY = "pgs_test_admin_key"


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img[..., ::-1] if img.ndim == 3 else img)
    assert ok
    return bytes(buf)


def pg_available() -> str | None:
    """None when the local PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=2):
            return None
    except Exception as exc:
        return f"PostgreSQL at {PG_URL} is not reachable: {type(exc).__name__}: {exc}"


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def new_schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default lower bound


_ports = random.Random(os.getpid() ^ time.time_ns())


def free_port() -> int:
    """A loopback port that is free now, drawn below the kernel's ephemeral range.

    A port from ``bind(0)`` is an ephemeral one: once released, an outgoing connection of any process (the
    other test worker's HTTP clients, database and broker connections) may take it as its local port before
    the service binds it, and the service then exits at startup (uvicorn's 3). Below the ephemeral range
    the kernel never hands a port out by itself; two test workers drawing the same one is left to
    `Server.start`'s retry."""
    low = _ephemeral_low()
    for _ in range(200):
        port = _ports.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # the low range is full: fall back to the kernel's choice
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def delayed_inspect(inp):
    """The real pipeline, after a pause (POGOSCOPE_TEST_DELAY_S): keeps a queue long enough to kill the service in it."""
    from vision.inspect import inspect_board

    time.sleep(float(os.environ.get("POGOSCOPE_TEST_DELAY_S", "0")))
    return inspect_board(inp)


class _PortTaken(RuntimeError):
    """The service could not bind its port (taken since `free_port` drew it)."""


class Server:
    """`pogoscope serve` in a subprocess, on a free loopback port."""

    def __init__(self, env: dict[str, str], *, port: int | None = None, log: Path | None = None) -> None:
        self._port_given = port is not None
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "POGOSCOPE_ADMIN_KEY": ADMIN_KEY, **env, "PYTHONPATH": str(REPO)}
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> "Server":
        for attempt in range(3):
            try:
                return self._start(timeout_s)
            except _PortTaken:
                if self._port_given or attempt == 2:
                    raise
                self.port = free_port()  # another process took the port between its draw and the bind
                self.url = f"http://127.0.0.1:{self.port}"
        raise AssertionError("unreachable")

    def _start(self, timeout_s: float) -> "Server":
        if self.log is None:  # a log to read the cause from when the service exits at startup
            fd, name = tempfile.mkstemp(prefix="pogoscope-service-", suffix=".log")
            os.close(fd)
            self.log = Path(name)
        start_at = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), "--log-level", "warning"],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            if self.proc.poll() is not None:
                with open(self.log, "rb") as f:
                    f.seek(start_at)
                    said = f.read().decode(errors="replace")
                if "address already in use" in said.lower():
                    raise _PortTaken(f"port {self.port} was taken before the service bound it; log: {self.log}")
                raise RuntimeError(f"service exited with {self.proc.returncode}; log: {self.log}\n{said[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError("service did not become ready")

    def kill(self) -> None:
        """SIGKILL the service and its worker processes (a crash, not a shutdown)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM to the whole process group, as systemd stops a service: it must end by itself, promptly."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"the service did not stop within {timeout_s} s of SIGTERM; log: {self.log}") from None

    def client(self, key: str = ADMIN_KEY, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": key}, timeout=30, **kw)


def wait_done(client: httpx.Client, iid: str, timeout_s: float = 60.0) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        r = client.get(f"/v1/inspections/{iid}")
        r.raise_for_status()
        doc = r.json()
        if doc["status"] in ("done", "failed"):
            return doc
        time.sleep(0.05)
    raise TimeoutError(f"inspection {iid} not finished after {timeout_s} s")


def setup_board(client: httpx.Client, board, *, view: str = "top") -> None:
    """Store the board's recipe and calibration record through the API."""
    r = client.post("/v1/recipes", json=board.recipe)
    assert r.status_code in (200, 201), r.text  # 200: the same document was stored already
    r = client.post("/v1/calibrations", json={"view": view, "record": board.record.model_dump(mode="json")})
    assert r.status_code in (200, 201), r.text  # 200: the same document was stored already


def crashing_inspect(inp):
    """The real pipeline, except that a board whose serial starts with POISON kills its worker process."""
    from vision.inspect import inspect_board

    if inp.serial.startswith("POISON"):
        os._exit(3)
    return inspect_board(inp)


class WebhookReceiver:
    """A webhook receiver on a free loopback port; ``answer(body: dict) -> status`` decides per
    request (default 204). ``calls``: (monotonic time, headers, raw body, status) per request."""

    def __init__(self, answer=lambda body: 204) -> None:
        self.port, self.answer, self.calls = free_port(), answer, []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                code = outer.answer(json.loads(raw))
                outer.calls.append((time.monotonic(), dict(self.headers), raw, code))
                self.send_response(code)
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def bodies(self) -> list[tuple[dict, int]]:
        return [(json.loads(raw), code) for _, _, raw, code in self.calls]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def mqtt_subscriber(prefix: str):
    """Subscribe to ``<prefix>/#`` on the local Mosquitto; yields the list of (topic, JSON payload)
    received. Skips the test when no broker answers."""
    import paho.mqtt.client as mqtt
    import pytest

    got: list[tuple[str, dict]] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda _c, _u, msg: got.append((msg.topic, json.loads(msg.payload)))
    try:
        sub.connect("127.0.0.1", 1883)
    except OSError as exc:
        pytest.skip(f"no MQTT broker on 127.0.0.1:1883: {exc}")
    sub.subscribe(f"{prefix}/#", qos=1)
    sub.loop_start()
    try:
        yield got
    finally:
        sub.loop_stop()
        sub.disconnect()
