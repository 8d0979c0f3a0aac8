"""SPC on arrays: chart constants against the published tables, limits and rules on hand-computed
series, and the capability intervals' coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from api.stats import spc


@pytest.mark.parametrize("n,d2,c4", [(2, 1.128, 0.7979), (5, 2.326, 0.9400), (10, 3.078, 0.9727), (25, 3.931, 0.9896)])
def test_chart_constants_match_the_tables(n, d2, c4):
    # Montgomery, Introduction to Statistical Quality Control, Appendix VI
    assert spc.d2(n) == pytest.approx(d2, abs=6e-4)
    assert spc.c4(n) == pytest.approx(c4, abs=1e-4)


def test_individuals_limits_by_hand():
    x = [10.0, 12.0, 11.0, 13.0, 12.0]  # moving ranges 2, 1, 2, 1: mean 1.5
    ch = spc.individuals(x)
    sigma = 1.5 / 1.128
    assert ch.centre == pytest.approx(11.6)
    assert ch.sigma == pytest.approx(sigma, rel=1e-3)
    assert ch.ucl == pytest.approx(11.6 + 3 * sigma, rel=1e-3) and ch.lcl == pytest.approx(11.6 - 3 * sigma, rel=1e-3)
    assert ch.spread_ucl == pytest.approx(3.267 * 1.5)
    assert ch.hits == []


def test_limits_come_from_the_baseline_so_a_shift_is_caught():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, 50), rng.normal(4, 1, 10)])
    ch = spc.individuals(x, baseline=50)
    assert abs(ch.centre) < 0.5 and 0.6 < ch.sigma < 1.5
    after = [h for h in ch.hits if h["index"] >= 50 and h["rule"] == 1]
    before = [h for h in ch.hits if h["index"] < 50 and h["rule"] == 1]
    assert len(after) >= 5 and len(before) <= 2  # a 4-sigma shift puts most new points beyond 3 sigma


def test_each_rule_on_a_constructed_series():
    c, s = 0.0, 1.0
    base = [0.3, -0.3] * 10  # alternating around the centre, within 1 sigma
    hits = lambda x, r: [h["index"] for h in spc.rule_hits(np.array(x), c, s, rules=(r,))]  # noqa: E731
    assert hits([0.1, 3.5, 0.1], 1) == [1]
    assert hits([0.5] * 9, 2) == [8]
    assert hits([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], 3) == [6]
    assert hits([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 3) == []
    assert hits(base[:14], 4) == [13]
    assert hits([2.5, 0.0, 2.5], 5) == [2]
    assert hits([2.5, 0.0, -2.5], 5) == []
    assert hits([1.5, 1.5, 0.0, 1.5, 1.5], 6) == [4]
    assert hits([0.2] * 7 + [-0.2] * 8, 7) == [14]
    assert hits([1.5, -1.5] * 4, 8) == [7]
    assert hits([1.5, -1.5] * 3 + [0.5, 1.5], 8) == []


def test_subgroup_charts_by_hand():
    g = [[1, 2, 3, 4, 5], [2, 3, 4, 5, 6]]  # ranges 4, 4; means 3, 4
    ch = spc.subgroups(g)
    assert ch.kind == "xbar-r" and ch.centre == pytest.approx(3.5)
    a2 = 3 / (spc.d2(5) * math.sqrt(5))
    assert a2 == pytest.approx(0.577, abs=1e-3)  # A2(5) of the tables
    assert ch.ucl == pytest.approx(3.5 + a2 * 4, rel=1e-6)
    assert ch.spread_ucl == pytest.approx(2.114 * 4, rel=2e-3)  # D4(5) = 2.114
    assert ch.spread_lcl == 0.0
    big = np.arange(24, dtype=float).reshape(2, 12)
    chs = spc.subgroups(big)
    assert chs.kind == "xbar-s"
    assert chs.sigma == pytest.approx(np.std(np.arange(12), ddof=1) / spc.c4(12))


def test_capability_by_hand():
    cap = spc.capability(mean=1.0, sigma_within=0.5, sigma_overall=0.6, n=100, lsl=-2.0, usl=5.0)
    assert cap["cp"]["value"] == pytest.approx(7 / 3)
    assert cap["cpk"]["value"] == pytest.approx(2.0)  # (1 - -2) / 1.5
    assert cap["pp"]["value"] == pytest.approx(7 / 3.6)
    # Bissell, 95 %: 2.0 ± 1.96 sqrt(1/900 + 4/198)
    h = 1.959964 * math.sqrt(1 / 900 + 4 / 198)
    assert cap["cpk"]["lower"] == pytest.approx(2.0 - h, rel=1e-5) and cap["cpk"]["upper"] == pytest.approx(2.0 + h, rel=1e-5)
    one = spc.capability(mean=1.0, sigma_within=0.5, sigma_overall=0.5, n=50, lsl=None, usl=2.0)
    assert one["cp"] is None and one["cpk"]["value"] == pytest.approx(1 / 1.5)


def test_capability_intervals_cover_the_truth():
    """95 % intervals of Pp (chi-square) and Ppk (Bissell) contain the true index in about 95 % of samples."""
    rng = np.random.default_rng(7)
    n, mu, sig, lsl, usl = 60, 0.3, 1.0, -3.0, 4.0
    true_pp, true_ppk = (usl - lsl) / 6, (usl - mu - 0.0) and min(usl - mu, mu - lsl) / 3
    cov_pp = cov_ppk = 0
    reps = 600
    for _ in range(reps):
        x = rng.normal(mu, sig, n)
        cap = spc.capability(x.mean(), x.std(ddof=1), x.std(ddof=1), n, lsl, usl)
        cov_pp += cap["pp"]["lower"] <= true_pp <= cap["pp"]["upper"]
        cov_ppk += cap["ppk"]["lower"] <= true_ppk <= cap["ppk"]["upper"]
    assert 0.92 <= cov_pp / reps <= 0.98
    assert 0.91 <= cov_ppk / reps <= 0.98


def test_analyse_reports_uncertainty_beside_the_spread():
    rng = np.random.default_rng(3)
    x = rng.normal(0.5, 0.2, 200)
    out = spc.analyse(x, u=np.full(200, 0.1), baseline=100, lsl=0.0, usl=1.2)
    sp = out["spread"]
    assert sp["u_rms"] == pytest.approx(0.1) and sp["u_over_sigma"] == pytest.approx(0.1 / sp["sigma_overall"])
    assert sp["sigma_process"] == pytest.approx(math.sqrt(sp["sigma_overall"] ** 2 - 0.01))
    assert out["chart"].baseline_points == 100 and out["capability"]["n"] == 200
    sub = spc.analyse(x, subgroup_size=5, baseline=100)["chart"]
    assert sub.kind == "xbar-r" and sub.n_points == 40 and sub.baseline_points == 20
    d = sub.to_dict(first=30)
    assert len(d["points"]) == 10 and d["first_index"] == 30 and all(h["index"] >= 30 for h in d["hits"])
