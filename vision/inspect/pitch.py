"""One pitch rule for every view that places pins in the board frame (top view, pin focus stacks).

Moved here from the top view so that the stack view uses the same rule without importing the top view (which
imports the stack view for pad boards).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from models.measurement import Measurement
from models.recipe import Recipe
from vision.inspect.base import ViewOutput

__all__ = ["norm_u", "pitches"]


def norm_u(v: np.ndarray, C: np.ndarray) -> tuple[float, float]:
    """|v| of a 2-vector with covariance C, and its standard uncertainty (noise floor near zero)."""
    n = float(np.hypot(*v))
    rms = math.sqrt(max(float(np.trace(C)) / 2, 0.0))
    if n > 3 * rms and n > 0:
        g = v / n
        return n, math.sqrt(max(float(g @ C @ g), 0.0))
    return n, max(rms, math.sqrt(max(float(np.linalg.eigvalsh(C).max()), 0.0)))


def pitches(recipe: Recipe, board: Mapping[str, Any], out: ViewOutput, *, source: str) -> None:
    """pitch_x_mm / pitch_y_mm to the next pin in the row / column, and pitch_error_mm, into ``out.pins``.

    `board`: per recipe pin an object with ``present``, ``base_mm`` (board frame, None when not measured) and
    ``base_cov_mm2``; `source` names the view in the measurements.

    A misplaced pin spoils the pitch to each of its neighbours; the deviation |pitch - nominal| of a
    pair is charged to the member with the larger position error, so a good pin next to a bad one
    is not failed for it. ``pitch_error_mm`` is the worst deviation charged to the pin; a pin charged
    with none (it is the better-placed of each of its pairs) answers only for its own share: the
    deviation of its distance to each neighbour's *nominal* position (the neighbour's own error taken
    out), the worst of them, with its own uncertainty.
    """
    nominal = recipe.nominal_pitch_mm()
    charged: dict[str, list[tuple[float, float]]] = {}
    own: dict[str, list[tuple[float, float]]] = {}
    for (a, b), nom in nominal.items():
        pa, pb = board[a], board[b]
        if pa.base_mm is None or pb.base_mm is None:
            continue
        d = pb.base_mm - pa.base_mm
        dist = float(np.hypot(*d))
        g = d / max(dist, 1e-12)
        u = math.sqrt(max(float(g @ (pa.base_cov_mm2 + pb.base_cov_mm2) @ g), 0.0))
        sa, sb = recipe.pin(a), recipe.pin(b)
        name = "pitch_x_mm" if sb.col != sa.col else "pitch_y_mm"
        out.pins[a].measurements[name] = Measurement.of(dist, u, "mm", source=source)
        dev = abs(dist - nom)
        na, nb = np.asarray(sa.xy_mm, float), np.asarray(sb.xy_mm, float)
        ea = float(np.hypot(*(pa.base_mm - na)))
        eb = float(np.hypot(*(pb.base_mm - nb)))
        for pid in ((a,) if ea > eb else (b,) if eb > ea else (a, b)):
            charged.setdefault(pid, []).append((dev, u))
        for pid, mine, other_nom in ((a, pa, nb), (b, pb, na)):
            v = other_nom - mine.base_mm
            dv = float(np.hypot(*v))
            gv = v / max(dv, 1e-12)
            own.setdefault(pid, []).append((abs(dv - nom), math.sqrt(max(float(gv @ mine.base_cov_mm2 @ gv), 0.0))))
    for p in recipe.pins:
        iv = out.pins[p.id]
        if p.id in charged:
            dev, u = max(charged[p.id])
        elif p.id in own:
            dev, u = max(own[p.id])
        else:
            if board[p.id].present and board[p.id].base_mm is not None:
                iv.measurements["pitch_error_mm"] = Measurement.missing("no measured neighbour in the row or column", "mm")
            continue
        iv.measurements["pitch_error_mm"] = Measurement.of(dev, u, "mm", source=source)
