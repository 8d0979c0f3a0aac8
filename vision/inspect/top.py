"""The top view: register the board, then measure every pin from one calibrated top image.

``inspect_view(inp) -> ViewOutput(view="top")`` reads ``inp.images["top"]`` (RGB or mono, uint8 or
uint16), ``inp.calibrations["top"]`` (board-plane record) and ``inp.recipe``.

Per pin (``ViewOutput.pins[id]``):

* ``xy_error_mm`` (|flange-bottom centre - nominal pad centre|, board frame) and its components
  ``xy_error_x_mm`` / ``xy_error_y_mm``;
* ``pitch_x_mm`` / ``pitch_y_mm`` to the next pin in the row / column, ``pitch_error_mm`` the worst
  |pitch - nominal| charged to the pin (a pair's deviation is charged to its worse-placed member);
* ``tilt_deg``, ``tilt_azimuth_deg`` (board frame, from +x towards +y);
* for fusion with the side view: ``lean_x_mm`` / ``lean_y_mm`` (tip xy minus flange-bottom-centre xy,
  board frame) and ``tilt_xz_deg`` / ``tilt_yz_deg`` (= atan2(lean_x, H), atan2(lean_y, H)).

  **Heights assumed.** The top view sees circle centres, not heights. The axis is fitted through
  the flange-top rim (axial height t_f above the flange bottom), the barrel-top rim (t_f + l_b;
  weighted low) and the dome's sphere centre under its highlight, assumed at the *nominal* axial
  height ``L - r_dome`` with ``L = t_f + l_b + plunger_protrusion`` (plunger not depressed), all
  from the recipe's pin type. The tip is put at the nominal axial length L, so
  ``lean = L sin(tilt) (cos az, sin az)`` and ``H = L cos(tilt)`` is the assumed tip height above
  the flange bottom (``assumed_axial_length_mm`` in ``ViewOutput.registration``). With a measured
  tip height H' above the flange bottom (side view or stack): the tip lean is ``lean * H' / H``;
  and if the plunger is depressed by d, the dome centre sat d lower than assumed, so the top view's
  lean per unit height is too small by about ``(L - r_dome - t_f - d) / (L - r_dome - t_f)``
  (the flange-dome pair dominates the fit) -- divide lean and tan(tilt) by it.
* ``tip_pad_margin_mm`` when the recipe gives mating pads (reason ``contact_alignment``);
* cues ``missing`` (measured), ``solder_wicking`` (suspicion: a grey flange top says solder covers
  it, the height it climbed is for the side view), ``solder_in_plunger_gap`` (measured when the
  barrel-top ring is clearly grey, suspicion when partly), ``not_seated`` (suspicion: no fillet
  next to the flange);
* ``image_px``: ``top.base``, ``top.tip`` (and the fitted ``top.flange``, ``top.barrel``, ``top.dome``).

Heights (tip height, seating gap, wicking height) are placeholders ``not_measured``.
The overlay (``overlays["top"]``) outlines each pin by its top-view-only verdict.
"""

from __future__ import annotations

import math
import time

import numpy as np

from models.pin_geometry import PinGeometry
from vision.inspect.base import ItemView, ViewOutput, pin_geometry, top_image
from vision.inspect.pitch import norm_u, pitches
from models.errors import InputError
from calibration.record import CalibrationRecord
from models.measurands import unmeasured
from models.measurement import Cue, Measurement
from models.recipe import MatingPad, Recipe
from models.rules import evaluate_pin
from vision.params import PARAMS
from vision.overlay import OverlayItem, draw_top_overlay
from vision.registration import Registration, check_pin_pattern_scale, register_top, robust_rigid_fit
from vision.solder_cues import GreyRing
from vision.top_view import CoaxialLight, PinTop, fit_pad_rims_top, measure_pins_top

__all__ = ["inspect_view", "coaxial_light"]

SRC = "top"
P = PARAMS.top


def coaxial_light(rec: CalibrationRecord) -> CoaxialLight | None:
    """The coaxial light's source, from the record's ``target["coaxial_light_height_mm"]`` (on the optical
    axis, i.e. above the image centre); None (collimated) when the record does not say."""
    h = (rec.target or {}).get("coaxial_light_height_mm")
    if h is None:
        return None
    if not (isinstance(h, (int, float)) and h > 0):
        raise InputError(f"calibration record {rec.camera_id!r}: target.coaxial_light_height_mm must be a positive number, got {h!r}")
    w, hh = rec.image_size_px
    c = rec.pixel_to_plane(np.array([(w - 1) / 2, (hh - 1) / 2], float)).reshape(2)
    return CoaxialLight(xy_mm=(float(c[0]), float(c[1])), height_mm=float(h))


def _inputs(inp) -> tuple[np.ndarray, CalibrationRecord, Recipe]:
    img, rec = top_image(inp)
    if not inp.recipe.pins:
        raise InputError(f"recipe {inp.recipe.key} has no pins; the top view inspects pin boards")
    return img, rec, inp.recipe


def _m(value: float, u: float, unit: str) -> Measurement:
    return Measurement.of(value, u, unit, source=SRC)


def _registration_cov(reg: Registration, xy_mm: np.ndarray, centroid_mm: np.ndarray) -> np.ndarray:
    """Covariance (2, 2) a point at board `xy_mm` inherits from the registration (translation + rotation lever)."""
    lever = float(np.hypot(*(np.asarray(xy_mm) - centroid_mm)))
    u_rot = math.radians(reg.u_rotation_deg) * lever
    return np.eye(2) * (reg.u_translation_mm**2 + u_rot**2)


def _pad_margin(tip_mm: np.ndarray, pad: MatingPad) -> float:
    """Distance (mm) from the tip to the nearest pad edge; negative when the tip lands off the pad."""
    d = np.asarray(tip_mm, float) - np.asarray(pad.center_mm, float)
    if pad.shape == "round":
        return 0.5 * min(pad.size_mm) - float(np.hypot(*d))
    return float(min(0.5 * pad.size_mm[0] - abs(d[0]), 0.5 * pad.size_mm[1] - abs(d[1])))


def _grey_cue(ring: GreyRing | None, *, measured_min: float | None, suspect_min: float, what: str, unseen: str = "") -> Cue | None:
    """The solder cue of one ring; `unseen` says, in a present suspicion's detail, what the top view cannot see
    that would settle it (for the operator who reviews it)."""
    if ring is None or ring.n_pixels == 0 or not math.isfinite(ring.grey_fraction):
        return None
    f = ring.grey_fraction
    if measured_min is not None and f >= measured_min:
        return Cue(present=True, kind="measured", confidence=min(0.99, 0.6 + f / 2), score=f, source=SRC,
                   detail=f"{what}: grey fraction {f:.2f} >= {measured_min}")
    if f >= suspect_min:
        return Cue(present=True, kind="suspicion", confidence=min(0.9, 0.4 + f / 2), score=f, source=SRC,
                   detail=f"{what}: grey fraction {f:.2f} >= {suspect_min}" + (f"; {unseen}" if unseen else ""))
    return Cue(present=False, kind="measured" if measured_min is not None else "suspicion",
               confidence=min(0.99, 0.6 + (suspect_min - f)), score=f, source=SRC, detail=f"{what}: grey fraction {f:.2f}")


def inspect_view(inp) -> ViewOutput:
    """Inspect the top image of `inp` (a `vision.inspect.BoardInput`). Raises InputError for unusable input."""
    if not inp.recipe.pins and inp.recipe.pads:  # a mating-pad board: its top image is judged pad by pad
        from vision.inspect.stack import inspect_pads_top

        return inspect_pads_top(inp)
    t0 = time.perf_counter()
    img, rec, recipe = _inputs(inp)
    geom = pin_geometry(recipe, what="the top view")
    mpp = rec.scale_mm_per_px()
    out = ViewOutput(view="top")
    pins_mm = np.array([p.xy_mm for p in recipe.pins], float)
    centroid = pins_mm.mean(0)

    fid_d = recipe.fiducials[0].diameter_mm if recipe.fiducials else None
    reg, notes = register_top(img, rec, fiducials_mm=np.array([f.xy_mm for f in recipe.fiducials], float).reshape(-1, 2),
                              fiducial_diameter_mm=fid_d, pins_mm=pins_mm, pin_radius_mm=geom.flange_radius_mm,
                              allow_pin_registration=recipe.allow_pin_registration,
                              pad_radius_mm=recipe.pad_diameter_mm / 2 if recipe.pad_diameter_mm else None)
    out.notes += notes
    t1 = time.perf_counter()

    # pins are fitted in the calibration's plane frame, then moved to the board frame by the registration
    plane_px = rec.plane_to_pixel
    guesses = plane_px(reg.board_to_plane(pins_mm)).reshape(-1, 2)
    h, w = img.shape[:2]
    margin = (geom.flange_radius_mm + P.search_mm) / mpp
    for p, g in zip(recipe.pins, guesses):
        if not (margin <= g[0] <= w - 1 - margin and margin <= g[1] <= h - 1 - margin):
            raise InputError(f"pin {p.id} falls outside the top image (at pixel {g[0]:.0f}, {g[1]:.0f} of {w}x{h}); "
                             "check that the recipe is for this board and the camera sees all of it")
    search = P.search_mm + (P.search_extra_pin_registration_mm if reg.method != "fiducials" else 0.0)
    light = coaxial_light(rec)
    fitted = measure_pins_top(img, guesses, to_board=rec.pixel_to_plane, to_pixel=plane_px, geometry=geom,
                              mm_per_px=mpp, search_mm=search, light=light)
    plane: dict[str, PinTop] = {p.id: f for p, f in zip(recipe.pins, fitted)}
    if reg.method != "fiducials":
        reg = _refine_on_pins(reg, recipe, plane, mpp)
    t2 = time.perf_counter()

    board = _in_board(plane, reg, geom.axial_length_mm)
    pads = {}
    if reg.method != "fiducials" and recipe.pad_diameter_mm:
        pads = _pad_references(img, rec, recipe, plane, mpp, reg)
        out.notes.append(f"the fiducials are out of view: pin positions are measured against each pin's own pad "
                         f"({len(pads)} of {len(recipe.pins)} pad rims found)")
        on_pads = _register_on_pads(reg, recipe, board, pads)
        if on_pads is not None:
            # the pads, etched in one pattern with the board, register it better than the pins standing on them
            # (which sit up to 0.02 mm off their pads): a pin too far off its pad to be measured against it
            # is measured in this frame
            pads = {pid: (on_pads.plane_to_board(reg.board_to_plane(c.reshape(1, 2)))[0], C) for pid, (c, C) in pads.items()}
            reg = on_pads
            board = _in_board(plane, reg, geom.axial_length_mm)
            out.notes.append(f"registered on {reg.n_points} pads (residual {reg.residual_rms_mm * 1e3:.1f} um)")
    for p in recipe.pins:
        out.pins[p.id] = _pin_item(p, board[p.id], reg, centroid, geom, recipe, pad=pads.get(p.id))
    pitches(recipe, board, out, source=SRC)

    out.registration = {**reg.as_dict(), "assumed_axial_length_mm": geom.axial_length_mm,
                        "camera_id": rec.camera_id, "mm_per_px": mpp}
    t3 = time.perf_counter()
    if getattr(inp, "overlays", True):
        out.overlays["top"] = _overlay(img, recipe, out, reg, rec)
    out.redraw = lambda results: {"top": _overlay(img, recipe, out, reg, rec, results)}
    t4 = time.perf_counter()
    out.timings_ms = {"registration": (t1 - t0) * 1e3, "pins": (t2 - t1) * 1e3, "measurements": (t3 - t2) * 1e3,
                      "overlay": (t4 - t3) * 1e3}
    return out


def _in_board(plane: dict[str, PinTop], reg: Registration, axial_length_mm: float) -> dict[str, PinTop]:
    """The pins moved from the plane frame to the board frame of `reg`: b = R^T (p - t)."""
    Rb = reg.R.T
    tb = -Rb @ reg.translation_mm
    return {pid: pt.transformed(Rb, tb, axial_length_mm=axial_length_mm) for pid, pt in plane.items()}


def _register_on_pads(reg: Registration, recipe: Recipe, board: dict[str, PinTop],
                      pads: dict[str, tuple[np.ndarray, np.ndarray]]) -> Registration | None:
    """Registration on the pads found under the pins (at least two whose pin stands within
    `TopParams.pad_reference_max_offset_mm`: a pin farther off hides part of its pad's rim), or None."""
    ids = [pid for pid, (c, _) in pads.items()
           if board[pid].base_mm is not None and np.hypot(*(board[pid].base_mm - c)) <= P.pad_reference_max_offset_mm]
    if len(ids) < 2:
        return None
    b = np.array([recipe.pin(i).xy_mm for i in ids], float)
    q = reg.board_to_plane(np.array([pads[i][0] for i in ids], float))
    u_pt = float(np.median([math.sqrt(np.trace(pads[i][1]) / 2) for i in ids]))
    on_pads, keep = robust_rigid_fit(b, q, u_point_mm=u_pt, reject_mm=P.pad_registration_reject_mm)
    on_pads.method = "pads"
    on_pads.points_px = []
    on_pads.n_points = int(keep.sum())
    return on_pads


def _refine_on_pins(coarse: Registration, recipe: Recipe, plane: dict[str, PinTop], mpp: float) -> Registration:
    """Registration on the pin pattern: rigid fit of the nominal positions to the measured base centres,
    leaving out pins far from the consensus (misplaced ones)."""
    ids = [p.id for p in recipe.pins if plane[p.id].present and plane[p.id].base_mm is not None]
    if len(ids) < 2:
        raise InputError(f"only {len(ids)} pin(s) found to register the board on; check that the board is under the camera")
    b = np.array([recipe.pin(i).xy_mm for i in ids], float)
    q = np.array([plane[i].base_mm for i in ids], float)
    # a good pin stands up to ~0.02 mm off its pad: that, not the fit of its base, is how well it marks the board
    u_pt = math.hypot(float(np.median([math.sqrt(np.trace(plane[i].base_cov_mm2) / 2) for i in ids])), P.pin_placement_u_mm)
    reg, keep = robust_rigid_fit(b, q, u_point_mm=u_pt, reject_mm=P.pin_registration_reject_mm)
    check_pin_pattern_scale(b[keep], q[keep])  # a pattern at another scale than the calibration's is an error
    reg.method = "pins"
    reg.points_px = []
    reg.n_points = int(keep.sum())
    return reg


def _pad_references(img, rec: CalibrationRecord, recipe: Recipe, plane: dict[str, PinTop], mpp: float,
                    reg: Registration) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Board-frame centre (2,) and covariance (2, 2) mm^2 of the pad under each measured pin.

    Without fiducials the registration rests on the pins themselves, so the pattern's common offset and
    turn are lost in it (a row of pins all 6 um to one side reads 0); the pad, etched with the board's
    copper, keeps the pin's own offset. Pads whose rim is not found are left out (their pin keeps the
    registration's position and its larger uncertainty)."""
    ids = [p.id for p in recipe.pins if plane[p.id].present and plane[p.id].base_px is not None and plane[p.id].axis is not None
           and plane[p.id].axis.ok]
    if not ids:
        return {}
    r_px = recipe.pad_diameter_mm / 2 / mpp
    # searched around where the registration puts the pad (within ~0.01 mm), not around the pin: a misplaced
    # pin sits up to 0.3 mm off its pad
    nominal = np.array([recipe.pin(i).xy_mm for i in ids], float)
    guess = rec.plane_to_pixel(reg.board_to_plane(nominal)).reshape(-1, 2)
    fits = fit_pad_rims_top(img, guess, pad_r_px=r_px, band_px=max(3.0, P.pad_rim_band_mm / mpp))
    out = {}
    floor = P.pad_centre_floor_mm ** 2 * np.eye(2)
    for pid, f in zip(ids, fits):
        if not f.ok:
            continue
        q = np.asarray(rec.pixel_to_plane(f.center_px.reshape(1, 2)), float).reshape(1, 2)
        out[pid] = (reg.plane_to_board(q)[0], reg.R.T @ (f.cov_px * mpp ** 2) @ reg.R + floor)
    return out


def _pin_item(p, pt: PinTop, reg: Registration, centroid: np.ndarray, geom: PinGeometry, recipe: Recipe,
              pad: tuple[np.ndarray, np.ndarray] | None = None) -> ItemView:
    iv = ItemView()
    conf = float(min(max(pt.presence_confidence, 0.0), 1.0))
    iv.cues["missing"] = Cue(present=not pt.present, kind="measured", confidence=conf, score=pt.presence_score,
                             source=SRC, detail=pt.detail)
    iv.measurements.update(unmeasured(("tip_height_error_mm", "seating_gap_mm", "wicking_above_flange_mm"),
                                      "the top view does not measure heights"))
    if not pt.present:
        return iv
    if pt.axis is None or not pt.axis.ok:
        why = pt.reason if pt.reason.startswith("unreliable:") else f"pin fit failed: {pt.reason or 'no rim found'}"
        iv.measurements.update(unmeasured(("xy_error_mm", "tilt_deg", "pitch_error_mm"), why))
        return iv
    ax = pt.axis
    # base centre: fit covariance + registration
    if pad is not None and np.hypot(*(pt.base_mm - pad[0])) <= P.pad_reference_max_offset_mm:
        # against the pin's own pad (no fiducials in view): the registration's offset cancels
        C_base = pt.base_cov_mm2 + pad[1]
        err = pt.base_mm - pad[0]
    else:
        C_base = pt.base_cov_mm2 + _registration_cov(reg, p.xy_mm, centroid)
        err = pt.base_mm - np.asarray(p.xy_mm, float)
    e, u_e = norm_u(err, C_base)
    iv.measurements["xy_error_mm"] = _m(e, u_e, "mm")
    iv.measurements["xy_error_x_mm"] = _m(err[0], math.sqrt(C_base[0, 0]), "mm")
    iv.measurements["xy_error_y_mm"] = _m(err[1], math.sqrt(C_base[1, 1]), "mm")
    iv.measurements["tilt_deg"] = _m(ax.tilt_deg, ax.u_tilt_deg, "deg")
    iv.measurements["tilt_azimuth_deg"] = _m(ax.azimuth_deg, ax.u_azimuth_deg, "deg")
    L = geom.axial_length_mm
    Cs = ax.cov[2:, 2:]
    lean = L * ax.lean
    iv.measurements["lean_x_mm"] = _m(lean[0], L * math.sqrt(Cs[0, 0]), "mm")
    iv.measurements["lean_y_mm"] = _m(lean[1], L * math.sqrt(Cs[1, 1]), "mm")
    H = L * math.cos(math.radians(ax.tilt_deg))
    for k, name in ((0, "tilt_xz_deg"), (1, "tilt_yz_deg")):
        ang = math.degrees(math.atan2(lean[k], H))
        u = math.degrees(L * math.sqrt(Cs[k, k]) / H)
        iv.measurements[name] = _m(ang, u, "deg")
    if recipe.mating is not None and recipe.mating.pads:
        pad = next((q for q in recipe.mating.pads if q.id == p.id), None)
        if pad is None:
            iv.measurements["tip_pad_margin_mm"] = Measurement.missing(f"the recipe gives no mating pad for {p.id}", "mm")
        else:
            C_tip = pt.tip_cov_mm2 + _registration_cov(reg, p.xy_mm, centroid)
            iv.measurements["tip_pad_margin_mm"] = _m(_pad_margin(pt.tip_mm, pad), math.sqrt(max(np.linalg.eigvalsh(C_tip).max(), 0)), "mm")
    cue = _grey_cue(pt.grey_flange, measured_min=None, suspect_min=P.grey_flange_min, what="flange top",
                    unseen="how far up the barrel the solder climbs is out of the top view's sight (a side view measures it)")
    if cue is not None:
        iv.cues["solder_wicking"] = cue
    cue = _grey_cue(pt.grey_barrel_ring, measured_min=P.grey_ring_measured, suspect_min=P.grey_ring_suspect, what="barrel-top ring")
    if cue is not None:
        iv.cues["solder_in_plunger_gap"] = cue
    inner, foot = pt.grey_fillet, pt.grey_fillet_foot
    if inner is not None and foot is not None and inner.n_pixels and foot.n_pixels and inner.mean_lightness > 0:
        rise = foot.mean_lightness / inner.mean_lightness
        flat = bool(rise < P.fillet_rise_min)
        iv.cues["not_seated"] = Cue(present=flat, kind="suspicion", confidence=0.6, score=float(rise), source=SRC,
                                    detail=f"lightness beside the flange rises {rise:.2f}x outward (a fillet's concave "
                                           f"meniscus rises at least {P.fillet_rise_min}x; flat: the pin sits on a film, "
                                           "not a joint)" + ("; how high it hovers is out of the top view's sight (a side "
                                                             "view or a pin stack measures the gap)" if flat else ""))
    iv.image_px = {"top.base": [float(x) for x in pt.base_px], "top.tip": [float(x) for x in pt.tip_px]}
    if pt.fits is not None:
        for name, fit in (("top.flange", pt.fits.flange), ("top.barrel", pt.fits.barrel), ("top.dome", pt.fits.dome)):
            if fit.ok:
                iv.image_px[name] = [float(x) for x in fit.center_px]
    return iv


def _overlay(img: np.ndarray, recipe: Recipe, out: ViewOutput, reg: Registration, rec: CalibrationRecord,
             results: dict | None = None) -> np.ndarray:
    """Outline each pin by its verdict: the board's final one from `results` ({pin id: PinResult}) when
    given, else the top view's own (which cannot include side-view checks)."""
    mpp = rec.scale_mm_per_px()
    items = []
    to_px = lambda xy: rec.plane_to_pixel(reg.board_to_plane(np.asarray(xy, float))).reshape(-1, 2)  # noqa: E731
    for p in recipe.pins:
        iv = out.pins[p.id]
        res = (results or {}).get(p.id) or evaluate_pin(p.id, iv.measurements, iv.cues, recipe, image_px=iv.image_px)
        lines = []
        for name, fmt in (("tilt_deg", "tilt {:.2f} deg"), ("xy_error_mm", "xy {:.3f} mm")):
            m = iv.measurements.get(name)
            if m is not None and m.measured:
                lines.append(fmt.format(m.value))
        lines += res.reasons[:3] + (["..."] if len(res.reasons) > 3 else [])  # one per line: pins are close
        centre = iv.image_px.get("top.base") or to_px(p.xy_mm)[0].tolist()
        pts = {k.split(".")[1]: tuple(v) for k, v in iv.image_px.items() if k in ("top.base", "top.tip")}
        items.append(OverlayItem(id=p.id, center_px=tuple(centre), radius_px=recipe.pin_type.flange_diameter_mm / 2 / mpp + 4,
                                 verdict=res.verdict.value, lines=lines, points_px=pts))
    W, D = recipe.board.size_mm[:2]
    outline = to_px([[0, 0], [W, 0], [W, D], [0, D]])
    r = out.registration
    header = [f"registration: {r['method']}, rot {r['rotation_deg']:.3f} deg, residual {1e3 * r['residual_rms_mm']:.1f} um"]
    return draw_top_overlay(img, items, fiducials_px=reg.points_px, header=header, board_outline_px=outline)
