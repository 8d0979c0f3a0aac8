"""Guard-banded decision rules (ISO 14253-1 style) against hand-worked cases."""

import numpy as np
import pytest

from models.decision import Check, Limit, Verdict, board_verdict, combine, decide, decide_cue
from models.measurement import Cue, Measurement


@pytest.mark.parametrize(
    "value, u, expected",
    [
        (1.50, 0.10, Verdict.PASS),  # 1.50 + 2*0.10 = 1.70 <= 2.0
        (1.85, 0.10, Verdict.REVIEW),  # interval 1.65..2.05 straddles 2.0
        (2.15, 0.10, Verdict.REVIEW),  # interval 1.95..2.35 straddles 2.0
        (2.30, 0.10, Verdict.FAIL),  # interval 2.10..2.50 entirely above
        (1.80, 0.10, Verdict.PASS),  # exactly on the limit counts as inside (inclusive)
    ],
)
def test_upper_limit_guard_band(value, u, expected):
    d = decide(Measurement.of(value, u, "deg"), Limit(upper=2.0), Check.tilt)
    assert d.verdict is expected
    assert (d.reason == "tilt") == (expected is not Verdict.PASS)


def test_two_sided_and_configurable_guard_band():
    lim = Limit(lower=-0.1, upper=0.1, guard_band_k=1.0)
    assert decide(Measurement.of(0.08, 0.015, "mm"), lim, Check.tip_height).verdict is Verdict.PASS
    assert decide(Measurement.of(-0.15, 0.01, "mm"), lim, Check.tip_height).verdict is Verdict.FAIL
    assert decide(Measurement.of(-0.095, 0.01, "mm"), lim, Check.tip_height).verdict is Verdict.REVIEW
    # the same value with the default k=2 straddles
    assert decide(Measurement.of(0.08, 0.015, "mm"), Limit(lower=-0.1, upper=0.1), Check.tip_height).verdict is Verdict.REVIEW


def test_exclusive_upper_limit():
    # a scratch of exactly 0.1 mm already counts: the limit is "< 0.1"
    lim = Limit(upper=0.1, inclusive_upper=False, guard_band_k=0)
    assert decide(Measurement.of(0.1, 0.0, "mm"), lim, Check.scratch).verdict is Verdict.FAIL
    assert decide(Measurement.of(0.0999, 0.0, "mm"), lim, Check.scratch).verdict is Verdict.PASS


def test_not_measured_required_is_review_optional_is_silent():
    m = Measurement.missing("no side view", "mm")
    d = decide(m, Limit(upper=0.05), Check.not_seated, required=True)
    assert d.verdict is Verdict.REVIEW and d.reason == "not_measured:not_seated" and "side" in d.detail
    assert decide(m, Limit(upper=0.05), Check.not_seated, required=False) is None


def test_cues():
    measured = Cue(present=True, kind="measured", confidence=0.9)
    suspicion = Cue(present=True, kind="suspicion", confidence=0.6)
    absent = Cue(present=False, kind="measured", confidence=0.9)
    assert decide_cue(measured, Check.missing).verdict is Verdict.FAIL
    assert decide_cue(suspicion, Check.solder_wicking).verdict is Verdict.REVIEW
    assert decide_cue(absent, Check.missing).verdict is Verdict.PASS
    assert decide_cue(None, Check.missing).reason == "not_measured:missing"


def test_combine_and_board():
    ds = [
        decide(Measurement.of(3.0, 0.1, "deg"), Limit(upper=2.0), Check.tilt),
        decide(Measurement.missing("no side view", "mm"), Limit(upper=0.05), Check.not_seated),
    ]
    v, reasons = combine(ds)
    assert v is Verdict.FAIL and reasons == ["tilt", "not_measured:not_seated"]
    assert board_verdict([Verdict.PASS, Verdict.REVIEW]) is Verdict.REVIEW
    assert board_verdict([Verdict.PASS, Verdict.FAIL, Verdict.REVIEW]) is Verdict.FAIL
    assert board_verdict([Verdict.PASS] * 3) is Verdict.PASS
    assert board_verdict([]) is Verdict.REVIEW  # nothing inspected is never a PASS


def test_guard_band_rejects_true_bad_parts_monte_carlo():
    """With honest uncertainties, a PASS under the k=2 guard band is wrong rarely (<2.5 %)."""
    rng = np.random.default_rng(7)
    u = 0.1
    true = rng.uniform(1.0, 3.0, 4000)
    meas = true + rng.normal(0, u, true.size)
    verdicts = [decide(Measurement.of(m, u, "deg"), Limit(upper=2.0), Check.tilt).verdict for m in meas]
    bad_passed = sum(1 for t, v in zip(true, verdicts) if t > 2.0 and v is Verdict.PASS)
    good_failed = sum(1 for t, v in zip(true, verdicts) if t <= 2.0 and v is Verdict.FAIL)
    n_bad = int((true > 2.0).sum())
    assert bad_passed / n_bad < 0.025
    assert good_failed / (true.size - n_bad) < 0.025


def test_measurement_refuses_silent_values():
    with pytest.raises(ValueError):
        Measurement(value=None, unit="mm")  # no reason given
    with pytest.raises(ValueError):
        Measurement(value=1.0, unit="mm")  # no uncertainty
    with pytest.raises(ValueError):
        Measurement(value=float("nan"), uncertainty=0.1, unit="mm")
    assert str(Measurement.of(3.21, 0.08, "deg")) == "3.21 ± 0.08 deg"
