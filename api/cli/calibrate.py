"""`pogoscope calibrate`: target images in, one calibration record (JSON) out."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.app import app


@app.command()
def calibrate(
    images: list[Path] = typer.Argument(..., help="target images of one camera"),
    camera: str = typer.Option(..., "--camera", help="camera id written into the record"),
    model: str = typer.Option("pinhole", "--model", help="pinhole | telecentric"),
    target: str = typer.Option("chessboard", "--target", help="chessboard | charuco | circles | lattice"),
    inner_corners: str | None = typer.Option(None, "--inner-corners", help="COLSxROWS inner corners (ChArUco: squares; circles: circles)"),
    square_mm: float = typer.Option(..., "--square-mm", help="square size (circles: grid spacing) in mm"),
    marker_mm: float | None = typer.Option(None, "--marker-mm", help="ChArUco marker side, mm"),
    dictionary: str = typer.Option("DICT_6X6_250", "--dictionary", help="ChArUco ArUco dictionary"),
    spacing_mm: float | None = typer.Option(None, "--spacing-mm", help="circle grid spacing, mm"),
    asymmetric: bool = typer.Option(False, "--asymmetric", help="asymmetric circle grid"),
    plane: str = typer.Option("board", "--plane", help="board | vertical (side cameras: plane is (x, z))"),
    origin_px: str | None = typer.Option(None, "--origin-px", help="lattice: approximate U,V of inner corner (0,0)"),
    out: Path = typer.Option(..., "--out", help="record JSON to write"),
) -> None:
    """Calibrate one camera from target images and write its record."""
    from calibration.calibrate import calibrate as _calibrate
    from models.errors import InputError
    from calibration.targets import parse_grid
    from vision.io import read_image

    grid = parse_grid(inner_corners) if inner_corners else None
    if plane not in ("board", "vertical"):
        raise InputError(f"--plane {plane!r} must be board or vertical")
    hint = None
    if origin_px:
        try:
            hint = tuple(float(x) for x in origin_px.split(","))
            assert len(hint) == 2
        except (ValueError, AssertionError):
            raise InputError(f"--origin-px {origin_px!r} is not U,V (two numbers)") from None
    imgs = {p.name: read_image(p) for p in images}
    opts = {}
    if target == "charuco":
        opts.update(marker_mm=marker_mm, dictionary=dictionary)
    elif target == "circles":
        opts.update(spacing_mm=spacing_mm, asymmetric=asymmetric)
    elif target == "lattice":
        opts.update(origin_px=hint)
    rec = _calibrate(imgs, model=model, target=target, inner_corners=grid, square_mm=square_mm, camera_id=camera, plane=plane, **opts)
    rec.save(out)
    if rec.model == "pinhole":
        K = rec.pinhole.K
        what = f"fx {K[0, 0]:.2f} fy {K[1, 1]:.2f} px"
    else:
        what = f"{rec.mm_per_px * 1000:.4f} ± {rec.mm_per_px_std * 1000:.4f} um/px, rotation {rec.rotation_deg:.4f} deg"
    typer.echo(
        f"{camera}: RMS {rec.rms_px:.4f} px, {what}, views used {len(rec.views_used)}, rejected {len(rec.views_rejected)}"
        + (f" ({', '.join(rec.views_rejected)})" if rec.views_rejected else "")
        + f" -> {out}"
    )
