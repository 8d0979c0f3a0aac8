"""Decision rules with measurement uncertainty (ISO 14253-1 style guard bands).

A value whose whole interval ``value ± k·u`` (k = the check's guard-band factor, default 2)
lies inside the acceptance limits passes; an interval entirely outside fails; an interval
that straddles a limit is REVIEW. A required check that could not be measured is REVIEW
with reason ``not_measured:<check>``.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.measurement import Cue, Measurement


class Verdict(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    REVIEW = "REVIEW"


class Check(str, Enum):
    """Reason codes: one per check the product can make."""

    tilt = "tilt"
    xy_position = "xy_position"
    pitch = "pitch"
    tip_height = "tip_height"
    coplanarity = "coplanarity"
    not_seated = "not_seated"
    solder_wicking = "solder_wicking"
    solder_in_plunger_gap = "solder_in_plunger_gap"
    missing = "missing"
    contact_alignment = "contact_alignment"
    compression = "compression"
    plunger_depression = "plunger_depression"
    view_disagreement = "view_disagreement"
    # pads
    scratch = "scratch"
    oxidation = "oxidation"
    warp_or_dent = "warp_or_dent"
    roughness = "roughness"


class Limit(BaseModel):
    """Acceptance interval for one measurand, and the guard-band factor k."""

    model_config = ConfigDict(extra="forbid")

    lower: float | None = None
    upper: float | None = None
    guard_band_k: float = Field(default=2.0, ge=0, description="interval half-width in standard uncertainties")
    inclusive_upper: bool = True

    @model_validator(mode="after")
    def _check(self) -> "Limit":
        if self.lower is None and self.upper is None:
            raise ValueError("a limit needs 'lower', 'upper' or both")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower ({self.lower}) is above upper ({self.upper})")
        return self

    def contains(self, value: float) -> bool:
        """`value` inside the interval (the upper end inclusive unless ``inclusive_upper`` is False), no guard band."""
        if self.lower is not None and value < self.lower:
            return False
        if self.upper is not None and (value > self.upper or (not self.inclusive_upper and value >= self.upper)):
            return False
        return True


class Decision(BaseModel):
    check: Check
    verdict: Verdict
    reason: str | None = None  # the reason code when not PASS (e.g. "tilt", "not_measured:tilt")
    detail: str = ""


def decide(m: Measurement, limit: Limit, check: Check, *, required: bool = True) -> Decision | None:
    """Apply the guard-banded rule to one measurement. Returns None for an optional unmeasured check."""
    if not m.measured:
        if not required:
            return None
        return Decision(check=check, verdict=Verdict.REVIEW, reason=f"not_measured:{check.value}", detail=m.not_measured or "")
    k = limit.guard_band_k
    lo_v, hi_v = m.value - k * m.uncertainty, m.value + k * m.uncertainty
    inside_all = limit.contains(lo_v) and limit.contains(hi_v)
    outside_all = (limit.lower is not None and hi_v < limit.lower) or (limit.upper is not None and lo_v > limit.upper)
    if not limit.inclusive_upper and limit.upper is not None:
        outside_all = outside_all or lo_v >= limit.upper
    lim = f"[{'' if limit.lower is None else limit.lower}, {'' if limit.upper is None else limit.upper}] {m.unit}"
    shown = f"{m.value:.4g} ± {k:g}·{m.uncertainty:.2g} {m.unit} against {lim}"
    if inside_all:
        return Decision(check=check, verdict=Verdict.PASS, detail=shown)
    if outside_all:
        return Decision(check=check, verdict=Verdict.FAIL, reason=check.value, detail=shown)
    return Decision(check=check, verdict=Verdict.REVIEW, reason=check.value, detail="uncertainty straddles the limit: " + shown)


def decide_cue(cue: Cue | None, check: Check, *, required: bool = True, unmeasured_reason: str = "") -> Decision | None:
    """A present measured cue fails; a present suspicion is REVIEW; an absent cue passes."""
    if cue is None:
        if not required:
            return None
        return Decision(check=check, verdict=Verdict.REVIEW, reason=f"not_measured:{check.value}", detail=unmeasured_reason)
    if not cue.present:
        return Decision(check=check, verdict=Verdict.PASS, detail=cue.detail)
    if cue.kind == "measured":
        return Decision(check=check, verdict=Verdict.FAIL, reason=check.value, detail=cue.detail)
    return Decision(check=check, verdict=Verdict.REVIEW, reason=check.value, detail="suspicion: " + cue.detail)


def combine(decisions: list[Decision | None]) -> tuple[Verdict, list[str]]:
    """Item verdict from its checks: any FAIL -> FAIL, else any REVIEW -> REVIEW, else PASS."""
    ds = [d for d in decisions if d is not None]
    fails = [d.reason for d in ds if d.verdict is Verdict.FAIL and d.reason]
    reviews = [d.reason for d in ds if d.verdict is Verdict.REVIEW and d.reason]
    if fails:
        return Verdict.FAIL, _uniq(fails + reviews)
    if reviews:
        return Verdict.REVIEW, _uniq(reviews)
    return Verdict.PASS, []


def board_verdict(item_verdicts: list[Verdict]) -> Verdict:
    """A board fails if any item fails; otherwise it is REVIEW if any item is; PASS only if all pass."""
    if not item_verdicts:
        return Verdict.REVIEW
    if Verdict.FAIL in item_verdicts:
        return Verdict.FAIL
    if Verdict.REVIEW in item_verdicts:
        return Verdict.REVIEW
    return Verdict.PASS


def _uniq(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))
