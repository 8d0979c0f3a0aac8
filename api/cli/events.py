"""`pogoscope events`: the state of event delivery per sink, and re-queuing dead events.

Reads the service's database (POGOSCOPE_DATABASE_URL / POGOSCOPE_DATA_DIR, or --database-url), so
it works whether the service runs or not; a running service picks re-queued events up within a
poll interval."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.app import app
from models.errors import InputError

events_app = typer.Typer(help="Event delivery (webhooks, MQTT): per-sink state, dead events, re-queue.", no_args_is_help=True)
app.add_typer(events_app, name="events")

_DB = typer.Option(None, "--database-url", help="default: POGOSCOPE_DATABASE_URL, else SQLite in the data dir")
_DIR = typer.Option(None, "--data-dir", help="default: POGOSCOPE_DATA_DIR or ./var")


def _session(database_url: str | None, data_dir: Path | None):
    from sqlalchemy import inspect as sa_inspect

    from api.service.db import make_engine, session_factory
    from api.settings import load_settings

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    if settings.database_url is None and not (settings.data_dir / "pogoscope.sqlite").is_file():
        raise InputError(f"no service database at {settings.data_dir / 'pogoscope.sqlite'}; pass --data-dir or --database-url")
    engine = make_engine(settings)
    try:
        if not sa_inspect(engine).has_table("deliveries"):
            raise InputError("the database has no deliveries table: has `pogoscope serve` ever started on it?")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot open the service database: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from None
    return session_factory(engine)


@events_app.command("status")
def status(database_url: str = _DB, data_dir: Path = _DIR) -> None:
    """Per sink: events pending, age of the oldest, events parked dead and the last error."""
    from api.service.deliveries import dead_deliveries, sink_stats

    Session = _session(database_url, data_dir)
    stats = sink_stats(Session)
    if not stats:
        typer.echo("no event is pending or dead")
        return
    for st in stats.values():
        typer.echo(f"{st.label}: {st.pending} pending (oldest {st.oldest_pending_s:.0f} s), {st.dead} dead"
                   + (f"; last error: {st.last_error}" if st.last_error else ""))
    for d in dead_deliveries(Session, limit=20):
        typer.echo(f"  dead: event {d['event_id']} ({d['kind']}) to {d['sink']} after {d['attempts']} tries: {d['reason']}")


@events_app.command("retry")
def retry(
    sink: str = typer.Option(None, "--sink", help="only this sink: 'mqtt' or 'webhook:<url>' as `events status` shows it"),
    event: list[int] = typer.Option(None, "--event", help="only this event id (repeatable)"),
    database_url: str = _DB,
    data_dir: Path = _DIR,
) -> None:
    """Re-queue events parked dead (after fixing the receiver, the topic or the station id)."""
    from api.service.deliveries import requeue_dead

    n = requeue_dead(_session(database_url, data_dir), sink=sink, event_ids=list(event) if event else None)
    typer.echo(f"re-queued {n} dead deliver{'y' if n == 1 else 'ies'}")
