"""`pogoscope serve`: the inspection service (API, web page, workers, outbox), migrations applied at start."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from api.cli.app import app
from models.errors import InputError


@app.command()
def serve(
    host: str | None = typer.Option(None, "--host", help="bind address (default POGOSCOPE_HOST or 127.0.0.1)"),
    port: int | None = typer.Option(None, "--port", help="TCP port (default POGOSCOPE_PORT or 8000)"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="SQLite file and image store (default POGOSCOPE_DATA_DIR or ./var)"),
    database_url: str | None = typer.Option(None, "--database-url", help="e.g. postgresql+psycopg://user@host/db (default: SQLite in the data dir)"),
    workers: int | None = typer.Option(None, "--workers", help="inspection worker processes (default POGOSCOPE_WORKERS or 2)"),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Start the service: HTTP API + review page on /ui, inspection workers, event delivery."""
    import logging

    import uvicorn

    from api.service.app import create_app
    from api.service.startup import preflight
    from api.settings import load_settings

    if port is not None and not 1 <= port <= 65535:
        raise InputError(f"--port {port} is not a TCP port (1-65535)")
    settings = load_settings(host=host, port=port, data_dir=data_dir, database_url=database_url, workers=workers)
    if log_level.lower() not in ("critical", "error", "warning", "info", "debug"):
        raise InputError(f"--log-level {log_level!r}: use critical, error, warning, info or debug")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_level.lower() not in ("debug",):  # pika/alembic chatter: our errors say it in one line
        logging.getLogger("pika").setLevel(logging.CRITICAL)
        logging.getLogger("alembic").setLevel(logging.WARNING)
    # a submission's request thread is CPU-bound for tens of ms (multipart parsing, hashing, header
    # checks); a 1 ms GIL switch interval (default 5 ms) lets short reads in between sooner
    sys.setswitchinterval(0.001)
    preflight(settings)  # settings, port, database (migrated), image store, broker, admin key: one line and exit 2 if not
    # open event streams (SSE) must not hold a shutdown for long: clients reconnect with Last-Event-ID
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level, access_log=False,
                timeout_graceful_shutdown=3)
