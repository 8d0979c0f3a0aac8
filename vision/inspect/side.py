"""The side view of one board: backlit silhouette (+ front-lit colour) of a 1 x N row -> per pin heights.

Turns `BoardInput` images ``side_back`` (required) and ``side_front`` (optional, for solder), the
``side`` calibration record (vertical plane) and the recipe into a `ViewOutput(view="side")`.
All measuring is in `vision.side_view`; this module names the measurements, adds the recipe's
nominal values (tip height, protrusion, pitch, mating surface) and draws the overlays.
"""

from __future__ import annotations

import math
import time

import numpy as np

from vision.inspect.base import ItemView, ViewOutput, pin_geometry
from models.errors import InputError
from models.measurands import unmeasured
from models.rules import evaluate_pin
from models.measurement import Cue, Measurement
from vision.coplanarity import fit_seating_plane
from vision.side_overlay import draw_side_overlay
from models.pin_geometry import PinGeometry
from vision.params import PARAMS
from vision.side_view import SidePin, inspect_side_row

SRC = "side"



def _m(v: float, u: float, unit: str) -> Measurement:
    return Measurement.of(v, u, unit, source=SRC)


def _miss(reason: str, unit: str) -> Measurement:
    return Measurement.missing(reason, unit).model_copy(update={"source": SRC})


def inspect_view(inp) -> ViewOutput:
    """Inspect the side view of `inp` (a `vision.inspect.BoardInput`). Raises InputError for unusable input."""
    t0 = time.perf_counter()
    recipe = inp.recipe
    name = f"board {inp.serial} side view"
    if recipe.pin_type is None or not recipe.pins:
        raise InputError(f"{name}: recipe {recipe.key} has no pins; the side view measures pins")
    if recipe.rows > 1:
        raise InputError(f"{name}: recipe {recipe.key} has {recipe.rows} rows of pins; a side view can inspect a 1 x N row "
                         "only (the rows would hide each other); remove side_front/side_back for this board")
    rec = inp.calibrations.get("side")
    if rec is None:
        raise InputError(f"{name}: no 'side' calibration record; calibrate the side camera with a vertical target")
    if rec.plane != "vertical":
        raise InputError(f"{name}: calibration record {rec.camera_id!r} is for the {rec.plane} plane; the side view "
                         "needs a record of the vertical plane of the row")
    back = inp.images.get("side_back")
    front = inp.images.get("side_front")
    if back is None:
        raise InputError(f"{name}: side_back (the backlit silhouette) is missing; heights are measured from it")
    if front is not None and np.asarray(front).shape[:2] != np.asarray(back).shape[:2]:
        raise InputError(f"{name}: side_front is {front.shape[1]}x{front.shape[0]} px but side_back is "
                         f"{back.shape[1]}x{back.shape[0]} px; give both images of the same side camera")
    g = pin_geometry(recipe, what="the side view")
    pins = sorted(recipe.pins, key=lambda p: p.xy_mm[0])
    nominal_x = [p.xy_mm[0] for p in pins]
    pad_r = (recipe.pad_diameter_mm / 2) if recipe.pad_diameter_mm else None
    fids = [(f.xy_mm[0], f.diameter_mm / 2) for f in recipe.fiducials]
    # pins the top view found missing are empty places of the row: they settle where a row with pins missing
    # at its end sits
    empty = tuple(k for k, p in enumerate(pins) if p.id in getattr(inp, "known_missing", ()))
    row = inspect_side_row(back, front, rec, g, nominal_x_mm=nominal_x, pad_top_mm=recipe.pad_top_z_mm,
                           pad_radius_mm=pad_r, fiducials=fids, name=name, known_empty=empty)
    t1 = time.perf_counter()

    out = ViewOutput(view="side", notes=list(row.notes))
    seen: dict[str, SidePin] = {}
    for k, p in enumerate(pins):
        j = row.match.assign[k]
        if j is None:
            out.pins[p.id] = ItemView(
                measurements=unmeasured(_NAMES, "no pin seen at this position in the side view", source=SRC),
                cues={"missing": Cue(present=True, kind="measured", confidence=0.9, source=SRC,
                                     detail="no silhouette at the pin's position in the row")},
            )
            continue
        sp = row.pins[j]
        if row.match.ambiguous:  # which silhouette is this pin's is not known: no number, the item goes to REVIEW
            out.pins[p.id] = ItemView(measurements=unmeasured(_NAMES, "unreliable:side_row_match (pins missing at the "
                                                              "row's end, no pad visible)", source=SRC))
            continue
        if not sp.ok:
            out.pins[p.id] = ItemView(measurements=unmeasured(_NAMES, sp.reason, source=SRC),
                                      cues={"missing": Cue(present=False, kind="measured", confidence=0.9, source=SRC)})
            out.notes.append(f"{name}: pin {p.id}: {sp.reason}")
            continue
        seen[p.id] = sp
        out.pins[p.id] = _pin_view(sp, p, recipe, g, row.match.shift_mm)
    _coplanarity(out, pins, seen, recipe)
    out.registration = {"side_board_line_v_px": row.line.v0_px, "side_board_line_slope": row.line.slope,
                        "side_board_line_rms_px": row.line.rms_px, "side_board_line_columns": row.line.n_columns,
                        "side_row_shift_mm": row.match.shift_mm}
    if getattr(inp, "overlays", True):
        out.overlays = _overlays(back, front, row, pins, out, recipe=recipe)
    out.redraw = lambda final: _overlays(back, front, row, pins, out, final)
    out.timings_ms = {"measure": (t1 - t0) * 1e3, "total": (time.perf_counter() - t0) * 1e3}
    return out


#: what the side view measures of a pin (placeholders when it cannot)
_NAMES = ("tip_height_mm", "tip_height_error_mm", "seating_gap_mm", "tilt_xz_deg", "plunger_protrusion_mm",
          "plunger_depression_mm", "wicking_above_flange_mm", "x_error_mm", "coplanarity_mm")


def _pin_view(sp: SidePin, p, recipe, g: PinGeometry, shift_mm: float) -> ItemView:
    t = recipe.pin_type
    m: dict[str, Measurement] = {}
    cues: dict[str, Cue] = {"missing": Cue(present=False, kind="measured", confidence=0.9, source=SRC)}
    m["tip_height_mm"] = _m(sp.tip_height_mm, sp.u_tip_height_mm, "mm")
    m["tip_height_error_mm"] = _m(sp.tip_height_mm - t.tip_height_nominal_mm, sp.u_tip_height_mm, "mm")
    m["tilt_xz_deg"] = _m(sp.tilt_xz_deg, sp.u_tilt_xz_deg, "deg")
    # x against the row's fitted regular positions: a pin displaced along the row spoils its pitch by this much
    m["x_error_mm"] = _m(sp.x_mm - shift_mm - p.xy_mm[0], sp.u_x_mm, "mm")
    m["pitch_x_error_mm"] = m["x_error_mm"]
    if math.isfinite(sp.light_gap_mm):
        m["seating_gap_mm"] = _m(sp.light_gap_mm, sp.u_light_gap_mm, "mm")
        lim = recipe.limits.not_seated.upper
        cues["not_seated"] = Cue(present=bool(sp.light_gap_mm > lim), kind="measured", confidence=0.9, score=sp.light_gap_mm,
                                 source=SRC, detail="light under the flange in the silhouette")
        if math.isfinite(sp.flange_dip_mm):
            # light under the flange: the gap includes the dip a tilt across the view causes (measured from the
            # flange's silhouette, or 0 within the across-tilt allowance)
            m["flange_dip_mm"] = _m(sp.flange_dip_mm, sp.u_flange_dip_mm, "mm")
        if math.isfinite(sp.across_tilt_sin):
            m["across_tilt_abs_deg"] = _m(math.degrees(math.asin(min(sp.across_tilt_sin, 1.0))),
                                          math.degrees(sp.u_across_tilt_sin), "deg")
    else:
        m["seating_gap_mm"] = _miss("the flange's underside is not visible in the side view", "mm")
    if math.isfinite(sp.protrusion_mm):
        m["plunger_protrusion_mm"] = _m(sp.protrusion_mm, sp.u_protrusion_mm, "mm")
        if math.isfinite(sp.bulge_sin):  # the barrel top's shoulders showed (and so corrected) the tilt across the view
            m["barrel_top_across_tilt_abs_deg"] = _m(math.degrees(math.asin(min(sp.bulge_sin, 1.0))), 0.5, "deg")
        m["plunger_depression_mm"] = _m(g.plunger_protrusion_mm - sp.protrusion_mm, sp.u_protrusion_mm, "mm")
    else:
        m["plunger_protrusion_mm"] = _miss("the barrel top is not visible in the side view", "mm")
        m["plunger_depression_mm"] = _miss("the barrel top is not visible in the side view", "mm")
    if math.isfinite(sp.wicking_above_flange_mm):
        m["wicking_above_flange_mm"] = _m(sp.wicking_above_flange_mm, sp.u_wicking_mm, "mm")
        f = sp.plunger_grey_fraction
        if math.isfinite(f):
            cues["solder_in_plunger_gap"] = Cue(present=bool(f >= PARAMS.side.plunger_grey_min), kind="measured", confidence=0.85,
                                                score=f, source=SRC, detail="grey fraction of the plunger just above the barrel")
    else:
        why = sp.wicking_reason or "no front-lit image (side_front)"
        m["wicking_above_flange_mm"] = _miss(why, "mm")
    mat = recipe.mating
    if mat is not None and mat.surface_height_mm is not None and t.working_travel_mm:
        c = (sp.tip_height_mm - mat.surface_height_mm) / t.working_travel_mm * 100.0
        m["compression_pct"] = _m(c, sp.u_tip_height_mm / t.working_travel_mm * 100.0, "%")
    px = {f"side.{k}": [float(v) for v in val] for k, val in sp.px.items()}
    return ItemView(measurements=m, cues=cues, image_px=px)


def _coplanarity(out: ViewOutput, pins, seen: dict[str, SidePin], recipe) -> None:
    ids = [p.id for p in pins if p.id in seen]
    if not ids:
        out.board_measurements["coplanarity_mm"] = _miss("no tip measured in the side view", "mm")
        return
    # the plane rests on tips within the tip-height tolerance of the design: where most tips are off, the
    # few good ones must not be the outliers of a plane through the bad ones
    nominal = recipe.pin_type.tip_height_nominal_mm
    ok_h = [recipe.limits.tip_height.contains(seen[i].tip_height_mm - nominal) for i in ids]
    fit = fit_seating_plane([seen[i].x_mm for i in ids], [seen[i].tip_height_mm for i in ids],
                            [seen[i].u_tip_height_mm for i in ids], may_support=ok_h)
    if fit.ok:
        dev, u_dev = fit.deviation_mm, fit.u_deviation_mm
    elif len(ids) >= 3:
        # too few tips within tolerance to carry a plane: each tip against the design's tip plane instead
        dev = np.array([seen[i].tip_height_mm - nominal for i in ids])
        u_dev = np.array([seen[i].u_tip_height_mm for i in ids])
        out.notes.append(f"coplanarity against the design's tip height: {fit.reason}")
    else:
        for i in ids:
            out.pins[i].measurements["coplanarity_mm"] = _miss(fit.reason, "mm")
        out.board_measurements["coplanarity_mm"] = _miss(fit.reason, "mm")
        return
    for k, i in enumerate(ids):
        out.pins[i].measurements["coplanarity_mm"] = _m(abs(dev[k]), u_dev[k], "mm")
        out.pins[i].measurements["tip_plane_deviation_mm"] = _m(dev[k], u_dev[k], "mm")
    k = int(np.argmax(np.abs(dev)))
    out.board_measurements["coplanarity_mm"] = _m(abs(dev[k]), u_dev[k], "mm")


def _overlays(back, front, row, pins, out: ViewOutput, final: dict | None = None, recipe=None) -> dict[str, np.ndarray]:
    """The side images with each pin outlined by its verdict: the board's final one from `final` ({pin id: PinResult})
    when given, else the side view's own."""
    W = np.asarray(back).shape[1]
    items = []
    for k, p in enumerate(pins):
        j = row.match.assign[k]
        if j is None:
            continue
        sp = row.pins[j]
        m = out.pins[p.id].measurements
        lines = []
        for key, fmt in (("tip_height_mm", "h {:.3f}"), ("seating_gap_mm", "gap {:.3f}"), ("tilt_xz_deg", "txz {:+.2f}"),
                         ("wicking_above_flange_mm", "wick {:.2f}")):
            if key in m and m[key].measured:
                lines.append(fmt.format(m[key].value))
        res = (final or {}).get(p.id)
        if res is None and recipe is not None:
            iv = out.pins[p.id]
            res = evaluate_pin(p.id, iv.measurements, iv.cues, recipe)
        verdict = res.verdict.value if res is not None else None
        lines += res.reasons[:2] if res is not None else []
        items.append({"id": p.id, "verdict": verdict, "lines": lines, "axis": sp.edges_px.get("axis"), "dome": sp.edges_px.get("dome"),
                      "left": sp.edges_px.get("left"), "right": sp.edges_px.get("right"),
                      "tip": sp.px.get("tip"), "base": sp.px.get("base"), "barrel_top": sp.px.get("barrel_top"),
                      "solder": sp.solder_edge_px})
    ln = row.line
    res = {"side_back": draw_side_overlay(back, line_v=(ln.v_at(0.0), ln.v_at(W - 1.0)), pins=items,
                                          header=[f"board line v={ln.v0_px:.2f} px (rms {ln.rms_px:.2f})"])}
    if front is not None:
        lf = row.line_front if row.line_front is not None and row.line_front.ok else ln
        res["side_front"] = draw_side_overlay(front, line_v=(lf.v_at(0.0), lf.v_at(W - 1.0)), pins=items, solder=True)
    return res
