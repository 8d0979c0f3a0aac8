"""Station -> service end to end over real HTTP: `pogoscope serve` on a free loopback port, a
StationRunner replaying generated boards with ``sink: {kind: service}``, its outbox delivered by the
station's Deliverer. Every board must end in the service inspected exactly once with the result
`vision.inspect.inspect_board` gives for the same images, also when the service is down during part
of the run (the outbox keeps the boards and delivers them when it is back)."""

from __future__ import annotations

import time

import pytest

from api.cli import main
from api.station.config import parse_config
from api.station.delivery import Deliverer, ServiceClient
from api.station.runner import StationRunner
from tests.api.service import support
from tests.api.station.waiting import until as _until

pytestmark = pytest.mark.timeout(120)

N_BOARDS = 4
STATION = "line-7"


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    """Generated boards, each with its own recipe and its own calibration record of one camera
    id (TOP_SYN, different image sizes): the service must inspect each with the station's record."""
    root = tmp_path_factory.mktemp("replay")
    defects = ["P02=missing", "", "P03=tilt", ""]
    for i in range(N_BOARDS):
        assert main(["generate", str(root / f"{i:06d}"), "--seed", str(70 + i), "--rows", "1", "--cols", "4",
                     "--defects", defects[i], "--serial", f"ST-{i}"]) == 0
    return root


def _expected(board_dir, serial: str, image_png: bytes) -> dict:
    """What the pipeline gives for the image the service stored, with the board's own record and recipe."""
    from vision.inspect import BoardInput, inspect_board
    from calibration.record import CalibrationRecord
    from models.recipe import Recipe
    from vision.io import decode_image

    inp = BoardInput(serial=serial, recipe=Recipe.from_yaml(board_dir / "recipe.yaml"), images={"top": decode_image(image_png)},
                     calibrations={"top": CalibrationRecord.load(board_dir / "cal_top.json")})
    return inspect_board(inp).result.model_dump(mode="json")


def test_station_delivers_every_board_once_through_an_outage(replay, tmp_path):
    import yaml

    port = support.free_port()
    env = {"POGOSCOPE_DATA_DIR": str(tmp_path / "svc"), "POGOSCOPE_WORKERS": "1", "OMP_NUM_THREADS": "1"}
    srv = support.Server(env, port=port, log=tmp_path / "service.log").start()
    deliverer = runner = None
    try:
        with srv.client() as c:
            for d in sorted(replay.iterdir()):  # each board's recipe and record, registered through the API
                r = c.post("/v1/recipes", json=yaml.safe_load((d / "recipe.yaml").read_text()))
                assert r.status_code == 201, r.text
                r = c.post("/v1/calibrations", json={"view": "top", "station_id": STATION,
                                                     "record": yaml.safe_load((d / "cal_top.json").read_text())})
                assert r.status_code == 201, r.text
            st_key = c.post("/v1/keys", json={"name": STATION, "role": "station"}).json()["key"]

        cfg = parse_config({"station_id": STATION, "cameras": {"c": {"kind": "replay", "root": str(replay)}},
                            "views": {"top": {"camera": "c"}}, "trigger": {"kind": "timer", "period_s": 0.01},
                            "database": str(tmp_path / "station.sqlite"),
                            "sink": {"kind": "service", "url": srv.url, "api_key": st_key, "retry_base_s": 0.05,
                                     "retry_max_s": 0.3}}, base=tmp_path)
        runner = StationRunner(cfg)
        deliverer = Deliverer.for_sink(cfg.sink, runner.outbox)
        deliverer.start()
        runner.open()
        runner.run(max_boards=1)
        deliverer.wake()
        _until(lambda: runner.outbox.counts() == {"delivered": 1}, timeout_s=10, what="first board delivered")

        srv.stop()  # the service goes down; the line does not stop
        runner.run()
        assert runner.counts == {"boards": N_BOARDS, "inspected": N_BOARDS, "not_inspected": 0}
        _until(lambda: deliverer.last_error and "unreachable" in deliverer.last_error, timeout_s=5, what="a failed delivery")
        assert runner.outbox.counts() == {"delivered": 1, "pending": N_BOARDS - 1}

        srv = support.Server(env, port=port, log=tmp_path / "service.log").start()  # back, same database and store
        _until(lambda: runner.outbox.counts() == {"delivered": N_BOARDS}, timeout_s=20, what="all boards delivered")

        with srv.client() as c:
            records = runner.outbox.records()
            assert sorted(r["serial"] for r in records) == [f"ST-{i}" for i in range(N_BOARDS)]
            for rec in records:
                rows = c.get("/v1/inspections", params={"serial": rec["serial"]}).json()["items"]
                assert len(rows) == 1, f"{rec['serial']}: {len(rows)} inspections, want exactly one"
                doc = support.wait_done(c, rows[0]["id"], timeout_s=30)
                assert doc["status"] == "done", doc.get("error")
                latest = c.get(f"/v1/boards/{rec['serial']}").json()["latest"]
                assert latest["id"] == doc["id"] and latest["station_id"] == STATION
                # the record the station inspected with, in the version the service gave it
                board_dir = replay / f"{int(rec['serial'].split('-')[1]):06d}"
                want_cal = yaml.safe_load((board_dir / "cal_top.json").read_text())
                got_cal = latest["result"]["calibrations"]["top"]
                assert got_cal["camera_id"] == want_cal["camera_id"] == "TOP_SYN"
                assert got_cal["version"] == int(rec["serial"].split("-")[1]) + 1
                img = c.get(f"/v1/inspections/{doc['id']}/images/top")
                assert img.status_code == 200
                want = _expected(board_dir, rec["serial"], img.content)
                assert _untimed(latest["result"]["board"]) == _untimed(want["board"])
                assert latest["result"]["pins"] == want["pins"]
                # the station's own verdict is the service's
                assert rec["verdict"] == latest["verdict"]
            assert {r["serial"]: r["verdict"] for r in records}["ST-0"] == "FAIL"  # a missing pin never passes

            # a delivery the station re-sends (response lost) is the same inspection, never a second one
            assert runner.outbox.due(now=float("inf")) == []  # nothing left to send
            first = records[0]
            client = ServiceClient(srv.url, api_key=st_key)
            again = client.submit({"key": first["key"], "serial": first["serial"], "station_id": STATION,
                                   "recipe_id": first["recipe_id"], "calibrations": first["calibrations"],
                                   "images": {"top": _stored_top(c, first["serial"])}})
            client.close()
            assert again[0] and again[2]["replayed"] is True
            assert len(c.get("/v1/inspections", params={"station_id": STATION}).json()["items"]) == N_BOARDS
    finally:
        if deliverer is not None:
            deliverer.stop()
        if runner is not None:
            runner.close()
        srv.stop()


def _untimed(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "timings_ms"}  # wall-clock timings differ run to run


def _stored_top(c, serial: str) -> bytes:
    iid = c.get(f"/v1/boards/{serial}").json()["latest"]["id"]
    return c.get(f"/v1/inspections/{iid}/images/top").content
