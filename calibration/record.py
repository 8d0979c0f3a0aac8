"""Calibration records: one JSON document per camera, versioned, loaded by `inspect`.

A record maps pixels to millimetres on a reference plane:

* ``telecentric``: an affine map from the plane's 2-D coordinates (mm) to pixels,
  ``[u, v]^T = A @ [X, Y]^T + t``.  For a top camera the plane is the board plane (X, Y);
  for a side camera it is the vertical plane of the pin row, with (X, Y) = (x, z).
  Pixel convention: OpenCV, (u, v) = (column, row), integers at pixel centres.
* ``pinhole``: OpenCV camera matrix and distortion, plus the pose of the reference plane
  (rvec, tvec) so that image points can be mapped to the plane.

Every parameter carries its standard uncertainty (k=1).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.errors import InputError

RECORD_SCHEMA_VERSION = 1


class TelecentricModel(BaseModel):
    """Affine plane(mm) -> pixel map of a telecentric lens."""

    model_config = ConfigDict(extra="forbid")

    A: list[list[float]] = Field(description="2x2 matrix, px per mm; columns are the images of the plane's X and Y axes")
    t_px: list[float] = Field(description="pixel position of the plane origin (u, v)")
    cov: list[list[float]] | None = Field(
        default=None, description="6x6 covariance of (A00, A01, A10, A11, t0, t1) from the fit"
    )

    @model_validator(mode="after")
    def _check(self) -> "TelecentricModel":
        a = np.asarray(self.A, float)
        if a.shape != (2, 2) or len(self.t_px) != 2:
            raise ValueError("A must be 2x2 and t_px must have 2 values")
        if abs(np.linalg.det(a)) < 1e-12:
            raise ValueError("A is singular: the model does not map the plane to the image")
        return self

    @property
    def matrix(self) -> np.ndarray:
        return np.asarray(self.A, float)

    @property
    def offset(self) -> np.ndarray:
        return np.asarray(self.t_px, float)

    @property
    def mm_per_px(self) -> float:
        """Mean scale (geometric mean of the two axes)."""
        return 1.0 / math.sqrt(abs(np.linalg.det(self.matrix)))

    @property
    def px_per_mm_xy(self) -> tuple[float, float]:
        a = self.matrix
        return float(np.hypot(*a[:, 0])), float(np.hypot(*a[:, 1]))

    @property
    def rotation_deg(self) -> float:
        """Angle of the plane's +X axis in the image, from +u towards +v."""
        a = self.matrix
        return math.degrees(math.atan2(a[1, 0], a[0, 0]))

    def plane_to_pixel(self, xy_mm: np.ndarray) -> np.ndarray:
        """Map plane points (..., 2) in mm to pixels (..., 2)."""
        p = np.asarray(xy_mm, float)
        return p @ self.matrix.T + self.offset

    def pixel_to_plane(self, uv_px: np.ndarray) -> np.ndarray:
        """Map pixels (..., 2) to plane points (..., 2) in mm."""
        p = np.asarray(uv_px, float) - self.offset
        return p @ np.linalg.inv(self.matrix).T


class PinholeModel(BaseModel):
    """OpenCV pinhole camera with distortion and the pose of the reference plane."""

    model_config = ConfigDict(extra="forbid")

    camera_matrix: list[list[float]]
    dist_coeffs: list[float]
    std_intrinsics: list[float] | None = Field(
        default=None, description="std devs (fx, fy, cx, cy, k1, k2, p1, p2, k3, ...) from calibrateCamera"
    )
    plane_rvec: list[float] | None = Field(default=None, description="pose of the reference plane (Rodrigues)")
    plane_tvec_mm: list[float] | None = None

    @property
    def K(self) -> np.ndarray:
        return np.asarray(self.camera_matrix, float)

    @property
    def dist(self) -> np.ndarray:
        return np.asarray(self.dist_coeffs, float)

    def undistort_points(self, uv_px: np.ndarray) -> np.ndarray:
        """Undistort pixel points (N, 2) to ideal pixel coordinates (same K)."""
        import cv2

        p = np.asarray(uv_px, float).reshape(-1, 1, 2)
        out = cv2.undistortPoints(p, self.K, self.dist, P=self.K)
        return out.reshape(-1, 2)

    def pixel_to_plane(self, uv_px: np.ndarray) -> np.ndarray:
        """Back-project pixels (N, 2) onto the reference plane Z=0; returns (N, 2) mm."""
        import cv2

        if self.plane_rvec is None or self.plane_tvec_mm is None:
            raise InputError("this pinhole record has no reference-plane pose; calibrate with a target lying on the plane")
        p = np.asarray(uv_px, float).reshape(-1, 1, 2)
        rays = cv2.undistortPoints(p, self.K, self.dist).reshape(-1, 2)
        rays = np.column_stack([rays, np.ones(len(rays))])
        R, _ = cv2.Rodrigues(np.asarray(self.plane_rvec, float))
        t = np.asarray(self.plane_tvec_mm, float)
        # plane: points X with (R^T (X - t))_z = 0 in camera coords -> n.X = n.t, n = R[:,2]
        n = R[:, 2]
        s = (n @ t) / (rays @ n)
        pts_cam = rays * s[:, None]
        pts_plane = (pts_cam - t) @ R
        return pts_plane[:, :2]

    def plane_to_pixel(self, xy_mm: np.ndarray) -> np.ndarray:
        import cv2

        if self.plane_rvec is None or self.plane_tvec_mm is None:
            raise InputError("this pinhole record has no reference-plane pose; calibrate with a target lying on the plane")
        p = np.asarray(xy_mm, float).reshape(-1, 2)
        obj = np.column_stack([p, np.zeros(len(p))])
        img, _ = cv2.projectPoints(obj, np.asarray(self.plane_rvec, float), np.asarray(self.plane_tvec_mm, float), self.K, self.dist)
        return img.reshape(-1, 2)


class CalibrationRecord(BaseModel):
    """One camera's calibration, as stored on disk and recorded with every inspection."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = RECORD_SCHEMA_VERSION
    camera_id: str
    version: int = 1
    model: Literal["telecentric", "pinhole"]
    plane: Literal["board", "vertical"] = Field(
        default="board", description="reference plane: the board plane (top/microscope) or the vertical plane of a row (side)"
    )
    image_size_px: tuple[int, int] = Field(description="(width, height) of the images this record is valid for")
    telecentric: TelecentricModel | None = None
    pinhole: PinholeModel | None = None
    rms_px: float = Field(ge=0, description="RMS reprojection error of the fit")
    residual_stats_px: dict[str, float] = Field(default_factory=dict)
    mm_per_px: float | None = Field(default=None, description="scale on the reference plane")
    mm_per_px_std: float | None = None
    rotation_deg: float | None = None
    rotation_std_deg: float | None = None
    target: dict = Field(default_factory=dict, description="target type, size, square/spacing mm")
    views_used: list[str] = Field(default_factory=list)
    views_rejected: dict[str, str] = Field(default_factory=dict)
    per_view_rms_px: dict[str, float] = Field(default_factory=dict)
    created: str = Field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    notes: str = ""

    @model_validator(mode="after")
    def _check(self) -> "CalibrationRecord":
        if self.model == "telecentric" and self.telecentric is None:
            raise ValueError("model is 'telecentric' but the 'telecentric' section is missing")
        if self.model == "pinhole" and self.pinhole is None:
            raise ValueError("model is 'pinhole' but the 'pinhole' section is missing")
        return self

    # -- mapping -------------------------------------------------------------
    def pixel_to_plane(self, uv_px: np.ndarray) -> np.ndarray:
        """Pixels (..., 2) -> reference-plane mm (..., 2)."""
        m = self.telecentric if self.model == "telecentric" else self.pinhole
        return m.pixel_to_plane(uv_px)

    def plane_to_pixel(self, xy_mm: np.ndarray) -> np.ndarray:
        """Reference-plane mm (..., 2) -> pixels (..., 2)."""
        m = self.telecentric if self.model == "telecentric" else self.pinhole
        return m.plane_to_pixel(xy_mm)

    def scale_mm_per_px(self) -> float:
        if self.mm_per_px is not None:
            return self.mm_per_px
        if self.telecentric is not None:
            return self.telecentric.mm_per_px
        raise InputError(f"calibration record for camera {self.camera_id!r} gives no mm/px scale")

    def check_image(self, shape: tuple[int, ...], *, what: str = "image") -> None:
        """Raise InputError unless an image of `shape` (rows, cols, ...) fits this record."""
        h, w = int(shape[0]), int(shape[1])
        if (w, h) != tuple(self.image_size_px):
            raise InputError(
                f"{what} is {w}x{h} px but calibration record {self.camera_id!r} is for "
                f"{self.image_size_px[0]}x{self.image_size_px[1]} px images; use the record of the camera that took it"
            )

    # -- I/O -------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path, *, camera_id: str | None = None) -> "CalibrationRecord":
        """Load and validate a record; `camera_id` guards against a record for another camera."""
        p = Path(path)
        try:
            raw = json.loads(p.read_text())
        except FileNotFoundError:
            raise InputError(f"calibration record {p} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"calibration record {p} is not valid JSON: {exc}") from None
        try:
            rec = cls.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
            raise InputError(f"calibration record {p}: field '{loc}': {err['msg']}", field=loc) from None
        if camera_id is not None and rec.camera_id != camera_id:
            raise InputError(
                f"calibration record {p} is for camera {rec.camera_id!r}, not {camera_id!r}; pass the record of camera {camera_id!r}"
            )
        return rec
