"""One call from named target images to a `CalibrationRecord`."""

from __future__ import annotations

from typing import Literal

import numpy as np

from models.errors import InputError
from calibration.lattice import detect_lattice
from calibration.pinhole import fit_pinhole
from calibration.record import CalibrationRecord
from calibration.targets import TargetDetection, detect_charuco, detect_chessboard, detect_circles
from calibration.telecentric import fit_affine


def detect_target(image: np.ndarray, *, target: str, inner_corners: tuple[int, int] | None, square_mm: float, **opts) -> TargetDetection:
    """Dispatch to the detector of `target` (chessboard | charuco | circles | lattice)."""
    if target == "chessboard":
        return detect_chessboard(image, inner_corners, square_mm=square_mm, partial=opts.get("partial", False))
    if target == "charuco":
        return detect_charuco(
            image,
            inner_corners,  # squares (columns, rows) for ChArUco
            square_mm=square_mm,
            marker_mm=opts.get("marker_mm") or square_mm / 2,
            dictionary=opts.get("dictionary", "DICT_6X6_250"),
            legacy=opts.get("legacy", False),
        )
    if target == "circles":
        return detect_circles(image, inner_corners, spacing_mm=opts.get("spacing_mm") or square_mm, asymmetric=opts.get("asymmetric", False))
    if target == "lattice":
        return detect_lattice(image, square_mm=square_mm, origin_px=opts.get("origin_px"), y_axis=opts.get("y_axis", "up"))
    raise InputError(f"unknown target {target!r}; choose chessboard, charuco, circles or lattice")


def calibrate(
    images: dict[str, np.ndarray],
    *,
    model: Literal["pinhole", "telecentric"],
    target: str,
    inner_corners: tuple[int, int] | None,
    square_mm: float,
    camera_id: str,
    plane: Literal["board", "vertical"] = "board",
    pinhole_flags: int = 0,
    **target_opts,
) -> CalibrationRecord:
    """Calibrate one camera from named images of a target.

    Parameters
    ----------
    images : dict name -> ndarray, shape (H, W) or (H, W, 3)
        All of one size.
    model : {"pinhole", "telecentric"}, keyword-only
        Telecentric uses the view with the most points (one view is enough); pinhole all views.
    target : {"chessboard", "charuco", "circles", "lattice"}, keyword-only
    inner_corners : (int, int) or None, keyword-only
        Chessboard inner corners / ChArUco squares / circles (columns, rows); unused for lattice.
    square_mm : float, keyword-only
    camera_id : str, keyword-only
    plane : {"board", "vertical"}, keyword-only
        Reference plane; for "vertical" the plane coordinates are (x, z), +z up.
    **target_opts
        marker_mm, dictionary, legacy (ChArUco); spacing_mm, asymmetric (circles);
        origin_px, y_axis (lattice); partial (chessboard).

    Returns
    -------
    CalibrationRecord
        Views without a target are listed in ``views_rejected`` with the reason.
    """
    if not images:
        raise InputError("no images given; pass at least one image of the calibration target")
    if model not in ("pinhole", "telecentric"):
        raise InputError(f"unknown model {model!r}; choose pinhole or telecentric")
    if not square_mm > 0:
        raise InputError(f"square size {square_mm} mm must be > 0")
    if target != "lattice" and inner_corners is None:
        raise InputError(f"target {target!r} needs the grid size (e.g. --inner-corners 9x6)")
    sizes = {(int(im.shape[1]), int(im.shape[0])) for im in images.values()}
    if len(sizes) != 1:
        raise InputError(f"images have different sizes {sorted(sizes)}; calibrate one camera at a time")
    size = sizes.pop()
    dets: dict[str, TargetDetection] = {}
    rejected: dict[str, str] = {}
    for name, img in images.items():
        d = detect_target(img, target=target, inner_corners=inner_corners, square_mm=square_mm, **target_opts)
        if d.ok:
            dets[name] = d
        else:
            rejected[name] = d.reason
    if not dets:
        first = next(iter(rejected.items()))
        raise InputError(f"no {target} target found in any of the {len(images)} images (e.g. {first[0]}: {first[1]}); check the target options")
    tinfo = {"type": target, "grid": list(inner_corners) if inner_corners else None, "square_mm": square_mm}
    tinfo.update({k: v for k, v in target_opts.items() if v is not None and k != "origin_px"})
    if model == "telecentric":
        name = max(dets, key=lambda n: dets[n].n_points)
        d = dets[name]
        fit = fit_affine(d.object_points_mm[:, :2], d.image_points_px)
        if not fit.ok:
            raise InputError(f"{name}: the telecentric fit failed: {fit.reason}")
        res = np.linalg.norm(fit.residuals_px, axis=1)
        return CalibrationRecord(
            camera_id=camera_id,
            model="telecentric",
            plane=plane,
            image_size_px=size,
            telecentric=fit.model,
            rms_px=fit.rms_px,
            residual_stats_px={"max": float(res.max()), "median": float(np.median(res)), "n_points": float(fit.n_points)},
            mm_per_px=fit.mm_per_px,
            mm_per_px_std=fit.mm_per_px_std,
            rotation_deg=fit.rotation_deg,
            rotation_std_deg=fit.rotation_std_deg,
            target=tinfo,
            views_used=[name],
            views_rejected=rejected,
            per_view_rms_px={name: fit.rms_px},
            notes=f"origin: {d.meta.get('origin', 'target inner corner (0,0)')}",
        )
    pf = fit_pinhole(
        {n: d.object_points_mm for n, d in dets.items()}, {n: d.image_points_px for n, d in dets.items()}, size, flags=pinhole_flags
    )
    return CalibrationRecord(
        camera_id=camera_id,
        model="pinhole",
        plane=plane,
        image_size_px=size,
        pinhole=pf.model,
        rms_px=pf.rms_px,
        residual_stats_px={"max_view_rms": max(pf.per_view_rms_px.values())},
        target=tinfo,
        views_used=list(dets),
        views_rejected=rejected,
        per_view_rms_px=pf.per_view_rms_px,
        notes=f"reference plane: target pose in view {next(iter(dets))}",
    )
