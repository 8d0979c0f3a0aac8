"""`pogoscope grr FOLDER`: a Gage R&R study offline, on a folder of board folders with the repeats as
subfolders (FOLDER/<board>/<repeat>/board.yaml). The operator (or station) of a repeat is its
board.yaml's `operator` key, else its `station` key, else one operator for all."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

from api.cli.app import app
from models.errors import InputError


def collect(folder: Path, *, progress=None) -> tuple[list[dict], dict]:
    """Inspect every repeat: records ``{"part": "<board>/<pin>", "operator", "trial", "values"}`` and the
    spec limits per measurement from the first recipe."""
    from api.boardset import MANIFEST, load_board_dir
    from vision.inspect import inspect_board

    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of board folders")
    boards = sorted(d for d in folder.iterdir() if d.is_dir())
    records, recipe = [], None
    for b in boards:
        repeats = sorted(d for d in b.iterdir() if (d / MANIFEST).is_file())
        if not repeats:
            continue
        for trial, rdir in enumerate(repeats, 1):
            raw = yaml.safe_load((rdir / MANIFEST).read_text()) or {}
            operator = str(raw.get("operator") or raw.get("station") or "-")
            inp, _ = load_board_dir(rdir)
            recipe = recipe or inp.recipe
            res = inspect_board(inp).result
            for item in [*res.pins, *res.pads]:
                records.append({"part": f"{b.name}/{item.id}", "operator": operator, "trial": trial,
                                "values": {k: m.value for k, m in item.measurements.items() if m.value is not None}})
            if progress:
                progress(rdir)
    if not records:
        raise InputError(f"{folder}: no repeats found; expected {folder}/<board>/<repeat>/{MANIFEST}")
    specs = {}
    if recipe is not None:
        from models.rules import PAD_CHECKS, PIN_CHECKS

        for check, (m, _) in {**PIN_CHECKS, **PAD_CHECKS}.items():
            if m:
                lim = recipe.limits.for_check(check)
                specs[m] = (lim.lower, lim.upper)
    return records, specs


def render(rep: dict) -> list[str]:
    lines = [f"{'measurement':<26}{'parts':>6}{'ops':>4}{'trials':>7}{'EV':>11}{'EV 95% CI':>22}{'AV':>11}{'GRR':>11}{'PV':>11}"
             f"{'%GRR tol':>10}{'%GRR TV':>9}{'ndc':>5}  verdict"]
    for m, r in rep["measurements"].items():
        tol = r["pct_tolerance"]["grr"] if r["pct_tolerance"] else None
        ci = f"{r['ev_ci'][0]:.3g} .. {r['ev_ci'][1]:.3g}"
        tol_s = "" if tol is None else f"{tol:.1f}"
        ndc = "" if r["ndc"] is None else r["ndc"]
        lines.append(f"{m:<26}{r['parts']:>6}{r['operators']:>4}{r['trials']:>7}{r['ev']:>11.4g}"
                     f"{ci:>22}{r['av']:>11.4g}{r['grr']:>11.4g}{r['pv']:>11.4g}"
                     f"{tol_s:>10}{r['pct_tv']['grr']:>9.1f}{ndc:>5}  "
                     f"{r['verdict']} (of {r['verdict_basis']})")
    for m, why in rep["skipped"].items():
        lines.append(f"{m:<26} skipped: {why}")
    return lines


@app.command()
def grr(
    folder: Path = typer.Argument(..., help="folder of board folders, each with its repeats as subfolders"),
    measurement: list[str] = typer.Option(None, "--measurement", "-m", help="only these measurements (repeatable)"),
    json_out: Path | None = typer.Option(None, "--json", help="write the full report (ANOVA tables included) here"),
) -> None:
    """Gage R&R (AIAG crossed, ANOVA with interaction) of every pin measurement over repeated inspections."""
    from api.stats.grr import report

    records, specs = collect(folder, progress=lambda d: typer.echo(f"inspected {d}", err=True))
    rep = report(records, specs=specs, measurements=measurement or None)
    for line in render(rep):
        typer.echo(line)
    if json_out:
        json_out.write_text(json.dumps(rep, indent=1, default=float))
