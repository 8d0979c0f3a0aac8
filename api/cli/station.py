"""`pogoscope station run|record --config station.yaml`."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from api.cli.app import app

station_app = typer.Typer(help="Inline camera station: trigger -> capture -> inspect -> persist/submit -> publish.", no_args_is_help=True)
app.add_typer(station_app, name="station")


def _build(config: Path):
    from api.station.config import load_config
    from api.station.lock import DatabaseLock
    from api.station.recorder import Recorder
    from api.station.runner import StationRunner

    cfg = load_config(config)
    lock = DatabaseLock(cfg.database, who=f"station {cfg.station_id}").acquire()  # before the outbox is opened
    return cfg, StationRunner(cfg, recorder=Recorder(cfg.record_dir) if cfg.record_dir else None), lock


def _deliverer(cfg, runner):
    """The delivery thread with the start-up check run now (its verdict is printed on stderr)."""
    from api.station.delivery import Deliverer
    from api.station.preflight import for_station

    d = Deliverer.for_sink(cfg.sink, runner.outbox, preflight=for_station(cfg, recipe=runner._recipe, calibration_records=runner._cals))
    ok = d.check()
    if ok:
        typer.echo(f"station {cfg.station_id}: start-up check passed: the service {cfg.sink.url} accepts the key"
                   + (f"; {'; '.join(d.notes)}" if d.notes else ""), err=True)
    elif d.fault:
        typer.echo(f"station {cfg.station_id}: FAULT: {d.fault} (boards are inspected and kept; delivery resumes when this is fixed)", err=True)
    else:
        typer.echo(f"station {cfg.station_id}: start-up check not done: {'; '.join(d.notes)}", err=True)
    return d


@station_app.command("run")
def run(config: Path = typer.Option(..., "--config", help="station YAML"),
        max_boards: int | None = typer.Option(None, "--max-boards", help="stop after this many boards")) -> None:
    """Run the station until SIGINT/SIGTERM (or the replay / timer ends); prints one summary line."""
    from api.station.health import HealthServer
    from api.station.lifecycle import StopOnSignal, exit_cleanly_soon, summary_line

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg, runner, lock = _build(config)
    try:
        health = HealthServer(runner, host=cfg.health.host, port=cfg.health.port)
    except BaseException:
        runner.outbox.close()
        lock.release()
        raise
    deliverer = None
    with StopOnSignal(runner.stop) as sig:
        if cfg.sink.kind == "service":
            deliverer = _deliverer(cfg, runner)
            runner.deliverer = deliverer
            deliverer.start()
        health.start()
        typer.echo(f"station {cfg.station_id}: healthz at {health.url}/healthz", err=True)
        error = None
        try:
            runner.open()
            runner.run(max_boards=max_boards)
        except BaseException as exc:  # even then: say what is in the outbox before the error is reported
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            runner.close()
            health.stop()
            if deliverer is not None:
                deliverer.stop()
            outbox = runner.outbox.counts()
            runner.outbox.close()
            lock.release()
            why = sig.signal or (f"error: {error}" if error else
                                 "--max-boards reached" if max_boards is not None and runner.counts["boards"] >= max_boards else
                                 "trigger or replay finished")
            typer.echo(summary_line(cfg.station_id, runner.counts, outbox, config=str(config), why=why, stop_s=sig.elapsed_s()))
    if sig.signal:
        exit_cleanly_soon()


@station_app.command("record")
def record(config: Path = typer.Option(..., "--config", help="station YAML"),
           out: Path = typer.Option(..., "--out", help="replay folder to write"),
           boards: int = typer.Option(1, "--boards", min=1, help="how many boards to capture")) -> None:
    """Capture boards (one per trigger, any trigger kind) into board folders that `pogoscope inspect`
    and the replay source read; nothing is inspected and nothing goes to the delivery outbox."""
    from api.station.config import load_config
    from api.station.health import HealthServer
    from api.station.lifecycle import StopOnSignal, exit_cleanly_soon
    from api.station.recorder import Recorder
    from api.station.runner import StationRunner
    from models.errors import InputError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(config)
    if not any(c.kind == "replay" for c in cfg.cameras.values()):  # a camera's board needs the station's files
        missing = (["recipe"] if cfg.recipe is None else []) + [f"views.{v}.calibration" for v, vc in cfg.views.items() if vc.calibration is None]
        if missing:
            raise InputError(f"{config}: station record needs {', '.join(missing)}: a recording is a board folder "
                             "`pogoscope inspect` reads, with its recipe and calibration records")
    runner = StationRunner(cfg, recorder=Recorder(out), mode="record")
    health = HealthServer(runner, host=cfg.health.host, port=cfg.health.port)  # also serves POST /trigger
    with StopOnSignal(runner.stop) as sig:
        health.start()
        typer.echo(f"station {cfg.station_id} recording into {out}: healthz at {health.url}/healthz", err=True)
        try:
            runner.open()
            runner.run(max_boards=boards)
        finally:
            runner.close()
            health.stop()
        c = runner.counts
        why = sig.signal or ("--boards reached" if c["boards"] >= boards else "trigger or replay finished")
        typer.echo(f"station {cfg.station_id} stopped recording ({why}): {c['recorded']} board(s) recorded in {out}"
                   + (f", {c['not_recorded']} not recorded (see the log)" if c["not_recorded"] else ""))
    if sig.signal:
        exit_cleanly_soon()


@station_app.command("deliver")
def deliver(config: Path = typer.Option(..., "--config", help="station YAML"),
            retry_rejected: bool = typer.Option(False, "--retry-rejected", help="also re-send boards the service refused (held and rejected)"),
            timeout_s: float = typer.Option(60.0, "--timeout", min=0.1, help="give up after this many seconds")) -> None:
    """Send the outbox to the service now (without running the station); exit 0 when nothing is left undelivered, 1 otherwise."""
    import time

    from api.station.config import load_config
    from api.station.delivery import Deliverer
    from api.station.lifecycle import outbox_phrase, undelivered
    from api.station.outbox import Outbox
    from api.station.preflight import for_station
    from api.station.runner import StationRunner
    from models.errors import InputError

    from api.station.lock import DatabaseLock

    cfg = load_config(config)
    if cfg.sink.kind != "service":
        raise InputError(f"{config}: sink is {cfg.sink.kind!r}; `station deliver` sends to a sink of kind 'service'")
    try:
        lock = DatabaseLock(cfg.database, who="pogoscope station deliver").acquire()
    except InputError:  # the station is running: it delivers by itself; only re-queue what was refused
        outbox = Outbox(cfg.database)
        released = outbox.release(rejected=True) if retry_rejected else 0
        counts = outbox.counts()
        outbox.close()
        holder = DatabaseLock(cfg.database, who="").path.read_text().strip()
        typer.echo(f"station {cfg.station_id} is running ({holder}) and delivers by itself; {released} refused board(s) re-queued for it; "
                   f"outbox: {outbox_phrase(counts)}")
        raise typer.Exit(0) from None
    outbox = Outbox(cfg.database)
    recipe = StationRunner._load_recipe(cfg.recipe) if cfg.recipe else None
    from calibration.record import CalibrationRecord

    cals = {v: CalibrationRecord.load(vc.calibration) for v, vc in cfg.views.items() if vc.calibration is not None}
    d = Deliverer.for_sink(cfg.sink, outbox, preflight=for_station(cfg, recipe=recipe, calibration_records=cals))
    released = outbox.release(rejected=retry_rejected) if retry_rejected else 0
    outbox.release(pending=True)  # an explicit "send now": no back-off wait, held boards once more too
    ok = d.check()
    sent, t0 = 0, time.monotonic()
    while ok and time.monotonic() - t0 < timeout_s:
        n = d.drain_once()
        sent += n
        if not outbox.counts().get("pending"):
            break  # sent, or held/rejected by the service (retrying those now would get the same answer)
        if n == 0:  # everything due failed this round: wait for its back-off (bounded by the timeout)
            time.sleep(min(0.5, max(0.0, timeout_s - (time.monotonic() - t0))))
    counts = outbox.counts()
    left = undelivered(counts)
    line = f"station {cfg.station_id}: {sent} board(s) delivered now ({released} re-queued); outbox: {outbox_phrase(counts)}"
    if not ok:
        line += f"; not sent: {d.fault or '; '.join(d.notes)}"
    elif left:
        line += f"; {left} board(s) still NOT delivered" + (f" (last error: {d.last_error})" if d.last_error else "")
    outbox.close()
    lock.release()
    typer.echo(line)
    raise typer.Exit(1 if left else 0)
