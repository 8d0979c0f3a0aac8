"""What each view's inspection hands to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from models.measurement import Cue, Measurement


@dataclass
class ItemView:
    """One pin or pad as seen by one view."""

    measurements: dict[str, Measurement] = field(default_factory=dict)
    cues: dict[str, Cue] = field(default_factory=dict)
    image_px: dict[str, list[float]] = field(default_factory=dict)  # e.g. {"top.tip": [u, v], "top.base": [u, v]}


@dataclass
class ViewOutput:
    """The result of inspecting one view (top, side, stack:NAME) of one board."""

    view: str
    pins: dict[str, ItemView] = field(default_factory=dict)
    pads: dict[str, ItemView] = field(default_factory=dict)
    board_measurements: dict[str, Measurement] = field(default_factory=dict)
    registration: dict = field(default_factory=dict)
    overlays: dict[str, np.ndarray] = field(default_factory=dict)  # name -> RGB uint8 image
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # redraws this view's overlays with the board's final (fused) item results {id: ItemResult};
    # a view's own overlay can only show what that view alone decided
    redraw: Callable[[dict], dict[str, np.ndarray]] | None = None
