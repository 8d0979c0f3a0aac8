"""From measurements and cues to verdicts, per pin, per pad and per board.

Each check reads one named measurement (and, where a view can only suspect, one cue):
a measured value is decided by the guard-banded rule; without it a present cue decides
(FAIL if the view settles it, REVIEW if it is only a suspicion); with neither, a required
check is REVIEW ``not_measured:<check>``.
"""

from __future__ import annotations

from models.decision import Check, Decision, Verdict, board_verdict, combine, decide, decide_cue
from models.measurands import checks_for
from models.measurement import Cue, Measurement
from models.recipe import Recipe
from models.result import BoardResult, BoardSummary, PadResult, PinResult

# check -> (measurement name, cue name), from the measurement table
PIN_CHECKS: dict[Check, tuple[str | None, str | None]] = checks_for("pin")
PAD_CHECKS: dict[Check, tuple[str | None, str | None]] = checks_for("pad")


def _decide_check(check, mname, cname, measurements, cues, recipe, required) -> Decision | None:
    m = measurements.get(mname) if mname else None
    cue = cues.get(cname) if cname else None
    if m is not None and m.measured:
        return decide(m, recipe.limits.for_check(check), check, required=required)
    if cue is not None:
        return decide_cue(cue, check, required=required)
    if mname is None and cname is not None and check is Check.view_disagreement:
        return None  # only meaningful when two views exist
    if required or (m is not None and "unreliable:" in (m.not_measured or "")):
        # a measurement a view made and found unreliable (its fit failed its own check) is REVIEW even where the
        # recipe does not require the check: never a silent PASS over a defect the view half saw
        why = m.not_measured if m is not None else "no view measures it"
        return Decision(check=check, verdict=Verdict.REVIEW, reason=f"not_measured:{check.value}", detail=why)
    return None


def evaluate_item(item_id, measurements, cues, recipe, checks, *, cls=PinResult, image_px=None):
    decisions: list[Decision | None] = []
    missing = cues.get("missing")
    if cls is PinResult:
        decisions.append(decide_cue(missing, Check.missing, required=recipe.is_required(Check.missing)))
    if missing is not None and missing.present:
        # nothing else about an absent pin is meaningful
        verdict, reasons = combine(decisions)
    else:
        for check, (mname, cname) in checks.items():
            decisions.append(_decide_check(check, mname, cname, measurements, cues, recipe, recipe.is_required(check)))
        verdict, reasons = combine(decisions)
    return cls(
        id=item_id,
        verdict=verdict,
        reasons=reasons,
        measurements=dict(measurements),
        cues=dict(cues),
        decisions=[d for d in decisions if d is not None],
        image_px=image_px or {},
    )


def evaluate_pin(pin_id: str, measurements: dict[str, Measurement], cues: dict[str, Cue], recipe: Recipe, *, image_px=None) -> PinResult:
    return evaluate_item(pin_id, measurements, cues, recipe, PIN_CHECKS, cls=PinResult, image_px=image_px)


def evaluate_pad(pad_id: str, measurements: dict[str, Measurement], cues: dict[str, Cue], recipe: Recipe, *, image_px=None) -> PadResult:
    return evaluate_item(pad_id, measurements, cues, recipe, PAD_CHECKS, cls=PadResult, image_px=image_px)


def summarise_board(serial: str, recipe: Recipe, pins: list[PinResult], pads: list[PadResult], **kw) -> BoardResult:
    items = [*pins, *pads]
    verdict = board_verdict([i.verdict for i in items])
    reasons = list(dict.fromkeys(r for i in items for r in i.reasons))
    summary = BoardSummary(
        serial=serial,
        recipe_id=recipe.recipe_id,
        recipe_version=recipe.version,
        verdict=verdict,
        reasons=reasons,
        timings_ms=kw.pop("timings_ms", {}),
        measurements=kw.pop("board_measurements", {}),
    )
    return BoardResult(board=summary, pins=pins, pads=pads, **kw)
