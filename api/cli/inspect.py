"""`pogoscope inspect` and `pogoscope inspect-samples`: inspect boards from files, print per-pin tables."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from api.cli.app import app
from models.errors import InputError
from models.measurands import cli_columns
from vision.io import write_image

VERDICT_STYLE = {"PASS": "green", "FAIL": "bold red", "REVIEW": "yellow"}
# (measurement, column header, decimals), from the measurement table
COLUMNS = cli_columns("pin")
PAD_COLUMNS = cli_columns("pad")


def _pairs(values: list[str], what: str) -> dict[str, Path]:
    out = {}
    for v in values:
        key, sep, path = v.partition("=")
        if not sep or not key or not path:
            raise InputError(f"{what} {v!r} must be NAME=FILE (e.g. top=top.png)")
        out[key] = Path(path)
    return out


def _calibration_pairs(values: list[str], images: dict[str, Path]) -> dict[str, Path]:
    """KEY=FILE pairs; a bare FILE is allowed when the images need exactly one calibration (e.g. only top)."""
    from api.boardset import calibration_key

    bare = [v for v in values if "=" not in v]
    out = _pairs([v for v in values if "=" in v], "--calibration")
    if bare:
        keys = sorted({calibration_key(v) for v in images} - set(out))
        if len(bare) > 1 or len(keys) != 1:
            raise InputError(f"--calibration {bare[0]!r}: say which camera it is for, e.g. --calibration top={bare[0]}")
        out[keys[0]] = Path(bare[0])
    return out


def _fmt(m, nd: int) -> str:
    if m is None:
        return ""
    if not m.measured:
        return "n/m"
    if nd == 0:
        return f"{m.value:.0f}"
    return f"{m.value:.{nd}f}±{m.uncertainty:.{nd}f}"


def print_result(result, *, console: Console, truth: dict | None = None) -> dict | None:
    """Per-pin (and per-pad) table and the board verdict; with generator truth, the agreement."""
    b = result.board
    expected = (truth or {}).get("expected_defective_items", {}) if truth else None
    items = [("pin", result.pins, COLUMNS), ("pad", result.pads, PAD_COLUMNS)]
    agree = {"items": 0, "agree": 0, "escapes": [], "false_rejects": []}
    for kind, rows, cols in items:
        if not rows:
            continue
        t = Table(title=f"{b.serial} · {b.recipe_id}@{b.recipe_version} · {kind}s", title_justify="left", show_lines=False)
        t.add_column(kind)
        t.add_column("verdict")
        for _, head, _ in cols:
            t.add_column(head, justify="right")
        t.add_column("reasons")
        if expected is not None:
            t.add_column("truth")
        for it in rows:
            cells = [it.id, f"[{VERDICT_STYLE[it.verdict.value]}]{it.verdict.value}[/]"]
            cells += [_fmt(it.measurements.get(name), nd) for name, _, nd in cols]
            cells.append(", ".join(it.reasons))
            if expected is not None:
                flags = expected.get(it.id, [])
                cells.append(", ".join(flags) or "ok")
                agree["items"] += 1
                if flags and it.verdict.value == "PASS":
                    agree["escapes"].append(it.id)
                elif not flags and it.verdict.value == "FAIL":
                    agree["false_rejects"].append(it.id)
                else:
                    agree["agree"] += 1
            t.add_row(*cells)
        console.print(t)
    line = f"board {b.serial}: [{VERDICT_STYLE[b.verdict.value]}]{b.verdict.value}[/]"
    if b.reasons:
        line += f"  ({', '.join(b.reasons)})"
    line += f"  {b.timings_ms.get('total', 0):.0f} ms"
    console.print(line)
    if expected is not None:
        console.print(
            f"  against generator truth: {agree['agree']}/{agree['items']} items agree"
            f"; defects passed: {agree['escapes'] or 'none'}; good items failed: {agree['false_rejects'] or 'none'}"
        )
        return agree
    return None


def write_overlays(overlays: dict, path: Path) -> list[Path]:
    """The top overlay (or the only one) goes to `path`; others to ``<stem>_<name><suffix>``."""
    written = []
    names = sorted(overlays, key=lambda n: (n != "top", n))
    for i, name in enumerate(names):
        p = path if i == 0 else path.with_name(f"{path.stem}_{name.replace(':', '_')}{path.suffix}")
        write_image(p, overlays[name])
        written.append(p)
    return written


def make_console() -> Console:
    # per-pin tables are wide; under make/CI (no terminal) rich would wrap them at 80 columns
    import shutil

    return Console(width=max(shutil.get_terminal_size((160, 40)).columns, 150))


def _run(inp, *, out: Path | None, overlay: Path | None, as_json: bool, truth: dict | None, console: Console):
    from vision.inspect import inspect_board

    insp = inspect_board(inp)
    if as_json:
        typer.echo(insp.result.model_dump_json(indent=2))
    else:
        print_result(insp.result, console=console, truth=truth)
    if out is not None:
        insp.result.write_json(out)
    if overlay is not None:
        if not insp.overlays:
            raise InputError("no view produced an overlay for this board")
        for p in write_overlays(insp.overlays, overlay):
            if not as_json:
                console.print(f"overlay: {p}")
    return insp


@app.command()
def inspect(
    board_dir: Path | None = typer.Argument(None, help="a board folder with board.yaml (instead of the options below)"),
    recipe: Path | None = typer.Option(None, "--recipe", help="recipe YAML"),
    image: list[str] = typer.Option([], "--image", help="VIEW=FILE, VIEW one of top, side_front, side_back (repeat)"),
    calibration: list[str] = typer.Option([], "--calibration", help="KEY=FILE.json, KEY top, side or stack:NAME (repeat)"),
    stack: list[str] = typer.Option([], "--stack", help="NAME=FOLDER of a focus stack with its manifest (repeat)"),
    serial: str = typer.Option("UNKNOWN", "--serial", help="board serial number"),
    out: Path | None = typer.Option(None, "--out", help="write the result document (JSON) here"),
    overlay: Path | None = typer.Option(None, "--overlay", help="write the overlay image (PNG) here"),
    json_out: str | None = typer.Option(None, "--json", help="write the result document here; '-' prints it instead of the table"),
) -> None:
    """Inspect one board from image files and print the per-pin table and the board verdict."""
    from api.boardset import build_input, load_board_dir
    from models.recipe import Recipe

    as_json = json_out == "-"
    if json_out not in (None, "-"):
        if out is not None and out != Path(json_out):
            raise InputError("--json FILE and --out FILE name two different result files; give one")
        out = Path(json_out)
    truth = None
    if board_dir is not None:
        if recipe or image or calibration or stack:
            raise InputError("give either a board folder or --recipe/--image/--calibration, not both")
        inp, m = load_board_dir(board_dir)
        if m.truth:
            truth = json.loads((board_dir / m.truth).read_text())
    else:
        if recipe is None:
            raise InputError("give a board folder, or --recipe with at least one --image or --stack")
        if not image and not stack:
            raise InputError("nothing to inspect: give --image VIEW=FILE or --stack NAME=FOLDER")
        images = _pairs(image, "--image")
        inp = build_input(serial=serial, recipe=Recipe.from_yaml(recipe), images=images,
                          calibrations=_calibration_pairs(calibration, images), stacks=_pairs(stack, "--stack"))
    _run(inp, out=out, overlay=overlay, as_json=as_json, truth=truth, console=make_console())


@app.command("inspect-samples")
def inspect_samples(
    folder: Path = typer.Argument(Path("sample_images"), help="folder of board folders (each with board.yaml)"),
    out_dir: Path | None = typer.Option(None, "--out-dir", help="write result JSON and overlays per board here"),
) -> None:
    """Inspect every board folder under FOLDER: per-pin tables, board verdicts and agreement with truth."""
    from api.boardset import MANIFEST, load_board_dir

    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of sample boards")
    boards = sorted(p.parent for p in folder.glob(f"*/{MANIFEST}"))
    if not boards:
        raise InputError(f"{folder} holds no board folders (each needs a {MANIFEST})")
    console = make_console()
    summary = []
    for bdir in boards:
        inp, m = load_board_dir(bdir)
        truth = json.loads((bdir / m.truth).read_text()) if m.truth else None
        out = overlay = None
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            out, overlay = out_dir / f"{m.serial}.json", out_dir / f"{m.serial}_overlay.png"
        insp = _run(inp, out=out, overlay=overlay, as_json=False, truth=truth, console=console)
        summary.append((m.serial, insp.result.board.verdict.value, ", ".join(insp.result.board.reasons)))
        console.print()
    t = Table(title="boards", title_justify="left")
    for c in ("serial", "verdict", "reasons"):
        t.add_column(c)
    for s, v, r in summary:
        t.add_row(s, f"[{VERDICT_STYLE[v]}]{v}[/]", r)
    console.print(t)
