"""Issue #15 item 11 against a real `pogoscope serve` on loopback: the station checks its key and the
service's knowledge of its recipe and calibration at start (fault with the reason), boards refused
with 401/403/422 are held and delivered once the cause is fixed, `station deliver --retry-rejected`
re-sends refused boards, and the station never ends with boards undelivered without saying how many."""

from __future__ import annotations

import time

import pytest
import yaml

from api.cli import main
from api.station.config import parse_config
from api.station.delivery import Deliverer
from api.station.preflight import for_station
from api.station.runner import StationRunner
from tests.api.service import support
from tests.api.station.waiting import until

pytestmark = pytest.mark.timeout(180)
STATION = "pf-line"


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("pf_replay")
    assert main(["generate", str(root / "000001"), "--seed", "91", "--rows", "1", "--cols", "4", "--serial", "PF-1"]) == 0
    return root / "000001"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pf_svc")
    srv = support.Server({"POGOSCOPE_DATA_DIR": str(tmp / "svc"), "POGOSCOPE_WORKERS": "1", "OMP_NUM_THREADS": "1"},
                         log=tmp / "service.log").start()
    with srv.client() as c:
        keys = {role: c.post("/v1/keys", json={"name": f"pf-{role}", "role": role}).json()["key"] for role in ("station", "engineer")}
    yield srv, keys
    srv.stop()


def station_cfg(tmp_path, board, url, key, *, n=3, **sink):
    return parse_config({
        "station_id": STATION, "cameras": {"c": {"kind": "replay", "root": str(board), "loop": True}},
        "views": {"top": {"camera": "c", "calibration": str(board / "cal_top.json")}}, "recipe": str(board / "recipe.yaml"),
        "trigger": {"kind": "timer", "period_s": 0.01, "count": n}, "database": str(tmp_path / "station.sqlite"),
        "sink": {"kind": "service", "url": url, "api_key": key, "retry_base_s": 0.05, "retry_max_s": 0.2, "held_retry_s": 0.3, **sink},
    }, base=tmp_path)


def preflight(cfg, runner):
    return for_station(cfg, recipe=runner._recipe, calibration_records=runner._cals)()


def test_start_up_check_names_each_cause_and_held_boards_go_once_it_is_fixed(tmp_path, board, service):
    srv, keys = service
    eng = srv.client(keys["engineer"])

    # 1. a wrong key: fault at start, the reason names the key
    cfg = station_cfg(tmp_path, board, srv.url, "pgs_wrong_key")
    r = StationRunner(cfg)
    pf = preflight(cfg, r)
    assert not pf.ok and "refuses the station's API key (401" in pf.reason and "sink.api_key" in pf.reason
    d = Deliverer.for_sink(cfg.sink, r.outbox, preflight=for_station(cfg, recipe=r._recipe, calibration_records=r._cals))
    assert d.check() is False and "401" in d.fault
    r.deliverer = d
    h = r.health()
    assert h["state"] == "fault" and any("401" in f for f in h["faults"])
    r.open(); r.run(); r.close()
    assert r.counts["inspected"] == 3
    d.drain_once()
    assert r.outbox.counts() == {"held": 1, "pending": 2}  # the first refusal pauses the rest: same key, same answer
    r.outbox.close()

    # (a 403 -- a role that may not submit -- cannot be produced: every role may submit)
    # 2. the station key, recipe not on the service: found at start through a submission the service must refuse
    cfg = station_cfg(tmp_path, board, srv.url, keys["station"])
    r = StationRunner(cfg)
    pf = preflight(cfg, r)
    assert not pf.ok and "unknown-recipe" in pf.reason and r._recipe.recipe_id in pf.reason
    # an engineer key may read: it finds both the recipe and the calibration missing
    pf = preflight(station_cfg(tmp_path, board, srv.url, keys["engineer"]), r)
    assert not pf.ok and "recipe" in pf.reason and "no calibration record of camera 'TOP_SYN'" in pf.reason

    assert eng.post("/v1/recipes", json=yaml.safe_load((board / "recipe.yaml").read_text())).status_code == 201
    pf = preflight(cfg, r)  # station key: the recipe is known now; the service resolves records before images
    assert not pf.ok and "unknown-calibration" in pf.reason and "TOP_SYN" in pf.reason and "recipe" not in pf.reason
    pf = preflight(station_cfg(tmp_path, board, srv.url, keys["engineer"]), r)
    assert not pf.ok and "no calibration record of camera 'TOP_SYN'" in pf.reason and "recipe" not in pf.reason

    # 3. the right key now: held boards are re-sent, the unknown calibration holds them again (422), fault with the reason
    d = Deliverer.for_sink(cfg.sink, r.outbox, preflight=for_station(cfg, recipe=r._recipe, calibration_records=r._cals))
    r.deliverer = d
    d.start()
    try:
        until(lambda: r.outbox.counts() == {"held": 3}, what="all three boards held for the unknown calibration")
        assert "unknown-calibration" in d.fault and r.health()["state"] == "fault"
        # 4. the engineer uploads the record: the held boards go without anyone touching the station
        assert eng.post("/v1/calibrations", json={"view": "top", "station_id": STATION,
                                                  "record": yaml.safe_load((board / "cal_top.json").read_text())}).status_code == 201
        until(lambda: r.outbox.counts() == {"delivered": 3}, what="held boards delivered after the upload")
        until(lambda: d.fault is None, what="fault cleared")
        assert r.health()["state"] == "idle"
    finally:
        d.stop()
    items = eng.get("/v1/inspections", params={"station_id": STATION}).json()["items"]
    assert sorted(i["serial"] for i in items) == ["PF-1"] * 3
    eng.close()


def test_station_deliver_retry_rejected_and_the_count_of_what_is_left(tmp_path, board, service, capsys, monkeypatch):
    srv, keys = service
    eng = srv.client(keys["engineer"])
    eng.post("/v1/recipes", json=yaml.safe_load((board / "recipe.yaml").read_text()))
    eng.post("/v1/calibrations", json={"view": "top", "station_id": STATION, "record": yaml.safe_load((board / "cal_top.json").read_text())})
    raw = {"station_id": STATION, "cameras": {"c": {"kind": "replay", "root": str(board), "loop": True}},
           "views": {"top": {"camera": "c", "calibration": str(board / "cal_top.json")}}, "recipe": str(board / "recipe.yaml"),
           "trigger": {"kind": "timer", "period_s": 0.01, "count": 3}, "database": str(tmp_path / "station.sqlite"),
           "health": {"port": 0}, "sink": {"kind": "service", "url": f"http://127.0.0.1:{support.free_port()}", "api_key_env": "PF_KEY"}}
    (tmp_path / "station.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("PF_KEY", keys["station"])

    # the service is not where the config says: the run ends with every board undelivered, and says so
    assert main(["station", "run", "--config", str(tmp_path / "station.yaml")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "3 boards, 3 inspected" in out[0] and "3 board(s) NOT delivered yet" in out[0]
    assert f"pogoscope station deliver --config {tmp_path / 'station.yaml'}" in out[0]

    raw["sink"]["url"] = srv.url
    (tmp_path / "station.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("PF_KEY", "pgs_revoked_or_mistyped")
    assert main(["station", "deliver", "--config", str(tmp_path / "station.yaml"), "--timeout", "5"]) == 1
    out = capsys.readouterr().out
    assert "0 board(s) delivered" in out and "3 pending" in out and "401" in out and "PF_KEY" in out

    # a board an older station left 'rejected' forever (it did that with every 4xx): re-sent only on request
    from api.station.outbox import Outbox, boards

    ob = Outbox(tmp_path / "station.sqlite")
    with ob._engine.begin() as c:
        c.execute(boards.update().where(boards.c.key == ob.due(limit=1)[0]["key"]).values(delivery="rejected", last_error="service answered 401"))
    ob.close()
    monkeypatch.setenv("PF_KEY", keys["station"])
    assert main(["station", "deliver", "--config", str(tmp_path / "station.yaml"), "--timeout", "20"]) == 1
    out = capsys.readouterr().out
    assert "2 board(s) delivered" in out and "1 rejected" in out and "1 board(s) still NOT delivered" in out
    assert main(["station", "deliver", "--config", str(tmp_path / "station.yaml"), "--retry-rejected", "--timeout", "20"]) == 0
    out = capsys.readouterr().out
    assert "1 board(s) delivered now (1 re-queued)" in out and "outbox: 3 delivered" in out
    eng.close()
