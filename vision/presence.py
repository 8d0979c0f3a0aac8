"""Is there a pin on the pad? A pin shows a sharp circular barrel-top rim of the right size;
a bare pad or a pad with reflowed paste does not."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # top_view imports this module
    from vision.top_view import PinTopFit

__all__ = ["Presence", "pin_presence", "PRESENCE_MIN_SCORE"]

# score = rim edge step (grey levels/px) / (fit RMS + 0.2 px). Pins score 26-180 on rendered-dev and
# generated boards (both lightings and masks); empty pads, bare or with paste, score 0.8-1.6.
PRESENCE_MIN_SCORE = 5.0


@dataclass
class Presence:
    present: bool
    score: float
    confidence: float
    detail: str


def pin_presence(fit: "PinTopFit", *, min_score: float = PRESENCE_MIN_SCORE) -> Presence:
    b = fit.barrel
    if not b.ok:
        return Presence(False, 0.0, 0.9, f"no barrel-top rim found ({b.reason})")
    score = b.contrast / (b.rms_px + 0.2)
    present = score >= min_score and fit.flange.ok
    # confidence grows with the distance of the score from the threshold (log scale)
    conf = min(0.99, 0.5 + 0.25 * abs(math.log(max(score, 1e-3) / min_score)))
    detail = f"barrel-top rim score {score:.1f} (threshold {min_score:g})"
    if present is False and b.ok and score >= min_score:
        detail += "; flange rim not found"
    return Presence(bool(present), float(score), float(conf), detail)
