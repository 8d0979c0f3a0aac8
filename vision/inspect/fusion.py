"""Merge the views of one board into one set of measurements per pin/pad.

Default rule: for each measurement name, the view listed first in the name's priority that measured
it wins (heights: side first; positions in the board plane: top first); unmeasured placeholders are
kept only when no view measured the quantity. Cues merge the same way. Every measurement keeps the
``source`` of the view it came from.

When a pin is seen by both the top and the side view:

* the axis direction comes from the top view's lean (``lean_x_mm``, ``lean_y_mm``: tip minus base
  centre in the board plane). If the top extrapolated the lean along the axis to the nominal axial
  length (its ``registration['assumed_axial_length_mm']``), the direction is independent of the tip
  height; otherwise the lean is the measured tip displacement and the side's measured rise from the
  base to the tip (``tip_height_mm`` minus the pad top and ``seating_gap_mm``) replaces the nominal
  height. The fused lean is given at the measured tip (source ``top+side``);
* the tilt across the side camera's view from the top is compared with the side's own
  ``tilt_xz_deg``; a difference beyond ``k`` combined standard uncertainties
  (``limits.view_disagreement.guard_band_k``) is the cue ``view_disagreement`` (REVIEW). Both then
  inform that component (inverse-variance weights), and ``tilt_deg`` / ``tilt_azimuth_deg`` follow,
  uncertainties propagated to first order (source ``top+side``);
* the side's seating gap and wicking height, measured assuming no tilt across its view, are corrected
  by the tilt across the view that the top provides (source ``side+top``);
* if one view sees the pin and the other does not, the pin is ``missing`` only as a suspicion and the
  views disagree (REVIEW); likewise when they settle ``solder_in_plunger_gap`` differently.

A side view that has no top view to pair with gives the row's pitch from its x positions.
"""

from __future__ import annotations

import math

from vision.inspect.base import ItemView, ViewOutput
from models.measurands import top_first, worst_of
from models.measurement import Cue, Measurement
from models.recipe import Recipe
from vision.params import PARAMS
from vision.side_view import across_tilt_u_mm, shoulder_bulge_mm

PRIORITY = ["side", "top"]  # heights: side first; stacks after these
#: quantities in the board plane: the top view measures them directly, the side only a projection
TOP_FIRST = top_first()
WORST_OF = worst_of()


def _order(outputs: dict[str, ViewOutput], priority: list[str] = PRIORITY) -> list[ViewOutput]:
    keys = [k for k in priority if k in outputs] + sorted(k for k in outputs if k not in priority)
    return [outputs[k] for k in keys]


def _merge(items: list[ItemView], top_first: list[ItemView] | None = None) -> ItemView:
    out = ItemView()
    for iv in items:
        for name, m in iv.measurements.items():
            cur = out.measurements.get(name)
            if cur is None or (not cur.measured and m.measured):
                out.measurements[name] = m
            elif name in WORST_OF and m.measured and m.value > cur.value:  # a flaw one view saw and another missed
                out.measurements[name] = m
        for name, c in iv.cues.items():
            out.cues.setdefault(name, c)
        out.image_px.update(iv.image_px)
    for iv in top_first or []:
        for name, m in iv.measurements.items():
            if name in TOP_FIRST and m.measured:
                out.measurements[name] = m
    return out


def fuse(recipe: Recipe, outputs: dict[str, ViewOutput]):
    """Returns (pins: {id: ItemView}, pads: {id: ItemView}, board_measurements, notes)."""
    ordered = _order(outputs)
    top_first = [outputs["top"]] if "top" in outputs else []
    notes: list[str] = []
    pins = {}
    for p in recipe.pins:
        seen = [o.pins[p.id] for o in ordered if p.id in o.pins]
        if seen:
            pins[p.id] = _merge(seen, [o.pins[p.id] for o in top_first if p.id in o.pins])
            top = outputs["top"].pins.get(p.id) if "top" in outputs else None
            side = outputs["side"].pins.get(p.id) if "side" in outputs else None
            if top is not None and side is not None:
                axial = outputs["top"].registration.get("assumed_axial_length_mm")
                notes += fuse_top_side(pins[p.id], top, side, recipe, p.id, top_axial_mm=axial)
            elif side is not None:
                _side_pitch(pins[p.id])
    pads = {}
    # a pad's focus stack looks at it through the microscope, at two to three times the top camera's
    # resolution: what it measures (scratches, flatness) comes first, the top view fills in the rest
    # (colour, when the stack is mono)
    pad_order = [o for o in ordered if o.view.startswith("stack:")] + [o for o in ordered if not o.view.startswith("stack:")]
    for q in recipe.pads:
        seen = [o.pads[q.id] for o in pad_order if q.id in o.pads]
        if seen:
            pads[q.id] = _merge(seen)
    board = {}
    for o in ordered:
        for name, m in o.board_measurements.items():
            if name not in board or (not board[name].measured and m.measured):
                board[name] = m
    return pins, pads, board, notes


def _side_pitch(iv: ItemView) -> None:
    """Without a top view, a row's pitch is its x spacing, which the side view measures."""
    cur = iv.measurements.get("pitch_error_mm")
    px = iv.measurements.get("pitch_x_error_mm")
    if (cur is None or not cur.measured) and px is not None and px.measured:
        iv.measurements["pitch_error_mm"] = px


def _without(u: float, part: float) -> float:
    """`u` with one (independent) contribution `part` taken out: the side's allowance for a hidden tilt."""
    return math.sqrt(max(u * u - part * part, 0.09 * u * u))


def _val(iv: ItemView, name: str) -> Measurement | None:
    m = iv.measurements.get(name)
    return m if m is not None and m.measured else None


def _present(iv: ItemView) -> bool | None:
    c = iv.cues.get("missing")
    return None if c is None else (not c.present)


def _slopes_from_top(top: ItemView, rise: float, u_rise: float, axial_mm: float | None):
    """The axis as slopes (p_x, p_y) = (a_x, a_y) / a_z from the top view, with standard uncertainties.

    With ``axial_mm`` (the top extrapolated its lean along the axis to that axial length, so its
    direction does not depend on the tip's height) the slopes are the top's own; without it the lean is
    the measured tip displacement and the side's measured rise replaces the nominal height.
    """
    lx, ly = _val(top, "lean_x_mm"), _val(top, "lean_y_mm")
    if lx is None or ly is None:
        return None
    if axial_mm:
        r = math.hypot(lx.value, ly.value)
        H = math.sqrt(max(axial_mm**2 - r * r, 1e-12))
        return lx.value / H, ly.value / H, lx.uncertainty / H, ly.uncertainty / H
    px, py = lx.value / rise, ly.value / rise
    return (px, py, math.hypot(lx.uncertainty / rise, px * u_rise / rise), math.hypot(ly.uncertainty / rise, py * u_rise / rise))


def fuse_top_side(out: ItemView, top: ItemView, side: ItemView, recipe: Recipe, pin_id: str, *,
                  top_axial_mm: float | None = None) -> list[str]:
    """Combine one pin's top and side views into `out` (in place); returns notes.

    ``top_axial_mm``: the axial length the top view extrapolated its lean to (its ``registration
    ['assumed_axial_length_mm']``), or None when its lean is the measured tip displacement.
    """
    notes: list[str] = []
    pt, ps = _present(top), _present(side)
    if pt is not None and ps is not None and pt != ps:
        who = "top" if pt else "side"
        out.cues["missing"] = Cue(present=True, kind="suspicion", confidence=0.5, source="top+side",
                                  detail=f"only the {who} view sees a pin here")
        out.cues["view_disagreement"] = Cue(present=True, kind="suspicion", confidence=0.8, source="top+side",
                                            detail=f"presence: only the {who} view sees the pin")
        notes.append(f"{pin_id}: the top and side views disagree on whether the pin is there")
        return notes
    # solder in the plunger gap: the top sees the barrel-top ring, the side the plunger's foot; if the two
    # settle it differently, neither wins: REVIEW
    ct, cs = top.cues.get("solder_in_plunger_gap"), side.cues.get("solder_in_plunger_gap")
    if ct is not None and cs is not None and ct.present != cs.present and ct.kind == cs.kind == "measured":
        who = "top" if ct.present else "side"
        out.cues["solder_in_plunger_gap"] = Cue(present=True, kind="suspicion", confidence=0.5, source="top+side",
                                                detail=f"only the {who} view sees solder in the plunger gap")
        notes.append(f"{pin_id}: the top and side views disagree on solder in the plunger gap")
    tip = _val(side, "tip_height_mm")
    if tip is None:
        return notes
    gap = _val(side, "seating_gap_mm")
    g, ug = (gap.value, gap.uncertainty) if gap is not None else (0.0, 0.0)
    rise = tip.value - recipe.pad_top_z_mm - g  # flange bottom to tip, vertical
    u_rise = math.hypot(tip.uncertainty, ug)
    if rise <= 0:
        notes.append(f"{pin_id}: side tip height {tip.value:.3f} mm is not above the pin's base; tilt kept from the top view")
        return notes
    sl = _slopes_from_top(top, rise, u_rise, top_axial_mm)
    if sl is None:
        return notes
    px, py, upx, upy = sl

    # the slope across the side camera's view, top against side; where they agree, both inform it
    txz_side = _val(side, "tilt_xz_deg")
    if txz_side is not None:
        c = math.cos(math.radians(txz_side.value))
        ps_x = math.tan(math.radians(txz_side.value))
        ups_x = math.radians(txz_side.uncertainty) / (c * c)
        u_frame = abs(py) * math.radians(PARAMS.fusion.frame_rotation_u_deg)  # the boards' rotation between the two cameras
        u_c = math.sqrt(upx**2 + ups_x**2 + u_frame**2)
        k = recipe.limits.view_disagreement.guard_band_k
        diff = math.degrees(math.atan(px)) - txz_side.value
        u_c_deg = math.degrees(u_c)
        agree = abs(px - ps_x) <= k * u_c
        out.measurements["tilt_xz_top_deg"] = Measurement.of(math.degrees(math.atan(px)), math.degrees(upx), "deg",
                                                             source="top+side")
        out.cues["view_disagreement"] = Cue(
            present=not agree, kind="suspicion", confidence=0.8, score=diff, source="top+side",
            detail=f"tilt across the side view: top {math.degrees(math.atan(px)):+.2f} deg, side {txz_side.value:+.2f} deg, "
                   f"combined u {u_c_deg:.2f} deg")
        if not agree:
            notes.append(f"{pin_id}: tilt_xz top {math.degrees(math.atan(px)):+.2f} vs side {txz_side.value:+.2f} deg (u {u_c_deg:.2f})")
        w1, w2 = 1 / max(upx**2 + u_frame**2, 1e-18), 1 / max(ups_x**2, 1e-18)
        px, upx = (w1 * px + w2 * ps_x) / (w1 + w2), math.sqrt(1 / (w1 + w2))

    r = math.hypot(px, py)
    tilt = math.degrees(math.atan(r))
    u_floor = math.sqrt((upx**2 + upy**2) / 2)
    if r > 3 * u_floor:
        u_r = math.sqrt((px * upx) ** 2 + (py * upy) ** 2) / r
        u_az = min(math.degrees(math.sqrt((py * upx) ** 2 + (px * upy) ** 2) / (r * r)), 180.0)
    else:  # near vertical the magnitude of a noisy 2-D vector is biased up; its noise is a fair uncertainty
        u_r, u_az = max(u_floor, r), 180.0
    out.measurements["tilt_deg"] = Measurement.of(tilt, math.degrees(u_r / (1 + r * r)), "deg", source="top+side")
    out.measurements["tilt_azimuth_deg"] = Measurement.of(math.degrees(math.atan2(py, px)) % 360.0, u_az, "deg",
                                                          source="top+side")
    # the lean at the tip the side measured (the top's assumed the nominal height)
    out.measurements["lean_x_mm"] = Measurement.of(px * rise, math.hypot(upx * rise, px * u_rise), "mm", source="top+side")
    out.measurements["lean_y_mm"] = Measurement.of(py * rise, math.hypot(upy * rise, py * u_rise), "mm", source="top+side")

    # the side assumed no tilt across its view: correct its flange-bottom, solder-edge and barrel-top heights
    n = math.sqrt(1 + px * px + py * py)
    a_y, a_z = py / n, 1 / n
    t = recipe.pin_type
    side_dip = _val(side, "flange_dip_mm")
    if gap is not None and side_dip is not None:  # light under the flange: replace the side's dip by the top's
        dip = t.flange_diameter_mm / 2 * abs(a_y) / math.hypot(a_y, a_z)
        u0 = _without(gap.uncertainty, side_dip.uncertainty)
        g_raw = gap.value - side_dip.value
        u_dip = t.flange_diameter_mm / 2 * upy  # d dip / d p_y ~ r_f
        out.measurements["seating_gap_mm"] = Measurement.of(g_raw + dip, math.hypot(u0, u_dip), "mm", source="side+top")
    wick = _val(side, "wicking_above_flange_mm")
    if wick is not None and wick.value > 0 and txz_side is not None:
        cos_xz = math.cos(math.radians(txz_side.value))
        w_axial = (wick.value + t.flange_thickness_mm) * cos_xz / a_z - t.barrel_diameter_mm / 2 * a_y / math.sqrt(1 - a_y * a_y)
        shift = abs(w_axial - t.flange_thickness_mm - wick.value)
        u0 = _without(wick.uncertainty, across_tilt_u_mm(t.barrel_diameter_mm / 2))
        out.measurements["wicking_above_flange_mm"] = Measurement.of(
            w_axial - t.flange_thickness_mm, math.hypot(u0, t.barrel_diameter_mm / 2 * upy, 0.05 * shift), "mm", source="side+top")
    prot = _val(side, "plunger_protrusion_mm")
    if prot is not None and _val(side, "barrel_top_across_tilt_abs_deg") is None:
        g = t.geometry
        bulge = abs(a_y) * shoulder_bulge_mm(g) / a_z  # the barrel top looked this much higher (axial)
        u0 = _without(prot.uncertainty, across_tilt_u_mm(shoulder_bulge_mm(g)))
        u1 = math.hypot(u0, shoulder_bulge_mm(g) * upy)
        out.measurements["plunger_protrusion_mm"] = Measurement.of(prot.value + bulge, u1, "mm", source="side+top")
        out.measurements["plunger_depression_mm"] = Measurement.of(t.plunger_protrusion_mm - prot.value - bulge, u1, "mm",
                                                                   source="side+top")
    return notes
