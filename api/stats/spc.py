"""Statistical process control on plain arrays: control charts, run rules, capability.

Pure functions (NumPy/SciPy, nothing of the service), so the API, the CLI and the tests share them.

* Individuals chart (I-MR): centre = baseline mean, sigma = mean moving range / d2(2), limits ± 3 sigma.
* Subgroup charts: X̄-R (n ≤ 10; sigma = R̄/d2(n)) and X̄-S (n > 10; sigma = S̄/c4(n)).
* Control limits come from a *baseline window* (the first points, or those before a time), never from
  the points being judged, so a drift does not widen its own limits.
* Run rules: the eight Nelson rules (the first four are the Western Electric zone rules).
* Capability: Cp/Cpk from the within (short-term) sigma, Pp/Ppk from the overall standard deviation,
  with confidence intervals: chi-square for Cp and Pp, Bissell's (1990) normal approximation for Cpk and Ppk.
* The measurement's own standard uncertainty is reported beside the spread: a gauge whose uncertainty
  is a large part of the process sigma cannot tell a drift from noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
from scipy import integrate, special, stats

# d3(n), the standard deviation of the relative range W = R/sigma of n normal values (ASTM STP 15D /
# Montgomery, Appendix VI): only used for the R chart's limits (D3, D4), n = 2..10.
_D3 = {2: 0.853, 3: 0.888, 4: 0.880, 5: 0.864, 6: 0.848, 7: 0.833, 8: 0.820, 9: 0.808, 10: 0.797}


@lru_cache(maxsize=64)
def d2(n: int) -> float:
    """E[R/sigma] for n normal values: the integral of 1 - Phi(x)^n - (1 - Phi(x))^n over x."""
    if n < 2:
        raise ValueError("d2 needs a subgroup of at least 2")
    f = lambda x: 1.0 - stats.norm.cdf(x) ** n - stats.norm.sf(x) ** n  # noqa: E731
    return float(integrate.quad(f, -np.inf, np.inf, epsabs=1e-10)[0])


def c4(n: int) -> float:
    """E[s/sigma] for n normal values."""
    if n < 2:
        raise ValueError("c4 needs a subgroup of at least 2")
    return float(math.sqrt(2.0 / (n - 1)) * math.exp(special.gammaln(n / 2) - special.gammaln((n - 1) / 2)))


# -- run rules ------------------------------------------------------------------------------

RULES = {
    1: "one point beyond 3 sigma",
    2: "9 points in a row on one side of the centre line",
    3: "6 points in a row steadily increasing or decreasing",
    4: "14 points in a row alternating up and down",
    5: "2 of 3 points beyond 2 sigma on the same side",
    6: "4 of 5 points beyond 1 sigma on the same side",
    7: "15 points in a row within 1 sigma (stratification)",
    8: "8 points in a row beyond 1 sigma on either side (mixture)",
}


def _windows(flag: np.ndarray, k: int) -> np.ndarray:
    """Number of True in each trailing window of length k (0 for the first k-1 points)."""
    c = np.concatenate([[0], np.cumsum(flag.astype(np.int64))])
    out = np.zeros(flag.size, dtype=np.int64)
    if flag.size >= k:
        out[k - 1:] = c[k:] - c[:-k]
    return out


def _runs(flag: np.ndarray) -> np.ndarray:
    """Length of the run of True ending at each point."""
    idx = np.arange(flag.size)
    last_false = np.maximum.accumulate(np.where(flag, -1, idx))
    return idx - last_false


RULE_LENGTH = {1: 1, 2: 9, 3: 7, 4: 14, 5: 3, 6: 5, 7: 15, 8: 8}  # points in each rule's pattern


def rule_flags(x: np.ndarray, centre: float, sigma: float, rules=tuple(RULES)) -> dict[int, np.ndarray]:
    """Per rule, a boolean array: True where the rule fires (at the last point of its pattern; a
    pattern that keeps going fires at every point). Vectorised: 100 000 points take milliseconds."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n == 0 or not (sigma > 0):
        return {}
    z = (x - centre) / sigma
    f: dict[int, np.ndarray] = {}
    d = np.diff(x)
    if 1 in rules:
        f[1] = np.abs(z) > 3
    if 2 in rules:
        f[2] = (_runs(z > 0) >= 9) | (_runs(z < 0) >= 9)
    if 3 in rules and n >= 7:
        up, down = np.concatenate([[False], d > 0]), np.concatenate([[False], d < 0])
        f[3] = (_runs(up) >= 6) | (_runs(down) >= 6)
    if 4 in rules and n >= 14:
        alt = np.concatenate([[False, False], (d[1:] * d[:-1]) < 0])
        f[4] = _runs(alt) >= 12  # 14 points: 13 steps, 12 sign changes in a row
    if 5 in rules:
        f[5] = (_windows(z > 2, 3) >= 2) & (z > 2) | (_windows(z < -2, 3) >= 2) & (z < -2)
    if 6 in rules:
        f[6] = (_windows(z > 1, 5) >= 4) & (z > 1) | (_windows(z < -1, 5) >= 4) & (z < -1)
    if 7 in rules:
        f[7] = _runs(np.abs(z) < 1) >= 15
    if 8 in rules:
        f[8] = _runs(np.abs(z) > 1) >= 8
    return {r: v for r, v in f.items() if v.any()}


def hits_of(flags: dict[int, np.ndarray], first: int = 0) -> list[dict]:
    """The hits at or after point `first` as ``{"rule", "index", "start", "text"}``, in point order."""
    hits = [{"rule": r, "index": int(i), "start": int(max(0, i - RULE_LENGTH[r] + 1)), "text": RULES[r]}
            for r, fl in flags.items() for i in np.flatnonzero(fl[first:]) + first]
    hits.sort(key=lambda h: (h["index"], h["rule"]))
    return hits


def rule_hits(x: np.ndarray, centre: float, sigma: float, rules=tuple(RULES)) -> list[dict]:
    """Nelson rule violations of series `x` against `centre` and `sigma` (see `hits_of`)."""
    return hits_of(rule_flags(x, centre, sigma, rules))


# -- capability -----------------------------------------------------------------------------


@dataclass
class Interval:
    value: float | None
    lower: float | None
    upper: float | None


def cp_interval(cp: float, n: int, confidence: float = 0.95) -> Interval:
    """Cp (or Pp) with the chi-square interval: Cp * sqrt(chi2_{a/2, n-1} / (n-1)) .. sqrt(chi2_{1-a/2, n-1} / (n-1))."""
    a = 1 - confidence
    if n < 2:
        return Interval(cp, None, None)
    return Interval(cp, cp * math.sqrt(stats.chi2.ppf(a / 2, n - 1) / (n - 1)), cp * math.sqrt(stats.chi2.ppf(1 - a / 2, n - 1) / (n - 1)))


def cpk_interval(cpk: float, n: int, confidence: float = 0.95) -> Interval:
    """Cpk (or Ppk) with Bissell's approximation: Cpk ± z_{a/2} * sqrt(1/(9n) + Cpk^2 / (2(n-1)))."""
    if n < 2:
        return Interval(cpk, None, None)
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    h = z * math.sqrt(1.0 / (9 * n) + cpk * cpk / (2.0 * (n - 1)))
    return Interval(cpk, cpk - h, cpk + h)


def capability(mean: float, sigma_within: float | None, sigma_overall: float | None, n: int,
               lsl: float | None, usl: float | None, confidence: float = 0.95) -> dict:
    """Cp, Cpk, Pp, Ppk (each ``{"value", "lower", "upper"}`` or None) against the specification limits.

    Cp and Pp need both limits; with one limit Cpk/Ppk are the one-sided indices (CPU or CPL)."""
    out: dict = {"lsl": lsl, "usl": usl, "n": n, "confidence": confidence}
    for name, sig in (("cp", sigma_within), ("pp", sigma_overall)):
        k = name[0] + name[1] + "k"
        if sig is None or not (sig > 0) or n < 2 or (lsl is None and usl is None):
            out[name] = out[k] = None
            continue
        out[name] = asdict(cp_interval((usl - lsl) / (6 * sig), n, confidence)) if lsl is not None and usl is not None else None
        sides = [v for v in ((usl - mean) / (3 * sig) if usl is not None else None,
                             (mean - lsl) / (3 * sig) if lsl is not None else None) if v is not None]
        out[k] = asdict(cpk_interval(min(sides), n, confidence))
    return out


# -- charts ---------------------------------------------------------------------------------


@dataclass
class Chart:
    kind: str  # "individuals" | "xbar-r" | "xbar-s"
    n_points: int
    subgroup_size: int
    baseline_points: int
    centre: float | None
    sigma: float | None  # within (short-term) sigma of single values, from the baseline
    ucl: float | None
    lcl: float | None
    points: np.ndarray  # plotted statistic (x, or the subgroup means)
    spread: np.ndarray  # moving ranges (NaN first), ranges or standard deviations
    spread_centre: float | None = None
    spread_ucl: float | None = None
    spread_lcl: float | None = None
    flags: dict = field(default_factory=dict)  # rule -> boolean array over the points

    @property
    def hits(self) -> list[dict]:
        return hits_of(self.flags)

    def summary(self) -> dict:
        """Counts without building a hit per point: how many points hit a rule, which rules, the last hit."""
        if not self.flags:
            return {"hits": 0, "rules_hit": [], "last_hit": None}
        anyf = np.logical_or.reduce(list(self.flags.values()))
        last = int(np.flatnonzero(anyf)[-1])
        return {"hits": int(anyf.sum()), "rules_hit": sorted(self.flags), "last_hit": hits_of(self.flags, last)[-1]}

    def to_dict(self, first: int = 0) -> dict:
        """JSON-ready, from point `first` on (limits and counts are those of the whole chart)."""
        sp = [None if not np.isfinite(v) else float(v) for v in self.spread[first:]]
        return {
            "kind": self.kind, "n_points": self.n_points, "subgroup_size": self.subgroup_size, "baseline_points": self.baseline_points,
            "centre": self.centre, "sigma": self.sigma, "ucl": self.ucl, "lcl": self.lcl, "first_index": first,
            "points": self.points[first:].tolist(), "spread": sp, "spread_centre": self.spread_centre,
            "spread_ucl": self.spread_ucl, "spread_lcl": self.spread_lcl, "hits": hits_of(self.flags, first),
        }


def _fin(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def individuals(x, baseline: int | None = None, rules=tuple(RULES), *, base_values=None) -> Chart:
    """I-MR chart of `x`; limits from the first `baseline` points (default: all), or from
    `base_values` when the baseline is not part of `x` (a chart of the newest points of a long series)."""
    x = np.asarray(x, dtype=float)
    if base_values is not None:
        base = np.asarray(base_values, dtype=float)
        nb = base.size
    else:
        nb = x.size if baseline is None else max(0, min(int(baseline), x.size))
        base = x[:nb]
    mr = np.abs(np.diff(x))
    if base.size >= 2:
        centre = float(base.mean())
        mrbar = float(np.abs(np.diff(base)).mean())
        sigma = mrbar / d2(2)
    else:
        centre = mrbar = sigma = None
    ok = sigma is not None and sigma > 0
    return Chart(
        kind="individuals", n_points=int(x.size), subgroup_size=1, baseline_points=int(nb), centre=_fin(centre), sigma=_fin(sigma),
        ucl=_fin(centre + 3 * sigma) if ok else None, lcl=_fin(centre - 3 * sigma) if ok else None,
        points=x, spread=np.concatenate([[np.nan], mr]),
        spread_centre=_fin(mrbar), spread_ucl=_fin(3.267 * mrbar) if mrbar is not None else None, spread_lcl=0.0 if mrbar is not None else None,
        flags=rule_flags(x, centre, sigma, rules) if ok else {},
    )


def subgroups(groups: list, baseline: int | None = None, rules=tuple(RULES), *, base_groups=None) -> Chart:
    """X̄-R (subgroup size ≤ 10) or X̄-S (> 10) chart of equal-size subgroups; limits from the first
    `baseline` subgroups (default: all), or from `base_groups` (same subgroup size)."""
    g = np.asarray(groups, dtype=float)
    if g.ndim != 2 or g.shape[1] < 2:
        raise ValueError("subgroups must be a 2-D array with at least 2 values per subgroup")
    k, n = g.shape
    means = g.mean(axis=1)
    use_s = n > 10
    sp = lambda a: a.std(axis=1, ddof=1) if use_s else np.ptp(a, axis=1)  # noqa: E731
    spread = sp(g)
    if base_groups is not None:
        bg = np.asarray(base_groups, dtype=float).reshape(-1, n)
        nb, b_means, b_spread = bg.shape[0], bg.mean(axis=1), sp(bg)
    else:
        nb = k if baseline is None else max(0, min(int(baseline), k))
        b_means, b_spread = means[:nb], spread[:nb]
    if nb >= 1:
        centre = float(b_means.mean())
        sbar = float(b_spread.mean())
        sigma = sbar / (c4(n) if use_s else d2(n))
    else:
        centre = sbar = sigma = None
    ok = sigma is not None and sigma > 0
    half = 3 * sigma / math.sqrt(n) if ok else None
    if use_s and sbar is not None:
        w = 3 * math.sqrt(1 - c4(n) ** 2) / c4(n)
        s_lcl, s_ucl = max(0.0, 1 - w) * sbar, (1 + w) * sbar
    elif sbar is not None:
        d3 = _D3[n]
        s_lcl, s_ucl = max(0.0, 1 - 3 * d3 / d2(n)) * sbar, (1 + 3 * d3 / d2(n)) * sbar
    else:
        s_lcl = s_ucl = None
    return Chart(
        kind="xbar-s" if use_s else "xbar-r", n_points=int(k), subgroup_size=int(n), baseline_points=int(nb), centre=_fin(centre),
        sigma=_fin(sigma), ucl=_fin(centre + half) if ok else None, lcl=_fin(centre - half) if ok else None,
        points=means, spread=spread, spread_centre=_fin(sbar),
        spread_ucl=_fin(s_ucl), spread_lcl=_fin(s_lcl),
        flags=rule_flags(means, centre, sigma / math.sqrt(n), rules) if ok else {},
    )


def analyse(x, *, u=None, baseline: int | None = None, subgroup_size: int = 1, lsl: float | None = None,
            usl: float | None = None, confidence: float = 0.95, rules=tuple(RULES)) -> dict:
    """One series: its `Chart` (I-MR, or X̄-R/X̄-S of consecutive subgroups) with limits from the
    baseline, capability of the whole series against the specification limits, and the measurement
    uncertainty beside the spread.

    `baseline` counts single values (rounded down to whole subgroups); `u` are the values' standard
    uncertainties."""
    x = np.asarray(x, dtype=float)
    if subgroup_size > 1:
        k = x.size // subgroup_size
        chart = subgroups(x[: k * subgroup_size].reshape(k, subgroup_size),
                          None if baseline is None else baseline // subgroup_size, rules) if k >= 1 else individuals(x[:0])
    else:
        chart = individuals(x, baseline, rules)
    # capability of the whole series (a drift lowers it), short-term sigma from its moving ranges
    # (or subgroup spreads), long-term from its standard deviation
    sigma_overall = float(x.std(ddof=1)) if x.size >= 2 else None
    mean = float(x.mean()) if x.size else None
    if subgroup_size > 1 and x.size >= 2 * subgroup_size:
        sigma_within = subgroups(x[: (x.size // subgroup_size) * subgroup_size].reshape(-1, subgroup_size), None, ()).sigma
    else:
        sigma_within = float(np.abs(np.diff(x)).mean() / d2(2)) if x.size >= 2 else None
    cap = capability(mean, sigma_within, sigma_overall, int(x.size), lsl, usl, confidence) if mean is not None else None
    u_rms = None
    if u is not None and len(u):
        uu = np.asarray(u, dtype=float)
        uu = uu[np.isfinite(uu)]
        u_rms = float(np.sqrt(np.mean(uu * uu))) if uu.size else None
    spread = {
        "mean": mean, "sigma_within": sigma_within, "sigma_chart": chart.sigma, "sigma_overall": sigma_overall, "u_rms": u_rms,
        # the part of the spread the gauge explains: u^2 / sigma^2 (1 = all of it)
        "u_over_sigma": (u_rms / sigma_overall) if u_rms is not None and sigma_overall else None,
        "sigma_process": float(math.sqrt(max(0.0, sigma_overall ** 2 - u_rms ** 2))) if u_rms is not None and sigma_overall else None,
    }
    return {"chart": chart, "capability": cap, "spread": spread}
