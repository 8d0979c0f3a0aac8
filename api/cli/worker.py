"""`pogoscope worker`: run inspections from the distributed queue on this machine.

Start it on any machine that reaches the broker (POGOSCOPE_BROKER_URL), the database
(POGOSCOPE_DATABASE_URL) and the image store (POGOSCOPE_STORE_URL or the shared POGOSCOPE_STORE_DIR).
SIGTERM or Ctrl-C finishes the running inspections, acknowledges them and exits. With
``--processes N`` the children exit by themselves when the supervisor dies, even by SIGKILL
(`api.jobs.lifeline`).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time

import typer

from api.cli.app import app
from models.errors import InputError


def _install_stop(stop: threading.Event) -> None:
    def handler(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _supervise(args: list[str], processes: int, stop: threading.Event) -> None:
    """Run `processes` single-process workers and replace any that dies (a crash mid-job is
    harmless: its job goes back to the queue)."""
    cmd = [sys.executable, "-m", "api.cli", "worker", "--processes", "1", "--exit-with-parent", *args]
    children: list[subprocess.Popen] = [subprocess.Popen(cmd) for _ in range(processes)]
    try:
        while not stop.wait(0.5):
            for i, ch in enumerate(children):
                rc = ch.poll()
                if rc is not None:
                    print(f"pogoscope worker: process {ch.pid} exited with {rc}; starting a new one", file=sys.stderr)
                    time.sleep(1.0)  # no tight loop when something is wrong at start-up
                    children[i] = subprocess.Popen(cmd)
    finally:
        for ch in children:
            if ch.poll() is None:
                ch.send_signal(signal.SIGTERM)
        for ch in children:
            try:
                ch.wait(timeout=630)
            except subprocess.TimeoutExpired:
                ch.kill()


@app.command()
def worker(
    broker_url: str = typer.Option(None, "--broker-url", help="amqp://user:pass@host:5672/ (default: POGOSCOPE_BROKER_URL)"),
    queue: str = typer.Option(None, "--queue", help="queue name (default: POGOSCOPE_QUEUE_NAME or pogoscope.inspections)"),
    processes: int = typer.Option(1, "--processes", "-p", min=1, help="worker processes on this machine (one per core)"),
    threads: int = typer.Option(1, "--threads", "-t", min=1, help="concurrent inspections per process"),
    job_func: str = typer.Option(None, "--job-func", help="module:function run per job (default api.service.worker:run_inspection)"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log every job"),
    exit_with_parent: bool = typer.Option(False, "--exit-with-parent", hidden=True,
                                          help="exit when the supervising process dies (set by --processes N)"),
) -> None:
    """Consume inspection jobs from the broker until SIGTERM/Ctrl-C."""
    from api.jobs.broker import job_settings
    from api.jobs.tasks import Worker

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    if not verbose:  # pika logs a traceback per failed connection attempt; our errors say it in one line
        logging.getLogger("pika").setLevel(logging.CRITICAL)
    from api.settings import load_settings

    settings = load_settings()  # the one Settings of service and workers; a bad value is one line, exit 2
    config = job_settings(settings, broker_url=broker_url, queue_name=queue, job_func=job_func)
    if not config.broker_url:
        raise InputError("no broker URL; set POGOSCOPE_BROKER_URL=amqp://guest:guest@HOST:5672/ or pass --broker-url")
    if exit_with_parent:
        from api.jobs.lifeline import exit_with_parent as _watch

        _watch()  # the supervisor was killed (-9): do not stay behind
    stop = threading.Event()
    _install_stop(stop)
    if processes > 1:
        passthrough = ["--threads", str(threads)]
        for flag, value in (("--broker-url", broker_url), ("--queue", queue), ("--job-func", job_func)):
            if value:
                passthrough += [flag, value]
        if verbose:
            passthrough.append("--verbose")
        _supervise(passthrough, processes, stop)
        return
    w = Worker(config, threads=threads)  # resolves the job functions: a bad setting fails here, in one line
    w.start()
    typer.echo(f"pogoscope worker {w.name}: consuming {config.queue_name} with {threads} thread(s)", err=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        w.stop()
