"""`pogoscope generate`: a board folder from the seeded generator (images, recipe, calibration, exact truth)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

from api.cli.app import app
from models.errors import InputError
from vision.io import write_image


def _parse_defects(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        pid, sep, kind = part.partition("=")
        if not sep:
            raise InputError(f"--defects entry {part!r} must be PIN=DEFECT (e.g. P03=tilt)")
        out[pid] = kind
    return out


def generate_board(out: Path, *, seed: int, rows: int, cols: int, pitch_mm: float, pin_type: str, defects: dict[str, str],
                   defect_rate: float, mm_per_px: float, lighting: str, views: list[str], serial: str | None = None) -> dict:
    """Render one board into `out` and write its board.yaml; returns the manifest dict."""
    from models.recipe import Recipe
    from vision.synth import truth as T
    from vision.synth.boards import random_board
    from vision.synth.top import fit_top_camera, render_top

    unknown = set(views) - {"top", "side", "stack"}
    if unknown:
        raise InputError(f"--views: unknown view(s) {sorted(unknown)}; choose from top, side, stack")
    out.mkdir(parents=True, exist_ok=True)
    scene = random_board(seed, rows=rows, cols=cols, pitch_mm=pitch_mm, pin_type=pin_type, defect_rate=defect_rate,
                         defects=defects)
    unknown_pins = set(defects) - {p.id for p in scene.pins}
    if unknown_pins:
        raise InputError(f"--defects names pins {sorted(unknown_pins)} the board does not have ({scene.pins[0].id}..{scene.pins[-1].id})")
    manifest: dict = {"serial": serial or scene.board_id, "recipe": "recipe.yaml", "views": {}, "calibrations": {}}
    truth = None
    recipe_views: list[str] = []
    if "top" in views:
        cam = fit_top_camera(scene, mm_per_px=mm_per_px)
        img, rec, truth = render_top(scene, cam, seed=seed, lighting=lighting)
        write_image(out / "top.png", img)
        rec.save(out / "cal_top.json")
        manifest["views"]["top"] = "top.png"
        manifest["calibrations"]["top"] = "cal_top.json"
        recipe_views.append("top")
    if "side" in views:
        try:
            from vision.synth.side import render_side
        except ImportError:
            raise InputError("the side-view generator is not available in this build") from None
        back, front, rec_side, side_truth = render_side(scene, seed=seed)
        write_image(out / "side_front.png", front)
        write_image(out / "side_back.png", back)
        rec_side.save(out / "cal_side.json")
        manifest["views"].update(side_front="side_front.png", side_back="side_back.png")
        manifest["calibrations"]["side"] = "cal_side.json"
        recipe_views += ["side_front", "side_back"]
        if truth is None:
            truth = side_truth
        else:
            truth.setdefault("views", {}).update(side_truth.get("views", {}))
    if "stack" in views:
        _write_pin_stack(out, scene, seed=seed)
        manifest.setdefault("stacks", {})["pins"] = "stack_pins"
        manifest["calibrations"]["stack:pins"] = "cal_micro.json"
        recipe_views.append("stack")
        if truth is None:
            truth = T.board_truth(scene)
    required = None
    if recipe_views == ["stack"]:  # a microscope alone sees heights and tilt, not position or solder
        required = ["missing", "tilt", "tip_height"]
    recipe = Recipe.from_dict(T.recipe_dict(scene, views=recipe_views, required_checks=required), source="generated recipe")
    recipe.to_yaml(out / "recipe.yaml")
    if truth is not None:
        (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
        manifest["truth"] = "truth.json"
    (out / "board.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return manifest


def _write_pin_stack(out: Path, scene, *, seed: int) -> None:
    """A microscope focus stack over the pins (as rendered-dev d04: 9 um/px, NA 0.08), 14 slices 70 um apart
    from 0.6 mm below the nominal tip, as PNG slices with a manifest.csv naming target, items and stage."""
    import numpy as np

    from vision.synth import truth as T
    from vision.synth.stack import MicroCamera, pin_stack

    xy = np.array([p.nominal_xy_mm for p in scene.pins], float)
    span = xy.max(0) - xy.min(0) + 2 * scene.pin_geometry.flange_radius_mm + 0.4
    cam = MicroCamera(mm_per_px=0.009, width_px=int(np.ceil(span[0] / 0.009 / 16) * 16),
                      height_px=max(int(np.ceil(span[1] / 0.009 / 16) * 16), 240))
    if cam.width_px > 1600:
        raise InputError("--views stack: the pins span more than a microscope field (1600 px at 9 um/px); use fewer columns")
    z = np.round(T.tip_height_nominal_mm(scene) - 0.60 + 0.07 * np.arange(14), 6)
    ss = pin_stack(scene, tuple(xy.mean(0)), z, cam=cam, seed=seed)
    d = out / "stack_pins"
    d.mkdir(exist_ok=True)
    rows = []
    for i, (img, zi) in enumerate(zip(ss.stack.images, ss.stack.z_mm)):
        write_image(d / f"slice_{i:02d}.png", img)
        rows.append(f"slice_{i:02d}.png,{zi:.6f}")
    meta = ss.stack.meta
    (d / "manifest.csv").write_text(
        f"# target: {meta['target']}\n# items: {' '.join(meta['items'])}\n"
        f"# stage_xy_mm: {meta['stage_xy_mm'][0]:.6f} {meta['stage_xy_mm'][1]:.6f}\nfile,z_mm\n" + "\n".join(rows) + "\n")
    ss.record.save(out / "cal_micro.json")


@app.command()
def generate(
    out: Path = typer.Argument(..., help="board folder to create"),
    seed: int = typer.Option(0, "--seed"),
    rows: int = typer.Option(1, "--rows", min=1, max=20),
    cols: int = typer.Option(4, "--cols", min=1, max=40),
    pitch_mm: float = typer.Option(2.54, "--pitch-mm", min=1.0),
    pin_type: str = typer.Option("A", "--pin-type", help="A or B (the rendered-dev pin types)"),
    defects: str = typer.Option("", "--defects", help="PIN=DEFECT,... e.g. P03=tilt,P05=wick (tilt, xy, raised, depressed, wick, wick_gap, missing, marginal, wick_low)"),
    defect_rate: float = typer.Option(0.0, "--defect-rate", min=0.0, max=1.0, help="chance of a random defect per other pin"),
    mm_per_px: float = typer.Option(0.014, "--mm-per-px", min=0.002, max=0.1),
    lighting: str = typer.Option("coaxial", "--lighting", help="coaxial or coaxial+ring"),
    views: str = typer.Option("top", "--views", help="comma-separated: top, side (1-row boards), stack (microscope focus stack of the pins)"),
    serial: str | None = typer.Option(None, "--serial"),
) -> None:
    """Render a synthetic board with exact truth into a board folder that `pogoscope inspect` reads."""
    try:
        m = generate_board(out, seed=seed, rows=rows, cols=cols, pitch_mm=pitch_mm, pin_type=pin_type,
                           defects=_parse_defects(defects), defect_rate=defect_rate, mm_per_px=mm_per_px,
                           lighting=lighting, views=[v.strip() for v in views.split(",") if v.strip()], serial=serial)
    except ValueError as exc:  # the generator's own argument checks
        if isinstance(exc, InputError):
            raise
        raise InputError(str(exc)) from None
    typer.echo(f"generated {m['serial']} in {out}: {', '.join([*m['views'].values(), *m.get('stacks', {}).values()])}")
