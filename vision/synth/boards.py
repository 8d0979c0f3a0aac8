"""Seeded random boards: a pin grid with fiducials and drawn defects, as a `BoardScene`.

Defect ranges follow the rendered-dev data set (``shared/data/rendered-dev/README.md``) so the
generator's boards and the path-traced ones exercise the same limits: clear defects well past
the acceptance limits, ``marginal`` pins well inside them (which must not be flagged).
"""

from __future__ import annotations

import math

import numpy as np

from vision.synth.scene import PIN_TYPE_A, PIN_TYPE_B, BoardScene, PinState

PIN_TYPES = {"A": PIN_TYPE_A, "B": PIN_TYPE_B}

#: defect key -> how often it is drawn among defective pins
DEFECTS = ("tilt", "xy", "raised", "depressed", "wick", "wick_gap", "missing")


def apply_defect(pin: PinState, defect: str, rng: np.random.Generator) -> PinState:
    """Give `pin` one defect (in place) with a magnitude drawn from the rendered-dev ranges."""
    az = float(rng.uniform(0, 360))
    if defect == "tilt":
        pin.tilt_deg, pin.tilt_azimuth_deg = float(rng.uniform(2.8, 5.0)), az
    elif defect == "xy":
        r = float(rng.uniform(0.15, 0.30))
        pin.xy_offset_mm = (r * math.cos(math.radians(az)), r * math.sin(math.radians(az)))
    elif defect == "raised":
        pin.seating_gap_mm, pin.fillet = float(rng.uniform(0.08, 0.30)), False
    elif defect == "depressed":
        pin.plunger_depression_mm = float(rng.uniform(0.20, 0.45))
    elif defect == "wick":
        pin.wicking_above_flange_mm = float(rng.uniform(0.65, 1.60))
    elif defect == "wick_gap":
        pin.solder_in_plunger_gap = True
    elif defect == "missing":
        pin.present = False
    elif defect == "marginal":
        pin.tilt_deg, pin.tilt_azimuth_deg = float(rng.uniform(1.0, 1.5)), az
        r = float(rng.uniform(0.04, 0.06))
        b = math.radians(float(rng.uniform(0, 360)))
        pin.xy_offset_mm = (r * math.cos(b), r * math.sin(b))
    elif defect == "wick_low":
        pin.wicking_above_flange_mm = float(rng.uniform(0.16, 0.25))
    else:
        raise ValueError(f"unknown defect {defect!r}; expected one of {DEFECTS + ('marginal', 'wick_low')}")
    pin.defects.append(defect)
    return pin


def random_board(seed: int = 0, *, rows: int = 1, cols: int = 4, pitch_mm: float = 2.54, pin_type: str = "A",
                 mask_color: str = "green", defect_rate: float = 0.0, defects: dict[str, str] | None = None,
                 margin_mm: float = 2.6, rotation_deg: float | None = None, offset_mm: tuple[float, float] | None = None,
                 good_jitter: bool = True, board_id: str | None = None) -> BoardScene:
    """A rows x cols board of `pin_type` pins at `pitch_mm`, with two fiducials at opposite corners.

    Parameters
    ----------
    seed : seeds the defects, their magnitudes and the board's placement.
    defect_rate : probability that a pin gets one random defect from `DEFECTS`.
    defects : explicit ``{pin id: defect key}`` (overrides the random draw for those pins).
    rotation_deg, offset_mm : placement under the camera; default drawn in ±3 deg and ±0.5 mm.
    good_jitter : good pins get the small residual tilt (≤ 0.6 deg) and offset (≤ 0.02 mm) real pins have.
    """
    if pin_type not in PIN_TYPES:
        raise ValueError(f"pin_type must be one of {sorted(PIN_TYPES)}, got {pin_type!r}")
    if rows < 1 or cols < 1:
        raise ValueError("rows and cols must be >= 1")
    rng = np.random.default_rng(seed)
    W = 2 * margin_mm + (cols - 1) * pitch_mm
    D = 2 * margin_mm + (rows - 1) * pitch_mm
    rot = float(rng.uniform(-3, 3)) if rotation_deg is None else float(rotation_deg)
    off = tuple(float(x) for x in rng.uniform(-0.5, 0.5, 2)) if offset_mm is None else tuple(offset_mm)
    width = max(2, len(str(rows * cols)))
    pins = []
    for r in range(rows):
        for c in range(cols):
            pid = f"P{r * cols + c + 1:0{width}d}"
            p = PinState(id=pid, nominal_xy_mm=(margin_mm + c * pitch_mm, margin_mm + r * pitch_mm), row=r, col=c)
            if good_jitter:
                p.tilt_deg, p.tilt_azimuth_deg = float(rng.uniform(0, 0.6)), float(rng.uniform(0, 360))
                a = float(rng.uniform(0, 2 * math.pi))
                e = float(rng.uniform(0, 0.02))
                p.xy_offset_mm = (e * math.cos(a), e * math.sin(a))
            draw = rng.uniform() < defect_rate
            kind = DEFECTS[int(rng.integers(len(DEFECTS)))]
            if defects and pid in defects:
                kind, draw = defects[pid], True
            if draw:
                if kind in ("tilt", "marginal"):
                    p.tilt_deg = 0.0
                if kind in ("xy", "marginal"):
                    p.xy_offset_mm = (0.0, 0.0)
                apply_defect(p, kind, rng)
            pins.append(p)
    fid = [(1.2, 1.2), (W - 1.2, D - 1.2)]
    return BoardScene(board_id=board_id or f"SYN-{rows}x{cols}-{seed}", size_mm=(W, D, 1.6), pin_geometry=PIN_TYPES[pin_type],
                      pins=pins, fiducials_xy_mm=fid, mask_color=mask_color, rows=rows, cols=cols, pitch_mm=pitch_mm,
                      rotation_deg=rot, offset_mm=off, seed=seed)
