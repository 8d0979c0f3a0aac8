"""Scene description for the generator: plain dataclasses, lengths in mm, angles in degrees.

Frames are those of the recipe: board frame origin at the front-left corner of the board
surface, +x along the front edge, +y into the board, +z up. The pin-local frame has its
origin at the centre of the flange bottom ("base centre"); tilt rotates the pin about the
base centre by ``tilt_deg`` towards ``tilt_azimuth_deg`` (board xy, from +x towards +y).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from models.pin_geometry import PinGeometry


PIN_TYPE_A = PinGeometry(0.70, 0.30, 0.50, 2.00, 0.28, 1.00, 0.35, name="A")
PIN_TYPE_B = PinGeometry(0.65, 0.25, 0.45, 1.80, 0.25, 0.90, 0.25, name="B")


@dataclass
class PinState:
    """One pin as placed, with its defects."""

    id: str
    nominal_xy_mm: tuple[float, float]
    row: int = 0
    col: int = 0
    present: bool = True
    xy_offset_mm: tuple[float, float] = (0.0, 0.0)
    tilt_deg: float = 0.0
    tilt_azimuth_deg: float = 0.0
    seating_gap_mm: float = 0.0  # flange bottom above the pad top
    plunger_depression_mm: float = 0.0
    wicking_above_flange_mm: float = 0.0  # solder top edge above the flange top, along the axis (0 = fillet only)
    solder_in_plunger_gap: bool = False
    fillet: bool = True  # a seated pin has a solder fillet; a raised pin sits on a film
    defects: list[str] = field(default_factory=list)
    bare_pad: bool = False  # a missing pin leaves a bare gold pad instead of reflowed paste

    @property
    def base_xy_mm(self) -> tuple[float, float]:
        return (self.nominal_xy_mm[0] + self.xy_offset_mm[0], self.nominal_xy_mm[1] + self.xy_offset_mm[1])

    def axis_dir(self) -> np.ndarray:
        t, a = math.radians(self.tilt_deg), math.radians(self.tilt_azimuth_deg)
        return np.array([math.sin(t) * math.cos(a), math.sin(t) * math.sin(a), math.cos(t)])


@dataclass
class PadCondition:
    """A mating pad and its condition (pad frame: origin at the pad centre, axes = board x, y)."""

    id: str
    center_xy_mm: tuple[float, float]
    size_mm: tuple[float, float] = (1.2, 1.2)
    row: int = 0
    col: int = 0
    warp_shape: str | None = None  # "dome" | "bow_x" | "saddle"
    warp_pv_um: float = 0.0
    dents: list[dict] = field(default_factory=list)  # {center_pad_mm, depth_um, sigma_mm}
    scratches: list[dict] = field(default_factory=list)  # {p0_pad_mm, p1_pad_mm, width_mm, depth_um}
    oxidation: list[dict] = field(default_factory=list)  # ellipses {center_pad_mm, radii_mm, angle_deg}


@dataclass
class BoardScene:
    board_id: str
    size_mm: tuple[float, float, float]
    pin_geometry: PinGeometry | None = PIN_TYPE_A
    pins: list[PinState] = field(default_factory=list)
    pads: list[PadCondition] = field(default_factory=list)
    fiducials_xy_mm: list[tuple[float, float]] = field(default_factory=list)
    fiducial_diameter_mm: float = 1.0
    pad_diameter_mm: float = 1.9
    pad_top_z_mm: float = 0.02
    mask_color: str = "green"  # "green" | "black"
    rows: int = 1
    cols: int = 1
    pitch_mm: float = 2.54
    # where the board lies under the camera: rotation about the board centre and shift, in the camera's plane frame
    rotation_deg: float = 0.0
    offset_mm: tuple[float, float] = (0.0, 0.0)
    seed: int = 0


@dataclass(frozen=True)
class TopCamera:
    """A telecentric top camera looking down (-z) on the world plane z = 0.

    The world frame is the camera's plane frame: the image is axis-aligned with it, +x to the
    right and +y up in the image. Projection (OpenCV pixel centres):
    ``u = W/2 - 0.5 + (X - cx)/s``, ``v = H/2 - 0.5 - (Y - cy)/s`` with ``s = mm_per_px`` and
    ``(cx, cy) = center_mm``. The board is placed in the world by `BoardScene.rotation_deg`
    and `BoardScene.offset_mm`.
    """

    mm_per_px: float = 0.014
    width_px: int = 1280
    height_px: int = 960
    center_mm: tuple[float, float] = (0.0, 0.0)  # world point at the image centre
    camera_id: str = "TOP_SYN"
