"""Repeated inspections of the same boards, as in a Gage R&R study: each repeat re-seats the board
under the camera (new placement, new lighting and sensor-noise seed) and may move each pin by a known
amount (`seat_sigma_mm`, along +x of the board), so a study's repeatability has a known part."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import yaml

from vision.io import write_image
from vision.synth.boards import random_board
from vision.synth.top import fit_top_camera, render_top


def study_boards(n_boards: int, *, rows: int = 1, cols: int = 4, offset_range_mm=(0.02, 0.06), seed: int = 0):
    """`n_boards` scenes whose pins sit off nominal along +x by a per-pin amount drawn from
    `offset_range_mm` (the parts' own variation), with no tilt."""
    rng = np.random.default_rng(seed)
    out = []
    for b in range(n_boards):
        scene = random_board(1000 * seed + b, rows=rows, cols=cols, good_jitter=False, rotation_deg=0.0, offset_mm=(0.0, 0.0),
                             board_id=f"GRR-{b:02d}")
        for p in scene.pins:
            p.xy_offset_mm = (float(rng.uniform(*offset_range_mm)), 0.0)
        out.append(scene)
    return out


def reseat(scene, seed: int, *, seat_sigma_mm: float = 0.0, placement_mm: float = 0.4, rotation_deg: float = 2.0):
    """A copy of `scene` placed anew (rotation, shift) with every pin moved along x by N(0, seat_sigma_mm)."""
    rng = np.random.default_rng(seed)
    s = copy.deepcopy(scene)
    s.rotation_deg = float(rng.uniform(-rotation_deg, rotation_deg))
    s.offset_mm = tuple(float(v) for v in rng.uniform(-placement_mm, placement_mm, 2))
    for p in s.pins:
        p.xy_offset_mm = (p.xy_offset_mm[0] + float(rng.normal(0.0, seat_sigma_mm)), p.xy_offset_mm[1])
    s.seed = seed
    return s


def write_study(root: Path, scenes, repeats: int, *, seat_sigma_mm: float = 0.0, mm_per_px: float = 0.02, seed: int = 0,
                operators=("-",)) -> Path:
    """Folders root/<board>/<operator>-<repeat>/ (board.yaml, top.png, cal_top.json, recipe.yaml, truth.json)."""
    from models.recipe import Recipe
    from vision.synth import truth as T

    root.mkdir(parents=True, exist_ok=True)
    for b, scene in enumerate(scenes):
        cam = fit_top_camera(scene, mm_per_px=mm_per_px, margin_mm=1.5)
        for o, op in enumerate(operators):
            for k in range(repeats):
                rs = seed * 100000 + b * 1000 + o * 100 + k + 1
                placed = reseat(scene, rs, seat_sigma_mm=seat_sigma_mm)
                img, rec, truth = render_top(placed, cam, seed=rs, lighting="coaxial" if k % 2 == 0 else "coaxial+ring")
                d = root / scene.board_id / f"{op}-{k + 1}"
                d.mkdir(parents=True, exist_ok=True)
                write_image(d / "top.png", img)
                rec.save(d / "cal_top.json")
                Recipe.from_dict(T.recipe_dict(scene, views=["top"]), source="study recipe").to_yaml(d / "recipe.yaml")
                (d / "truth.json").write_text(json.dumps(truth) + "\n")
                m = {"serial": scene.board_id, "recipe": "recipe.yaml", "views": {"top": "top.png"},
                     "calibrations": {"top": "cal_top.json"}, "truth": "truth.json"}
                if op != "-":
                    m["operator"] = op
                (d / "board.yaml").write_text(yaml.safe_dump(m, sort_keys=False))
    return root
