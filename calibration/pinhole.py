"""Pinhole camera with distortion, fitted from several target views (cv2.calibrateCameraExtended)."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from models.errors import InputError
from calibration.record import PinholeModel


@dataclass
class PinholeFit:
    """Result of `fit_pinhole`: the model, RMS, per-view RMS (px) and per-parameter std."""

    model: PinholeModel
    rms_px: float
    per_view_rms_px: dict[str, float] = field(default_factory=dict)
    std_intrinsics: np.ndarray | None = None


def fit_pinhole(
    object_points_mm: dict[str, np.ndarray],
    image_points_px: dict[str, np.ndarray],
    image_size_px: tuple[int, int],
    *,
    flags: int = 0,
    reference_view: str | None = None,
) -> PinholeFit:
    """Calibrate K and distortion from named views.

    Parameters
    ----------
    object_points_mm : dict name -> ndarray, shape (N, 3)
        Target points (z = 0) per view.
    image_points_px : dict name -> ndarray, shape (N, 2)
    image_size_px : (width, height)
    flags : int, keyword-only
        cv2.CALIB_* flags (0: fx, fy, cx, cy, k1, k2, p1, p2, k3).
    reference_view : str, optional, keyword-only
        The view whose target pose becomes the reference plane (default: the first view).

    Returns
    -------
    PinholeFit
    """
    names = list(object_points_mm)
    if not names:
        raise InputError("no views with a target to calibrate from; check the target options")
    obj = [np.asarray(object_points_mm[n], np.float32).reshape(-1, 1, 3) for n in names]
    img = [np.asarray(image_points_px[n], np.float32).reshape(-1, 1, 2) for n in names]
    rms, K, dist, rvecs, tvecs, std_in, _std_ex, per_view = cv2.calibrateCameraExtended(
        obj, img, tuple(int(v) for v in image_size_px), None, None, flags=flags
    )
    ref = names.index(reference_view) if reference_view in names else 0
    n_dist = len(dist.ravel())
    std = std_in.ravel()[: 4 + n_dist]
    model = PinholeModel(
        camera_matrix=K.tolist(),
        dist_coeffs=dist.ravel().tolist(),
        std_intrinsics=std.tolist(),
        plane_rvec=rvecs[ref].ravel().tolist(),
        plane_tvec_mm=tvecs[ref].ravel().tolist(),
    )
    return PinholeFit(
        model=model,
        rms_px=float(rms),
        per_view_rms_px={n: float(e) for n, e in zip(names, per_view.ravel())},
        std_intrinsics=std,
    )
