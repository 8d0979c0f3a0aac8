"""The one parameter set of vision: every tuned number of the views, typed and versioned, with its source.

A number that follows from the recipe or the calibration (radii in px, the z step, mm/px) is not here: it is
computed where it is used. What is here is what cannot be derived — a noise floor, a detection threshold, a
search window — and beside each value (its field's description) where it comes from: geometry, a noise model,
physics, or a distribution measured over many boards. Acceptance decisions are not here either: they are the
recipe's `limits` (`models.measurands`).

Use ``PARAMS.top.search_mm`` etc.; a test or a study may build another `VisionParams` and pass its parts.
Change ``version`` whenever a value changes, so that results can be traced to the parameters that made them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["VisionParams", "TopParams", "SideParams", "FusionParams", "DepthFromFocusParams", "StackParams", "PARAMS"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopParams(_Frozen):
    """The top view (telecentric camera looking down, coaxial and ring light)."""

    search_mm: float = Field(0.45, description="how far a pin may sit from its registered nominal position and still be "
                                               "found; xy defects reach 0.30 mm (rendered-dev spec), plus 0.15 margin")
    search_extra_pin_registration_mm: float = Field(0.15, description="extra search when registered on the pins (no "
                                                                      "fiducials): the coarse registration is that much looser")
    pin_registration_reject_mm: float = Field(0.07, description="registration on pins: a pin farther than this from the "
                                                                "consensus is left out (good pins sit within 0.02 mm of "
                                                                "their pads, marginal ones within 0.06: defect spec)")
    u_floor_flange_px: float = Field(0.08, description="floor on the flange-rim centre's standard uncertainty per axis: "
                                                       "the fit's covariance sees noise, not shading bias; 0.07 px RMS "
                                                       "measured on rendered-dev")
    u_floor_barrel_px: float = Field(0.5, description="floor for the barrel-top rim: it moves against the lean on leaning "
                                                      "pins (0.3-0.5 px at 4 deg on rendered-dev)")
    u_floor_dome_px: float = Field(0.25, description="floor for the dome highlight once corrected for the light's "
                                                     "position (0.1-0.25 px on rendered-dev)")
    barrel_outlier_px: float = Field(1.5, description="a barrel-top centre farther than this from the flange-dome axis is "
                                                      "left out of the axis fit (3x its 0.5 px floor)")
    presence_min_score: float = Field(5.0, description="barrel-rim score (edge step / (RMS + 0.2 px)) for a pin: pins "
                                                       "score 26-180, empty pads 0.8-1.6 on rendered-dev and generated "
                                                       "boards; the geometric mean of the two ranges, rounded")
    chroma_gold_min: float = Field(16.0, description="Lab chroma below which a bright pixel is grey (solder), not gold: "
                                                     "gold 25-60, SAC solder below 12 (rendered and synthetic): midpoint")
    grey_flange_min: float = Field(0.35, description="grey share of the flange-top annulus above which solder is "
                                                     "suspected to have wicked over it")
    grey_ring_measured: float = Field(0.55, description="grey share of the barrel-top ring that settles solder in the "
                                                        "plunger gap (most of the ring)")
    grey_ring_suspect: float = Field(0.30, description="grey share of the barrel-top ring that makes it a suspicion")
    fillet_lightness_max_ratio: float = Field(0.5, description="a concave fillet beside the flange is steep, so dark "
                                                               "under coaxial light (L* about a quarter of the gold's); "
                                                               "a pin on a flat film shows a bright ring (about half)")


class SideParams(_Frozen):
    """The side view (backlit silhouette and front-lit colour of a 1 x N row)."""

    tilt_across_bound_deg: float = Field(2.0, description="a tilt towards or away from the camera is invisible in a side "
                                                          "image; alone, the side view states its effects for a tilt up "
                                                          "to this (uniform); good pins lean 0-0.6 deg (defect spec)")
    flange_thickness_u_mm: float = Field(0.005, description="standard uncertainty of a flange's thickness about its "
                                                            "nominal (manufacturing tolerance)")
    axis_row_correlation: float = Field(3.0, description="the axis line is fitted to one edge point per image row, but "
                                                         "the blur (~2 px) correlates neighbouring rows: the least-squares "
                                                         "covariance counts each independent sample about 3 times")
    plunger_grey_min: float = Field(0.4, description="grey share of the plunger just above the barrel that settles "
                                                     "solder in the plunger gap")
    blur_sigma_px: float = Field(1.0, description="largest optical blur (Gaussian sigma) of the side camera: the seating "
                                                  "gap's light is counted to this far below the pad top (its lost tail, "
                                                  "0.083 sigma, is in the uncertainty) and solder turning over the barrel "
                                                  "top may glint within 3 sigma of it (sensor model: 0.5-1.0 px)")


class FusionParams(_Frozen):
    """Merging the top and side views of a pin."""

    frame_rotation_u_deg: float = Field(1.8, description="uncertainty of the board's rotation about z between the two "
                                                         "cameras' frames: placement tolerance +-3 deg, uniform -> 3/sqrt(3)")


class DepthFromFocusParams(_Frozen):
    """Settings of `vision.focus.depth_from_focus` for one kind of target."""

    measure: Literal["sml", "tenengrad", "lapv"] = "sml"
    window_px: int = Field(ge=1)
    presmooth_px: float = 1.0
    min_contrast: float = 3.0
    fit_points: Literal["auto", 3, 5, 7] = "auto"

    def kwargs(self) -> dict:
        return self.model_dump()


class StackParams(_Frozen):
    """Microscope focus stacks."""

    pads: DepthFromFocusParams = Field(
        default_factory=lambda: DepthFromFocusParams(window_px=15),
        description="pads: a wide window and a band-pass (ENIG shows little texture); fit width from the focus curve")
    pins: DepthFromFocusParams = Field(default_factory=lambda: DepthFromFocusParams(window_px=9),
                                       description="pins: measured per feature, so a narrower window")
    rotation_min_lever_mm: float = Field(0.5, description="pins nearer the optical axis than this are not used for the "
                                                          "board's rotation under the microscope: at 0.5 mm a base centre "
                                                          "good to ~5 um gives the angle to 10 mrad, the scatter good "
                                                          "pins' placement (<= 0.02 mm, defect spec) gives at 1-2 mm")
    pad_hull_fill_min: float = Field(0.9, description="a pad candidate's convex hull must fill this share of its minimum "
                                                      "rectangle (a rectangle fills it all; rounded rendered pad corners "
                                                      "0.99; two pads touching corner to corner about half)")


class VisionParams(_Frozen):
    version: str = Field("2026.12.2", description="change with any value, so results trace to their parameters")
    top: TopParams = Field(default_factory=TopParams)
    side: SideParams = Field(default_factory=SideParams)
    fusion: FusionParams = Field(default_factory=FusionParams)
    stack: StackParams = Field(default_factory=StackParams)


#: the parameters the product runs with
PARAMS = VisionParams()
