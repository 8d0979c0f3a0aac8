"""Gage R&R, AIAG MSA (4th ed.) crossed study, ANOVA method with the part x operator interaction.

The ANOVA itself is statsmodels' (`ols` + `anova_lm`, type II sums of squares on a balanced design);
the F tests use SciPy's F distribution with the AIAG denominators (parts and operators are tested
against the interaction mean square, the interaction against repeatability).

Variance components (p parts, o operators, r trials):

* repeatability (EV)   sigma²_e = MS_e
* interaction          sigma²_po = max(0, (MS_po - MS_e) / r)
* operators            sigma²_o = max(0, (MS_o - MS_po) / (p r))
* parts (PV)           sigma²_p = max(0, (MS_p - MS_po) / (o r))
* AV = sqrt(sigma²_o + sigma²_po), GRR = sqrt(EV² + AV²), TV = sqrt(GRR² + PV²)
* ndc = floor(1.41 PV / GRR); %GRR of tolerance = 100 * 6 GRR / (USL - LSL)

When the interaction is not significant (p > `alpha_interaction`, 0.25 by common practice) it is
pooled into repeatability, as AIAG allows; the report says which model was used. With one operator
(a repeatability study) AV is 0. EV comes with a chi-square confidence interval on its degrees of freedom.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def verdict_of(pct: float | None) -> str | None:
    """AIAG: under 10 % acceptable, 10-30 % conditionally acceptable, over 30 % not acceptable."""
    if pct is None:
        return None
    return "acceptable" if pct < 10 else "conditional" if pct <= 30 else "not acceptable"


def anova_table(y: np.ndarray) -> dict:
    """Two-way crossed ANOVA with interaction of `y` (parts x operators x trials), by statsmodels."""
    import pandas as pd
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    p, o, r = y.shape
    part, op, _ = np.meshgrid(np.arange(p), np.arange(o), np.arange(r), indexing="ij")
    df = pd.DataFrame({"y": y.ravel(), "part": part.ravel(), "op": op.ravel()})
    if o > 1:
        fit = smf.ols("y ~ C(part) + C(op) + C(part):C(op)", data=df).fit()
        t = anova_lm(fit, typ=2)
        rows = {"part": "C(part)", "operator": "C(op)", "interaction": "C(part):C(op)", "repeatability": "Residual"}
    else:
        fit = smf.ols("y ~ C(part)", data=df).fit()
        t = anova_lm(fit, typ=2)
        rows = {"part": "C(part)", "repeatability": "Residual"}
    out = {}
    for name, key in rows.items():
        ss, d = float(t.loc[key, "sum_sq"]), int(round(t.loc[key, "df"]))
        out[name] = {"df": d, "ss": ss, "ms": ss / d if d else float("nan")}
    out["total"] = {"df": int(y.size - 1), "ss": float(((y - y.mean()) ** 2).sum())}
    return out


def _f_test(table: dict, name: str, against: str) -> None:
    a, b = table[name], table[against]
    f = a["ms"] / b["ms"] if b["ms"] > 0 else float("inf")
    a["f"] = f
    a["p"] = float(stats.f.sf(f, a["df"], b["df"])) if math.isfinite(f) else 0.0


def gage_rr(y, *, lsl: float | None = None, usl: float | None = None, tolerance: float | None = None,
            alpha_interaction: float = 0.25, confidence: float = 0.95, pool: bool | None = None) -> dict:
    """The AIAG ANOVA report of `y`, shape (parts, operators, trials) (2-D: one operator).

    `tolerance` (or ``usl - lsl``) gives %GRR of tolerance; `pool` forces (True) or forbids (False)
    pooling the interaction, default by its p-value against `alpha_interaction`."""
    y = np.asarray(y, dtype=float)
    if y.ndim == 2:
        y = y[:, None, :]
    if y.ndim != 3 or y.shape[0] < 2 or y.shape[2] < 2:
        raise ValueError("a Gage R&R needs at least 2 parts and 2 trials per part and operator")
    if not np.all(np.isfinite(y)):
        raise ValueError("a Gage R&R needs every part measured in every trial by every operator (balanced, no gaps)")
    p, o, r = y.shape
    t = anova_table(y)
    if o > 1:
        _f_test(t, "interaction", "repeatability")
        _f_test(t, "part", "interaction")
        _f_test(t, "operator", "interaction")
        pooled = (t["interaction"]["p"] > alpha_interaction) if pool is None else pool
    else:
        _f_test(t, "part", "repeatability")
        pooled = False
    if o > 1 and pooled:
        ss = t["interaction"]["ss"] + t["repeatability"]["ss"]
        dfe = t["interaction"]["df"] + t["repeatability"]["df"]
        ms_e = ss / dfe
        s2_e, s2_po = ms_e, 0.0
        s2_o = max(0.0, (t["operator"]["ms"] - ms_e) / (p * r))
        s2_p = max(0.0, (t["part"]["ms"] - ms_e) / (o * r))
    else:
        ms_e, dfe = t["repeatability"]["ms"], t["repeatability"]["df"]
        s2_e = ms_e
        if o > 1:
            ms_po = t["interaction"]["ms"]
            s2_po = max(0.0, (ms_po - ms_e) / r)
            s2_o = max(0.0, (t["operator"]["ms"] - ms_po) / (p * r))
            s2_p = max(0.0, (t["part"]["ms"] - ms_po) / (o * r))
        else:
            s2_po = s2_o = 0.0
            s2_p = max(0.0, (t["part"]["ms"] - ms_e) / r)
    ev, av, pv = math.sqrt(s2_e), math.sqrt(s2_o + s2_po), math.sqrt(s2_p)
    grr = math.sqrt(ev * ev + av * av)
    tv = math.sqrt(grr * grr + pv * pv)
    a = 1 - confidence
    ev_ci = (math.sqrt(dfe * ms_e / stats.chi2.ppf(1 - a / 2, dfe)), math.sqrt(dfe * ms_e / stats.chi2.ppf(a / 2, dfe)))
    tol = tolerance if tolerance is not None else (usl - lsl if lsl is not None and usl is not None else None)
    pct = lambda v, of: 100.0 * v / of if of else None  # noqa: E731
    pct_tol = pct(6 * grr, tol)
    pct_tv = pct(grr, tv)
    return {
        "parts": p, "operators": o, "trials": r, "interaction_pooled": bool(pooled), "anova": t,
        "variance": {"repeatability": s2_e, "interaction": s2_po, "operator": s2_o, "part": s2_p},
        "ev": ev, "ev_ci": list(ev_ci), "ev_df": int(dfe), "av": av, "grr": grr, "pv": pv, "tv": tv,
        "pct_tv": {"ev": pct(ev, tv), "av": pct(av, tv), "grr": pct_tv, "pv": pct(pv, tv)},
        "pct_tolerance": {"ev": pct(6 * ev, tol), "av": pct(6 * av, tol), "grr": pct_tol} if tol else None,
        "tolerance": tol,
        "ndc": int(math.floor(1.41 * pv / grr)) if grr > 0 else None,
        "verdict": verdict_of(pct_tol if pct_tol is not None else pct_tv),
        "verdict_basis": "tolerance" if pct_tol is not None else "total variation",
    }


def arrange(records: list[dict], measurement: str) -> tuple[np.ndarray, list[str], list[str]]:
    """Records ``{"part", "operator", "trial", "values": {measurement: value}}`` -> y (parts x operators x trials),
    part names, operator names. Trials are numbered per (part, operator) in the order given; a part
    missing a trial (or the measurement) in any cell is dropped, so the design stays balanced."""
    cells: dict[tuple[str, str], list[float]] = {}
    parts, ops = [], []
    for rec in records:
        v = (rec.get("values") or {}).get(measurement)
        key = (rec["part"], rec["operator"])
        if rec["part"] not in parts:
            parts.append(rec["part"])
        if rec["operator"] not in ops:
            ops.append(rec["operator"])
        cells.setdefault(key, []).append(np.nan if v is None else float(v))
    if not cells:
        return np.zeros((0, 0, 0)), [], []
    from collections import Counter

    r = Counter(len(v) for v in cells.values()).most_common(1)[0][0]  # the study's trial count
    keep = [pt for pt in parts if all(len(cells.get((pt, op), [])) == r and np.all(np.isfinite(cells[(pt, op)])) for op in ops)]
    y = np.array([[cells[(pt, op)] for op in ops] for pt in keep], dtype=float).reshape(len(keep), len(ops), r)
    return y, keep, ops


def report(records: list[dict], *, specs: dict | None = None, measurements: list[str] | None = None, **kw) -> dict:
    """A study's report per measurement: records as for `arrange`; `specs` maps a measurement to
    ``(lsl, usl)`` (both needed for %GRR of tolerance). Measurements without a balanced design of
    at least 2 parts and 2 trials are listed under ``skipped`` with the reason."""
    names = measurements or sorted({m for r in records for m in (r.get("values") or {})})
    out: dict = {"measurements": {}, "skipped": {}}
    for m in names:
        y, parts, ops = arrange(records, m)
        if y.size == 0 or y.shape[0] < 2 or y.shape[2] < 2:
            out["skipped"][m] = f"{y.shape[0] if y.size else 0} parts with every trial measured; need at least 2 parts x 2 trials"
            continue
        if np.allclose(y, y.reshape(y.shape[0], -1)[:, :1, None]):
            out["skipped"][m] = "every trial gave the same value: the gauge does not resolve this measurement's variation"
            continue
        lsl, usl = (specs or {}).get(m, (None, None))
        rep = gage_rr(y, lsl=lsl, usl=usl, **kw)
        rep["part_names"], rep["operator_names"] = parts, ops
        out["measurements"][m] = rep
    return out
