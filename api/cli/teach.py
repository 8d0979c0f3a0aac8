"""`pogoscope teach`: propose a recipe's pins and fiducials from a top image of a known-good board."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import typer
import yaml

from api.cli.app import app
from models.errors import InputError


def split_heads(pin_heads, fid_heads, *, pin_diameter_px: float):
    """Heads found at both sizes are the kind whose template answered more strongly (a fiducial is a plain
    disc; a pin's flange ring and dark bore fit only the pin-sized template)."""
    pins, fids = list(pin_heads), []
    for f in fid_heads:
        near = [p for p in pins if math.dist(p.center_px, f.center_px) < 0.6 * pin_diameter_px]
        if not near:
            fids.append(f)
        elif all(f.score > p.score for p in near):
            fids.append(f)
            pins = [p for p in pins if p not in near]
    return pins, fids


def rows_of(xy: np.ndarray, *, pitch_hint: float) -> list[list[int]]:
    """Group points (N, 2) into rows by y (gaps larger than half the smallest spacing split rows),
    each row sorted by x; rows from the smallest y (the front of the board)."""
    order = np.argsort(xy[:, 1])
    rows, cur = [], [order[0]]
    for i in order[1:]:
        if xy[i, 1] - xy[cur[-1], 1] > 0.5 * pitch_hint:
            rows.append(cur)
            cur = []
        cur.append(i)
    rows.append(cur)
    return [sorted(r, key=lambda i: xy[i, 0]) for r in rows]


@app.command()
def teach(
    image: Path = typer.Argument(..., help="top image (RGB) of a known-good board"),
    out: Path = typer.Option(..., "--out", help="write the proposed recipe (YAML) here"),
    calibration: Path | None = typer.Option(None, "--calibration", help="the top camera's record: positions in mm"),
    head_diameter_mm: float | None = typer.Option(None, "--head-diameter-mm", help="pin head (flange) diameter"),
    head_diameter_px: float | None = typer.Option(None, "--head-diameter-px", help="head diameter in px (no calibration)"),
    fiducial_diameter_mm: float | None = typer.Option(None, "--fiducial-diameter-mm"),
    recipe_id: str = typer.Option("taught", "--recipe-id"),
) -> None:
    """Find the gold pin heads (and fiducials) and write a draft recipe for the engineer to confirm.

    With a calibration record, positions are in mm on its reference plane, shifted so the lowest-left head
    region starts 2 mm inside a proposed board outline; without one, in pixels (say so in the draft).
    """
    from calibration.record import CalibrationRecord
    from vision.io import read_image
    from vision.presence import find_gold_heads

    img = read_image(image, color=True)
    rec = CalibrationRecord.load(calibration) if calibration else None
    if rec is not None:
        rec.check_image(img.shape, what=f"image {image.name}")
    mpp = rec.scale_mm_per_px() if rec else None
    if head_diameter_px is None:
        if head_diameter_mm is None or mpp is None:
            raise InputError("give --head-diameter-px, or --head-diameter-mm with --calibration")
        head_diameter_px = head_diameter_mm / mpp
    heads = find_gold_heads(img, diameter_px=head_diameter_px)
    fid_heads = []
    if fiducial_diameter_mm is not None:
        if mpp is None:
            raise InputError("--fiducial-diameter-mm needs --calibration (the size in px comes from its scale)")
        fid_heads = find_gold_heads(img, diameter_px=fiducial_diameter_mm / mpp)
    pins, fids = split_heads(heads, fid_heads, pin_diameter_px=head_diameter_px)
    if not pins:
        raise InputError(f"no gold pin heads of about {head_diameter_px:.0f} px found in {image.name}; check the size and the lighting")
    uv = np.array([p.center_px for p in pins], float)
    if rec is not None:
        xy, unit = rec.pixel_to_plane(uv).reshape(-1, 2), "mm"
        fxy = rec.pixel_to_plane(np.array([f.center_px for f in fids], float)).reshape(-1, 2) if fids else np.zeros((0, 2))
    else:
        xy, unit = np.column_stack([uv[:, 0], -uv[:, 1]]), "px"  # y up, as on the board
        fxy = np.zeros((0, 2))
    d = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1)) + np.eye(len(xy)) * 1e9
    pitch = float(np.median(d.min(1))) if len(xy) > 1 else (head_diameter_px * (mpp or 1)) * 2
    # deskew: rows of a good board run along its x axis, so their median direction is the board's rotation
    angles = [math.atan2(*(xy[b] - xy[a])[::-1]) for row in rows_of(xy, pitch_hint=pitch) for a, b in zip(row, row[1:])]
    rot_deg = math.degrees(float(np.median(angles))) if angles else 0.0
    c, s_ = math.cos(math.radians(-rot_deg)), math.sin(math.radians(-rot_deg))
    R = np.array([[c, -s_], [s_, c]])
    xy, fxy = xy @ R.T, fxy @ R.T
    allxy = np.vstack([xy, fxy])
    margin = 2.0 if unit == "mm" else 2.0 / 0.014
    origin = allxy.min(0) - margin
    size = allxy.max(0) - origin + margin
    pin_list = []
    for r, row in enumerate(rows_of(xy, pitch_hint=pitch)):
        for c, i in enumerate(row):
            pin_list.append({"row": r, "col": c, "xy_mm": [round(float(v), 4) for v in xy[i] - origin],
                             "score": round(float(pins[i].score), 3)})
    width = max(2, len(str(len(pin_list))))
    draft = {
        "recipe_id": recipe_id,
        "board": {"id": recipe_id, "size_mm": [round(float(size[0]), 3), round(float(size[1]), 3), 1.6]},
        "pins": [{"id": f"P{n + 1:0{width}d}", "xy_mm": p["xy_mm"], "row": p["row"], "col": p["col"]} for n, p in enumerate(pin_list)],
        "fiducials": [{"xy_mm": [round(float(v), 4) for v in f - origin], "diameter_mm": fiducial_diameter_mm}
                      for f in sorted(fxy, key=lambda q: (q[1], q[0]))],  # front-left first
    }
    note = (f"# Proposed by `pogoscope teach` from {image.name}: {len(pin_list)} pin heads, {len(fids)} fiducials,\n"
            f"# median nearest-neighbour spacing {pitch:.3f} {unit}; board turned by {rot_deg:.2f} deg to align its rows. Positions are in {unit} "
            + ("on the calibration plane, origin moved to a proposed board corner;" if unit == "mm" else
               "(no calibration: NOT mm, y up);") +
            "\n# confirm them, set the board origin and size, and add pin_type, limits and views before use.\n")
    out.write_text(note + yaml.safe_dump(draft, sort_keys=False))
    typer.echo(f"proposed {len(pin_list)} pins in {len(set(p['row'] for p in pin_list))} rows and {len(fids)} fiducials -> {out}")
