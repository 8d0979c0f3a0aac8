"""Process control over stored results: the pin-value index, SPC per measurement and pin position,
drift alarms (`spc.alarm` events, once per episode), yield and Pareto.

Every finished inspection writes its measured pin values and its pins' reasons into narrow indexed
tables (`api.service.analytics_db`) in the same transaction as the result, so a chart reads
``(pin, value, uncertainty)`` rows in index order instead of parsing result documents, and counts
(yield, Pareto, baseline sizes) are GROUP BY queries on either database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections import defaultdict
from urllib.parse import quote

import numpy as np
from sqlalchemy import String, cast, func, insert, select

from api.service.analytics_db import PinReasonRow, PinValueRow, SpcAlarmRow
from api.service.db import EventRow, InspectionRow, RecipeRow, ReviewRow, utcnow
from api.stats import spc

log = logging.getLogger("pogoscope.spc")

DEFAULT_BASELINE = 25  # points per pin position that set the control limits
# rules that raise an alarm: beyond 3 sigma, 9 on one side, 6 trending. The zone rules (5, 6) and the
# pattern rules (4, 7, 8) are shown on the charts but, over dozens of pin charts, would alarm every shift.
ALARM_RULES = (1, 2, 3)
QUIET_POINTS = 9  # an alarm episode ends after this many points without a rule hit


# -- the index ------------------------------------------------------------------------------


def result_rows(inspection_id: str, recipe_id: str, station_id: str | None, created_at, result: dict) -> tuple[list[dict], list[dict]]:
    """(pin value rows, pin reason rows) of one result document."""
    values, reasons = [], []
    for item in [*(result.get("pins") or []), *(result.get("pads") or [])]:
        base = {"inspection_id": inspection_id, "recipe_id": recipe_id, "station_id": station_id, "item_id": item["id"],
                "created_at": created_at}
        for name, m in (item.get("measurements") or {}).items():
            if m and m.get("value") is not None:
                values.append({**base, "measurement": name, "value": float(m["value"]), "uncertainty": m.get("uncertainty")})
        if item.get("verdict") != "PASS":
            for r in item.get("reasons") or [""]:
                reasons.append({**base, "verdict": item.get("verdict") or "", "reason": r[:100]})
    return values, reasons


def index_result(s, row: InspectionRow, result: dict | None) -> None:
    """Write `result`'s pin values and reasons (in the caller's transaction)."""
    if not result:
        return
    values, reasons = result_rows(row.id, row.recipe_id, row.station_id, row.created_at, result)
    if values:
        s.execute(insert(PinValueRow), values)
    if reasons:
        s.execute(insert(PinReasonRow), reasons)


# -- SPC ------------------------------------------------------------------------------------


def spec_limits(s, recipe_id: str, measurement: str) -> tuple[float | None, float | None, str | None]:
    """(lower, upper, check) of the newest recipe version for `measurement`, from the measurement's check."""
    from models.recipe import Limits
    from models.rules import PAD_CHECKS, PIN_CHECKS

    check = next((c for c, (m, _) in {**PIN_CHECKS, **PAD_CHECKS}.items() if m == measurement), None)
    if check is None:
        return None, None, None
    body = s.scalar(select(RecipeRow.body).where(RecipeRow.recipe_id == recipe_id).order_by(RecipeRow.version.desc()).limit(1))
    limits = Limits.model_validate((body or {}).get("limits") or {})
    lim = limits.for_check(check)
    return lim.lower, lim.upper, check.value


def _filters(recipe_id, measurement, station_id, since, until, items=None):
    c = PinValueRow
    w = [c.recipe_id == recipe_id, c.measurement == measurement]
    if station_id is not None:
        w.append(c.station_id == station_id)
    if since is not None:
        w.append(c.created_at >= since)
    if until is not None:
        w.append(c.created_at < until)
    if items:
        w.append(c.item_id.in_(list(items)))
    return w


def _series_sql(s, where, baseline: int, baseline_until: dt.datetime | None, window: int):
    """Per pin: aggregates of the whole selection computed in SQL (count, mean, mean square, mean
    squared uncertainty: one pass over the covering index, no sort), then per pin its baseline values
    (the first `baseline`, or those before `baseline_until`) and its newest `window` values, each an
    index range read with a LIMIT. Only those windows leave the database."""
    c = PinValueRow
    agg = {r[0]: r[1:] for r in s.execute(select(
        c.item_id, func.count(c.value), func.avg(c.value), func.avg(c.value * c.value),
        func.avg(c.uncertainty * c.uncertainty), func.count(c.uncertainty),
    ).where(*where).group_by(c.item_id)).all()}
    base, recent = {}, {}
    for item in agg:
        w = [*where, c.item_id == item]
        if baseline_until is None:
            q = select(c.value).where(*w).order_by(c.created_at, c.id).limit(baseline)
        else:
            q = select(c.value).where(*w, c.created_at < baseline_until).order_by(c.created_at, c.id)
        base[item] = s.scalars(q).all()
        recent[item] = s.scalars(select(c.value).where(*w).order_by(c.created_at.desc(), c.id.desc()).limit(window)).all()[::-1]
    return agg, base, recent


def spc_report(s, recipe_id: str, measurement: str, *, pin: str | None = None, station_id: str | None = None,
               since: dt.datetime | None = None, until: dt.datetime | None = None, baseline: int | None = None,
               baseline_until: dt.datetime | None = None, subgroup: int = 1, points: int = 500, items=None,
               rules=tuple(spc.RULES), hits_tail: dict[str, int] | None = None) -> dict:
    """SPC of one measurement of one recipe, per pin position: control limits from the baseline, the
    rule hits among the newest `points` (subgroups of) values, Cp/Cpk/Pp/Ppk of every value in the
    selection; with `pin`, that pin's chart (the newest `points` points with time, serial, inspection).
    `hits_tail` (pin -> count) lists each such pin's hits among its newest `count` values (the alarm scanner).

    Counts, means and spreads are computed in SQL, the windows are LIMITed index reads, so the
    Python side grows with the windows, not with the history."""
    lsl, usl, check = spec_limits(s, recipe_id, measurement)
    where = _filters(recipe_id, measurement, station_id, since, until, [pin] if pin else items)
    baseline = baseline or DEFAULT_BASELINE
    k = max(1, subgroup)
    window = points * k + (max(hits_tail.values()) if hits_tail else 0)
    agg, base, recent = _series_sql(s, where, baseline, baseline_until, window)
    out = {"recipe_id": recipe_id, "measurement": measurement, "check": check, "lsl": lsl, "usl": usl,
           "station_id": station_id, "subgroup_size": k, "window_points": points, "pins": [], "chart": None}
    for item in sorted(agg):
        n, mean, msq, u2, nu = agg[item]
        if not n:
            continue
        sigma_overall = float(np.sqrt(max(0.0, (msq - mean * mean)) * n / (n - 1))) if n >= 2 else None
        x = np.asarray(recent[item], dtype=float)
        bvals = np.asarray(base[item], dtype=float)
        if k > 1:
            x = x[x.size % k:]
            ch = spc.subgroups(x.reshape(-1, k), rules=rules, base_groups=bvals[: bvals.size // k * k].reshape(-1, k)) \
                if x.size >= k and bvals.size >= k else spc.individuals(x[:0])
        else:
            ch = spc.individuals(x, rules=rules, base_values=bvals)
        first_index = int(n // k - ch.n_points)  # index of the chart's first point in the whole series
        # Cp/Cpk with the chart's short-term sigma (baseline moving ranges or subgroup spreads, as the
        # textbook estimate from a control chart), Pp/Ppk with the standard deviation of every value
        sigma_within = ch.sigma
        cap = spc.capability(float(mean), sigma_within, sigma_overall, int(n), lsl, usl)
        summ = ch.summary()
        if summ["last_hit"]:
            summ["last_hit"] = {**summ["last_hit"], "index": summ["last_hit"]["index"] + first_index,
                                "start": summ["last_hit"]["start"] + first_index}
        u_rms = float(np.sqrt(u2)) if nu else None
        entry = {
            "pin": item, "n": int(n), "baseline_points": int(bvals.size), "centre": ch.centre, "ucl": ch.ucl, "lcl": ch.lcl,
            "sigma_within": ch.sigma, "mean": float(mean), "sigma_overall": sigma_overall,
            "u_rms": u_rms, "u_over_sigma": u_rms / sigma_overall if u_rms is not None and sigma_overall else None,
            "cp": cap.get("cp"), "cpk": cap.get("cpk"), "pp": cap.get("pp"), "ppk": cap.get("ppk"),
            **summ, "last_value": float(recent[item][-1]),
        }
        if hits_tail is not None and item in hits_tail:  # the hits among the newest values, with their values
            first = max(0, ch.n_points - -(-hits_tail[item] // k))
            entry["hit_list"] = [{**h, "index": h["index"] + first_index, "value": float(ch.points[h["index"]])}
                                 for h in spc.hits_of(ch.flags, first)]
        out["pins"].append(entry)
        if pin is not None:
            out["chart"] = _pin_chart(s, where, ch, points, first_index)
            out["capability"] = cap
            out["spread"] = {k2: entry[k2] for k2 in ("mean", "sigma_within", "sigma_overall", "u_rms", "u_over_sigma")}
    # worst first: by Ppk (a drift or a shift lowers it), then Cpk
    out["pins"].sort(key=lambda p: (p["ppk"]["value"] if p["ppk"] else float("inf"), p["cpk"]["value"] if p["cpk"] else float("inf")))
    return out


def _pin_chart(s, where, chart: spc.Chart, points: int, first_index: int) -> dict:
    """The chart of one pin (its newest `points` points) with time, serial and inspection per point;
    hit indices count from the first stored value."""
    n, k = chart.n_points, chart.subgroup_size
    first = max(0, n - points)
    ch = chart.to_dict(first)
    ch["first_index"] = first_index + first
    for h in ch["hits"]:
        h["index"] += first_index
        h["start"] += first_index
    c = PinValueRow
    meta = s.execute(select(c.created_at, c.inspection_id).where(*where).order_by(c.created_at.desc(), c.id.desc())
                     .limit((n - first) * k)).all()[::-1] if n > first else []
    serials = dict(s.execute(select(InspectionRow.id, InspectionRow.serial).where(InspectionRow.id.in_({m[1] for m in meta}))).all()) if meta else {}
    last_of_group = meta[k - 1::k]
    ch["at"] = [m[0].isoformat() for m in last_of_group]
    ch["inspection_ids"] = [m[1] for m in last_of_group]
    ch["serials"] = [serials.get(m[1]) for m in last_of_group]
    return ch


def measurements_of(s, recipe_id: str) -> list[str]:
    return sorted(s.scalars(select(PinValueRow.measurement).where(PinValueRow.recipe_id == recipe_id).distinct()).all())


# -- drift alarms ---------------------------------------------------------------------------


def chart_links(recipe_id: str, measurement: str, pin: str) -> dict:
    q = f"{quote(recipe_id, safe='')}/{quote(measurement, safe='')}"
    return {"url": f"/v1/spc/{q}?pin={quote(pin, safe='')}", "chart_url": f"/ui/#/spc/{q}/{quote(pin, safe='')}"}


class AlarmScanner:
    """Evaluates the run rules on the charts that received new points and opens one alarm episode
    (one `spc.alarm` event in the outbox) per chart and episode; an episode closes after
    `quiet_points` points without a hit. Starts from the newest stored point: history does not alarm."""

    def __init__(self, Session, *, baseline: int = DEFAULT_BASELINE, quiet_points: int = QUIET_POINTS, rules=ALARM_RULES) -> None:
        self.Session, self.baseline, self.quiet, self.rules = Session, baseline, quiet_points, tuple(rules)
        with Session() as s:
            self.cursor = s.scalar(select(func.max(PinValueRow.id))) or 0

    def scan(self) -> list[int]:
        """One pass; returns the ids of the `spc.alarm` events written."""
        written: list[int] = []
        with self.Session() as s:
            top = s.scalar(select(func.max(PinValueRow.id))) or 0
            if top <= self.cursor:
                return written
            c = PinValueRow
            touched = s.execute(select(c.recipe_id, c.measurement, c.item_id, func.count()).where(c.id > self.cursor, c.id <= top)
                                .group_by(c.recipe_id, c.measurement, c.item_id)).all()
            series = defaultdict(dict)
            for rid, m, item, n in touched:
                series[(rid, m)][item] = n
            for (rid, m), items in series.items():
                rep = spc_report(s, rid, m, baseline=self.baseline, items=list(items), rules=self.rules, hits_tail=items)
                for p in rep["pins"]:
                    written += self._judge(s, rid, m, p, items[p["pin"]], rep)
            self.cursor = top
            s.commit()
        return written

    def _judge(self, s, rid: str, m: str, p: dict, new: int, rep: dict) -> list[int]:
        n = p["n"]
        if p["baseline_points"] < self.baseline:  # limits from a few points are not worth an alarm: wait for the full baseline
            return []
        fresh = [h for h in p["hit_list"] if h["index"] >= p["baseline_points"]]
        last = p["last_hit"]
        open_ = s.scalars(select(SpcAlarmRow).where(SpcAlarmRow.recipe_id == rid, SpcAlarmRow.measurement == m,
                                                    SpcAlarmRow.item_id == p["pin"], SpcAlarmRow.closed_at.is_(None))).first()
        now = utcnow()
        if open_ is not None:
            if fresh:
                open_.last_hit_at = now
                open_.rules = sorted(set(open_.rules) | {h["rule"] for h in fresh})
            elif last is None or last["index"] < n - self.quiet:
                open_.closed_at = now
            return []
        if not fresh:
            return []
        hit = fresh[0]  # the episode starts at its first hit
        c = PinValueRow
        iid = s.scalar(select(c.inspection_id).where(c.recipe_id == rid, c.measurement == m, c.item_id == p["pin"])
                       .order_by(c.created_at.desc(), c.id.desc()).limit(1))
        ins = s.get(InspectionRow, iid) if iid else None
        detail = (f"{m} of pin {p['pin']} ({rid}): {hit['text']} (rule {hit['rule']}) at value {hit['value']:.4g}; "
                  f"limits {_f(p['lcl'])} .. {_f(p['ucl'])} around {_f(p['centre'])}")
        alarm = SpcAlarmRow(recipe_id=rid, measurement=m, item_id=p["pin"], rules=sorted({h["rule"] for h in fresh}), detail=detail,
                            opened_at=now, last_hit_at=now)
        s.add(alarm)
        s.flush()
        payload = {
            "alarm_id": alarm.id, "recipe_id": rid, "measurement": m, "pin": p["pin"], "rule": hit["rule"], "rule_text": hit["text"],
            "rules": alarm.rules, "detail": detail, "value": hit["value"], "last_value": p["last_value"], "centre": p["centre"], "ucl": p["ucl"], "lcl": p["lcl"],
            "lsl": rep["lsl"], "usl": rep["usl"], "cpk": p["cpk"], "inspection_id": iid, "serial": ins.serial if ins else None,
            "station_id": ins.station_id if ins else None, **chart_links(rid, m, p["pin"]),
        }
        ev = EventRow(kind="spc.alarm", inspection_id=iid, station_id=ins.station_id if ins else None, payload=payload)
        s.add(ev)
        s.flush()
        alarm.event_id = ev.id
        log.warning("SPC alarm: %s", detail)
        return [ev.id]


def _f(v) -> str:
    return "—" if v is None else f"{v:.4g}"


class AlarmWatcher:
    """Runs an `AlarmScanner` every `interval_s`, in a process of its own (``mode="process"``, the
    service's default) or a thread of this one (``mode="thread"``).

    Why a process: one scan evaluates the run rules of every chart that got new points -- two index
    reads and the rules per pin and measurement, hundreds of queries while a line runs -- and in the
    service's process that Python time holds the GIL that the API's reads need (GET /v1/boards p95
    under load, issue #15). The process runs at the workers' niceness and ends with its parent
    (`api.jobs.lifeline`); its alarms reach the MES through the outbox like every event."""

    def __init__(self, Session, interval_s: float, *, settings=None, mode: str = "thread", nice: int = 0, **kw) -> None:
        if mode not in ("thread", "process"):
            raise ValueError("mode must be 'thread' or 'process'")
        if mode == "process" and settings is None:
            raise ValueError("mode='process' needs the settings to open the database in the child")
        self.interval_s, self.mode, self._kw = interval_s, mode, kw
        if mode == "thread":
            self.scanner = AlarmScanner(Session, **kw)
            self._stop = threading.Event()
            self._runner = threading.Thread(target=self._loop, name="spc-alarms", daemon=True)
            self._ready = threading.Event()
            self._ready.set()
        else:
            import multiprocessing as mp
            import os

            # Pipes, not multiprocessing Events: an Event's set() waits for every waiter to wake, so a child
            # killed while it waits (SIGTERM to the whole process group, as systemd stops a service) would
            # hold the service's shutdown until SIGKILL. A pipe's write does not wait for its reader.
            ctx = mp.get_context("spawn")
            stop_r, self._stop_w = ctx.Pipe(duplex=False)
            self._ready_r, ready_w = ctx.Pipe(duplex=False)
            self._ready = threading.Event()  # set once the child's message has been read
            self._runner = ctx.Process(target=_watch_in_child, name="pogoscope-spc-alarms", daemon=True,
                                       args=(settings.model_dump_json(), interval_s, kw, os.getpid(), nice, stop_r, ready_w))

    def start(self) -> None:
        self._runner.start()

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        """True once the scanner runs (a process needs its imports first): points stored later are judged."""
        if self.mode == "thread" or self._ready.is_set():
            return self._ready.wait(timeout_s)
        try:
            if not self._ready_r.poll(timeout_s):
                return False
            self._ready_r.recv()
        except (EOFError, OSError):  # the child ended before its scanner ran (its end of the pipe closed)
            return False
        self._ready.set()
        return True

    def stop(self) -> None:
        if self.mode == "thread":
            self._stop.set()
        else:
            with contextlib.suppress(OSError):  # the child is gone (its end of the pipe closed): nothing to tell
                self._stop_w.send(None)
        self._runner.join(timeout=10)
        if self.mode == "process" and self._runner.is_alive():  # a scan stuck on the database: its transaction rolls back
            self._runner.terminate()
            self._runner.join(timeout=5)

    def _loop(self) -> None:
        _scan_every(self.scanner, self.interval_s, self._stop.wait)


def _scan_every(scanner: "AlarmScanner", interval_s: float, stopped) -> None:
    """`scanner.scan()` every `interval_s` until `stopped(timeout_s)` (an Event's wait, a pipe's poll) says stop."""
    while not stopped(interval_s):
        try:
            scanner.scan()
        except Exception:  # a database hiccup: the next pass sees the same points again
            log.exception("SPC alarm scan failed")


def _watch_in_child(settings_json: str, interval_s: float, kw: dict, parent_pid: int, nice: int, stop, ready) -> None:
    """The alarm watcher's process: its own engine, the scanner loop until something arrives on the `stop` pipe
    (or it closes) or the parent dies; one message on the `ready` pipe once the scanner runs."""
    import os

    from api.jobs.lifeline import exit_with_parent
    from api.service.db import make_engine, session_factory
    from api.settings import Settings

    exit_with_parent(parent_pid)
    if nice:
        os.nice(nice)
    engine = make_engine(Settings.model_validate_json(settings_json))
    try:
        scanner = AlarmScanner(session_factory(engine), **kw)
        ready.send(True)
        _scan_every(scanner, interval_s, stop.poll)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the service stops us itself
        pass
    finally:
        engine.dispose()


def list_alarms(s, *, recipe_id: str | None = None, open_only: bool = False, limit: int = 100) -> list[dict]:
    q = select(SpcAlarmRow)
    if recipe_id:
        q = q.where(SpcAlarmRow.recipe_id == recipe_id)
    if open_only:
        q = q.where(SpcAlarmRow.closed_at.is_(None))
    rows = s.scalars(q.order_by(SpcAlarmRow.opened_at.desc(), SpcAlarmRow.id.desc()).limit(limit)).all()
    return [{"id": a.id, "recipe_id": a.recipe_id, "measurement": a.measurement, "pin": a.item_id, "rules": a.rules,
             "detail": a.detail, "opened_at": a.opened_at, "last_hit_at": a.last_hit_at, "closed_at": a.closed_at,
             "event_id": a.event_id, **chart_links(a.recipe_id, a.measurement, a.item_id)} for a in rows]


# -- yield and Pareto -----------------------------------------------------------------------

SHIFTS = ((6, "early"), (14, "late"), (22, "night"))  # shift start hours (local = UTC unless configured)


def _hour_expr(s, col):
    if s.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", col), "YYYY-MM-DD HH24")
    return func.substr(cast(col, String), 1, 13)


def shift_of(hour: int) -> str:
    name = SHIFTS[-1][1]
    for start, n in SHIFTS:
        if hour >= start:
            name = n
    return name


def _insp_where(recipe_id, station_id, since, until):
    w = [InspectionRow.status.in_(("done", "failed"))]
    if recipe_id:
        w.append(InspectionRow.recipe_id == recipe_id)
    if station_id:
        w.append(InspectionRow.station_id == station_id)
    if since:
        w.append(InspectionRow.created_at >= since)
    if until:
        w.append(InspectionRow.created_at < until)
    return w


def _verdict_of(status, verdict) -> str:
    return verdict if status == "done" and verdict else "NOT_INSPECTED"


def yield_report(s, *, recipe_id=None, station_id=None, since=None, until=None) -> dict:
    """Boards by verdict overall, by station, by hour and shift; first-pass yield (each serial's first
    inspection); the human-reviewed outcomes counted apart (REVIEW→PASS is the false-call rate)."""
    w = _insp_where(recipe_id, station_id, since, until)
    I = InspectionRow
    hour = _hour_expr(s, I.created_at).label("hour")
    rows = s.execute(select(I.station_id, hour, I.status, I.verdict, func.count()).where(*w)
                     .group_by(I.station_id, hour, I.status, I.verdict)).all()
    total: dict[str, int] = defaultdict(int)
    by_station: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    by_hour: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    by_shift: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for st, hr, status, verdict, n in rows:
        v = _verdict_of(status, verdict)
        total[v] += n
        by_station[st or "—"][v] += n
        by_hour[hr][v] += n
        by_shift[shift_of(int(hr[11:13]))][v] += n

    # first pass: each serial's first inspection in the window (window function, both databases)
    rn = func.row_number().over(partition_by=I.serial, order_by=(I.created_at, I.id)).label("rn")
    sub = select(I.status, I.verdict, rn).where(*w).subquery()
    first = defaultdict(int)
    for status, verdict, n in s.execute(select(sub.c.status, sub.c.verdict, func.count()).where(sub.c.rn == 1)
                                        .group_by(sub.c.status, sub.c.verdict)).all():
        first[_verdict_of(status, verdict)] += n
    boards = sum(first.values())

    # reviewed outcome: the latest review of each inspection, against its measured verdict
    last = select(ReviewRow.inspection_id, func.max(ReviewRow.id).label("rid")).group_by(ReviewRow.inspection_id).subquery()
    rev = s.execute(select(I.verdict, ReviewRow.verdict, func.count()).join(last, last.c.inspection_id == I.id)
                    .join(ReviewRow, ReviewRow.id == last.c.rid).where(*w).group_by(I.verdict, ReviewRow.verdict)).all()
    reviewed = {f"{a}->{b}": n for a, b, n in rev}
    rev_review = sum(n for a, _, n in rev if a == "REVIEW")
    to_pass = sum(n for a, b, n in rev if a == "REVIEW" and b == "PASS")

    def rates(d):
        n = sum(d.values())
        return {"boards": n, **{k: d.get(k, 0) for k in ("PASS", "FAIL", "REVIEW", "NOT_INSPECTED")},
                "pass_rate": d.get("PASS", 0) / n if n else None}

    return {
        "total": rates(total),
        "first_pass": {**rates(first), "first_pass_yield": first.get("PASS", 0) / boards if boards else None},
        "reviewed": {"outcomes": reviewed, "review_reviewed": rev_review, "review_to_pass": to_pass,
                     "false_call_rate": to_pass / rev_review if rev_review else None,
                     "review_pending": max(0, total.get("REVIEW", 0) - rev_review)},
        "by_station": {k: rates(v) for k, v in sorted(by_station.items())},
        "by_hour": [{"hour": k, **rates(v)} for k, v in sorted(by_hour.items())],
        "by_shift": {k: rates(v) for k, v in by_shift.items()},
        "shifts": [{"starts_hour_utc": h, "name": n} for h, n in SHIFTS],
    }


def pareto_report(s, *, recipe_id=None, station_id=None, since=None, until=None) -> dict:
    """FAIL and REVIEW by reason (boards and pins), by pin position (with the recipe's layout for a heat
    map), by station; failed inspections (not inspected) counted by themselves."""
    P = PinReasonRow
    w = []
    for col, v in ((P.recipe_id, recipe_id), (P.station_id, station_id)):
        if v:
            w.append(col == v)
    if since:
        w.append(P.created_at >= since)
    if until:
        w.append(P.created_at < until)
    boards_total = s.scalar(select(func.count()).select_from(InspectionRow).where(*_insp_where(recipe_id, station_id, since, until))) or 0
    by_reason = [
        {"reason": r or "(none)", "verdict": v, "boards": nb, "pins": np_}
        for r, v, nb, np_ in s.execute(select(P.reason, P.verdict, func.count(func.distinct(P.inspection_id)), func.count())
                                       .where(*w).group_by(P.reason, P.verdict)).all()
    ]
    by_reason.sort(key=lambda d: -d["boards"])
    acc = 0
    for d in by_reason:
        acc += d["boards"]
        d["share"] = d["boards"] / boards_total if boards_total else None
    pins = defaultdict(lambda: defaultdict(int))
    for item, v, n in s.execute(select(P.item_id, P.verdict, func.count(func.distinct(P.inspection_id))).where(*w)
                                .group_by(P.item_id, P.verdict)).all():
        pins[item][v] += n
    by_station = defaultdict(lambda: defaultdict(int))
    for st, v, n in s.execute(select(P.station_id, P.verdict, func.count(func.distinct(P.inspection_id))).where(*w)
                              .group_by(P.station_id, P.verdict)).all():
        by_station[st or "—"][v] += n
    failed = s.execute(select(InspectionRow.error, func.count()).where(*_insp_where(recipe_id, station_id, since, until),
                                                                       InspectionRow.status == "failed").group_by(InspectionRow.error)).all()
    layout = {}
    if recipe_id:
        body = s.scalar(select(RecipeRow.body).where(RecipeRow.recipe_id == recipe_id).order_by(RecipeRow.version.desc()).limit(1))
        if body:
            try:
                from models.recipe import Recipe

                rec = Recipe.model_validate(body)
                layout = {"board_mm": list(rec.board.size_mm[:2]), "pins": {p.id: list(p.xy_mm) for p in rec.pins}}
            except Exception:  # an old recipe that no longer validates: the table still works without the map
                layout = {}
    return {
        "boards": boards_total,
        "by_reason": by_reason,
        "by_pin": [{"pin": k, "FAIL": v.get("FAIL", 0), "REVIEW": v.get("REVIEW", 0),
                    "rate": (v.get("FAIL", 0) + v.get("REVIEW", 0)) / boards_total if boards_total else None} for k, v in sorted(pins.items())],
        "by_station": {k: dict(v) for k, v in sorted(by_station.items())},
        "not_inspected": [{"error": e, "boards": n} for e, n in failed],
        "layout": layout,
    }


__all__ = ["index_result", "result_rows", "spc_report", "AlarmScanner", "AlarmWatcher", "yield_report", "pareto_report",
           "list_alarms", "measurements_of"]
