"""`pogoscope focus STACK --out heightmap.png`: a focus stack to a height map and an all-in-focus image."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.app import app


@app.command()
def focus(
    stack: Path = typer.Argument(..., help="manifest (.csv file,z_mm / .json) or folder of the focus stack"),
    out: Path = typer.Option(..., "--out", help="height map PNG to write (colour, with a scale bar)"),
    aif: Path | None = typer.Option(None, "--aif", help="all-in-focus image to write (default: beside --out)"),
    measure: str = typer.Option("sml", "--measure", help="focus measure: sml | tenengrad | lapv"),
    window: int = typer.Option(9, "--window", help="focus window, odd px"),
    presmooth: float = typer.Option(1.0, "--presmooth", help="Gaussian pre-blur sigma px (0 = off)"),
    fit: str = typer.Option("auto", "--fit", help="slices in the peak fit: 3 | 5 | 7 | auto"),
    min_contrast: float = typer.Option(3.0, "--min-contrast", help="peak over floor and noise needed to count"),
    align: str = typer.Option("none", "--align", help="none | ecc | phase (hand-held stacks)"),
    unit: str = typer.Option("um", "--unit", help="height map labels: um | mm"),
) -> None:
    """Depth from focus: write the height map and the all-in-focus image, print one summary line."""
    from vision.io import write_image
    import numpy as np

    from models.errors import InputError
    from vision.focus import REASON_PEAK_AT_END, REASON_WEAK, depth_from_focus
    from vision.pads import height_map_rgb
    from vision.stack_io import load_stack

    if fit not in ("3", "5", "7", "auto"):
        raise InputError(f"--fit must be 3, 5, 7 or auto, got {fit!r}")
    if align not in ("none", "ecc", "phase"):
        raise InputError(f"--align must be none, ecc or phase, got {align!r}")
    if unit not in ("um", "mm"):
        raise InputError(f"--unit must be um or mm, got {unit!r}")
    if out.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise InputError(f"--out {out}: write the height map as .png or .tif")
    st = load_stack(stack)
    r = depth_from_focus(st.images, st.z_mm, measure=measure, window_px=window, presmooth_px=presmooth, min_contrast=min_contrast,
                         fit_points=fit if fit == "auto" else int(fit), align=None if align == "none" else align)
    scale = 1e3 if unit == "um" else 1.0
    rgb = height_map_rgb(r.height_mm, r.valid, unit=unit, scale=scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_image(out, rgb)
    aif_path = aif or out.with_name(out.stem + "_aif.png")
    write_image(aif_path, r.all_in_focus)
    ok = r.valid
    n_end, n_weak = int((r.reason == REASON_PEAK_AT_END).sum()), int((r.reason == REASON_WEAK).sum())
    if ok.any():
        lo, hi = np.nanpercentile(r.height_mm[ok], [1, 99])
        span = f"heights {lo:.4f}..{hi:.4f} mm (1-99 %), median u {np.nanmedian(r.uncertainty_mm[ok]) * 1e3:.2f} um"
    else:
        span = "no usable focus peak"
    typer.echo(f"{st.n} slices, step {st.z_step_mm * 1e3:.1f} um: {ok.mean() * 100:.1f} % of pixels measured, {span}; "
               f"flagged: {n_end} peak at the stack's end, {n_weak} weak; wrote {out} and {aif_path}"
               + ("" if not (st.notes or r.notes) else "; " + "; ".join(st.notes + r.notes)))
