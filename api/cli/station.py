"""`pogoscope station run|record --config station.yaml`."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from api.cli.app import app

station_app = typer.Typer(help="Inline camera station: trigger -> capture -> inspect -> persist/submit -> publish.", no_args_is_help=True)
app.add_typer(station_app, name="station")


def _build(config: Path, record_dir: Path | None = None, inspect: bool = True):
    from api.station.config import load_config
    from api.station.recorder import Recorder
    from api.station.runner import StationRunner

    cfg = load_config(config)
    rec_dir = record_dir or cfg.record_dir
    kw = {} if inspect else {"inspect": lambda *a: (_ for _ in ()).throw(RuntimeError("recording only, not inspected"))}
    return cfg, StationRunner(cfg, recorder=Recorder(rec_dir) if rec_dir else None, **kw)


@station_app.command("run")
def run(config: Path = typer.Option(..., "--config", help="station YAML"),
        max_boards: int | None = typer.Option(None, "--max-boards", help="stop after this many boards")) -> None:
    """Run the station until SIGINT/SIGTERM (or the replay / timer ends); prints one summary line."""
    from api.station.delivery import Deliverer
    from api.station.health import HealthServer
    from api.station.lifecycle import StopOnSignal, exit_cleanly_soon, summary_line

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg, runner = _build(config)
    health = HealthServer(runner, host=cfg.health.host, port=cfg.health.port)
    deliverer = None
    with StopOnSignal(runner.stop) as sig:
        if cfg.sink.kind == "service":
            deliverer = Deliverer.for_sink(cfg.sink, runner.outbox)
            deliverer.start()
        health.start()
        typer.echo(f"station {cfg.station_id}: healthz at {health.url}/healthz", err=True)
        try:
            runner.open()
            runner.run(max_boards=max_boards)
        finally:
            runner.close()
            health.stop()
            if deliverer is not None:
                deliverer.stop()
            outbox = runner.outbox.counts()
            runner.outbox.close()
        why = sig.signal or ("--max-boards reached" if max_boards and runner.counts["boards"] >= max_boards else "trigger or replay finished")
        typer.echo(summary_line(cfg.station_id, runner.counts, outbox, config=str(config), why=why, stop_s=sig.elapsed_s()))
    if sig.signal:
        exit_cleanly_soon()


@station_app.command("record")
def record(config: Path = typer.Option(..., "--config", help="station YAML"),
           out: Path = typer.Option(..., "--out", help="replay folder to write"),
           boards: int = typer.Option(1, "--boards", min=1, help="how many boards to capture")) -> None:
    """Capture boards (one per trigger) into a replay folder with their metadata, without inspecting."""
    cfg, runner = _build(config, record_dir=out, inspect=False)
    runner.open()
    try:
        runner.run(max_boards=boards)
    finally:
        runner.close()
    typer.echo(f"recorded {len(list(out.iterdir()))} board(s) in {out}")
