"""Process control on SQLite and PostgreSQL: SPC routes and CLI on seeded stored results, drift alarms
(one `spc.alarm` per episode), yield and Pareto, Gage R&R study routes, and the worker writing the
pin-value index with a real inspection."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from tests.api.service.support import png, setup_board, wait_done
from tests.support import spc_seed


def _session(c):
    return c.app.state.svc.Session


def test_spc_routes_limits_rule_hits_and_capability(app_client):
    c = app_client
    spc_seed.seed(_session(c), "SPC-A", 60)
    assert c.get("/v1/spc/SPC-A").json()["measurements"] == ["tilt_deg", "xy_error_mm"]
    rep = c.get("/v1/spc/SPC-A/tilt_deg", params={"baseline": 30}).json()
    assert rep["usl"] == 2.0 and rep["lsl"] is None and rep["check"] == "tilt"
    pins = {p["pin"]: p for p in rep["pins"]}
    assert len(pins) == 8 and pins["P01"]["n"] == 66  # 60 boards + 6 re-tests
    p3 = pins["P03"]
    assert rep["pins"][0]["pin"] == "P03"  # worst Ppk first: the drifting pin
    assert 1 in p3["rules_hit"] and 2 in p3["rules_hit"]  # beyond 3 sigma; 9 on one side
    quiet = pins["P01"]
    assert quiet["cpk"]["lower"] < quiet["cpk"]["value"] < quiet["cpk"]["upper"]
    assert 0.4 < quiet["centre"] < 0.6 and quiet["ucl"] == pytest.approx(quiet["centre"] + 3 * quiet["sigma_within"])
    assert quiet["u_rms"] == pytest.approx(0.03)
    ch = c.get("/v1/spc/SPC-A/tilt_deg", params={"pin": "P03", "baseline": 30, "points": 50}).json()
    chart = ch["chart"]
    assert len(chart["points"]) == len(chart["at"]) == len(chart["serials"]) == 50 and chart["first_index"] == 16
    assert chart["ucl"] == p3["ucl"] and any(h["rule"] == 1 for h in chart["hits"])
    assert chart["serials"][-1] == "S000059" and ch["capability"]["cpk"]["value"] == p3["cpk"]["value"]
    sub = c.get("/v1/spc/SPC-A/tilt_deg", params={"pin": "P01", "subgroup": 5}).json()["chart"]
    assert sub["kind"] == "xbar-r" and sub["subgroup_size"] == 5
    st = c.get("/v1/spc/SPC-A/tilt_deg", params={"station_id": "line-1"}).json()
    assert {p["n"] for p in st["pins"]} == {30}  # even boards; the re-tests (odd boards) ran on line-2
    since = c.get("/v1/spc/SPC-A/tilt_deg", params={"since": "2026-12-01T06:30:00Z", "baseline_until": "2026-12-01T06:40:00Z"}).json()
    assert {p["n"] for p in since["pins"]} == {33} and {p["baseline_points"] for p in since["pins"]} == {11}
    r = c.get("/v1/spc/SPC-A/height_um")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert "tilt_deg" in r.json()["detail"]
    assert c.get("/v1/spc/NOPE/tilt_deg").status_code == 404
    assert c.get("/v1/spc/SPC-A/tilt_deg", params={"subgroup": 0}).status_code == 422


def test_spc_cli_reads_the_same_database(app_client, db_env, monkeypatch, capsys):
    from api.cli import main

    c = app_client
    spc_seed.seed(_session(c), "SPC-C", 45)
    for k, v in db_env.items():
        monkeypatch.setenv(k, v)
    assert main(["spc", "--recipe", "SPC-C", "--measurement", "tilt_deg", "--pin", "P03", "--baseline", "30"]) == 0
    out = capsys.readouterr().out
    assert "P03" in out and "rule 1" in out and "Cpk" in out
    assert main(["spc", "--recipe", "SPC-C", "--measurement", "tilt_deg", "--json", "--since", "2026-12-01T06:20"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["pins"] and all(p["n"] == 27 for p in rep["pins"])  # boards 20-44 and 2 re-tests
    assert main(["spc", "--recipe", "SPC-C", "--measurement", "nope_mm"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tilt_deg" in err
    assert main(["spc", "--recipe", "SPC-C", "--measurement", "tilt_deg", "--since", "yesterday"]) == 2


def test_drift_alarm_once_per_episode(app_client):
    import numpy as np

    from api.service.analytics import AlarmScanner
    from api.service.db import EventRow

    c = app_client
    S = _session(c)
    start = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.timezone.utc)
    # a steady pattern no alarm rule fires on (sides alternate, within 1.2 sigma, no 6-point trend): sigma = 0.0768, UCL 0.73
    pattern = np.resize([0.45, 0.55, 0.5, 0.42, 0.58, 0.5], 120)
    tilt = {f"P{i:02d}": pattern.copy() for i in range(1, 9)}
    drift = 0.08 * np.arange(1, 31)
    tilt["P05"][30:60] += drift  # drifts from board 30: beyond the UCL at board 32
    tilt["P05"][90:] += drift  # back in control from 60 to 90 (the episode ends), then drifts again
    part = lambda a, b: {k: v[a:b] for k, v in tilt.items()}  # noqa: E731
    spc_seed.seed(S, "SPC-D", 30, start=start, tilt=part(0, 30))
    scanner = AlarmScanner(S, baseline=25)

    def feed(a, b):
        spc_seed.seed(S, "SPC-D", b - a, start=start + dt.timedelta(minutes=a), tilt=part(a, b), with_recipe=False, first_board=a)
        with S() as s:  # the seeder's xy_error_mm is random noise: judge the tilt charts
            return [e for e in scanner.scan() if s.get(EventRow, e).payload["measurement"] == "tilt_deg"]

    assert feed(30, 32) == []  # 0.53, 0.71: inside the limits
    first = feed(32, 40)
    assert len(first) == 1
    with S() as s:
        ev = s.get(EventRow, first[0])
    assert ev.kind == "spc.alarm" and ev.payload["pin"] == "P05" and ev.payload["measurement"] == "tilt_deg"
    chart = c.get("/v1/spc/SPC-D/tilt_deg", params={"pin": "P05", "baseline": 25}).json()["chart"]
    assert ev.payload["rule"] == 1 and ev.payload["value"] > ev.payload["ucl"] == chart["ucl"]
    assert ev.payload["chart_url"] == "/ui/#/spc/SPC-D/tilt_deg/P05" and ev.payload["url"] == "/v1/spc/SPC-D/tilt_deg?pin=P05"
    assert ev.payload["serial"] and ev.payload["inspection_id"] == ev.inspection_id
    assert feed(40, 60) == []  # still the same episode
    assert feed(60, 90) == []  # quiet: the episode closes
    alarms = [a for a in c.get("/v1/alarms", params={"recipe_id": "SPC-D"}).json()["items"] if a["measurement"] == "tilt_deg"]
    assert len(alarms) == 1 and alarms[0]["closed_at"] is not None and alarms[0]["pin"] == "P05"
    second = feed(90, 100)
    assert len(second) == 1
    open_ = c.get("/v1/alarms", params={"recipe_id": "SPC-D", "open": True}).json()["items"]
    assert [a["pin"] for a in open_ if a["measurement"] == "tilt_deg"] == ["P05"]
    with S() as s:
        evs = s.scalars(select(EventRow).where(EventRow.kind == "spc.alarm")).all()
    assert sorted(e.id for e in evs if e.payload["measurement"] == "tilt_deg") == first + second


def test_yield_and_pareto(app_client):
    c = app_client
    S = _session(c)
    import numpy as np

    tilt = {f"P{i:02d}": np.full(60, 0.5) for i in range(1, 9)}
    tilt["P03"][40:50], tilt["P03"][50:] = 1.95, 2.5  # REVIEW (within 0.1 deg of the limit), then FAIL
    tilt["P06"][50:52] = 2.5
    ids = spc_seed.seed(S, "SPC-Y", 60, tilt=tilt)
    y = c.get("/v1/stats/yield", params={"recipe_id": "SPC-Y"}).json()
    docs = {i: c.get(f"/v1/inspections/{i}").json() for i in ids}
    verdicts = [d["verdict"] for d in docs.values()]
    assert y["total"]["boards"] == 66 and y["total"]["PASS"] == verdicts.count("PASS") and y["total"]["FAIL"] == verdicts.count("FAIL")
    assert y["first_pass"]["boards"] == 60  # re-tests are not first passes
    assert sum(h["boards"] for h in y["by_hour"]) == 66 and y["by_hour"][0]["hour"] == "2026-12-01 06"
    assert set(y["by_station"]) == {"line-1", "line-2"} and y["by_shift"]["early"]["boards"] == 66
    reviews = [i for i, d in docs.items() if d["verdict"] == "REVIEW"][:2]
    fails = [i for i, d in docs.items() if d["verdict"] == "FAIL"][:1]
    assert verdicts.count("REVIEW") == 11 and verdicts.count("FAIL") == 11  # 10 + a re-test each
    spc_seed.review(S, reviews[0], "PASS")
    if len(reviews) > 1:
        spc_seed.review(S, reviews[1], "FAIL")
    spc_seed.review(S, fails[0], "FAIL")
    rv = c.get("/v1/stats/yield", params={"recipe_id": "SPC-Y"}).json()["reviewed"]
    assert rv["review_to_pass"] == 1 and rv["review_reviewed"] == len(reviews) and rv["outcomes"]["FAIL->FAIL"] == 1
    assert rv["false_call_rate"] == pytest.approx(1 / len(reviews))
    par = c.get("/v1/stats/pareto", params={"recipe_id": "SPC-Y"}).json()
    assert par["boards"] == 66 and par["by_reason"][0]["reason"] == "tilt"
    not_pass = sum(1 for v in verdicts if v != "PASS")
    assert sum(d["boards"] for d in par["by_reason"]) == not_pass
    by_pin = {p["pin"]: p for p in par["by_pin"]}
    assert (by_pin["P03"]["FAIL"], by_pin["P03"]["REVIEW"], by_pin["P06"]["FAIL"]) == (11, 11, 2) and "P01" not in by_pin
    assert set(par["layout"]["pins"]) == {f"P0{i}" for i in range(1, 9)}


def test_grr_study_routes(app_client):
    import numpy as np

    c = app_client
    S = _session(c)
    spc_seed.seed(S, "GRR-R", 1, n_pins=4, drift_pin=None)  # the recipe
    r = c.post("/v1/grr/studies", json={"id": "st1", "recipe_id": "GRR-R", "serials": ["G1", "G2", "G3"], "repeats": 3,
                                         "operators": ["line-1", "line-2"]})
    assert r.status_code == 201, r.text
    assert c.post("/v1/grr/studies", json={"id": "st1", "recipe_id": "GRR-R", "serials": ["G1", "G2"], "repeats": 3}).status_code == 409
    assert c.post("/v1/grr/studies", json={"id": "st2", "recipe_id": "nope", "serials": ["G1", "G2"], "repeats": 3}).status_code == 422
    assert c.post("/v1/grr/studies", json={"id": "bad id", "recipe_id": "GRR-R", "serials": ["G1", "G2"], "repeats": 3}).status_code == 422
    rng = np.random.default_rng(0)
    truth = {f"G{b}": rng.normal(0.5, 0.3, 4) for b in (1, 2, 3)}
    now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    k = 0
    for serial, base in truth.items():
        for st in ("line-1", "line-2"):
            for _ in range(3):
                tilt = {f"P{i + 1:02d}": np.array([base[i] + rng.normal(0, 0.02)]) for i in range(4)}
                spc_seed.seed(S, "GRR-R", 1, n_pins=4, tilt=tilt, with_recipe=False, stations=(st,), start=now + dt.timedelta(seconds=k))
                with S() as s:  # the seeder names boards S000000: give it the study's serial
                    from api.service.db import InspectionRow

                    row = s.scalars(select(InspectionRow).order_by(InspectionRow.created_at.desc()).limit(1)).first()
                    row.serial = serial
                    s.commit()
                k += 1
    rep = c.get("/v1/grr/studies/st1", params={"measurement": "tilt_deg"}).json()
    assert rep["inspections"] == 18 and rep["complete"]
    m = rep["measurements"]["tilt_deg"]
    assert (m["parts"], m["operators"], m["trials"]) == (12, 2, 3)
    assert m["ev_ci"][0] <= 0.02 <= m["ev_ci"][1] and m["ndc"] >= 5
    assert m["pct_tolerance"] is None and m["verdict"] in ("acceptable", "conditional")
    assert c.get("/v1/grr/studies").json()[0]["runs"] == 18
    assert c.get("/v1/grr/studies/zzz").status_code == 404


def test_worker_indexes_real_results(app_client, board):
    from api.service.analytics_db import PinValueRow

    c = app_client
    setup_board(c, board)
    r = c.post("/v1/inspections", data={"serial": "PV-1", "recipe_id": board.recipe["recipe_id"], "station_id": "st"},
               files={"top": ("t.png", png(board.image), "image/png")})
    iid = r.json()["id"]
    doc = wait_done(c, iid)
    with _session(c)() as s:
        rows = s.scalars(select(PinValueRow).where(PinValueRow.inspection_id == iid)).all()
    want = {(p["id"], k) for p in doc["result"]["pins"] for k, m in p["measurements"].items() if m["value"] is not None}
    assert {(r.item_id, r.measurement) for r in rows} == want and want
    p = doc["result"]["pins"][0]
    got = next(r for r in rows if r.item_id == p["id"] and r.measurement == "tilt_deg")
    assert got.value == p["measurements"]["tilt_deg"]["value"] and got.station_id == "st"
    assert c.get(f"/v1/spc/{board.recipe['recipe_id']}/tilt_deg").json()["pins"][0]["n"] == 1


def test_migration_backfills_stored_results(settings):
    from sqlalchemy import insert

    from api.service.analytics_db import PinReasonRow, PinValueRow
    from api.service.db import InspectionRow, make_engine
    from api.service.migrate import upgrade

    engine = make_engine(settings)
    try:
        upgrade(engine, "0002")
        result = {"board": {"verdict": "FAIL", "reasons": ["tilt"]}, "pins": [
            {"id": "P01", "verdict": "FAIL", "reasons": ["tilt"], "measurements": {"tilt_deg": {"value": 2.5, "uncertainty": 0.1, "unit": "deg"},
                                                                                   "tip_height_mm": {"value": None, "not_measured": "no side view", "unit": "mm"}}},
            {"id": "P02", "verdict": "PASS", "reasons": [], "measurements": {"tilt_deg": {"value": 0.3, "uncertainty": 0.1, "unit": "deg"}}}]}
        at = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
        with engine.begin() as conn:
            conn.execute(insert(InspectionRow.__table__), [
                {"id": "a" * 32, "serial": "OLD-1", "kind": "board", "recipe_id": "R", "recipe_version": 1, "calibrations": {}, "files": {},
                 "stacks": {}, "status": "done", "verdict": "FAIL", "reasons": ["tilt"], "result": result, "attempts": 1, "created_at": at},
                {"id": "b" * 32, "serial": "OLD-2", "kind": "board", "recipe_id": "R", "recipe_version": 1, "calibrations": {}, "files": {},
                 "stacks": {}, "status": "failed", "verdict": None, "reasons": ["input_error"], "result": None, "attempts": 1,
                 "created_at": at}])
        upgrade(engine)
        with engine.connect() as conn:
            vals = conn.execute(select(PinValueRow.item_id, PinValueRow.value).order_by(PinValueRow.item_id)).all()
            reasons = conn.execute(select(PinReasonRow.item_id, PinReasonRow.reason)).all()
        assert [tuple(v) for v in vals] == [("P01", 2.5), ("P02", 0.3)] and [tuple(r) for r in reasons] == [("P01", "tilt")]
    finally:
        engine.dispose()


def test_alarm_watcher_scans_in_a_process_of_its_own(app_client):
    """The service's SPC scans run in a niced child process (not the API's), and their alarms still reach the database."""
    import os
    import time

    import numpy as np

    from api.service.analytics import AlarmWatcher

    c = app_client
    S = _session(c)
    start = dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.timezone.utc)
    tilt = {f"P{i:02d}": np.resize([0.45, 0.55, 0.5, 0.42, 0.58, 0.5], 40) for i in range(1, 9)}
    tilt["P02"][30:] += 0.08 * np.arange(1, 11)  # beyond the UCL from board 32
    spc_seed.seed(S, "SPC-P", 30, start=start, tilt={k: v[:30] for k, v in tilt.items()})
    w = AlarmWatcher(S, 0.1, settings=c.app.state.svc.settings, mode="process", nice=5, baseline=25)
    w.start()
    try:
        assert w.wait_ready(60), "the alarm watcher's process did not start"
        assert w._runner.pid != os.getpid() and w._runner.is_alive()
        assert os.getpriority(os.PRIO_PROCESS, w._runner.pid) >= 5
        spc_seed.seed(S, "SPC-P", 10, start=start + dt.timedelta(minutes=30), tilt={k: v[30:] for k, v in tilt.items()},
                      with_recipe=False, first_board=30)
        t0 = time.monotonic()
        while not [a for a in c.get("/v1/alarms", params={"recipe_id": "SPC-P"}).json()["items"] if a["measurement"] == "tilt_deg"]:
            assert time.monotonic() - t0 < 30, "the watcher's process raised no alarm"
            time.sleep(0.1)
        alarm = [a for a in c.get("/v1/alarms", params={"recipe_id": "SPC-P"}).json()["items"] if a["measurement"] == "tilt_deg"]
        assert [a["pin"] for a in alarm] == ["P02"]
    finally:
        w.stop()
    assert not w._runner.is_alive()


def test_alarm_watcher_stops_at_once_when_its_process_was_killed_while_waiting(app_client):
    """systemd stops a service with SIGTERM to its whole process group: the watcher's process dies waiting for its
    next scan, and the service's own shutdown must not wait for it to acknowledge (a multiprocessing Event's set()
    did, until SIGKILL)."""
    import os
    import signal
    import time

    from api.service.analytics import AlarmWatcher

    c = app_client
    w = AlarmWatcher(_session(c), 30.0, settings=c.app.state.svc.settings, mode="process")
    w.start()
    try:
        assert w.wait_ready(60), "the alarm watcher's process did not start"
        time.sleep(0.2)  # inside its wait for the next scan
        os.kill(w._runner.pid, signal.SIGTERM)
        w._runner.join(10)
        assert not w._runner.is_alive()
    finally:
        t0 = time.monotonic()
        w.stop()
        took_s = time.monotonic() - t0
    assert took_s < 2.0, f"stop() took {took_s:.1f} s after its process was killed"


def test_alarm_watcher_killed_before_it_is_ready_is_not_ready_at_once(app_client):
    """A watcher's process that dies during its start (before its scanner runs) is reported not ready as soon as
    it is gone, not after the whole wait."""
    import os
    import signal
    import time

    from api.service.analytics import AlarmWatcher

    c = app_client
    w = AlarmWatcher(_session(c), 30.0, settings=c.app.state.svc.settings, mode="process")
    w.start()
    try:
        os.kill(w._runner.pid, signal.SIGKILL)  # still importing: its scanner has not run
        t0 = time.monotonic()
        assert not w.wait_ready(30)
        assert time.monotonic() - t0 < 5.0
    finally:
        w.stop()
