"""Exact ground truth of a synthetic board, computed from the placed geometry alone.

The definitions follow ``shared/data/rendered-dev/README.md`` (truth.json schema version 1):

* base centre = centre of the flange bottom; ``base_z = pad_top_z + seating_gap``;
* the pin axis leans by ``tilt_deg`` towards ``tilt_azimuth_deg`` (rotation about the base centre);
* tip apex = base + axis * (t_f + l_b + prot - plunger_depression);
* tip height = z of the apex above the board (mask) surface;
  nominal tip height = pad_top_z + t_f + l_b + prot;
* wicking_height = axial distance flange bottom -> top edge of the solder on the barrel
  (0 = fillet only); wicking_above_flange = wicking_height - t_f;
* expected flags follow `ACCEPTANCE_SPEC`.

Frames: board frame (origin front-left corner on the mask top, +x along the front edge, +y into
the board, +z up); world frame = the top camera's plane frame, the board placed by
``world = R_z(rotation) (board - board_centre) + board_centre + offset`` (see `board_to_world`).
Nothing here draws pixels; the renderers use these functions so image and truth cannot disagree.
"""

from __future__ import annotations

import math

import numpy as np

from models.recipe import DEFAULT_REQUIRED
from vision.synth.scene import BoardScene, PinGeometry, PinState, TopCamera

SCHEMA_VERSION = 1

#: clearance between the plunger and the barrel bore (the dark gap ring seen from the top)
BORE_CLEARANCE_MM = 0.05
#: the solder meniscus climbs this far onto the plunger when solder is in the plunger gap
PLUNGER_GAP_MENISCUS_MM = 0.07
#: the fillet reaches this far beyond the flange rim on the pad
FILLET_OVERHANG_MM = 0.20

ACCEPTANCE_SPEC = {
    "tilt_max_deg": 2.0,
    "xy_error_max_mm": 0.1,
    "seating_gap_max_mm": 0.05,
    "tip_height_tol_mm": 0.1,
    "wicking_above_flange_max_mm": 0.4,
    "solder_in_plunger_gap": "reject",
    "missing": "reject",
    "pad_scratch": "reject if any groove depth >= 1 um and length >= 0.1 mm",
    "pad_oxidation": "reject if discoloured area fraction >= 0.02",
    "pad_warp_max_pv_um": 15.0,
}

TOP_PROJECTION = (
    "u = W/2 + dot(P-target,right)/mm_per_px - 0.5 ; v = H/2 - dot(P-target,up)/mm_per_px - 0.5 "
    "(OpenCV pixel-centre convention)"
)


# -- frames -------------------------------------------------------------------------------------
def board_centre_mm(scene: BoardScene) -> np.ndarray:
    """Centre of the board outline in the board frame, shape (2,), mm."""
    return np.array([scene.size_mm[0] / 2.0, scene.size_mm[1] / 2.0])


def board_to_world_matrix(scene: BoardScene) -> np.ndarray:
    """4x4 homogeneous board -> world transform: rotation about the board centre, then the offset."""
    a = math.radians(scene.rotation_deg)
    c, s = math.cos(a), math.sin(a)
    R = np.array([[c, -s], [s, c]])
    ctr = board_centre_mm(scene)
    t = ctr + np.asarray(scene.offset_mm, float) - R @ ctr
    m = np.eye(4)
    m[:2, :2] = R
    m[:2, 3] = t
    return m


def board_to_world(scene: BoardScene, pts_mm: np.ndarray) -> np.ndarray:
    """Map board-frame points (..., 2) or (..., 3) in mm to the world frame (z unchanged)."""
    p = np.asarray(pts_mm, float)
    m = board_to_world_matrix(scene)
    out = p.copy()
    out[..., :2] = p[..., :2] @ m[:2, :2].T + m[:2, 3]
    return out


def board_vector_to_world(scene: BoardScene, vec: np.ndarray) -> np.ndarray:
    """Rotate board-frame direction vectors (..., 2|3) into the world frame."""
    v = np.asarray(vec, float)
    m = board_to_world_matrix(scene)
    out = v.copy()
    out[..., :2] = v[..., :2] @ m[:2, :2].T
    return out


def top_affine(camera: TopCamera) -> tuple[np.ndarray, np.ndarray]:
    """The top camera's world(mm) -> pixel affine map ``uv = A @ xy + t``; A (2, 2) px/mm, t (2,) px."""
    s = camera.mm_per_px
    A = np.array([[1.0 / s, 0.0], [0.0, -1.0 / s]])
    cx, cy = camera.center_mm
    t = np.array([camera.width_px / 2.0 - 0.5 - cx / s, camera.height_px / 2.0 - 0.5 + cy / s])
    return A, t


def world_to_top_px(camera: TopCamera, pts_mm: np.ndarray) -> np.ndarray:
    """Orthographic projection of world points (..., 2|3) mm to top-image pixels (..., 2) (u, v)."""
    A, t = top_affine(camera)
    p = np.asarray(pts_mm, float)[..., :2]
    return p @ A.T + t


def board_to_top_px(scene: BoardScene, camera: TopCamera, pts_mm: np.ndarray) -> np.ndarray:
    """Board-frame points (..., 2|3) mm -> top-image pixels (..., 2); height does not move a point (telecentric)."""
    return world_to_top_px(camera, board_to_world(scene, pts_mm))


def board_to_top_linear(scene: BoardScene, camera: TopCamera) -> tuple[np.ndarray, np.ndarray]:
    """Board xy (mm) -> pixel as one affine map ``uv = L @ xy + o``; L (2, 2), o (2,)."""
    A, t = top_affine(camera)
    m = board_to_world_matrix(scene)
    return A @ m[:2, :2], A @ m[:2, 3] + t


# -- one pin --------------------------------------------------------------------------------------
def pin_dimensions(geom: PinGeometry) -> dict:
    """``pin_dimensions_mm`` of the truth schema (radii, thicknesses, lengths)."""
    return {
        "r_f": geom.flange_radius_mm,
        "t_f": geom.flange_thickness_mm,
        "r_b": geom.barrel_radius_mm,
        "l_b": geom.barrel_length_mm,
        "r_p": geom.plunger_radius_mm,
        "prot": geom.plunger_protrusion_mm,
        "r_dome": geom.dome_radius_mm,
        "r_bore": round(geom.plunger_radius_mm + BORE_CLEARANCE_MM, 9),
    }


def tip_height_nominal_mm(scene: BoardScene) -> float:
    """Nominal tip apex height above the board surface: pad_top_z + t_f + l_b + prot."""
    return scene.pad_top_z_mm + scene.pin_geometry.axial_length_mm


def base_xyz_mm(pin: PinState, scene: BoardScene) -> np.ndarray:
    """Base centre (flange-bottom centre) in the board frame, (3,) mm."""
    bx, by = pin.base_xy_mm
    return np.array([bx, by, scene.pad_top_z_mm + pin.seating_gap_mm])


def pin_point_mm(pin: PinState, scene: BoardScene, axial_mm: float, radial_xy_mm=(0.0, 0.0)) -> np.ndarray:
    """A point of the pin given in its local frame, in the board frame (3,) mm.

    ``axial_mm`` is measured along the axis from the base centre; ``radial_xy_mm`` is an offset
    in the pin's local x/y (the local frame is the board frame rotated by the tilt, see `pin_rotation`).
    """
    R = pin_rotation(pin)
    local = np.array([radial_xy_mm[0], radial_xy_mm[1], axial_mm], float)
    return base_xyz_mm(pin, scene) + R @ local


def pin_rotation(pin: PinState) -> np.ndarray:
    """(3, 3) rotation taking the pin-local frame to the board frame: tilt by ``tilt_deg`` about the
    horizontal axis perpendicular to the azimuth, so local +z maps to `PinState.axis_dir`."""
    t, a = math.radians(pin.tilt_deg), math.radians(pin.tilt_azimuth_deg)
    k = np.array([-math.sin(a), math.cos(a), 0.0])  # rotation axis (azimuth + 90 deg)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(t) * K + (1 - math.cos(t)) * (K @ K)


def tip_xyz_mm(pin: PinState, scene: BoardScene) -> np.ndarray:
    """Tip apex (dome apex on the axis) in the board frame, (3,) mm."""
    g = scene.pin_geometry
    return base_xyz_mm(pin, scene) + pin.axis_dir() * (g.axial_length_mm - pin.plunger_depression_mm)


def dome_centre_mm(pin: PinState, scene: BoardScene) -> np.ndarray:
    """Centre of the tip dome's sphere, (3,) mm."""
    return tip_xyz_mm(pin, scene) - pin.axis_dir() * scene.pin_geometry.dome_radius_mm


def dome_highlight_mm(pin: PinState, scene: BoardScene) -> np.ndarray:
    """Point of the dome whose normal is +z: where coaxial light is reflected into a telecentric
    camera (the bright spot). It sits ``r_dome * sin(tilt)`` from the apex, against the lean."""
    return dome_centre_mm(pin, scene) + np.array([0.0, 0.0, scene.pin_geometry.dome_radius_mm])


def wicking_height_mm(pin: PinState, scene: BoardScene) -> float:
    """Axial distance flange bottom -> top edge of the solder on the barrel; 0 = fillet only."""
    g = scene.pin_geometry
    if pin.solder_in_plunger_gap:
        # sleeve up the whole barrel and a meniscus onto the plunger
        return g.flange_thickness_mm + max(pin.wicking_above_flange_mm, g.barrel_length_mm + PLUNGER_GAP_MENISCUS_MM)
    if pin.wicking_above_flange_mm <= 0:
        return 0.0
    return g.flange_thickness_mm + pin.wicking_above_flange_mm


def expected_flags(p: dict, spec: dict = ACCEPTANCE_SPEC) -> list[str]:
    """Flags a truth pin entry implies under the acceptance spec (sorted)."""
    if not p["present"]:
        return ["missing"]
    f = []
    if p["tilt_deg"] > spec["tilt_max_deg"]:
        f.append("tilt")
    if p["xy_error_mm"] > spec["xy_error_max_mm"]:
        f.append("xy_position")
    if p["seating_gap_mm"] > spec["seating_gap_max_mm"]:
        f.append("not_seated")
    if abs(p["tip_height_error_mm"]) > spec["tip_height_tol_mm"]:
        f.append("tip_height")
    if p["wicking_above_flange_mm"] > spec["wicking_above_flange_max_mm"]:
        f.append("solder_wicking")
    if p["solder_in_plunger_gap"]:
        f.append("solder_in_plunger_gap")
    return sorted(f)


_GEOMETRIC_KEYS = [
    "base_xy_mm", "base_z_mm", "xy_error_mm", "xy_error_vec_mm", "tilt_deg", "tilt_azimuth_deg",
    "tilt_azimuth_world_deg", "axis_dir", "tip_xyz_mm", "tip_xyz_world_mm", "tip_height_mm",
    "tip_height_nominal_mm", "tip_height_error_mm", "highest_point_z_mm", "barrel_top_center_mm",
    "seating_gap_mm", "flange_lowest_edge_z_mm", "plunger_depression_mm", "wicking_height_mm",
    "wicking_above_flange_mm",
]


def pin_truth(pin: PinState, scene: BoardScene) -> dict:
    """The truth entry of one pin (``pins[]`` of the schema). Missing pins have null geometry."""
    g = scene.pin_geometry
    out: dict = {"id": pin.id, "row": pin.row, "col": pin.col, "present": bool(pin.present),
                 "nominal_xy_mm": [float(v) for v in pin.nominal_xy_mm]}
    if not pin.present:
        out.update({k: None for k in _GEOMETRIC_KEYS})
        out["solder_in_plunger_gap"] = False
        out["missing_pad_state"] = "bare" if pin.bare_pad else "paste"
    else:
        base = base_xyz_mm(pin, scene)
        axis = pin.axis_dir()
        tip = tip_xyz_mm(pin, scene)
        nom = tip_height_nominal_mm(scene)
        err = base[:2] - np.asarray(pin.nominal_xy_mm, float)
        wh = wicking_height_mm(pin, scene)
        t = math.radians(pin.tilt_deg)
        out.update({
            "base_xy_mm": _f(base[:2]),
            "base_z_mm": float(base[2]),
            "xy_error_mm": float(np.hypot(*err)),
            "xy_error_vec_mm": _f(err),
            "tilt_deg": float(pin.tilt_deg),
            "tilt_azimuth_deg": float(pin.tilt_azimuth_deg % 360.0),
            "tilt_azimuth_world_deg": float((pin.tilt_azimuth_deg + scene.rotation_deg) % 360.0),
            "axis_dir": _f(axis),
            "tip_xyz_mm": _f(tip),
            "tip_xyz_world_mm": _f(board_to_world(scene, tip)),
            "tip_height_mm": float(tip[2]),
            "tip_height_nominal_mm": float(nom),
            "tip_height_error_mm": float(tip[2] - nom),
            "highest_point_z_mm": float(dome_highlight_mm(pin, scene)[2]),
            "barrel_top_center_mm": _f(base + axis * (g.flange_thickness_mm + g.barrel_length_mm)),
            "seating_gap_mm": float(pin.seating_gap_mm),
            "flange_lowest_edge_z_mm": float(base[2] - g.flange_radius_mm * math.sin(t)),
            "plunger_depression_mm": float(pin.plunger_depression_mm),
            "wicking_height_mm": float(wh),
            "wicking_above_flange_mm": float(wh - g.flange_thickness_mm) if wh > 0 else 0.0,
            "solder_in_plunger_gap": bool(pin.solder_in_plunger_gap),
            "fillet": bool(pin.fillet),
        })
    out["defects"] = list(pin.defects)
    out["expected_flags"] = expected_flags(out)
    return out


# -- whole board ------------------------------------------------------------------------------------
def board_layout(scene: BoardScene) -> dict:
    """``board_layout`` of the truth schema."""
    g = scene.pin_geometry
    lay = {
        "board_size_mm": _f(scene.size_mm),
        "rows": scene.rows,
        "cols": scene.cols,
        "pitch_mm": float(scene.pitch_mm),
        "mask_color": scene.mask_color,
    }
    if g is not None:
        lay.update({
            "pin_type": g.name,
            "pin_dimensions_mm": pin_dimensions(g),
            "pad_diameter_mm": float(scene.pad_diameter_mm),
            "pad_top_z_mm": float(scene.pad_top_z_mm),
            "fiducials_xy_mm": [_f(f) for f in scene.fiducials_xy_mm],
            "fiducial_diameter_mm": float(scene.fiducial_diameter_mm),
            "fillet_outer_radius_mm": float(g.flange_radius_mm + FILLET_OVERHANG_MM),
            "pin_numbering": "P01.. row-major: row 0 is nearest the front edge (y small), col 0 at x small",
        })
    lay["board_to_world"] = {
        "rotation_z_deg": float(scene.rotation_deg),
        "offset_mm": _f(scene.offset_mm),
        "rotation_centre": "board centre (board_size_mm / 2)",
        "matrix_4x4": board_to_world_matrix(scene).tolist(),
    }
    return lay


def top_view_truth(scene: BoardScene, camera: TopCamera, *, file: str = "top.png",
                   calibration: str = "calibration_top.json", lighting: dict | None = None,
                   sensor: dict | None = None) -> dict:
    """``views.top`` of the truth schema: the camera record and every pin's pixels.

    ``pins_in_image[id]`` has ``tip_px`` (apex), ``base_center_px``, ``nominal_pad_center_px`` as in
    rendered-dev, plus ``barrel_top_center_px``, ``flange_top_center_px`` and ``dome_highlight_px``
    (the specular spot under coaxial light). Missing pins have only ``nominal_pad_center_px``.
    """
    g = scene.pin_geometry
    pins = {}
    for pin in scene.pins:
        d = {"nominal_pad_center_px": _f(board_to_top_px(scene, camera, np.asarray(pin.nominal_xy_mm, float)))}
        if pin.present:
            base = base_xyz_mm(pin, scene)
            ax = pin.axis_dir()
            d["tip_px"] = _f(board_to_top_px(scene, camera, tip_xyz_mm(pin, scene)))
            d["base_center_px"] = _f(board_to_top_px(scene, camera, base))
            d["flange_top_center_px"] = _f(board_to_top_px(scene, camera, base + ax * g.flange_thickness_mm))
            d["barrel_top_center_px"] = _f(
                board_to_top_px(scene, camera, base + ax * (g.flange_thickness_mm + g.barrel_length_mm)))
            d["dome_highlight_px"] = _f(board_to_top_px(scene, camera, dome_highlight_mm(pin, scene)))
        pins[pin.id] = d
    cx, cy = camera.center_mm
    return {
        "name": camera.camera_id,
        "model": "orthographic (telecentric)",
        "width_px": camera.width_px,
        "height_px": camera.height_px,
        "mm_per_px": camera.mm_per_px,
        "ortho_half_width_mm": camera.width_px * camera.mm_per_px / 2,
        "ortho_half_height_mm": camera.height_px * camera.mm_per_px / 2,
        "look_at_target": [float(cx), float(cy), 0.0],
        "view_dir_world": [0.0, 0.0, -1.0],
        "image_right_world": [1.0, 0.0, 0.0],
        "image_up_world": [0.0, 1.0, 0.0],
        "projection": TOP_PROJECTION,
        "lighting": lighting or {},
        "sensor": sensor or {},
        "file": file,
        "calibration": calibration,
        "pins_in_image": pins,
        "fiducials_px": [_f(board_to_top_px(scene, camera, np.asarray(f, float))) for f in scene.fiducials_xy_mm],
    }


def board_truth(scene: BoardScene, *, views: dict | None = None, renderer: str = "pogoscope synth") -> dict:
    """The whole truth document (schema of rendered-dev ``truth.json``) for `scene`.

    ``views`` ({"top": top_view_truth(...), "side": ...}) is filled in by the renderers.
    """
    pins = [pin_truth(p, scene) for p in scene.pins]
    return {
        "scene_id": scene.board_id,
        "schema_version": SCHEMA_VERSION,
        "seed": scene.seed,
        "units": "mm, degrees",
        "frames": "board frame (origin front-left top corner of board, z=0 solder-mask top); world frame = "
                  "the top camera's plane frame (z=0 same plane); board_to_world matrix given",
        "acceptance_spec": dict(ACCEPTANCE_SPEC),
        "renderer": renderer,
        "views": dict(views or {}),
        "board_layout": board_layout(scene),
        "pins": pins,
        "expected_defective_items": {p["id"]: p["expected_flags"] for p in pins if p["expected_flags"]},
    }


def _f(v) -> list[float]:
    return [float(x) for x in np.asarray(v, float).ravel()]


# -- recipe ----------------------------------------------------------------------------------------------
DEFAULT_REQUIRED_CHECKS = [c.value for c in DEFAULT_REQUIRED]
SIDE_REQUIRED_CHECKS = ["tip_height", "not_seated", "coplanarity"]


def recipe_limits(spec: dict = ACCEPTANCE_SPEC) -> dict:
    """Recipe ``limits`` matching the acceptance spec the truth flags are computed with."""
    tol = spec["tip_height_tol_mm"]
    return {
        "tilt": {"upper": spec["tilt_max_deg"]},
        "xy_position": {"upper": spec["xy_error_max_mm"]},
        "not_seated": {"upper": spec["seating_gap_max_mm"]},
        "tip_height": {"lower": -tol, "upper": tol},
        "solder_wicking": {"upper": spec["wicking_above_flange_max_mm"]},
    }


def recipe_dict(scene: BoardScene, *, recipe_id: str | None = None, version: int = 1,
                views: list[str] | None = None, required_checks: list[str] | None = None) -> dict:
    """The inspection recipe of `scene` as a plain dict (validated by ``models.recipe.Recipe.from_dict``).

    Pins are listed explicitly with the scene's ids (row-major, as the truth numbers them); the
    nominal tip height is pad_top_z + t_f + l_b + prot. ``views`` defaults to ``["top"]``;
    with side views the side-only checks (tip height, seating, coplanarity) become required.
    """
    g = scene.pin_geometry
    if g is None:
        raise ValueError("recipe_dict needs a pin board (scene.pin_geometry is None)")
    views = list(views or ["top"])
    if required_checks is None:
        required_checks = list(DEFAULT_REQUIRED_CHECKS)
        if any(v.startswith("side") for v in views):
            required_checks += SIDE_REQUIRED_CHECKS
    rid = recipe_id or "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in scene.board_id) or "synthetic"
    return {
        "schema_version": 1,
        "recipe_id": rid,
        "version": int(version),
        "board": {"id": scene.board_id, "size_mm": _f(scene.size_mm), "mask_color": scene.mask_color},
        "pin_type": {
            "name": g.name,
            "flange_diameter_mm": 2 * g.flange_radius_mm,
            "flange_thickness_mm": g.flange_thickness_mm,
            "barrel_diameter_mm": 2 * g.barrel_radius_mm,
            "barrel_length_mm": g.barrel_length_mm,
            "plunger_diameter_mm": 2 * g.plunger_radius_mm,
            "plunger_protrusion_mm": g.plunger_protrusion_mm,
            "tip_dome_radius_mm": g.dome_radius_mm,
            "tip_height_nominal_mm": float(tip_height_nominal_mm(scene)),
        },
        "pad_diameter_mm": float(scene.pad_diameter_mm),
        "pad_top_z_mm": float(scene.pad_top_z_mm),
        "pins": [{"id": p.id, "xy_mm": _f(p.nominal_xy_mm), "row": p.row, "col": p.col} for p in scene.pins],
        "fiducials": [{"xy_mm": _f(f), "diameter_mm": float(scene.fiducial_diameter_mm)} for f in scene.fiducials_xy_mm],
        "views": views,
        "required_checks": list(required_checks),
        "limits": recipe_limits(),
    }
