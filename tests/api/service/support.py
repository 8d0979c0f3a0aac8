"""Helpers for the service tests: databases (SQLite file / PostgreSQL schema), a real service in a
subprocess on a free loopback port, boards from the generator, PNG encoding."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def delayed_inspect(inp):
    """The real pipeline, after a pause (POGOSCOPE_TEST_DELAY_S): keeps a queue long enough to kill the service in it."""
    from api.pipeline import inspect_board

    time.sleep(float(os.environ.get("POGOSCOPE_TEST_DELAY_S", "0")))
    return inspect_board(inp)


class Server:
    """`pogoscope serve` in a subprocess, on a free loopback port."""

    def __init__(self, env: dict[str, str], *, port: int | None = None, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "POGOSCOPE_ADMIN_KEY": ADMIN_KEY, **env, "PYTHONPATH": str(REPO)}
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> "Server":
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), "--log-level", "warning"],
            cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}; log: {self.log}")
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

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

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
    from api.pipeline import inspect_board

    if inp.serial.startswith("POISON"):
        os._exit(3)
    return inspect_board(inp)
