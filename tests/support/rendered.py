"""Turn a rendered-dev scene (truth.json) into what the product reads: a Recipe and calibration records.

The rendered cameras are exact orthographic (telecentric) cameras, so their calibration
record is an affine plane -> pixel map computed from the camera geometry in truth.json
(``u = W/2 + dot(P - target, right)/s - 0.5``, ``v = H/2 - dot(P - target, up)/s - 0.5``).
The record's plane frame is the **world** frame of the scene; the board is placed in the
world by ``board_to_world``, which the product does not know (registration finds it).

Used by the top-view tests and by the side-view tests (``plane="vertical"``: the plane
coordinates are (x, z) of the world).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from calibration.record import CalibrationRecord, TelecentricModel
from models.recipe import Recipe

RENDERED = "rendered-dev"
SCENES_WITH_TOP = ("d01_row7_p254_green", "d02_row6_p200_black", "d03_grid3x4_p254_green")

_PLANE_AXES = {
    "board": (np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])),
    "vertical": (np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])),
}


@lru_cache(maxsize=None)
def _load_truth(path: str) -> dict:
    return json.loads(Path(path).read_text())


def scene_dir(shared_data: Path, scene_id: str) -> Path:
    return Path(shared_data) / RENDERED / scene_id


def load_truth(shared_data: Path, scene_id: str) -> dict:
    """The scene's truth.json as a dict (cached; do not mutate)."""
    return _load_truth(str(scene_dir(shared_data, scene_id) / "truth.json"))


def scene_ids(shared_data: Path, *, kind: str, view: str) -> list[str]:
    """Every rendered-dev scene of `kind` ("pins" or "pads") that has the view `view` ("top", "side", ...)."""
    root = Path(shared_data) / RENDERED
    out = []
    for d in sorted(root.iterdir()):
        if d.name.startswith("_") or not (d / "truth.json").exists():
            continue
        t = load_truth(shared_data, d.name)
        if kind in t and view in t["views"]:
            out.append(d.name)
    return out


def record_from_camera(cam: dict, *, plane: str = "board", camera_id: str | None = None) -> CalibrationRecord:
    """Exact telecentric record of a rendered orthographic camera (``truth['views'][name]`` or
    ``calibration.json[NAME]['camera']``).

    ``plane='board'``: plane coordinates (X, Y) = world (x, y) (top cameras);
    ``plane='vertical'``: plane coordinates (X, Y) = world (x, z) (side cameras).
    """
    s = float(cam["mm_per_px"])
    W, H = int(cam["width_px"]), int(cam["height_px"])
    right = np.asarray(cam["image_right_world"], float)
    up = np.asarray(cam["image_up_world"], float)
    target = np.asarray(cam["look_at_target"], float)
    ex, ey = _PLANE_AXES[plane]
    A = np.array([[right @ ex, right @ ey], [-(up @ ex), -(up @ ey)]]) / s
    t = np.array([W / 2 - 0.5 - (target @ right) / s, H / 2 - 0.5 + (target @ up) / s])
    return CalibrationRecord(
        camera_id=camera_id or cam.get("name", "RENDERED"),
        model="telecentric",
        plane="board" if plane == "board" else "vertical",
        image_size_px=(W, H),
        telecentric=TelecentricModel(A=A.tolist(), t_px=t.tolist()),
        rms_px=0.0,
        mm_per_px=s,
        mm_per_px_std=0.0,
        rotation_deg=0.0,
        rotation_std_deg=0.0,
        notes="exact record built from the rendered camera geometry (tests only)",
    )


def top_record(truth: dict) -> CalibrationRecord:
    """Record of the scene's top camera (plane frame = world frame)."""
    return record_from_camera(truth["views"]["top"], plane="board")


def top_record_with_light(truth: dict) -> CalibrationRecord:
    """`top_record` that also says where the coaxial light is (``target.coaxial_light_height_mm``):
    the rendered top light is a finite diffuse rectangle above the optical axis, not collimated."""
    rec = top_record(truth)
    h = truth["views"]["top"].get("lighting", {}).get("coaxial_rect_height_mm")
    if h is not None:
        rec = rec.model_copy(update={"target": {**rec.target, "coaxial_light_height_mm": float(h)}})
    return rec


def side_record(truth: dict) -> CalibrationRecord:
    """Record of the scene's side camera (plane = vertical, coordinates (x, z) of the world)."""
    return record_from_camera(truth["views"]["side"], plane="vertical")


def _pin_type(bl: dict, tip_nominal: float) -> dict:
    d = bl["pin_dimensions_mm"]
    return {
        "name": str(bl.get("pin_type", "pin")),
        "flange_diameter_mm": 2 * d["r_f"],
        "flange_thickness_mm": d["t_f"],
        "barrel_diameter_mm": 2 * d["r_b"],
        "barrel_length_mm": d["l_b"],
        "plunger_diameter_mm": 2 * d["r_p"],
        "plunger_protrusion_mm": d["prot"],
        "tip_dome_radius_mm": d["r_dome"],
        "tip_height_nominal_mm": tip_nominal,
    }


def recipe_dict(truth: dict, *, views: list[str] | None = None) -> dict:
    """A recipe (as a dict) that describes the scene's board as designed (no defects, no placement)."""
    bl = truth["board_layout"]
    views_avail = []
    if "top" in truth["views"]:
        views_avail.append("top")
    if "side" in truth["views"]:
        views_avail += ["side_front", "side_back"]
    rec: dict = {
        "recipe_id": truth["scene_id"],
        "board": {"id": truth["scene_id"], "size_mm": list(bl["board_size_mm"]), "mask_color": bl.get("mask_color", "green")},
        "views": views or views_avail,
    }
    pins = truth.get("pins") or []
    if pins:
        tip_nom = next(p["tip_height_nominal_mm"] for p in pins if p.get("tip_height_nominal_mm") is not None)
        rec["pin_type"] = _pin_type(bl, tip_nom)
        rec["pad_diameter_mm"] = bl["pad_diameter_mm"]
        rec["pad_top_z_mm"] = bl["pad_top_z_mm"]
        rec["pins"] = [{"id": p["id"], "xy_mm": list(p["nominal_xy_mm"]), "row": p["row"], "col": p["col"]} for p in pins]
        rec["fiducials"] = [{"xy_mm": list(f), "diameter_mm": bl["fiducial_diameter_mm"]} for f in bl.get("fiducials_xy_mm", [])]
    for q in truth.get("pads") or []:
        rec.setdefault("pads", []).append({"id": q["id"], "center_mm": list(q["center_xy_mm"]), "size_mm": list(q["size_mm"])})
    return rec


def recipe(truth: dict, **kw) -> Recipe:
    return Recipe.from_dict(recipe_dict(truth, **kw), source=f"rendered-dev {truth['scene_id']}")


def board_to_world(truth: dict) -> np.ndarray:
    """3x3 homogeneous board(x, y) -> world(x, y) transform (the placement the product must find)."""
    m = np.asarray(truth["board_layout"]["board_to_world"]["matrix_4x4"], float)
    out = np.eye(3)
    out[:2, :2] = m[:2, :2]
    out[:2, 2] = m[:2, 3]
    return out


def top_image_path(shared_data: Path, scene_id: str) -> Path:
    t = load_truth(shared_data, scene_id)
    return scene_dir(shared_data, scene_id) / t["views"]["top"]["file"]


# -- microscope focus stacks (MICRO_PIN / MICRO_PAD) ----------------------------------------------
def micro_record(view: dict, *, camera_id: str | None = None) -> CalibrationRecord:
    """Exact pinhole record of a rendered thin-lens microscope (``truth['views']['focus_*']``) at its
    focus plane: plane origin on the optical axis, plane axes = world x, y (image right, up).

    Projection of truth: ``u = W/2 + f*dx/dz' - 0.5``, ``v = H/2 - f*dy/dz' - 0.5``, f = D / mm_per_px.
    """
    from calibration.record import PinholeModel

    W, H = int(view["width_px"]), int(view["height_px"])
    s = float(view["mm_per_px_at_focus_plane"])
    D = float(view["focus_distance_mm"])
    f = D / s
    return CalibrationRecord(
        camera_id=camera_id or view.get("name", "MICRO"),
        model="pinhole",
        plane="board",
        image_size_px=(W, H),
        pinhole=PinholeModel(
            camera_matrix=[[f, 0.0, W / 2 - 0.5], [0.0, f, H / 2 - 0.5], [0.0, 0.0, 1.0]],
            dist_coeffs=[0.0] * 5,
            plane_rvec=[float(np.pi), 0.0, 0.0],  # camera looks down: x -> right, y -> up (image v down)
            plane_tvec_mm=[0.0, 0.0, D],
        ),
        rms_px=0.0,
        mm_per_px=s,
        mm_per_px_std=0.0,
        rotation_deg=0.0,
        rotation_std_deg=0.0,
        notes="exact record built from the rendered microscope geometry (tests only)",
    )


def stage_xy_board(truth: dict, view: dict) -> list[float]:
    """Board-frame position of the microscope's optical axis (what a stage + registration would report)."""
    w = np.asarray(view["optical_axis_xy_world_mm"], float)
    b2w = board_to_world(truth)
    xy = np.linalg.solve(b2w[:2, :2], w - b2w[:2, 2])
    return [float(xy[0]), float(xy[1])]


def focus_stack(shared_data: Path, scene_id: str, view_name: str):
    """(FocusStack, record) of a rendered focus stack, with manifest-style meta: target, items, stage_xy_mm."""
    from vision.io import read_image
    from vision.stack_io import stack_from_arrays

    t = load_truth(shared_data, scene_id)
    v = t["views"][view_name]
    d = scene_dir(shared_data, scene_id)
    imgs = [read_image(d / s["file"]) for s in v["slices"]]
    z = [s["focus_plane_z_mm"] for s in v["slices"]]
    if "pad_in_view" in v:
        meta = {"target": f"pad:{v['pad_in_view']}"}
    else:
        meta = {"target": "pins", "items": list(v.get("pins_in_view", []))}
    meta["stage_xy_mm"] = stage_xy_board(t, v)
    st = stack_from_arrays(imgs, z, names=[s["file"] for s in v["slices"]], source=f"{scene_id}/{view_name}", meta=meta)
    return st, micro_record(v)


def pad_top_verdicts(truth: dict, top_view):
    """(pad id, its verdict from the top view alone, the flags the truth expects the top view to see) per pad."""
    from models.rules import evaluate_pad

    rec = recipe(truth)
    expected = truth["expected_defective_items"]
    for q, iv in top_view.pads.items():
        # flatness needs a stack
        yield q, evaluate_pad(q, iv.measurements, iv.cues, rec), set(expected.get(q, [])) - {"warp_or_dent"}
