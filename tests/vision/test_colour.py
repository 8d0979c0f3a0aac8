"""The one colour model (`vision.colour`) on samples with known answers."""

import numpy as np

from vision.colour import CLIPPED, DARK, GOLD, classify, gold_likeness, saturation_hue
from vision.params import PARAMS


def test_classify_calls_gold_exactly_where_gold_likeness_reaches_half():
    # the colour model tests the hue band with two half-planes (no atan2); classify and gold_likeness must
    # agree with each other and with the hue angle's definition on every sample, at every hue, lightness and
    # saturation
    rng = np.random.default_rng(7)
    lab = np.column_stack([rng.uniform(0, 100, 200_000), rng.uniform(-90, 90, 200_000),
                           rng.uniform(-90, 90, 200_000)]).astype(np.float32)
    cls = classify(lab)
    judged = (cls != DARK) & (cls != CLIPPED)
    assert judged.sum() > 150_000
    np.testing.assert_array_equal(cls[judged] == GOLD, gold_likeness(lab[judged]) >= 0.5)
    s, h = saturation_hue(lab[judged])
    lo, hi = PARAMS.colour.gold_hue_deg
    by_angle = (s >= 0.5 * (PARAMS.colour.gold_ramp_from + PARAMS.colour.gold_min_saturation)) & (h >= lo) & (h <= hi) \
        & (lab[judged, 0] >= PARAMS.colour.gold_min_l)
    np.testing.assert_array_equal(cls[judged] == GOLD, by_angle)
    # both sides of the band are exercised: gold-saturated samples just outside the hue band are not gold
    assert (cls[judged] == GOLD).sum() > 5_000
