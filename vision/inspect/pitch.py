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


def _quad(x: float, y: float, *covs) -> float:
    """(x, y) @ (sum of the 2x2 covariances, as nested lists) @ (x, y)."""
    return sum(C[0][0] * x * x + (C[0][1] + C[1][0]) * x * y + C[1][1] * y * y for C in covs)


def _own_share(mx: float, my: float, C, other_xy, nom: float) -> tuple[float, float]:
    """A pin's own share of a pair's pitch deviation: |distance from it (mx, my), covariance `C` (nested
    lists), to the other pin's *nominal* position - nominal pitch|, and its standard uncertainty."""
    ox, oy = other_xy
    dv = math.hypot(ox - mx, oy - my)
    return abs(dv - nom), math.sqrt(max(_quad(ox - mx, oy - my, C) / max(dv, 1e-12) ** 2, 0.0))


def pitches(recipe: Recipe, board: Mapping[str, Any], out: ViewOutput, *, source: str) -> None:
    """pitch_x_mm / pitch_y_mm to the next pin in the row / column, and pitch_error_mm, into ``out.pins``.

    `board`: per recipe pin an object with ``present``, ``base_mm`` (board frame, None when not measured) and
    ``base_cov_mm2``; `source` names the view in the measurements.

    A misplaced pin spoils the pitch to each of its neighbours; the deviation |pitch - nominal| of a
    pair is charged to the member with the larger position error, so a good pin next to a bad one
    is not failed for it. ``pitch_error_mm`` is the worst deviation charged to the pin; a pin charged
    with none (it is the better-placed of each of its pairs) answers only for its own share: the
    deviation of its distance to each neighbour's *nominal* position (the neighbour's own error taken
    out), the worst of them, with its own uncertainty. A pin whose neighbour is not measured (outside a stack's
    view) answers for its own share too, instead of being left without a pitch.
    """
    nominal = recipe.nominal_pitch_mm()
    spec = {p.id: p for p in recipe.pins}
    charged: dict[str, list[tuple[float, float]]] = {}
    own: dict[str, list[tuple[float, float]]] = {}
    # 2-vectors in plain floats: a board has tens of pairs, and numpy's per-call cost on 2-element arrays
    # was a tenth of the top view's time
    for (a, b), nom in nominal.items():
        pa, pb = board[a], board[b]
        if (pa.base_mm is None) != (pb.base_mm is None):
            # one of the pair unmeasured (outside a stack's view, say): the measured one still answers for
            # its own share, its distance to the other's nominal position
            (pid, mine), other = ((a, pa), spec[b]) if pb.base_mm is None else ((b, pb), spec[a])
            if mine.present:
                own.setdefault(pid, []).append(_own_share(float(mine.base_mm[0]), float(mine.base_mm[1]),
                                                          mine.base_cov_mm2.tolist(), other.xy_mm, nom))
            continue
        if pa.base_mm is None or pb.base_mm is None:
            continue
        ax, ay = float(pa.base_mm[0]), float(pa.base_mm[1])
        bx, by = float(pb.base_mm[0]), float(pb.base_mm[1])
        Ca, Cb = pa.base_cov_mm2.tolist(), pb.base_cov_mm2.tolist()
        dist = math.hypot(bx - ax, by - ay)
        u = math.sqrt(max(_quad(bx - ax, by - ay, Ca, Cb) / max(dist, 1e-12) ** 2, 0.0))
        sa, sb = spec[a], spec[b]
        name = "pitch_x_mm" if sb.col != sa.col else "pitch_y_mm"
        out.pins[a].measurements[name] = Measurement.of(dist, u, "mm", source=source)
        dev = abs(dist - nom)
        (nax, nay), (nbx, nby) = sa.xy_mm, sb.xy_mm
        ea, eb = math.hypot(ax - nax, ay - nay), math.hypot(bx - nbx, by - nby)
        for pid in ((a,) if ea > eb else (b,) if eb > ea else (a, b)):
            charged.setdefault(pid, []).append((dev, u))
        own.setdefault(a, []).append(_own_share(ax, ay, Ca, sb.xy_mm, nom))
        own.setdefault(b, []).append(_own_share(bx, by, Cb, sa.xy_mm, nom))
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
