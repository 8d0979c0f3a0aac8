"""Microscope focus stacks (and pad boards' top images): pins and mating pads measured by depth from focus.

``inspect_view(inp) -> {NAME: ViewOutput(view="stack:NAME")}`` for every ``inp.stacks[NAME]``
(a `vision.stack_io.FocusStack`), calibrated by ``inp.calibrations["stack:NAME"]`` (the
microscope's record at its focus plane, plane origin on the optical axis). The stack's manifest says
what it images (``target: pins`` or ``target: pad:<ID>``, see `vision.stack_io`).

* **pins** (`vision.micro_pins`): per pin ``tip_height_mm``, ``tip_height_error_mm``,
  ``seating_gap_mm``, ``plunger_depression_mm``, ``tilt_deg``, ``tilt_azimuth_deg``, ``xy_error_mm`` and the
  pitches (the stage position puts the optical axis on the board, the pads' blurred lattice in the lowest
  slice gives its rotation: `vision.stack_registration`); a height whose
  surface lies outside the stack's z range is "not measured" with the reason. Cue
  ``solder_in_plunger_gap`` (suspicion) from a barrel top dull beside its peers; the tip is then unreliable.
* **pad** (`vision.pads`; manifest ``align: ecc`` aligns a hand-held stack first): ``flatness_pv_um`` (+ cue ``pad_shape`` with the shape in its detail),
  ``roughness_sa_um``, ``scratch_max_length_mm``, ``scratch_count``, and
  ``oxidation_area_fraction`` when the stack is in colour.

`inspect_pads_top(inp) -> ViewOutput(view="top")` judges the recipe's pads from the top image alone
(scratches, oxidation; flatness and roughness need a stack). The top view should call it for boards
whose recipe has pads and no pins.

Overlays: ``stack:NAME`` (all-in-focus with the findings), ``stack:NAME:height`` (height map with
a colour scale bar), ``top:pads``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from vision.inspect.base import ItemView, ViewOutput, pin_geometry, top_image
from models.decision import Check
from models.errors import InputError
from calibration.record import CalibrationRecord
from models.measurands import unmeasured
from models.measurement import Cue, Measurement
from models.recipe import MatingPad, Recipe
from vision.colour import srgb_to_linear
from vision.focus import depth_from_focus
from vision.io import luma, to_gray_float
from models.pin_geometry import PinGeometry
from vision.heightmap_view import height_map_picture
from vision.inspect.pitch import norm_u, pitches
from vision.params import PARAMS
from vision.subpixel.robust import robust_sigma
from vision.micro_pins import MicroPin, axis_mm_to_px, barrel_top_dull, measure_pins
from vision.heightmap_view import height_map_rgb
from vision.overlay import draw_pad_overlay
from vision.stack_registration import pad_lattice_rotation
from vision.pads import (PadRegion, discoloured_fraction, edge_heights, edge_notches, edge_scratches, find_scratches, flatness, locate_pads, pad_frame_mm,
                         pad_frame_to_px, pad_mask, roughness_sa, segment_distance_px)

__all__ = ["inspect_view", "inspect_pads_top"]

#: depth-from-focus settings per target (vision.params)
PAD_DFF = PARAMS.stack.pads.kwargs()
PIN_DFF = PARAMS.stack.pins.kwargs()
#: oxide: more than half covered (vision.params)
_OXIDE = dict(half_cover_luminance=PARAMS.stack.pad_oxide_half_cover_luminance, min_hue_shift=PARAMS.stack.pad_oxide_min_hue_shift,
              edge_min_hue_turn_sigma=PARAMS.stack.pad_oxide_edge_min_hue_turn_sigma,
              luminance_smooth_px=PARAMS.stack.pad_oxide_luminance_smooth_px)


def _m(value, u, unit, src):
    return Measurement.of(value, u, unit, source=src)


def _miss(why, unit):
    return Measurement.missing(why, unit)


def _record(inp, name: str, shape) -> CalibrationRecord:
    rec = inp.calibrations.get(f"stack:{name}")
    if rec is None:
        raise InputError(f"focus stack {name!r} has no calibration; give --calibration stack:{name}=RECORD.json (the microscope's record at its focus plane)")
    rec.check_image(shape, what=f"focus stack {name!r}")
    return rec


def inspect_view(inp) -> dict[str, ViewOutput]:
    """Inspect every focus stack of `inp`; see the module docstring."""
    out = {}
    for name, st in inp.stacks.items():
        kind, pad_id = st.target
        st = aligned_stack(st)
        if kind == "pins":
            out[name] = _pins_view(inp, name, st)
        else:
            out[name] = _pad_view(inp, name, st, pad_id)
        out[name].notes.extend(st.notes)
    return out


def aligned_stack(st):
    """The stack as its manifest says to use it: hand-held slices (``align: ecc|phase``) registered
    to the middle one first, once, for every measurement and picture of it."""
    import dataclasses

    from vision.align import align_stack

    if st.align is None:
        return st
    al = align_stack(st.images, method=st.align)
    shift = max(math.hypot(*m[:2, 2]) for m in al.transforms)
    notes = [f"aligned with {st.align} (manifest); largest shift {shift:.1f} px", *(f"slice {k} not aligned: {why}" for k, why in al.failed)]
    return dataclasses.replace(st, images=np.stack(al.aligned), notes=[*st.notes, *notes])


# -- pins ------------------------------------------------------------------------------------------
def _pins_view(inp, name: str, st) -> ViewOutput:
    t0 = time.perf_counter()
    recipe: Recipe = inp.recipe
    src = f"stack:{name}"
    rec = _record(inp, name, st.shape)
    geo = pin_geometry(recipe, what="a pin focus stack")
    items = st.items
    unknown = [i for i in items if i not in {p.id for p in recipe.pins}]
    if unknown:
        raise InputError(f"focus stack {name!r} lists pins {unknown} that recipe {recipe.key} does not have")
    expected = None
    if st.stage_xy_mm is not None:
        sxy = np.asarray(st.stage_xy_mm, float)
        pins = [p for p in recipe.pins if not items or p.id in items]
        expected = {p.id: tuple(axis_mm_to_px(rec, np.asarray(p.xy_mm) - sxy)) for p in pins}
    elif not items:
        raise InputError(f"focus stack {name!r} says neither which pins it shows ('items') nor where the stage was ('stage_xy_mm')")
    found = measure_pins(st.images, st.z_mm, rec, geo, pad_top_z_mm=recipe.pad_top_z_mm, expected_px=expected, ids=items)
    vo = ViewOutput(view=src, registration={"stage_xy_mm": st.meta.get("stage_xy_mm"), "z_range_mm": [float(st.z_mm[0]), float(st.z_mm[-1])]})
    nominal = recipe.pin_type.tip_height_nominal_mm
    for mp in found:
        if items == [] and not mp.pin_seen and not math.isfinite(mp.center_px[0]):
            continue  # out of view: this stack says nothing about it
        vo.pins[mp.id] = _pin_item(mp, geo, recipe.pad_top_z_mm, nominal, src, recipe.limits.for_check(Check.tip_height))
    _positions(recipe, found, vo, st.stage_xy_mm, src, lattice=lambda sxy, guess: _pad_lattice(recipe, st, rec, found, sxy, guess))
    if getattr(inp, "overlays", True):  # the overlay needs a full depth from focus: only when one is drawn
        vo.overlays[src], vo.overlays[f"{src}:height"], redraw = _pins_overlay(st, found)
        vo.redraw = lambda final, key=src: {key: redraw(final)}
    vo.timings_ms["pins"] = (time.perf_counter() - t0) * 1e3
    return vo


def _board_rotation(recipe: Recipe, found: list[MicroPin], sxy: np.ndarray) -> tuple[float, float, int]:
    """Rotation (rad) of the board in the microscope's plane frame and its standard uncertainty, from
    the pins' bases against their nominal offsets from the optical axis (the stage gives the
    translation, not the rotation).

    A pin whose distance from the axis differs from its nominal one by more than a good pin's placement
    (`TopParams.pin_registration_reject_mm`; the distance does not depend on the rotation) is misplaced and
    left out: of two pins it would set half the angle. The rotation is the median of the other pins'
    angles; its uncertainty comes from their scatter and from how well each marks the board -- its centre's
    own uncertainty and a good pin's placement about its pad (`TopParams.pin_placement_u_mm`), over its lever.
    """
    phis, floors = [], []
    for mp in found:
        if mp.base_cov_mm2 is None:
            continue
        d = np.asarray(recipe.pin(mp.id).xy_mm, float) - sxy
        lever = float(np.hypot(*d))
        if lever < PARAMS.stack.rotation_min_lever_mm:
            continue
        p = np.asarray(mp.base_xy_mm)
        if abs(float(np.hypot(*p)) - lever) > PARAMS.top.pin_registration_reject_mm:
            continue
        phis.append(math.atan2(d[0] * p[1] - d[1] * p[0], float(d @ p)))
        u_centre = math.sqrt(float(np.trace(mp.base_cov_mm2)) / 2)
        floors.append(math.hypot(u_centre, PARAMS.top.pin_placement_u_mm) / lever)
    n = len(phis)
    if n < 1:
        return float("nan"), float("nan"), n
    phis = np.asarray(phis)
    theta = float(np.median(phis))
    spread = robust_sigma(phis, center=theta) if n >= 3 else 0.5 * float(np.ptp(phis))
    return theta, math.hypot(spread, float(np.sqrt(np.mean(np.square(floors))))) / math.sqrt(n), n


def _plane_to_board(theta_rad: float) -> np.ndarray:
    """2x2 map from the microscope's plane frame to the board frame: the board's rotation `theta_rad` undone."""
    c, s = math.cos(theta_rad), math.sin(theta_rad)
    return np.array([[c, s], [-s, c]])


def _pad_lattice(recipe: Recipe, st, rec: CalibrationRecord, found: list[MicroPin], sxy: np.ndarray, guess: float):
    """The pads' lattice in the stack's lowest slice (`vision.stack_registration`), or None without a pad size."""
    if not recipe.pad_diameter_mm or not recipe.pins:
        return None
    k = int(np.argmin(st.z_mm))
    g = luma(st.images[k])
    offs = np.array([p.xy_mm for p in recipe.pins], float) - sxy
    back = _plane_to_board(guess)
    bases = [back @ np.asarray(mp.base_xy_mm, float) for mp in found if np.all(np.isfinite(mp.base_xy_mm))]
    avoid = np.vstack([offs, *bases]) if bases else offs
    return pad_lattice_rotation(g, rec, offsets_mm=offs, pad_radius_mm=recipe.pad_diameter_mm / 2, avoid_mm=avoid,
                                avoid_radius_mm=recipe.pin_type.flange_diameter_mm / 2,
                                dh_mm=recipe.pad_top_z_mm - float(st.z_mm[k]), rotation_guess_rad=guess)


def _positions(recipe: Recipe, found: list[MicroPin], vo: ViewOutput, stage_xy, src: str, *, lattice=None) -> None:
    """``xy_error_mm`` (and its x, y parts) and the pitches of the stack's pins in the board frame: the
    stage position (manifest ``stage_xy_mm``) puts the optical axis on the board; the board's rotation under
    the microscope comes from the pads' lattice out of focus in the lowest slice (`lattice(sxy, guess)`), or,
    where that fit fails its checks, from the pins themselves (which takes in their placement errors)."""
    from types import SimpleNamespace

    measured = [mp for mp in found if mp.id in vo.pins]
    if stage_xy is None:
        why = f"{src}: the stack's manifest gives no stage_xy_mm (the board position of the optical axis)"
        for mp in measured:
            vo.pins[mp.id].measurements["xy_error_mm"] = _miss(why, "mm")
        return
    sxy = np.asarray(stage_xy, float)
    theta, u_theta, n_rot = _board_rotation(recipe, found, sxy)
    lat = lattice(sxy, theta if math.isfinite(theta) else 0.0) if lattice is not None else None
    if lat is not None and not lat.ok and math.isfinite(theta) and theta != 0.0:
        # the pins' rotation can be far off (two pins, one misplaced: 6.7 deg on draw 44102 board 31), and the lattice
        # is then looked for in the wrong place: look again where a fixture puts a board, unturned
        again = lattice(sxy, 0.0)
        lat = again if again.ok else lat
    if lat is not None and lat.ok:
        theta, u_theta = lat.rotation_rad, lat.u_rotation_rad
        vo.registration["rotation"] = {"source": "pads", "deg": math.degrees(theta), "u_deg": math.degrees(u_theta),
                                       "pads_shift_um": [round(1e3 * v, 1) for v in lat.shift_mm]}
    else:
        info = {"pads_not_used": lat.why} if lat is not None else {}
        if math.isfinite(theta):
            info = {"source": f"pins ({n_rot})", "deg": math.degrees(theta), "u_deg": math.degrees(u_theta), **info}
        if info:
            vo.registration["rotation"] = info
    board = {p.id: SimpleNamespace(present=False, base_mm=None, base_cov_mm2=None) for p in recipe.pins}
    for mp in measured:
        M = vo.pins[mp.id].measurements
        if mp.base_cov_mm2 is None:
            M["xy_error_mm"] = _miss(f"{src}: position not measured: {mp.xy_why or mp.reason}", "mm")
            continue
        if not math.isfinite(theta):
            M["xy_error_mm"] = _miss(f"{src}: the board's rotation under the microscope needs a measured pin at least "
                                     f"{PARAMS.stack.rotation_min_lever_mm} mm from the optical axis and where the recipe "
                                     "puts it (none here)", "mm")
            continue
        Rm = _plane_to_board(theta)
        nominal = np.asarray(recipe.pin(mp.id).xy_mm, float)
        d = nominal - sxy
        xy = sxy + Rm @ np.asarray(mp.base_xy_mm)
        t = np.array([-d[1], d[0]])  # the rotation moves a point along its tangent
        C = Rm @ mp.base_cov_mm2 @ Rm.T + np.outer(t, t) * u_theta**2
        err = xy - nominal
        e, u_e = norm_u(err, C)
        M["xy_error_mm"] = _m(e, u_e, "mm", src)
        M["xy_error_x_mm"] = _m(float(err[0]), math.sqrt(C[0, 0]), "mm", src)
        M["xy_error_y_mm"] = _m(float(err[1]), math.sqrt(C[1, 1]), "mm", src)
        board[mp.id] = SimpleNamespace(present=True, base_mm=xy, base_cov_mm2=C)
    tmp = ViewOutput(view=src, pins={p.id: ItemView() for p in recipe.pins})
    pitches(recipe, board, tmp, source=src)
    for pid, iv in vo.pins.items():
        iv.measurements.update(tmp.pins[pid].measurements)


def _pin_item(mp: MicroPin, geo: PinGeometry, pad_top_z_mm: float, nominal: float, src: str, tip_limit=None) -> ItemView:
    iv = ItemView(image_px={f"{src}.tip": list(mp.center_px)})
    M = iv.measurements
    # a plunger found where the pin should be settles presence; none found is only a suspicion
    # (an odd look, debris) for an operator to confirm
    found_pin = mp.pin_seen
    iv.cues["missing"] = Cue(present=not found_pin, kind="measured" if found_pin else "suspicion", confidence=0.9 if found_pin else 0.6,
                             source=src, detail="" if found_pin else mp.reason)
    dull = barrel_top_dull(mp)  # solder over the barrel top: its rim's focus may be the solder's
    if math.isfinite(mp.barrel_sheen):
        shown = f"barrel top {mp.barrel_sheen:.2f} as bright as the brightest in the stack (dull below {PARAMS.stack.barrel_sheen_dull})"
        iv.cues["solder_in_plunger_gap"] = Cue(present=dull, kind="suspicion", confidence=0.7 if dull else 0.6, score=mp.barrel_sheen,
                                               source=src, detail=shown)
    if not mp.ok:
        M.update(unmeasured(("tip_height_mm", "tip_height_error_mm", "seating_gap_mm", "plunger_depression_mm", "tilt_deg",
                             "tilt_azimuth_deg"), f"{src}: {mp.reason}"))
        if mp.apex_range_mm is not None and not dull and tip_limit is not None and tip_limit.lower is not None:
            # the rim below the stack's range bounds the tip (`vision.micro_pins._sunk_rim`) without measuring it: the
            # check is settled where the whole interval lies below the tolerance, suspected where part of it does
            lo, hi = (v - nominal for v in mp.apex_range_mm)
            below = f"the tip lies {-hi:.3f} to {-lo:.3f} mm below nominal (tolerance {tip_limit.lower:+.3f}): {mp.reason}"
            if lo < tip_limit.lower:
                iv.cues["tip_height"] = Cue(present=True, kind="measured" if hi < tip_limit.lower else "suspicion", confidence=0.9,
                                            source=src, detail=below)
        return iv
    M["tip_height_mm"] = _m(mp.apex_z_mm, mp.u_apex_z_mm, "mm", src)
    M["tip_height_error_mm"] = _m(mp.apex_z_mm - nominal, mp.u_apex_z_mm, "mm", src)
    cos_t = math.cos(math.radians(mp.tilt_deg)) if math.isfinite(mp.tilt_deg) else 1.0
    if math.isfinite(mp.flange_top_z_mm):
        gap = mp.flange_top_z_mm - geo.flange_thickness_mm - pad_top_z_mm
        M["seating_gap_mm"] = _m(max(gap, 0.0), mp.u_flange_top_z_mm, "mm", src)
    elif math.isfinite(mp.raise_mm) and not dull:
        # the flange lies below the stack, but the rim stands clear of a seated pin's: the whole pin stands that much
        # higher (a plunger never stands beyond its free length); a dull barrel top's rim may be solder's (below)
        M["seating_gap_mm"] = _m(mp.raise_mm, mp.u_raise_mm, "mm", src)
    else:
        rim = ("its rim stands clear of a seated pin's, but over a dull barrel top its focus may be solder's" if dull
               and math.isfinite(mp.raise_mm) else "the pin does not stand clear of a seated one's height")
        M["seating_gap_mm"] = _miss(f"{src}: flange top {mp.flange_why}, and {rim}", "mm")
    if dull:
        # solder over the barrel top fills the plunger gap just under the rim, and its focus takes the rim's place
        why = (f"{src}: unreliable: the barrel top is dull ({mp.barrel_sheen:.2f} of the brightest in the stack): solder over "
               "it may fill the plunger gap, whose focus the rim's cannot be told from")
        M.update(unmeasured(("tip_height_mm", "tip_height_error_mm", "plunger_depression_mm"), why))
    elif math.isfinite(mp.barrel_top_z_mm) and mp.apex_z_mm - mp.barrel_top_z_mm < PARAMS.stack.min_rim_above_barrel_mm:
        M["plunger_depression_mm"] = _miss(f"{src}: unreliable: the tip ({mp.apex_z_mm:.3f} mm) is not above the barrel top "
                                           f"({mp.barrel_top_z_mm:.3f} mm); one of the two heights is mistaken", "mm")
    elif math.isfinite(mp.barrel_top_z_mm):
        prot = (mp.apex_z_mm - mp.barrel_top_z_mm) / cos_t
        M["plunger_depression_mm"] = _m(max(geo.plunger_protrusion_mm - prot, 0.0), math.hypot(mp.u_apex_z_mm, mp.u_barrel_top_z_mm), "mm", src)
    else:
        M["plunger_depression_mm"] = _miss(f"{src}: barrel top {mp.barrel_why}", "mm")
    if math.isfinite(mp.tilt_deg):
        M["tilt_deg"] = _m(mp.tilt_deg, mp.u_tilt_deg, "deg", src)
        u_az = math.degrees(mp.u_tilt_deg / max(mp.tilt_deg, 1e-3)) if mp.tilt_deg > 0 else 180.0
        M["tilt_azimuth_deg"] = _m(mp.tilt_azimuth_deg, min(u_az, 180.0), "deg", src)
    else:
        M["tilt_deg"] = _miss(f"{src}: {mp.reason or 'tilt not measured'}", "deg")
        M["tilt_azimuth_deg"] = _miss(f"{src}: {mp.reason or 'tilt not measured'}", "deg")
    if math.isfinite(mp.barrel_center_px[0]):
        iv.image_px[f"{src}.barrel"] = list(mp.barrel_center_px)
    return iv


def _pins_overlay(st, found: list[MicroPin]) -> tuple[np.ndarray, np.ndarray, object]:
    """All-in-focus picture with the pins' findings (outlined by the stack's own look: found or not), the
    per-pixel height map (scale bar in mm), and a function that redraws the picture with the board's final
    verdicts ``{pin id: PinResult}``."""
    r = depth_from_focus(st.images, st.z_mm, picture="pyramid", **PIN_DFF)
    height = height_map_picture(r, vmin=float(st.z_mm[1]), vmax=float(st.z_mm[-2]), unit="mm")
    return _draw_pins(r.all_in_focus, found), height, lambda final: _draw_pins(r.all_in_focus, found, final)


def _draw_pins(picture: np.ndarray, found: list[MicroPin], final: dict | None = None) -> np.ndarray:
    from vision.overlay import VERDICT_RGB, Labels, draw_marker, to_rgb8

    img = to_rgb8(picture)
    labels = Labels(img)
    for mp in found:
        if not math.isfinite(mp.center_px[0]):
            continue
        res = (final or {}).get(mp.id)
        verdict = res.verdict.value if res is not None else None
        col = VERDICT_RGB[verdict] if verdict else ((60, 200, 255) if mp.ok else VERDICT_RGB["REVIEW"])
        draw_marker(img, mp.center_px, color=col, size_px=8)
        if math.isfinite(mp.barrel_center_px[0]):
            draw_marker(img, mp.barrel_center_px, color=(255, 0, 255), size_px=6)
        txt = [f"{mp.id} {verdict or ''}".strip()]
        if barrel_top_dull(mp):
            txt.append(f"dull barrel top {mp.barrel_sheen:.2f}: tip unreliable")
        elif mp.ok:
            txt.append(f"tip {mp.apex_z_mm:.3f} mm")
            if math.isfinite(mp.tilt_deg):
                txt.append(f"tilt {mp.tilt_deg:.2f} deg")
        else:
            txt.append(mp.reason[:40])
        if res is not None and res.reasons:
            txt += res.reasons[:2]
        labels.place((mp.center_px[0] + 12, mp.center_px[1] - 10), txt, color=col)
    return img


# -- pads ------------------------------------------------------------------------------------------
def _recipe_pad(recipe: Recipe, pad_id: str) -> MatingPad:
    for q in recipe.pads:
        if q.id == pad_id:
            return q
    raise InputError(f"focus stack targets pad {pad_id!r} but recipe {recipe.key} has pads {[q.id for q in recipe.pads]}")


def _scratch_measures(M, scratches, mm_per_px, src):
    longest = scratches[0].length_mm if scratches else 0.0
    # length from a thresholded line: about a pixel at each end
    M["scratch_max_length_mm"] = _m(longest, 2 * mm_per_px, "mm", src)
    M["scratch_count"] = _m(len(scratches), 0.0, "1", src)


def _pad_view(inp, name: str, st, pad_id: str) -> ViewOutput:
    t0 = time.perf_counter()
    recipe: Recipe = inp.recipe
    src = f"stack:{name}"
    q = _recipe_pad(recipe, pad_id)
    rec = _record(inp, name, st.shape)
    s = rec.scale_mm_per_px()
    r = depth_from_focus(st.images, st.z_mm, **PAD_DFF)  # aligned per the manifest by inspect_view
    t1 = time.perf_counter()
    size_px = (q.size_mm[0] / s, q.size_mm[1] / s)
    regs = locate_pads(r.all_in_focus, pad_size_px=size_px, max_pads=8)
    vo = ViewOutput(view=src, registration={"stage_xy_mm": st.meta.get("stage_xy_mm")}, notes=list(r.notes))
    iv = ItemView()
    vo.pads[q.id] = iv
    M = iv.measurements
    if not regs:
        why = f"{src}: no pad of {q.size_mm[0]}x{q.size_mm[1]} mm found in the all-in-focus image"
        M.update(unmeasured(("flatness_pv_um", "roughness_sa_um", "scratch_max_length_mm", "oxidation_area_fraction"), why))
        vo.overlays[src] = height_map_rgb(r.height_mm, r.valid, unit="um", scale=1e3)
        return vo
    H, W = st.shape
    if st.stage_xy_mm is not None:
        want = axis_mm_to_px(rec, np.asarray(q.center_mm) - np.asarray(st.stage_xy_mm, float))
    else:
        want = np.array([W / 2 - 0.5, H / 2 - 0.5])
    reg = min(regs, key=lambda g: math.dist(g.center_px, want))
    reg.id = q.id
    iv.image_px[f"{src}.center"] = list(reg.center_px)
    inner = pad_mask((H, W), reg, inset_px=4)
    disc = None
    if r.all_in_focus.ndim == 3:
        frac, disc, u_frac = discoloured_fraction(r.all_in_focus, inner, pad=pad_mask((H, W), reg), **_OXIDE)
    scr, scr_px = find_scratches(r.all_in_focus, inner, mm_per_px=s, exclude=disc)
    # flatness: the pad and its edge (where the focus is sharpest on smooth gold), without its
    # grooves: the macro shape excludes them, and their walls focus at the groove, not the surface
    fm = pad_mask((H, W), reg, inset_px=0)
    grooves = None
    if scr:
        import cv2

        k = PAD_DFF["window_px"] | 1
        fm &= ~(cv2.dilate(scr_px.astype(np.uint8), np.ones((k, k), np.uint8)) > 0)
        # the outline's focus too, without a groove that reaches the edge (its walls focus at its floor)
        grooves = cv2.dilate(scr_px.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    step = st.z_step_mm
    P = PARAMS.stack
    outline = edge_heights(st.images, st.z_mm, reg, mm_per_px=s, segment_mm=P.pad_edge_segment_mm, band_in_px=P.pad_edge_band_mm / s,
                           band_out_px=P.pad_edge_outline_u_px,
                           presmooth_px=P.pad_edge_presmooth_px, corner_mm=P.pad_edge_corner_mm, exclude=grooves)
    fl = flatness(r.height_mm, r.valid, fm, mm_per_px=s, center_px=reg.center_px, uncertainty_mm=r.uncertainty_mm, max_scatter_mm=2 * step,
                  edge_band_px=PAD_DFF["window_px"] // 2 + 3, anchors=outline,
                  gain_u=P.pad_edge_gain_u, window_px=PAD_DFF["window_px"], shading=_linear_luma(r.all_in_focus),
                  shading_exclude=_oxide_seen_elsewhere(inp, q.id, reg, (H, W), s, disc))
    vo.notes.extend(f"{q.id} flatness: {n}" for n in fl.notes)
    if fl.ok:
        M["flatness_pv_um"] = _m(fl.pv_um, fl.u_pv_um, "um", src)
        iv.cues["pad_shape"] = Cue(present=fl.shape != "flat", kind="measured", confidence=1.0, score=fl.pv_um, source=src, detail=fl.shape)
    else:
        M["flatness_pv_um"] = _miss(f"{src}: {fl.reason}", "um")
    ra = roughness_sa(r.height_mm, r.valid, fm, fl, mm_per_px=s, center_px=reg.center_px, uncertainty_mm=r.uncertainty_mm,
                      method_floor_mm=0.1 * step, min_valid_fraction=P.pad_roughness_min_valid_fraction)
    M["roughness_sa_um"] = _m(ra.sa_um, ra.u_sa_um, "um", src) if ra.ok else _miss(f"{src}: {ra.reason}", "um")
    if disc is not None:
        M["oxidation_area_fraction"] = _m(frac, u_frac, "1", src)
    else:
        M["oxidation_area_fraction"] = _miss(f"{src}: the stack is mono; discolouration needs a colour image (top view or a colour stack)", "1")
    _scratch_measures(M, scr, s, src)
    lines = [f"PV {fl.pv_um:.1f} um {fl.shape}" if fl.ok else "PV not measured"]
    if scr:
        lines.append(f"scratch {scr[0].length_mm:.3f} mm")
    drawn = [(reg, scr, disc, lines)]
    vo.overlays[src] = _draw_pads(r.all_in_focus, drawn)
    vo.redraw = lambda final, base=r.all_in_focus, d=drawn, key=src: {key: _draw_pads(base, d, final)}
    # the engineer's views: the fitted pad surface (deviation from its best plane) and the raw height map
    if fl.ok:
        vo.overlays[f"{src}:height"] = height_map_rgb(fl.surface_mm, None, unit="um from plane", scale=1e3)
    vo.overlays[f"{src}:dff"] = height_map_picture(r, unit="um (z)", scale=1e3)
    vo.timings_ms.update({"depth_from_focus": (t1 - t0) * 1e3, "pad": (time.perf_counter() - t1) * 1e3})
    return vo


def _oxide_seen_elsewhere(inp, pad_id: str, reg: PadRegion, shape: tuple[int, int], mm_per_px: float, own: np.ndarray | None):
    """The pad's oxide in this stack's pixels (H, W) bool, from its own colour or from the top camera's, or None.
    The top's oxide points (`BoardInput.known_oxide`, pad axes) are drawn at this stack's scale and grown by
    `StackParams.pad_oxide_map_margin_mm` (the two views' pad outlines, and the top's coarser pixels)."""
    import cv2

    pts = inp.known_oxide.get(pad_id)
    if pts is None or not len(pts):
        return own
    uv = np.round(pad_frame_to_px(reg, pts, mm_per_px=mm_per_px)).astype(int)
    H, W = shape
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
    m = np.zeros(shape, np.uint8)
    m[uv[inside, 1], uv[inside, 0]] = 1
    k = 2 * int(math.ceil(PARAMS.stack.pad_oxide_map_margin_mm / mm_per_px)) + 1
    m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    return m if own is None else (m | np.asarray(own, bool))


def _linear_luma(image: np.ndarray) -> np.ndarray:
    """Linear luminance (H, W) of an 8/16-bit or float picture (its shading is linear in light, not in sRGB)."""
    return srgb_to_linear(to_gray_float(image))


def _draw_pads(base: np.ndarray, drawn, final: dict | None = None) -> np.ndarray:
    """Every pad's findings on `base`; outlined in its final verdict's colour once the board is decided."""
    from vision.overlay import VERDICT_RGB, to_rgb8

    out = to_rgb8(base)
    for reg, scr, disc, lines in drawn:
        res = (final or {}).get(reg.id)
        colour = VERDICT_RGB[res.verdict.value] if res is not None else (255, 255, 0)
        extra = [res.verdict.value] if res is not None else []
        out = draw_pad_overlay(out, reg, scratches=scr, discoloured=disc, lines=[*lines, *extra], verdict_rgb=colour)
    return out


# -- pads from the top image -------------------------------------------------------------------------
def _match_pads(recipe: Recipe, rec: CalibrationRecord, regs: list[PadRegion]) -> dict[str, PadRegion]:
    """Assign found pads to recipe pads: a rigid board->plane fit voted over all pairings."""
    if not regs:
        return {}
    P = np.asarray(rec.pixel_to_plane(np.array([g.center_px for g in regs], float)), float).reshape(-1, 2)
    B = np.array([q.center_mm for q in recipe.pads], float)
    pitch = min((math.dist(a, b) for i, a in enumerate(B) for b in B[i + 1 :]), default=1.0)
    tol = 0.3 * pitch
    best = (-1, None)
    for i in range(len(P)):
        for j in range(len(B)):
            t = P[i] - B[j]
            d = np.linalg.norm((B + t)[:, None, :] - P[None], axis=2)
            n_in = int((d.min(axis=1) < tol).sum())
            if n_in > best[0]:
                best = (n_in, t)
    t = best[1]
    out = {}
    d = np.linalg.norm((B + t)[:, None, :] - P[None], axis=2)
    for j, q in enumerate(recipe.pads):
        i = int(np.argmin(d[j]))
        if d[j, i] < tol:
            regs[i].id = q.id
            out[q.id] = regs[i]
    return out


#: the top view judges a pad's colour and area scratches this far inside its outline (the board bleeds in)
_TOP_INSET_PX = 3


def top_pad_condition(img: np.ndarray, reg: PadRegion, *, mm_per_px: float):
    """Oxide and grooves of one pad in a top image.

    Returns ``(oxide, discoloured, scratches)``: oxide ``(area fraction, its standard uncertainty)`` or None for a
    mono image; the discoloured pixels (H, W) bool or None; the grooves, longest first -- in the pad (inset by
    `_TOP_INSET_PX`, pixel by pixel and along straight segments), along its edge, in the band the inset
    leaves out (a groove hugging the edge merges with it), and on the edge itself (a groove there moves it)."""
    import cv2

    P = PARAMS.stack
    inner = pad_mask(img.shape, reg, inset_px=_TOP_INSET_PX)
    oxide = disc = excl = None
    if img.ndim == 3:
        # a groove is gold in shadow (no hue shift): it needs no exclusion, and excluding the lines
        # found inside an oxide patch would punch holes in it
        frac, disc, u_frac = discoloured_fraction(img, inner, pad=pad_mask(img.shape, reg), **_OXIDE)
        oxide = (frac, u_frac)
        excl = cv2.dilate(disc.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    scr, _ = find_scratches(img, inner, mm_per_px=mm_per_px, exclude=excl, k_high=P.pad_top_scratch_k_high,
                            line_k=P.pad_top_line_k, line_length_mm=P.pad_top_line_length_mm)
    scr += edge_scratches(img, reg, mm_per_px=mm_per_px, band_px=(1.0, _TOP_INSET_PX + 2.0),
                          ref_px=(_TOP_INSET_PX + 4.0, _TOP_INSET_PX + 7.0), exclude=excl,
                          k_high=P.pad_edge_scratch_k_high, k_low=P.pad_edge_scratch_k_low)
    # a groove on the very edge moves the edge; one the band test found already is not counted twice
    scr += [n for n in edge_notches(img, reg, mm_per_px=mm_per_px, window_mm=P.pad_edge_notch_window_mm,
                                    k_high=P.pad_edge_notch_k[0], k_low=P.pad_edge_notch_k[1], exclude=excl)
            if not any(_same_groove(n, sc, 4.0) for sc in scr)]
    return oxide, disc, sorted(scr, key=lambda sc: -sc.length_mm)


def _same_groove(a, b, tol_px: float) -> bool:
    """Whether Scratch `a`'s middle lies within `tol_px` of Scratch `b`'s segment, running the same way (20 deg)."""
    turn = abs((a.angle_deg - b.angle_deg + 90.0) % 180.0 - 90.0)
    if turn > 20.0:
        return False
    m = (np.asarray(a.p0_px, float) + np.asarray(a.p1_px, float)) / 2
    return float(segment_distance_px(m, b.p0_px, b.p1_px)[0]) <= tol_px


def inspect_pads_top(inp) -> ViewOutput:
    """Scratches and oxidation of the recipe's pads from ``inp.images["top"]`` (flatness needs a stack)."""
    t0 = time.perf_counter()
    recipe: Recipe = inp.recipe
    if not recipe.pads:
        raise InputError(f"recipe {recipe.key} has no pads to judge")
    img, rec = top_image(inp)
    s = rec.scale_mm_per_px()
    q0 = recipe.pads[0]
    regs = locate_pads(img, pad_size_px=(q0.size_mm[0] / s, q0.size_mm[1] / s), max_pads=4 * len(recipe.pads))
    found = _match_pads(recipe, rec, regs)
    vo = ViewOutput(view="top", registration={"pads_found": len(found), "pads_in_recipe": len(recipe.pads)})
    drawn = []
    for q in recipe.pads:
        iv = ItemView()
        vo.pads[q.id] = iv
        M = iv.measurements
        reg = found.get(q.id)
        if reg is None:
            M["scratch_max_length_mm"] = _miss("top: pad not found in the top image", "mm")
            M["oxidation_area_fraction"] = _miss("top: pad not found in the top image", "1")
            continue
        iv.image_px["top.center"] = list(reg.center_px)
        oxide, disc, scr = top_pad_condition(img, reg, mm_per_px=s)
        if oxide is not None:
            M["oxidation_area_fraction"] = _m(*oxide, "1", "top")
            if disc.any():
                vv, uu = np.nonzero(disc)
                vo.pad_oxide_mm[q.id] = pad_frame_mm(reg, np.column_stack([uu, vv]), mm_per_px=s)
        else:
            M["oxidation_area_fraction"] = _miss("top: mono image; discolouration needs colour", "1")
        _scratch_measures(M, scr, s, "top")
        M["flatness_pv_um"] = _miss("top: a top image has no heights; a focus stack of the pad measures flatness", "um")
        lines = [f"scr {scr[0].length_mm:.2f} mm" if scr else "no scratch"]
        if "oxidation_area_fraction" in M and M["oxidation_area_fraction"].measured:
            lines.append(f"ox {M['oxidation_area_fraction'].value * 100:.1f} %")
        drawn.append((reg, scr, disc, lines))
    vo.overlays["top:pads"] = _draw_pads(img, drawn)
    vo.redraw = lambda final, base=img, d=drawn: {"top:pads": _draw_pads(base, d, final)}
    vo.timings_ms["pads"] = (time.perf_counter() - t0) * 1e3
    return vo
