"""Gage R&R against the AIAG worked example.

Data: AIAG, Measurement Systems Analysis reference manual, 4th ed. (2010), the variable-gage study of
10 parts x 3 appraisers (A, B, C) x 3 trials (Figure III-B 15 / Table III-B data sheet), whose ANOVA
table (Table III-B 7) is reproduced in many texts and by Minitab's "Gage R&R Study (Crossed)":
appraiser SS 3.1673 (df 2), parts SS 88.3619 (df 9), appraiser x part SS 0.3590 (df 18),
equipment (repeatability) SS 2.7589 (df 60), total 94.6471 (df 89); F: appraiser 79.41, parts 492.29,
interaction 0.434. The variance components below are computed by hand from those published mean squares."""

from __future__ import annotations

import math

import numpy as np
import pytest

from api.stats import grr

# part 1..10; per appraiser the three trials
A = [[0.29, 0.41, 0.64], [-0.56, -0.68, -0.58], [1.34, 1.17, 1.27], [0.47, 0.50, 0.64], [-0.80, -0.92, -0.84],
     [0.02, -0.11, -0.21], [0.59, 0.75, 0.66], [-0.31, -0.20, -0.17], [2.26, 1.99, 2.01], [-1.36, -1.25, -1.31]]
B = [[0.08, 0.25, 0.07], [-0.47, -1.22, -0.68], [1.19, 0.94, 1.34], [0.01, 1.03, 0.20], [-0.56, -1.20, -1.28],
     [-0.20, 0.22, 0.06], [0.47, 0.55, 0.83], [-0.63, 0.08, -0.34], [1.80, 2.12, 2.19], [-1.68, -1.62, -1.50]]
C = [[0.04, -0.11, -0.15], [-1.38, -1.13, -0.96], [0.88, 1.09, 0.67], [0.14, 0.20, 0.11], [-1.46, -1.07, -1.45],
     [-0.29, -0.67, -0.49], [0.02, 0.01, 0.21], [-0.46, -0.56, -0.49], [1.77, 1.45, 1.87], [-1.49, -1.77, -2.16]]
Y = np.stack([np.array(A), np.array(B), np.array(C)], axis=1)  # parts x appraisers x trials


def test_anova_table_matches_the_aiag_example():
    rep = grr.gage_rr(Y, pool=False)
    t = rep["anova"]
    assert (t["operator"]["df"], t["part"]["df"], t["interaction"]["df"], t["repeatability"]["df"], t["total"]["df"]) == (2, 9, 18, 60, 89)
    assert t["operator"]["ss"] == pytest.approx(3.1673, abs=1e-4)
    assert t["part"]["ss"] == pytest.approx(88.3619, abs=1e-4)
    assert t["interaction"]["ss"] == pytest.approx(0.3590, abs=1e-4)
    assert t["repeatability"]["ss"] == pytest.approx(2.7589, abs=1e-4)
    assert t["total"]["ss"] == pytest.approx(94.6471, abs=1e-4)
    assert t["operator"]["f"] == pytest.approx(79.41, abs=0.01)
    assert t["part"]["f"] == pytest.approx(492.29, abs=0.05)
    assert t["interaction"]["f"] == pytest.approx(0.434, abs=0.001)


def test_variance_components_by_hand_from_the_published_mean_squares():
    ms_o, ms_p, ms_po, ms_e = 3.1673 / 2, 88.3619 / 9, 0.3590 / 18, 2.7589 / 60
    rep = grr.gage_rr(Y, pool=False)
    assert rep["ev"] == pytest.approx(math.sqrt(ms_e), rel=1e-4)
    assert rep["variance"]["interaction"] == 0.0  # MS_po < MS_e: the component is truncated at zero
    assert rep["variance"]["operator"] == pytest.approx((ms_o - ms_po) / 30, rel=1e-4)
    assert rep["pv"] == pytest.approx(math.sqrt((ms_p - ms_po) / 9), rel=1e-4)
    assert rep["ndc"] == math.floor(1.41 * rep["pv"] / rep["grr"])
    # the interaction is far from significant (p > 0.25): the default pools it into repeatability
    pooled = grr.gage_rr(Y)
    assert pooled["interaction_pooled"] and pooled["ev_df"] == 78
    assert pooled["ev"] == pytest.approx(math.sqrt((0.3590 + 2.7589) / 78), rel=1e-4)
    assert pooled["ev_ci"][0] < pooled["ev"] < pooled["ev_ci"][1]


def test_verdicts_and_tolerance():
    rep = grr.gage_rr(Y, tolerance=10.0)
    assert rep["pct_tolerance"]["grr"] == pytest.approx(100 * 6 * rep["grr"] / 10.0)
    assert rep["verdict_basis"] == "tolerance"
    assert grr.verdict_of(5) == "acceptable" and grr.verdict_of(20) == "conditional" and grr.verdict_of(31) == "not acceptable"


def test_repeatability_only_and_arrange():
    rng = np.random.default_rng(0)
    parts = rng.normal(0, 1, 20)
    y = parts[:, None] + rng.normal(0, 0.1, (20, 5))
    rep = grr.gage_rr(y)
    assert rep["operators"] == 1 and rep["av"] == 0.0
    assert rep["ev_ci"][0] <= 0.1 <= rep["ev_ci"][1]
    recs = [{"part": f"p{i}", "operator": "-", "values": {"m": float(y[i, k])}} for k in range(5) for i in range(20)]
    recs.append({"part": "p0", "operator": "-", "values": {"m": None}})  # an extra trial: p0 becomes unbalanced
    arr, names, ops = grr.arrange(recs, "m")
    assert arr.shape == (19, 1, 5) and "p0" not in names and ops == ["-"]
    with pytest.raises(ValueError):
        grr.gage_rr(np.ones((1, 1, 3)))
