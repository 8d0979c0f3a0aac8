"""`pogoscope focus STACK --out heightmap.png`: a focus stack to a height map and an all-in-focus image.

The stack's manifest is its truth (see `vision.stack_io`): ``align`` registers hand-held slices
first, ``target`` chooses the depth-from-focus settings the inspection uses for that target (pads:
a 15 px window; pins: 9 px), ``items`` and ``stage_xy_mm`` are checked and carried into the result
(`--json`). A flag given on the command line overrides the manifest's key and says so on stderr.
"""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.app import app


def _override(st, key: str, flag: str, value, shown: str, notes: list[str]) -> None:
    """Put a command-line value over the manifest's and say so (stderr and the result's notes)."""
    had = st.meta.get(key)
    st.meta[key] = value
    msg = f"{flag} {shown} overrides the manifest's {key}: {had}" if had is not None else f"{flag} {shown} (the manifest has no {key})"
    typer.echo(msg, err=True)
    notes.append(msg)


@app.command()
def focus(
    stack: Path = typer.Argument(..., help="manifest (.csv file,z_mm / .json) or folder of the focus stack"),
    out: Path = typer.Option(..., "--out", help="height map PNG to write (colour, with a scale bar and the unmeasured areas hatched)"),
    aif: Path | None = typer.Option(None, "--aif", help="all-in-focus image to write (default: beside --out)"),
    json_out: Path | None = typer.Option(None, "--json", help="write the result (coverage, reasons, manifest keys, files) as JSON"),
    measure: str = typer.Option("sml", "--measure", help="focus measure: sml | tenengrad | lapv"),
    window: int | None = typer.Option(None, "--window", help="focus window, odd px (default: 9 for pins, 15 for a pad target)"),
    presmooth: float = typer.Option(1.0, "--presmooth", help="Gaussian pre-blur sigma px (0 = off)"),
    fit: str = typer.Option("auto", "--fit", help="slices in the peak fit: 3 | 5 | 7 | auto"),
    min_contrast: float = typer.Option(3.0, "--min-contrast", help="peak over floor and noise needed to count"),
    align: str | None = typer.Option(None, "--align", help="none | ecc | phase; overrides the manifest's align"),
    target: str | None = typer.Option(None, "--target", help="pins | pad:<ID>; overrides the manifest's target"),
    items: str | None = typer.Option(None, "--items", help="pin ids in view, e.g. 'P01 P02'; overrides the manifest's items"),
    stage_xy: str | None = typer.Option(None, "--stage-xy-mm", help="board 'x y' of the optical axis; overrides the manifest's stage_xy_mm"),
    picture: str = typer.Option("pyramid", "--picture", help="all-in-focus picture: pyramid (merge) | best_slice (each pixel from its best slice)"),
    unit: str = typer.Option("um", "--unit", help="height map labels: um | mm"),
) -> None:
    """Depth from focus: write the height map and the all-in-focus image, print one summary line."""
    import json
    import re

    import numpy as np

    from models.errors import InputError
    from vision.focus import depth_from_focus
    from vision.heightmap_view import coverage, height_map_picture
    from vision.io import write_image
    from vision.stack_io import load_stack

    if fit not in ("3", "5", "7", "auto"):
        raise InputError(f"--fit must be 3, 5, 7 or auto, got {fit!r}")
    if align is not None and align not in ("none", "ecc", "phase"):
        raise InputError(f"--align must be none, ecc or phase, got {align!r}")
    if picture not in ("pyramid", "best_slice"):
        raise InputError(f"--picture must be pyramid or best_slice, got {picture!r}")
    if unit not in ("um", "mm"):
        raise InputError(f"--unit must be um or mm, got {unit!r}")
    if out.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise InputError(f"--out {out}: write the height map as .png or .tif")
    st = load_stack(stack)
    notes: list[str] = []
    if align is not None:
        _override(st, "align", "--align", align, align, notes)
    if target is not None:
        _override(st, "target", "--target", target, target, notes)
    if items is not None:
        _override(st, "items", "--items", [t for t in re.split(r"[\s,]+", items) if t], items, notes)
    if stage_xy is not None:
        try:
            xy = [float(t) for t in re.split(r"[\s,]+", stage_xy.strip()) if t]
        except ValueError:
            raise InputError(f"--stage-xy-mm {stage_xy!r} needs two numbers (board x y in mm)") from None
        _override(st, "stage_xy_mm", "--stage-xy-mm", xy, stage_xy, notes)
    st.check_meta()
    kind, pad_id = st.target
    if window is None:
        window = 15 if kind == "pad" else 9  # the inspection's settings for the target (vision.inspect.stack PAD_DFF / PIN_DFF)
    r = depth_from_focus(st.images, st.z_mm, measure=measure, window_px=window, presmooth_px=presmooth, min_contrast=min_contrast,
                         fit_points=fit if fit == "auto" else int(fit), align=st.align, picture=picture)
    scale = 1e3 if unit == "um" else 1.0
    out.parent.mkdir(parents=True, exist_ok=True)
    write_image(out, height_map_picture(r, unit=unit, scale=scale))
    aif_path = aif or out.with_name(out.stem + "_aif.png")
    write_image(aif_path, r.all_in_focus)
    ok = r.valid
    cov = coverage(r.valid, r.reason)
    un = cov["unmeasured"]
    if ok.any():
        lo, hi = np.nanpercentile(r.height_mm[ok], [1, 99])
        span = f"heights {lo:.4f}..{hi:.4f} mm (1-99 %), median u {np.nanmedian(r.uncertainty_mm[ok]) * 1e3:.2f} um"
    else:
        lo = hi = None
        span = "no usable focus peak"
    all_notes = notes + st.notes + r.notes
    if json_out is not None:
        doc = {
            "stack": str(stack), "slices": st.n, "z_step_mm": st.z_step_mm, "z_range_mm": [float(st.z_mm[0]), float(st.z_mm[-1])],
            "manifest": {"target": st.meta.get("target", "pins"), "align": st.align, "items": st.items, "stage_xy_mm": st.stage_xy_mm},
            "settings": {"measure": measure, "window_px": window, "presmooth_px": presmooth, "fit": fit, "min_contrast": min_contrast,
                         "picture": picture},
            "coverage": cov,
            "height_mm_p1_p99": None if lo is None else [float(lo), float(hi)],
            "median_uncertainty_mm": None if lo is None else float(np.nanmedian(r.uncertainty_mm[ok])),
            "notes": all_notes, "height_map": str(out), "all_in_focus": str(aif_path),
        }
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(doc, indent=2) + "\n")
    where = [f"target {kind}" + (f" {pad_id}" if pad_id else "")]
    if st.items:
        where.append("items " + " ".join(st.items))
    if st.stage_xy_mm is not None:
        where.append(f"stage ({st.stage_xy_mm[0]:g}, {st.stage_xy_mm[1]:g}) mm")
    typer.echo(f"{st.n} slices, step {st.z_step_mm * 1e3:.1f} um, {', '.join(where)}: {ok.mean() * 100:.1f} % of pixels measured, "
               f"not measured: {un['no_contrast'] * 100:.1f} % no contrast, {un['outside_z_range'] * 100:.1f} % outside the z range; {span}; "
               f"wrote {out} and {aif_path}" + (f"; {json_out}" if json_out else "") + ("" if not all_notes else "; " + "; ".join(all_notes)))
