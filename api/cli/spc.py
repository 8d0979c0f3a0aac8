"""`pogoscope spc`: SPC of one measurement from the service's database (the same numbers as /v1/spc)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from api.cli.app import app
from models.errors import InputError


def _when(text: str | None, what: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what} {text!r} is not an ISO 8601 time (e.g. 2026-12-01 or 2026-12-01T06:00)") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _f(v, nd=4) -> str:
    return "" if v is None else f"{v:.{nd}g}"


def _ci(c) -> str:
    return "" if not c else f"{c['value']:.3g} [{c['lower']:.3g}, {c['upper']:.3g}]"


@app.command()
def spc(
    recipe: str = typer.Option(..., "--recipe", help="recipe id"),
    measurement: str = typer.Option(..., "--measurement", help="e.g. tilt_deg, xy_error_mm, tip_height_error_mm"),
    pin: str | None = typer.Option(None, "--pin", help="one pin or pad: its chart's points and rule hits"),
    station: str | None = typer.Option(None, "--station", help="only this station's inspections"),
    since: str | None = typer.Option(None, "--since", help="points at or after this time (ISO 8601, UTC unless a zone is given)"),
    until: str | None = typer.Option(None, "--until", help="points before this time"),
    baseline: int | None = typer.Option(None, "--baseline", min=2, help="first points per pin that set the limits"),
    subgroup: int = typer.Option(1, "--subgroup", min=1, max=25, help="1: I-MR; 2-10: X-bar-R; 11-25: X-bar-S"),
    database_url: str | None = typer.Option(None, "--database-url", help="default: POGOSCOPE_DATABASE_URL or the SQLite file in --data-dir"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="default: POGOSCOPE_DATA_DIR"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Control limits, rule hits and Cp/Cpk per pin position for one measurement of a recipe."""
    from sqlalchemy import inspect as sa_inspect

    from api.service.analytics import measurements_of, spc_report
    from api.service.db import make_engine, session_factory
    from api.settings import Settings

    kw = {k: v for k, v in (("database_url", database_url), ("data_dir", data_dir)) if v is not None}
    settings = Settings(**kw)
    if not settings.database_url and not (settings.data_dir / "pogoscope.sqlite").is_file():
        raise InputError(f"no database at {settings.data_dir / 'pogoscope.sqlite'}; give --data-dir or --database-url")
    engine = make_engine(settings)
    try:
        if not sa_inspect(engine).has_table("pin_values"):
            raise InputError("the database has no pin values yet: start `pogoscope serve` once to migrate it")
        with session_factory(engine)() as s:
            rep = spc_report(s, recipe, measurement, pin=pin, station_id=station, since=_when(since, "--since"),
                             until=_when(until, "--until"), baseline=baseline or settings.spc_baseline_points, subgroup=subgroup)
            if not rep["pins"]:
                known = measurements_of(s, recipe)
                if not known:
                    raise InputError(f"no stored values for recipe {recipe!r}")
                if measurement not in known:
                    raise InputError(f"recipe {recipe!r} has no stored values of {measurement!r}; it has {', '.join(known)}")
                raise InputError(f"no values of {measurement!r}" + (f" for pin {pin!r}" if pin else "") + " in this window")
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(rep, default=str))
        return
    typer.echo(f"{recipe} · {measurement} · spec [{_f(rep['lsl'])}, {_f(rep['usl'])}]" + (f" · station {station}" if station else ""))
    typer.echo(f"{'pin':<8}{'n':>7}{'mean':>11}{'LCL':>11}{'UCL':>11}{'sigma':>10}{'u(rms)':>10}  {'Cpk [95% CI]':<24}{'Ppk [95% CI]':<24}hits")
    for p in rep["pins"]:
        rules = ",".join(str(r) for r in p["rules_hit"])
        typer.echo(f"{p['pin']:<8}{p['n']:>7}{_f(p['mean']):>11}{_f(p['lcl']):>11}{_f(p['ucl']):>11}{_f(p['sigma_within'], 3):>10}"
                   f"{_f(p['u_rms'], 3):>10}  {_ci(p['cpk']):<24}{_ci(p['ppk']):<24}{p['hits']}{f' (rules {rules})' if rules else ''}")
    if pin and rep["chart"]:
        ch = rep["chart"]
        typer.echo(f"chart {ch['kind']}: centre {_f(ch['centre'])}, limits {_f(ch['lcl'])} .. {_f(ch['ucl'])}, "
                   f"baseline {ch['baseline_points']} points")
        for h in ch["hits"][-20:]:
            i = h["index"] - ch["first_index"]
            typer.echo(f"  {ch['at'][i] if i < len(ch['at']) else ''}  {ch['serials'][i] if i < len(ch['serials']) else ''}  "
                       f"value {ch['points'][i]:.4g}: rule {h['rule']}, {h['text']}")
