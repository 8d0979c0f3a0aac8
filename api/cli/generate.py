"""`pogoscope generate`: a board folder from the seeded generator (images, recipe, calibration, exact truth)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import typer
import yaml

from api.cli.app import app
from calibration.errors import InputError


def _parse_defects(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        pid, sep, kind = part.partition("=")
        if not sep:
            raise InputError(f"--defects entry {part!r} must be PIN=DEFECT (e.g. P03=tilt)")
        out[pid] = kind
    return out


def _write_png(path: Path, img) -> None:
    if not cv2.imwrite(str(path), img[..., ::-1] if img.ndim == 3 else img):
        raise InputError(f"cannot write {path}")


def generate_board(out: Path, *, seed: int, rows: int, cols: int, pitch_mm: float, pin_type: str, defects: dict[str, str],
                   defect_rate: float, mm_per_px: float, lighting: str, views: list[str], serial: str | None = None) -> dict:
    """Render one board into `out` and write its board.yaml; returns the manifest dict."""
    from models.recipe import Recipe
    from vision.synth import truth as T
    from vision.synth.boards import random_board
    from vision.synth.top import fit_top_camera, render_top

    unknown = set(views) - {"top", "side"}
    if unknown:
        raise InputError(f"--views: unknown view(s) {sorted(unknown)}; choose from top, side")
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
        _write_png(out / "top.png", img)
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
        _write_png(out / "side_front.png", front)
        _write_png(out / "side_back.png", back)
        rec_side.save(out / "cal_side.json")
        manifest["views"].update(side_front="side_front.png", side_back="side_back.png")
        manifest["calibrations"]["side"] = "cal_side.json"
        recipe_views += ["side_front", "side_back"]
        if truth is None:
            truth = side_truth
        else:
            truth.setdefault("views", {}).update(side_truth.get("views", {}))
    recipe = Recipe.from_dict(T.recipe_dict(scene, views=recipe_views), source="generated recipe")
    recipe.to_yaml(out / "recipe.yaml")
    if truth is not None:
        (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
        manifest["truth"] = "truth.json"
    (out / "board.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return manifest


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
    views: str = typer.Option("top", "--views", help="comma-separated: top, side"),
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
    typer.echo(f"generated {m['serial']} in {out}: {', '.join(m['views'].values())}")
