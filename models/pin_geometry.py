"""The one pin geometry every view and the generator use: a pin type's dimensions in mm, and what follows from them.

Heights are axial, above the flange bottom (the pin-local frame: origin at the centre of the flange's bottom
face, +z along the pin axis). Built from a recipe's `models.recipe.PinType` with ``pin_type.geometry``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["PinGeometry"]


@dataclass(frozen=True)
class PinGeometry:
    """Dimensions of one pogo-pin type (mm)."""

    flange_radius_mm: float
    flange_thickness_mm: float
    barrel_radius_mm: float
    barrel_length_mm: float  # above the flange top
    plunger_radius_mm: float
    plunger_protrusion_mm: float  # barrel top to tip apex (plunger not depressed)
    dome_radius_mm: float
    name: str = "pin"
    #: radial gap between the plunger and the barrel's bore: the dark ring the top view sees around the plunger
    bore_clearance_mm: float = 0.05

    @property
    def axial_length_mm(self) -> float:
        """Flange bottom to tip apex along the axis (nominal: plunger not depressed)."""
        return self.flange_thickness_mm + self.barrel_length_mm + self.plunger_protrusion_mm

    @property
    def h_flange_top_mm(self) -> float:
        return self.flange_thickness_mm

    @property
    def h_barrel_top_mm(self) -> float:
        return self.flange_thickness_mm + self.barrel_length_mm

    @property
    def h_dome_centre_mm(self) -> float:
        return self.axial_length_mm - self.dome_radius_mm

    @property
    def bore_radius_mm(self) -> float:
        """The barrel's bore: the plunger and the clearance around it."""
        return self.plunger_radius_mm + self.bore_clearance_mm

    @property
    def cap_mm(self) -> float:
        """Apex above the rim where the dome meets the plunger cylinder."""
        r, rp = self.dome_radius_mm, min(self.plunger_radius_mm, self.dome_radius_mm)
        return r - math.sqrt(r * r - rp * rp)

    def radii_px(self, mm_per_px: float) -> dict[str, float]:
        """The expected radii in pixels at `mm_per_px` (flange, barrel, plunger, dome): what every fit is checked against."""
        return {k: getattr(self, f"{k}_radius_mm") / mm_per_px for k in ("flange", "barrel", "plunger", "dome")}
