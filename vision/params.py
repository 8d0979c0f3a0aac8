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

__all__ = ["VisionParams", "TopParams", "ColourParams", "RegistrationParams", "SideParams", "FusionParams", "DepthFromFocusParams", "StackParams", "PARAMS"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopParams(_Frozen):
    """The top view (telecentric camera looking down, coaxial and ring light)."""

    search_mm: float = Field(0.45, description="how far a pin may sit from its registered nominal position and still be "
                                               "found; xy defects reach 0.30 mm (rendered-dev spec), plus 0.15 margin")
    search_extra_pin_registration_mm: float = Field(0.15, description="extra search when registered on the pins (no "
                                                                      "fiducials): the coarse registration is that much looser")
    pin_registration_reject_mm: float = Field(0.035, description="registration on pins: a pin farther than this from the "
                                                                 "consensus is left out. Good pins sit within ~0.02 mm of "
                                                                 "their pads, marginal ones 0.04-0.06 (defect spec): the fit "
                                                                 "rests on the good ones only (a marginal pin kept in it "
                                                                 "shifted a 7-pin row's positions by up to 25 um)")
    pin_placement_u_mm: float = Field(0.01, description="registration on pins: standard uncertainty per axis of where a "
                                                        "good pin marks the board -- good pins stand within ~0.02 mm of "
                                                        "their pads (defect spec), uniform in that disc: 0.02 / 2")
    pad_registration_reject_mm: float = Field(0.01, description="registration on the pads under the pins: a pad centre "
                                                                "farther than this from the consensus is left out. Pads are "
                                                                "etched in one pattern, their centres within a few um of the "
                                                                "design (photo-tool); a rim fit pulled by a fillet or "
                                                                "solder is not")
    pad_rim_band_mm: float = Field(0.06, description="registration on pins: the pad rim is searched this far either side of "
                                                     "the recipe's pad radius (pads are etched to ~+-0.025 mm, IPC-6012 "
                                                     "class 2 conductor width; twice that as margin)")
    pad_reference_max_offset_mm: float = Field(0.10, description="a pin farther than this off its pad hides part of the "
                                                                 "pad's rim under its flange and fillet (pad radius 0.95, "
                                                                 "fillet foot ~0.2 beyond a 0.65-0.70 flange), which pulls "
                                                                 "the rim's centre towards the pin (26 um at 0.24 mm on "
                                                                 "rendered-dev d01); it keeps the registration's position")
    pad_centre_floor_mm: float = Field(0.001, description="floor on a pad centre's standard uncertainty per axis: an etched "
                                                          "outline is not round to better than about a micrometre, whatever "
                                                          "the rim fit's own scatter says")
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
    grey_flange_min: float = Field(0.35, description="grey share of the flange-top annulus above which solder is "
                                                     "suspected to have wicked over it")
    grey_ring_measured: float = Field(0.55, description="grey share of the barrel-top ring that settles solder in the "
                                                        "plunger gap (most of the ring)")
    grey_ring_suspect: float = Field(0.30, description="grey share of the barrel-top ring that makes it a suspicion")
    fillet_inner_band_mm: tuple[float, float] = Field((0.02, 0.06), description="radii beyond the flange (mm) of a fillet's "
                                                      "steep part: the first fifth of its 0.2 mm overhang, clear of the "
                                                      "flange's blurred edge")
    fillet_outer_band_mm: tuple[float, float] = Field((0.13, 0.18), description="radii beyond the flange (mm) of a fillet's "
                                                      "flattening foot, inside its 0.2 mm overhang")
    fillet_rise_min: float = Field(1.6, description="a concave fillet is steep at the flange and flattens towards its "
                                   "foot, so under coaxial light its lightness rises outward; a pin hovering over a flat "
                                   "film or pad shows the same lightness across. Ratio of the foot band's mean L* to the "
                                   "inner band's, per pin, so the gold's own brightness does not enter. Over rendered-dev "
                                   "and 22 top-only boards of draw 11777, all mask colours, ring light on and off: seated "
                                   "pins 2.24-7.3 (n = 261; tilted or misplaced ones from 1.50, which fail on their own), "
                                   "pins on a film 1.04-1.18 (n = 42); the geometric midpoint. It replaced a ratio to the pin's gold, whose classes "
                                   "were 0.40 and 0.43-0.476 apart and let a raised pin on a white mask pass")

    max_lean_deg: float = Field(
        12.0,
        description=(
        "the largest tilt whose barrel top is searched for around the flange (deg); a pin leaning more is far "
        "outside any tilt limit, and its fits are reported unreliable rather than trusted "))
    rim_independent_arcs: int = Field(
        9,
        description=(
        "independent arcs of a deformed rim (solder lobes, a fillet's meniscus span ~40 deg of it): a rim "
        "centre's uncertainty is at least its edge RMS / sqrt(this) "))
    n_rays: int = Field(
        72,
        description=(
        "rays of the radial edge fits (`radial_edge_circles`' default) "))
    rim_edge_break_mm: float = Field(
        0.06,
        description=(
        "self-checks of a rim fit (`check_pin_fits`). The rim a top camera sees is the top face's outline, "
        "inside the nominal radius by the part's broken edge: rendered-dev (144 pins, 2 types, 2 scales, 5 "
        "masks) sees the flange at 0.96-0.99 and the barrel top at 0.91-0.95 of nominal (0.01-0.04 mm in); a "
        "turned part's deburred edge is 0.02-0.06 mm. The band is [r - RIM_EDGE_BREAK_MM, r + "
        "RIM_OVERSIZE_MM] widened by RIM_BLUR_PX for blur and the fit (sensor blur sigma <= 1 px). "))
    rim_oversize_mm: float = Field(
        0.02,
        description=(
        "self-checks of a rim fit (`check_pin_fits`). The rim a top camera sees is the top face's outline, "
        "inside the nominal radius by the part's broken edge: rendered-dev (144 pins, 2 types, 2 scales, 5 "
        "masks) sees the flange at 0.96-0.99 and the barrel top at 0.91-0.95 of nominal (0.01-0.04 mm in); a "
        "turned part's deburred edge is 0.02-0.06 mm. The band is [r - RIM_EDGE_BREAK_MM, r + "
        "RIM_OVERSIZE_MM] widened by RIM_BLUR_PX for blur and the fit (sensor blur sigma <= 1 px). "))
    rim_blur_px: float = Field(
        1.5,
        description=(
        "self-checks of a rim fit (`check_pin_fits`). The rim a top camera sees is the top face's outline, "
        "inside the nominal radius by the part's broken edge: rendered-dev (144 pins, 2 types, 2 scales, 5 "
        "masks) sees the flange at 0.96-0.99 and the barrel top at 0.91-0.95 of nominal (0.01-0.04 mm in); a "
        "turned part's deburred edge is 0.02-0.06 mm. The band is [r - RIM_EDGE_BREAK_MM, r + "
        "RIM_OVERSIZE_MM] widened by RIM_BLUR_PX for blur and the fit (sensor blur sigma <= 1 px). "))
    rim_min_inlier_fraction: float = Field(
        0.5,
        description=(
        "a rim found on fewer rays than this share is not trusted (correct rims: 56-72 of 72 on rendered-dev, "
        "the lowest under wicked solder) "))
    rim_max_rms_rel: float = Field(
        0.06,
        description=(
        "an edge wandering more than this share of its radius (RMS) is not that circle (correct rims: <= 0.04 "
        "of the flange radius, the worst under solder on the flange; unsoldered <= 0.01) "))


class SideParams(_Frozen):
    """The side view (backlit silhouette and front-lit colour of a 1 x N row)."""

    tilt_across_bound_deg: float = Field(2.0, description="a tilt towards or away from the camera is invisible in a side "
                                                          "image; alone, the side view states its effects for a tilt up "
                                                          "to this (uniform); good pins lean 0-0.6 deg (defect spec)")
    pad_height_rel_u: float = Field(0.1, description="relative standard uncertainty of a pad's height about the recipe's, "
                                                     "when the board line must be taken a pad height below the pad tops (a "
                                                     "dense row whose pads fill the side view): copper foil thickness "
                                                     "+-10 % (IPC-4562) with its plating")
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
    pad_lattice_reduce: int = Field(4, description="a pin stack's lowest slice is reduced by this before the pads' lattice "
                                                   "is fitted (`vision.stack_registration`): their outlines are blurred over "
                                                   "0.3-0.5 mm there, 8-14 reduced pixels at 9 um/px")
    pad_lattice_na_starts: tuple[float, ...] = Field((0.04, 0.08, 0.14), description="blur radii tried first, per mm of "
                                                     "defocus (a lens's numerical aperture: microscope macro lenses on a "
                                                     "z-stage, 0.03-0.15); the fit then frees it")
    pad_lattice_hide_blur: float = Field(1.3, description="around each pin the pads are hidden out to its flange's radius "
                                                          "plus this many blur radii: the flange, 0.25 mm above the pad, is "
                                                          "blurred nearly as much and spreads to its radius + 1 blur radius; "
                                                          "the rest covers the brighter barrel and plunger (rendered-dev "
                                                          "stacks: rotation errors 0.22 deg rms at 0.5, 0.05 at 1.0, 0.03 at "
                                                          "1.3; at 1.6 too little of a pitch-2.0 pad is left)")
    pad_lattice_loss_scale: float = Field(2.0, description="the lattice fit's robust loss (soft L1) turns linear beyond this "
                                                            "many sigmas of the first guess's residuals: over 26 rendered pin "
                                                            "stacks the rotation errors fell from 0.060 to 0.049 deg rms, the "
                                                            "worst from 0.25 to 0.19 (a neighbour 0.23 mm off its place just "
                                                            "outside the view, draw 29153 board 59)")
    pad_lattice_min_contrast_sigma: float = Field(10.0, description="the pads must stand out from the board by this many "
                                                                    "residual sigmas for their lattice to count")
    pad_lattice_min_edge_px: int = Field(4000, description="... and this many (full-size) pixels of blurred pad outline "
                                                           "must lie between the pins: about a quarter of one pad's "
                                                           "outline, 1.9 mm across, blurred over 0.3 mm, at 9 um/px")
    pad_lattice_max_shift_mm: float = Field(0.05, description="the fitted lattice may lie this far from where the stage "
                                                              "puts it (a stage and board registration good to tens of um); "
                                                              "farther, it is taken for another lattice, or the stage is off")
    pad_lattice_max_log_scale: float = Field(0.1, description="the lattice's scale may differ from the record's by this "
                                                              "(log): the perspective of pads 2-3 mm below focus at 30-200 "
                                                              "mm working distance is 1-10 %")
    pad_lattice_u_floor_rad: float = Field(0.00075, description="standard uncertainty of the pads' rotation beyond the "
                                                                "fit's own (which takes the pixels as independent, 0.01-0.02 "
                                                                "deg): the model's misfit -- the pins' blur not wholly hidden, "
                                                                "the pad edges' bevel. Rendered stacks (rendered-dev's four, "
                                                                "sixteen of draws 33304-33305, both pin types, five masks): "
                                                                "errors 0.044 deg rms, at most 0.10 (one of 20 beyond 2u); "
                                                                "with the robust loss 0.034 rms, at most 0.064; from the pins "
                                                                "in view 0.37 rms, up to 1.0. The six stacks of draw 29153 "
                                                                "(scored unseen) read up to 0.25 (0.19 with the robust loss)")
    rotation_min_lever_mm: float = Field(0.5, description="pins nearer the optical axis than this are not used for the "
                                                          "board's rotation under the microscope: at 0.5 mm a base centre "
                                                          "good to ~5 um gives the angle to 10 mrad, the scatter good "
                                                          "pins' placement (<= 0.02 mm, defect spec) gives at 1-2 mm")
    focus_tail_steps: int = Field(3, description="a pin-stack focus peak this many z steps or fewer from the stack's end "
                                               "is checked for being a bump on the tail of a surface beyond it")
    focus_tail_excess: float = Field(0.3, description="... which it is when the curve at that end stands above what a Gaussian "
                                                      "of the peak's own width (from its half width on the other side) "
                                                      "predicts by more than this share of the peak's height. The tail of "
                                                      "solder in a plunger gap below the range stood 0.63 over (draw 31337 "
                                                      "board 12 P02); a surface's own curve scatters by about 0.05 of it")
    min_rim_above_barrel_mm: float = Field(0.1, description="a pin-stack's tip (or plunger rim) found less than this above "
                                                            "its barrel top means one of the two heights is mistaken (a "
                                                            "barrel top read above the tip on two partly visible pins of "
                                                            "draw 52817), not a measured depression: the shortest "
                                                            "protrusion in the defect spec is 0.45 mm (type B, depressed "
                                                            "0.45 of its 0.90), so axis and depression are left unmeasured")
    perspective_max_tilt_deg: float = Field(1.0, description="pins leaning more than this are left out of the stack's "
                                                             "perspective (`vision.micro_pins.stack_perspective`): a leaning "
                                                             "plunger's silhouette drifts along its lean as the focus moves "
                                                             "(a 4.9 deg pin on d04 reads D = 70 mm, upright ones 110-125); "
                                                             "good pins lean <= 0.6 deg (defect spec), marginal from 1.0")
    barrel_sheen_dull: float = Field(0.8, description="a pin-stack barrel top whose mean brightness (in the slice nearest "
                                                      "its nominal height, between bore and barrel radius) is below this "
                                                      "share of the brightest barrel top in the stack is dull: gold there "
                                                      "mirrors the coaxial light, solder over it scatters it. Solder over "
                                                      "the barrel top (wick_gap, types A and B) read 0.44-0.68 of its "
                                                      "peers on five pins, 27 other pins (good, wick, raised, depressed, "
                                                      "misplaced) 0.987-1.000 (rendered-dev and draws 70002-70006, per "
                                                      "pin); pins leaning 4-5 deg, not judged, 0.80-0.90")
    barrel_sheen_min_seen: float = Field(0.5, description="a barrel top is judged by its sheen when at least this share of "
                                                          "its ring is in view (pitch-2.54 and 3.0 stacks cut every pin's)")
    barrel_sheen_max_tilt_deg: float = Field(2.0, description="pins leaning more than this are not judged by their barrel "
                                                              "top's sheen: a top tilted t turns the light's mirror image by "
                                                              "2t, out of the microscope's aperture (NA ~0.08, 4.6 deg) from "
                                                              "about 2.3 deg; such a pin fails the spec's 2 deg anyway")
    perspective_rel_u: float = Field(0.05, description="relative standard uncertainty of 1/D measured on plunger "
                                                       "silhouettes once divided by `disc_drift_ratio`: that ratio's "
                                                       "stack-to-stack spread (sd 0.036 of 0.80 over 26 stacks). It was "
                                                       "0.2, the uncorrected drift's shortfall")
    disc_centre_u_px: float = Field(0.1, description="standard uncertainty of a pin-stack disc centre (thresholded plunger "
                                                      "or barrel-top outline, whole in the image) per axis: tilt errors on 16 "
                                                      "rendered pins (5 boards, both types) are 0.076 deg RMS, 0.07 px per "
                                                      "centre; it was 0.3 px, which made tilt u 4.5 times the errors")
    disc_drift_ratio: float = Field(0.80, description="a plunger disc's centroid drifts with the focus by this share of "
                                                      "a point's rate p/D (`vision.micro_pins.stack_perspective` divides by "
                                                      "it): the disc's outline is formed partly by the plunger's side, whose "
                                                      "sharp part rises with the focus. 26 pin stacks (rendered-dev's four, "
                                                      "22 of draws 47711-47713; both types, five masks, 1-4 pins each) "
                                                      "read 0.804 of the renderer's 1/D, sd 0.036 (type A 0.81 on 10, B 0.80 "
                                                      "on 16); 1/D was read 20 % low, which moved stack pins' bases by "
                                                      "up to 4 um (a barrel top 0.3-0.4 mm below its slice's focus)")
    disc_centre_height_mm: float = Field(-0.025, description="a thresholded outline's centre (plunger disc, barrel-top "
                                                             "disc or its visible arc) lies on the pin's axis this far above "
                                                             "its feature (below, negative): the outline moves with the "
                                                             "uneven brightness around a pin seen off its axis, i.e. with "
                                                             "the angle between line of sight and axis, as the axis point "
                                                             "this far down would. Measured against the rendered truth "
                                                             "(each centre's offset along the projected axis over the "
                                                             "axis's image slope): barrel discs -29 um on 39 pins, barrel "
                                                             "arcs -19 on 49, plunger discs -38 on 14 (rendered-dev and draws "
                                                             "47711-47713); weighted mean -25")
    rim_edge_centre_height_mm: float = Field(-0.005, description="the plunger rim's edge-fit centre "
                                                                 "(`vision.micro_pins._rim_edge_circle`) lies this far above "
                                                                 "the height where the rim curve focuses (the crease of a "
                                                                 "type-A dome, the limb above a type-B equator, "
                                                                 "`limb_offset_mm`): -5 um over 88 pins, whole and cut, of "
                                                                 "rendered-dev and draws 47711-47713 (type A -6 on 30, type B "
                                                                 "-4 on 58 once their limb's 18 um is counted), sd 13-19 um")
    arc_rim_centre_height_mm: float = Field(-0.085, description="as `disc_centre_height_mm` for the circle of a thresholded "
                                                                "rim's visible arc (a plunger cut by the image edge whose "
                                                                "edge fit failed; it shows the side facing the image centre, "
                                                                "where the outline moves most): -104 um on 8 type-A and -48 "
                                                                "on 4 type-B pins (rendered-dev, draw 47711)")
    centre_height_u_mm: float = Field(0.03, description="standard uncertainty of a centre's height on the axis (the "
                                                        "heights above): their pin-to-pin scatter, 13-19 um for rim edge "
                                                        "fits, 22-34 um for barrel discs and arcs")
    rim_edge_centre_u_px: float = Field(0.04, description="floor on the standard uncertainty of a rim edge-fit centre "
                                                          "per axis: across the projected axis (where the height does not "
                                                          "move it) the fits of 88 rendered pins scatter by 0.03-0.04 px "
                                                          "(rendered-dev, draws 47711-47713)")
    rim_edge_smooth_px: float = Field(1.0, description="Gaussian sigma before the rim's edge fit: the renderer's sensor "
                                                       "noise at 1 px; the lens already blurs the step over ~1 px")
    rim_edge_band_rel: float = Field(0.3, description="the rim's edge is searched within this share of the plunger "
                                                      "radius either side of it: wide enough for a centre guess 2-3 px off "
                                                      "(a thresholded outline on a leaning pin), the bore's edge beyond "
                                                      "it is passed over by taking the innermost strong step")
    rim_edge_radius_tol_rel: float = Field(0.1, description="a rim edge fit whose radius is off the plunger's by more "
                                                            "than this share is another edge's (the bore's, a highlight's): "
                                                            "the thresholded outline is used instead")
    disc_min_contrast_dn: float = Field(20.0, description="a pin-stack plunger disc (whole or cut by the edge) must stand "
                                                          "at least this many grey levels (of 255) below its bright "
                                                          "reference, else nothing dark is there: at the recipe's place, the "
                                                          "29 pins of rendered-dev's and draw 92857's (boards 14, 38, 54) "
                                                          "stacks stand 119-210 below it, the five empty places (missing "
                                                          "pins) 1-5 (it was 5, which a sixth could pass)")
    disc_lit_min_share: float = Field(0.75, description="a pin-stack plunger disc (whole or cut by the edge) must be ringed "
                                                        "by a lit barrel top in at least this share of the in-view sectors "
                                                        "around it (`vision.micro_pins._unlit_disc`): the 22 pins of rendered-dev's "
                                                        "and draw 92857's (boards 14, 38, 54) stacks, six cut by the edge, "
                                                        "all 1.00; the dark board beside a missing pin's pad 0.50")
    nominal_barrel_top_u_mm: float = Field(0.02, description="standard uncertainty of a barrel top taken at its nominal height where it lies below the stack (`vision.micro_pins._axis_barrel_top`): the spread of a seated pin's flange on its solder. It was a literal in the two pin paths since the stack tilt was built; its basis was not recorded. Also the share of a seated pin's spread in the seating gap read from a rim standing clear of it (`vision.inspect.stack`, flange below the stack): a rim more than twice hypot(this, its own u) above its nominal height is a raised pin")
    arc_centre_u_px: float = Field(0.12, description="floor on a centre fitted to the visible arc of an outline cut by the "
                                                      "image edge: its fit covariance sees the contour's noise, not the "
                                                      "bias of a thresholded arc. 30 cut pins (rendered-dev v3301_18, "
                                                      "draw 92857 boards 38 and 54, draw 55331 boards 13, 25, 43, 47, 50; "
                                                      "both types, half the disc in view in the corners of pitch-3.0 "
                                                      "stacks): tilt errors 0.097 deg RMS, about 0.08 px per centre, as "
                                                      "whole discs' (`disc_centre_u_px`); the floor was 0.3 px (from "
                                                      "v3301_18's four pins alone), which made tilt u three times the errors "
                                                      "(errors / u sd 0.30) and sent marginal good pins to REVIEW; at 0.12 "
                                                      "the sd is 0.58, all inside 2u")
    limb_focus_offset_rel: float = Field(0.072, description="a hemispherical dome's outline focuses this share of the "
                                                           "dome radius above its equator (`vision.micro_pins.limb_offset_mm`; "
                                                           "0.25 mm domes under the NA 0.08 microscope): the rim curve's peak "
                                                           "read 7-35 um above the equator on 12 type-B pins of three randomly "
                                                           "drawn rendered boards (v3301_18, v3301_23, ps501_02: white and "
                                                           "green masks, gold roughness 0.09-0.14), weighted mean 17.5 um; "
                                                           "their scatter is that of the curves' own uncertainties "
                                                           "(chi2/dof 0.98), so no spread is added; six type-B pins of two "
                                                           "boards left out of it (ps501_22, ps501_57, white) then read within "
                                                           "4 um")
    limb_focus_offset_u_rel: float = Field(0.012, description="standard uncertainty of LIMB_FOCUS_OFFSET_REL: the standard "
                                                              "error of that weighted mean (3 um of a 0.25 mm dome)")
    min_working_distance_mm: float = Field(30.0, description="shortest working distance of a microscope lens on a z-stage "
                                                             "(long-working-distance objectives and macro lenses: 30-200 mm); "
                                                             "a stack with no pin off the axis to measure its perspective on "
                                                             "takes 1/D uniform on [0, 1/this]")
    pad_roughness_min_valid_fraction: float = Field(0.5, description="roughness from depth from focus needs most of the "
                                                                     "pad to focus: smooth ENIG focuses nowhere inside (0 of "
                                                                     "~60k interior pixels on flat rendered pads), and the few "
                                                                     "noise peaks that pass made a good pad read Sa 5.4 +- 3 um "
                                                                     "(draw 52817); a textured surface focuses nearly everywhere")
    pad_edge_segment_mm: float = Field(0.1, description="pad flatness from the focus of its outline (`vision.pads.edge_heights`): "
                                                        "length of one segment of a side, whose pixels make one focus curve. At "
                                                        "4.2 um/px and a +-3 px band that is ~150 px per curve (its peak good to "
                                                        "1-2 um); the smallest pad side of the spec (0.9 mm) still gets >= 7 "
                                                        "segments, enough to see a bow along it")
    pad_edge_band_mm: float = Field(0.012, description="how far inside a pad's outline its edge focus is measured: the "
                                                       "edge's blur radius at the stack's ends (NA 0.12 x 80 um = 10 um) plus "
                                                       "a little. Not outside: there the lens' oblique rays (NA 0.12) see the "
                                                       "pad's wall and the board below, which focus lower and compress the "
                                                       "heights (a band straddling the outline read warps 7 % low, one outside "
                                                       "it 15-21 %, on rendered-dev's two warped stacks)")
    pad_edge_outline_u_px: float = Field(1.0, description="the band reaches this far outside the found outline: its location "
                                                          "error (a rectangle fitted to a thresholded pad, ~1 px)")
    pad_edge_presmooth_px: float = Field(0.5, description="pre-blur of the edge focus measure: the defocus blur grows by "
                                                          "2 NA dz = 2.4 um = 0.6 px per 10 um step, so the focus of an edge "
                                                          "lives at the pixel scale; 0.5 px only damps the pixels' own "
                                                          "noise (a coarser band-pass broadens the curve: 1 px 1.3x, 2.5 px "
                                                          "3-6x the segment scatter on rendered-dev's pad stacks)")
    pad_edge_corner_mm: float = Field(0.05, description="segments keep this far from a pad's corners, where two sides' "
                                                        "bands overlap and the corner's rounding (etch radius ~0.05 mm) "
                                                        "lies")
    pad_edge_gain_u: float = Field(0.05, description="relative standard uncertainty of the scale of a pad outline's focus "
                                                     "heights: their slope against the true heights moved from 0.99 to 1.10 "
                                                     "with the band's placement within the outline's +-1 px location error "
                                                     "(rendered-dev's two warped stacks)")
    pad_dent_shading_smooth_px: float = Field(2.0, description="a pad's shading is blurred this much before its dents are "
                                                             "fitted (`vision.dents.bowls_from_shading`): the gold's grain "
                                                             "and the sensor noise are 1-2 px, the narrowest rendered dent's "
                                                             "ring (sigma 0.08 mm at 4.2 um/px) about 20")
    pad_dent_min_darkening: float = Field(0.08, description="a dent seen in a pad's shading darkens its ring by at least this "
                                                         "(log brightness, `vision.dents`): 15 flat pads of rendered-dev and draw "
                                                         "27361 fitted 0-0.044, their dents 0.30-1.38; the shallowest dent the "
                                                         "renderer draws (15 um, sigma 0.16 mm) darkens about 0.11 at the k of "
                                                         "about 35 measured on them")
    pad_dent_min_significance: float = Field(30.0, description="... and its amplitude stands this many standard uncertainties "
                                                              "clear of zero: flat pads' best bowls 2-15, dents 100-240 (the same pads)")
    pad_dent_shading_scale: float = Field(0.166, description="1/sqrt(k) of gold pads under the pad microscope (`vision.dents`): "
                                                            "a dent's depth over the amplitude its shading gives. It depends on the "
                                                            "finish's roughness and the objective's aperture, not on the dent: 13 "
                                                            "dents (15-40 um deep, sigma 0.10-0.15 mm) on 9 rendered pads (ENIG, "
                                                            "NA 0.12 coaxial; rendered-dev and draws 27361-27371) gave 0.159-0.175, "
                                                            "mean 0.166, SD 0.0043. Another finish or objective: measure it on one "
                                                            "dent of known depth")
    pad_dent_shading_scale_u: float = Field(0.005, description="standard uncertainty of PAD_DENT_SHADING_SCALE for one pad: "
                                                              "the SD over those 13 dents")
    pad_dent_focus_confirm_rel: float = Field(0.5, description="a dent seen in a mono stack's shading is measured only when "
                                                              "the pad's focused pixels size it too, to within this share of "
                                                              "PAD_DENT_SHADING_SCALE: an oxide patch darkens alike (draw 27361 "
                                                              "board 8 Q04, no dent, read a 14 um one from its oxide; the focus "
                                                              "sized the oxide bowls of two more to +-0.14 and +-0.09)")
    pad_dent_shape_rel_u: float = Field(0.10, description="relative standard uncertainty of a shaded dent's depth from the model "
                                                         "itself (Gaussian lobe and bowl, two dents merged into one): 9 dents "
                                                         "sized on rendered pads erred up to 2.9x, RMS 1.4x, the fit's own "
                                                         "uncertainty without it")
    pad_dent_second_min_gain: float = Field(0.1, description="a second dent is fitted to a pad's shading when it lowers the "
                                                            "robust cost of one by at least this share")
    pad_oxide_half_cover_luminance: float = Field(0.5, description="a pad pixel is more than half oxide below this linear "
                                                                  "luminance relative to clean gold: a blend (1 - w) gold + w "
                                                                  "oxide, and oxide returns ~0.1 of gold's light under coaxial "
                                                                  "light (fully covered pixels read 0.13-0.18), so w = 1/2 reads "
                                                                  "(1 + 0.1)/2, less the sensor blur that spreads a dark patch: "
                                                                  "the half")
    pad_oxide_min_hue_shift: float = Field(1.0, description="... and its shading-free CIELAB colour difference from gold at "
                                                            "least this, towards red (oxide is brown): oxide at half cover "
                                                            "moves it by 1.2-1.7, pure shading (slopes, dents, a groove's "
                                                            "shadow) by its noise, 0.2-0.4 (rendered pads, five mask "
                                                            "colours); a slope mirroring a green, blue or white board tints "
                                                            "it away from red")
    pad_oxide_luminance_smooth_px: float = Field(0.0, description="Gaussian sigma on a pad's luminance before the "
                                                             "half-cover threshold: none. The lens already blurs the "
                                                             "image; more blur fills the lighter spots inside a patch "
                                                             "(read as oxide) and rounds a small patch's outline (read "
                                                             "small) before the threshold, while the threshold's own "
                                                             "noise flips pixels both ways. Against truth at 1.5 px (as "
                                                             "the hue tests keep): rendered-dev 43 pads p95 0.0153 -> "
                                                             "0.0084, worst 0.024 -> 0.023; 28 top-only pad boards of "
                                                             "draws 29153, 33314, 33315 (232 pads, 47 oxidised) p95 0.0139 "
                                                             "-> 0.0122, worst 0.028 -> 0.026, mean error of the "
                                                             "oxidised +0.0078 -> +0.0062; 36 pad boards of draws 33301-33303 (259 "
                                                             "pads) p95 0.0096 -> 0.0095, worst 0.024 -> 0.021; clean "
                                                             "pads' readings unchanged (the hue tests keep their "
                                                             "smoothing); a 3x3 median instead: 0.0106 on rendered-dev")
    pad_oxide_edge_min_hue_turn_sigma: float = Field(2.0, description="an oxide detection lying wholly along the judged "
                                                                     "region's outline (where the board mixes in) counts "
                                                                     "only where gold's hue turned towards red by this many "
                                                                     "robust sigmas of that turn over the clean gold "
                                                                     "(0.14-0.16 on rendered pads): a blend with the board "
                                                                     "desaturates gold without turning it; 2 sigma, as a "
                                                                     "filter beside the darkness and colour tests. Corners "
                                                                     "of warped pads on a white mask read 0.8-1.7 % oxide "
                                                                     "without it (draw 71923); oxide patches unchanged")
    pad_top_scratch_k_high: float = Field(5.0, description="a groove in the top camera's image of a pad is seeded where the "
                                                          "ridge filter's response is this many robust sigmas above the "
                                                          "pad's median (grown down to 4). The grain's own seeds reach 6.8 on "
                                                          "clean pads, but the pieces they grow are neither long, thin nor "
                                                          "straight and flanked by clean gold: seeded at 4.5, none of the 75 clean "
                                                          "pads of rendered-dev and draw 27361 gave one. A 1 mm groove 1.7 um deep "
                                                          "on a black mask peaks at 6.7, median 4.9 along it (draw 27361 board 30 "
                                                          "Q04, missed at 7); 1.7-2 um grooves on a warped pad reach 7.6 (draw "
                                                          "36187 board 41, missed at 8)")
    pad_oxide_map_margin_mm: float = Field(0.03, description="oxide the top camera saw on a pad, drawn into a pad stack's "
                                                           "pixels to keep it out of the shading's dent fit, is grown by "
                                                           "this: the two views' pad outlines agree to a pixel or two "
                                                           "(10-14 um) and the top's pixels are coarser")
    pad_straight_parts_min_cover: float = Field(0.8, description="a piece of groove pixels that is no one line and has no "
                                                "clean junction (two grooves meeting at a shallow angle) is taken apart into "
                                                "straight lines (`vision.pads._straight_parts`) only where they hold at least "
                                                "this share of its pixels (within half their width and a pixel): the two grooves "
                                                "of draw 17389 board 15 Q09 (an escape before, 16 deg apart) hold 0.996; lines "
                                                "drawn through the outline of an oxide patch in a mono pad stack (rendered-dev "
                                                "v3301_14 Q07) 0.57-0.69")
    pad_top_line_k: tuple[float, float] = Field((8.0, 6.0), description="a groove too faint to stand out pixel by pixel "
                                                "in the top camera's image (`vision.pads.line_evidence`): seeded where the ridge "
                                                "response averaged along a straight segment is this many robust sigmas above the "
                                                "pad's median, grown down to the second. 0.25 mm segments. Over 210 pads without a "
                                                "groove (rendered-dev and the pad boards of dev draws 91001-91002: flat, warped, "
                                                "dented, oxidised, five mask colours) seeds of 7.5 and more grew no groove passing "
                                                "the shape tests, 7 grew two (0.15-0.17 mm, a dented and a flat pad). Grooves 1.7 um "
                                                "deep read 11.1-14.5 (rendered-dev, draws 83117 and 31337), deeper ones 13.8-21.9; a "
                                                "1.54 um one on a dented pad 8.75 (draw 80923 board 30 Q06, an escape at 9, the "
                                                "earlier seed: the geometric midpoint of 7.6 and 11.1 on 40 pads); seeded at the "
                                                "midpoint of 7.25 and 8.75. A 0.33 mm, 1.7 um groove of draw 83117 board 2 peaked "
                                                "at 5.3 pixel by pixel: an escape before this search")
    pad_top_line_length_mm: float = Field(0.25, description="... the segment: longer keeps a dent's curved ring "
                                                            "below a straight groove (at 0.15 mm the rings reached 10.5, "
                                                            "the faintest groove 11.0); grooves the renderer draws are "
                                                            "0.23-1.2 mm")
    pad_edge_scratch_k_high: float = Field(6.0, description="a groove hugging a pad's edge (`vision.pads.edge_scratches`): "
                                                            "the band-to-plateau ratio along the outline falls this many robust "
                                                            "sigmas below its all-round median. A clean edge's ratio scatters by "
                                                            "0.024-0.027 (texture, noise); 6 sigma left the ~1000 samples round "
                                                            "each of 150 rendered pads (4 mask colours, 3 pitches) without a "
                                                            "false run of 0.1 mm")
    pad_edge_scratch_k_low: float = Field(3.0, description="... and the run is grown to where it is this many sigmas below "
                                                           "(hysteresis, as the area search's 8/4 on its ridge filter)")
    pad_edge_notch_k: tuple[float, float] = Field((7.0, 4.0), description="a groove on a pad's very edge, found by "
                                                  "where the edge is (`vision.pads.edge_notches`): the edge's residual from "
                                                  "its side's straight line, averaged over `pad_edge_notch_window_mm`, is "
                                                  "seeded at this many robust sigmas and grown to the second. Over 210 pads "
                                                  "without a groove (rendered-dev and the pad boards of dev draws 91001-91002: "
                                                  "flat, warped, dented, oxidised, five mask colours) stretches seeded at 5 "
                                                  "were found on 3 (0.09-0.13 mm), at 5.5 and 6 on one (an oxidised, warped "
                                                  "pad, 0.09 mm), at 6.5 and 7 on none; all 6 grooves lying within 3 px of "
                                                  "an edge along their length were found at 5 to 7 (two of them, 1.7 um deep "
                                                  "0-1 px in, and 3.4 um on a bowed pad's edge, escaped the band test "
                                                  "`pad_edge_scratch_k_high`)")
    pad_edge_notch_window_mm: float = Field(0.15, description="... the length the edge residuals are averaged over: "
                                                             "about the spec's shortest groove (0.1 mm) plus a pixel at "
                                                             "each end; a longer window dilutes short grooves, a shorter "
                                                             "one leaves more of the grain's sample-to-sample scatter")
    pad_hull_fill_min: float = Field(0.9, description="a pad candidate's convex hull must fill this share of its minimum "
                                                      "rectangle (a rectangle fills it all; rounded rendered pad corners "
                                                      "0.99; two pads touching corner to corner about half)")


class ColourParams(_Frozen):
    """The one colour model (`vision.colour`): gold, solder, mask and shadow in CIELAB, for any mask and light."""

    gold_hue_deg: tuple[float, float] = Field(
        (40.0, 115.0),
        description=(
        "hue band of gold (deg, CIELAB): gold reads 95-105 deg on rendered-dev (five masks, both lights) and "
        "74-85 on the jig photo (warmer light); tin tinted by a green board reads 100-116 but is told by "
        "saturation "))
    gold_ramp_from: float = Field(
        0.32,
        description=(
        "saturation C*/L* of gold: 0.43-0.48 on rendered-dev (five masks, both lights), 0.43-0.63 on the jig "
        "photo; tin tinted by a green board reaches 0.31 (jig photo), neutral solder and nickel <= 0.06. Gold "
        "likeness ramps from GOLD_RAMP_FROM (above every tin seen) to GOLD_MIN_SATURATION (below every gold "
        "seen). "))
    gold_min_saturation: float = Field(
        0.42,
        description=(
        "saturation C*/L* of gold: 0.43-0.48 on rendered-dev (five masks, both lights), 0.43-0.63 on the jig "
        "photo; tin tinted by a green board reaches 0.31 (jig photo), neutral solder and nickel <= 0.06. Gold "
        "likeness ramps from GOLD_RAMP_FROM (above every tin seen) to GOLD_MIN_SATURATION (below every gold "
        "seen). "))
    grey_max_saturation: float = Field(
        0.15,
        description=(
        "nearly neutral: solder and nickel measure C*/L* <= 0.06; 0.15 leaves room for a tint from a coloured "
        "mask "))
    dark_l: float = Field(
        12.0,
        description=(
        "below this L* (0-100) a pixel is shadow, not colour (the sensor's noise floor after gamma: ~3 % "
        "grey) "))
    clipped_l: float = Field(
        98.0,
        description=(
        "at or above this L* every sRGB channel is at 250 or more: the sensor clipped the colour away. A type-B "
        "barrel top under the coaxial light alone read L* 99.8 at C*/L* 0.05, as neutral as solder, and was taken for "
        "solder in the plunger gap (draw 31337 board 23 P02); rendered gold otherwise reads L* 49-97 "))
    gold_min_l: float = Field(
        25.0,
        description=(
        "gold is judged only at L* >= GOLD_MIN_L: a pixel's chroma carries ~3 units of noise (sensor, JPEG), "
        "which is a saturation error <= 0.12 there, well under the ramp (gold reads L* 49-97: jig photo, "
        "rendered-dev) "))
    mask_distance: float = Field(
        8.0,
        description=(
        "a pixel within this Delta-E (on colour normalised to the mask's lightness) of the mask colour is "
        "mask "))


class RegistrationParams(_Frozen):
    """Registering the board on its fiducials or, failing them, on its pin pattern (`vision.registration`)."""

    fiducial_diameter_tol_mm: float = Field(
        0.05,
        description=(
        "fiducial self-checks. Radius band: the dot's diameter on the board is etched to about +-0.05 mm (IPC "
        "class 2 feature tolerance), widened by blur and the fit (sensor blur sigma <= 1 px: 1.5 px). "))
    fiducial_blur_px: float = Field(
        1.5,
        description=(
        "fiducial self-checks. Radius band: the dot's diameter on the board is etched to about +-0.05 mm (IPC "
        "class 2 feature tolerance), widened by blur and the fit (sensor blur sigma <= 1 px: 1.5 px). "))
    fiducial_max_rms_rel: float = Field(
        0.06,
        description=(
        "a fitted fiducial whose edge wanders more than this share of its radius (RMS) is not a round dot "))
    fiducial_residual_max_mm: float = Field(
        0.03,
        description=(
        "the fiducials' layout must match the recipe's to this RMS (mm): features of one copper layer sit "
        "within +-0.025 mm of their design (fabrication), the calibrated scale is good to ~0.1 % (0.015 mm "
        "over 15 mm) "))
    pin_pattern_scale_tol: float = Field(
        0.03,
        description=(
        "registration on the pin pattern: its fitted scale must agree with the calibration's within this "
        "share. Good pins scatter <= 0.06 mm (marginal placement) about their pads, which moves the scale of "
        "a fit over a >= 2 mm pattern by < 3 %; a calibration for another lens is >= 5 % off. "))
    arc_min_fraction: float = Field(
        0.4,
        description=(
        "a fiducial cut by the image edge is fitted on its visible arc when at least this share of its rim's "
        "rays lies wholly in the image and they span at least half a turn (a shorter arc leaves the centre "
        "ill-defined along the chord: its covariance says so, but the radius check loses its power) "))
    pin_vote_min_rel: float = Field(
        0.15,
        description=(
        "a pin's flange votes (`detect_round_blobs`) at least this share of the strongest pin's: "
        "solder-covered flanges vote 0.27 of a clean one, empty pads and the mask <= 0.08 (rendered-dev, both "
        "pin types) "))


class VisionParams(_Frozen):
    version: str = Field("2026.12.14", description="change with any value, so results trace to their parameters")
    top: TopParams = Field(default_factory=TopParams)
    colour: ColourParams = Field(default_factory=ColourParams)
    registration: RegistrationParams = Field(default_factory=RegistrationParams)
    side: SideParams = Field(default_factory=SideParams)
    fusion: FusionParams = Field(default_factory=FusionParams)
    stack: StackParams = Field(default_factory=StackParams)


#: the parameters the product runs with
PARAMS = VisionParams()
