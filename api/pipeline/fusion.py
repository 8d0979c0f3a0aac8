"""Merge the views of one board into one set of measurements per pin/pad.

Default rule (extended by the side-view work): for each measurement name, the view listed
first in PRIORITY that measured it wins; unmeasured placeholders are kept only when no view
measured the quantity. Cues merge the same way.
"""

from __future__ import annotations

from api.pipeline.base import ItemView, ViewOutput
from models.recipe import Recipe

PRIORITY = ["side", "top"]  # heights: side first; stacks after these


def _order(outputs: dict[str, ViewOutput]) -> list[ViewOutput]:
    keys = [k for k in PRIORITY if k in outputs] + sorted(k for k in outputs if k not in PRIORITY)
    return [outputs[k] for k in keys]


def _merge(items: list[ItemView]) -> ItemView:
    out = ItemView()
    for iv in items:
        for name, m in iv.measurements.items():
            cur = out.measurements.get(name)
            if cur is None or (not cur.measured and m.measured):
                out.measurements[name] = m
        for name, c in iv.cues.items():
            out.cues.setdefault(name, c)
        out.image_px.update(iv.image_px)
    return out


def fuse(recipe: Recipe, outputs: dict[str, ViewOutput]):
    """Returns (pins: {id: ItemView}, pads: {id: ItemView}, board_measurements, notes)."""
    ordered = _order(outputs)
    pins = {}
    for p in recipe.pins:
        seen = [o.pins[p.id] for o in ordered if p.id in o.pins]
        if seen:
            pins[p.id] = _merge(seen)
    pads = {}
    for q in recipe.pads:
        seen = [o.pads[q.id] for o in ordered if q.id in o.pads]
        if seen:
            pads[q.id] = _merge(seen)
    board = {}
    for o in ordered:
        for name, m in o.board_measurements.items():
            if name not in board or (not board[name].measured and m.measured):
                board[name] = m
    return pins, pads, board, []
