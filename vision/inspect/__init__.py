"""Inspect one board: every view the recipe and the inputs provide, fused into one result.

Pixels in, verdicts out, no I/O: api/ reads the files and stores the result.
Each view module (``top``, ``side``, ``stack``) turns images + calibration + recipe into a
`ViewOutput`; `fusion` merges the views of a board (side heights into top tilt, cross-checks);
`models.rules` turns measurements and cues into verdicts.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from vision.inspect import side, stack, top
from vision.inspect.base import ItemView, ViewOutput
from vision.inspect.fusion import fuse
from models.errors import InputError
from calibration.record import CalibrationRecord
from models.recipe import Recipe
from models.result import BoardResult, CalibrationUsed, ViewUsed
from models.rules import evaluate_pad, evaluate_pin, summarise_board

__all__ = ["BoardInput", "Inspection", "inspect_board", "ItemView", "ViewOutput"]


@dataclass
class BoardInput:
    """Everything needed to inspect one board."""

    serial: str
    recipe: Recipe
    images: dict[str, np.ndarray] = field(default_factory=dict)  # view name ("top", "side_front", "side_back") -> image
    calibrations: dict[str, CalibrationRecord] = field(default_factory=dict)  # "top", "side", "stack:NAME" -> record
    stacks: dict[str, object] = field(default_factory=dict)  # NAME -> vision.stack_io.FocusStack
    files: dict[str, str] = field(default_factory=dict)  # view -> file name / sha, for the record
    overlays: bool = True  # False: skip drawing overlay images (the inline station keeps only the result)
    known_missing: frozenset[str] = frozenset()  # pins another view found missing (set by `inspect_board`)
    # pad id -> (N, 2) points (mm in the pad's own axes from its centre, +y up) where the top camera saw oxide
    # (set by `inspect_board`): a mono stack sees oxide darken the pad as a dent's flanks do
    known_oxide: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Inspection:
    result: BoardResult
    overlays: dict[str, np.ndarray]
    views: dict[str, ViewOutput]


def inspect_board(inp: BoardInput) -> Inspection:
    """Run every available view of `inp`, fuse, decide. Raises InputError for unusable input."""
    t0 = time.perf_counter()
    recipe = inp.recipe
    known = {"top", "side_front", "side_back"}
    unknown = set(inp.images) - known
    if unknown:
        raise InputError(f"unknown view(s) {sorted(unknown)}; expected one of {sorted(known)}")
    not_in_recipe = [v for v in inp.images if v not in recipe.views]
    if not_in_recipe:
        raise InputError(f"recipe {recipe.key} has no view(s) {not_in_recipe}; it provides {list(recipe.views)}")
    if not inp.images and not inp.stacks:
        raise InputError("nothing to inspect: give at least one image or focus stack")

    outputs: dict[str, ViewOutput] = {}
    if "top" in inp.images:
        outputs["top"] = top.inspect_view(inp)
    if "side_front" in inp.images or "side_back" in inp.images:
        if "top" in outputs:  # the top view's missing pins tell the side view where its row's gaps are
            missing = frozenset(pid for pid, iv in outputs["top"].pins.items()
                                if (c := iv.cues.get("missing")) is not None and c.present and c.kind == "measured")
            inp = dataclasses.replace(inp, known_missing=missing)
        outputs["side"] = side.inspect_view(inp)
    if inp.stacks:
        if "top" in outputs and outputs["top"].pad_oxide_mm:
            inp = dataclasses.replace(inp, known_oxide=dict(outputs["top"].pad_oxide_mm))
        for name, out in stack.inspect_view(inp).items():
            outputs[f"stack:{name}"] = out

    pins, pads, board_meas, notes = fuse(recipe, outputs)

    pin_results = [evaluate_pin(pid, iv.measurements, iv.cues, recipe, image_px=iv.image_px) for pid, iv in pins.items()]
    pad_results = [evaluate_pad(pid, iv.measurements, iv.cues, recipe, image_px=iv.image_px) for pid, iv in pads.items()]

    timings = {f"{v}.{k}": t for v, o in outputs.items() for k, t in o.timings_ms.items()}
    timings["total"] = (time.perf_counter() - t0) * 1e3
    views_used = [
        ViewUsed(name=v, file=inp.files.get(v), shape=list(img.shape), camera_id=_cal_for(inp, v).camera_id if _cal_for(inp, v) else None)
        for v, img in inp.images.items()
    ]
    views_used += [ViewUsed(name=f"stack:{n}", file=inp.files.get(f"stack:{n}")) for n in inp.stacks]
    cals = {
        k: CalibrationUsed(camera_id=c.camera_id, version=c.version, created=c.created, model=c.model, mm_per_px=c.mm_per_px)
        for k, c in inp.calibrations.items()
    }
    result = summarise_board(
        inp.serial,
        recipe,
        pin_results,
        pad_results,
        timings_ms=timings,
        board_measurements=board_meas,
        views=views_used,
        calibrations=cals,
        registration={v: o.registration for v, o in outputs.items() if o.registration},
        notes=notes + [n for o in outputs.values() for n in o.notes],
    )
    # another view may have changed verdicts, and a stack's own picture has none: show the final ones
    if inp.overlays and (len(outputs) > 1 or any(k.startswith("stack:") for k in outputs)):
        final = {r.id: r for r in [*pin_results, *pad_results]}
        for o in outputs.values():
            if o.redraw is not None:
                o.overlays.update(o.redraw(final))
    overlays = {name: img for o in outputs.values() for name, img in o.overlays.items()}
    return Inspection(result=result, overlays=overlays, views=outputs)


def _cal_for(inp: BoardInput, view: str) -> CalibrationRecord | None:
    key = "side" if view.startswith("side") else view
    return inp.calibrations.get(key)
