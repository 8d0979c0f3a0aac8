import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import yaml

from api.station.config import parse_config
from api.station.delivery import Deliverer, ServiceClient
from api.station.outbox import Outbox
from api.station.recorder import Recorder
from api.station.runner import StationRunner
from api.station.triggers import parse_payload
from models.errors import InputError
from models.decision import Verdict
from models.result import BoardResult, BoardSummary
from vision.acquisition.base import Frame
from vision.acquisition.genicam import find_virtual_cti

RECIPE = {"recipe_id": "r1", "board": {"id": "b", "size_mm": [20, 10, 1.6]}, "pin_type": {
    "flange_diameter_mm": 1.4, "flange_thickness_mm": 0.3, "barrel_diameter_mm": 1.0, "barrel_length_mm": 2.0,
    "plunger_diameter_mm": 0.56, "plunger_protrusion_mm": 1.0, "tip_dome_radius_mm": 0.35, "tip_height_nominal_mm": 3.32},
    "pin_grid": {"rows": 1, "cols": 2, "pitch_mm": 2.54, "origin_mm": [5, 5]}}


def fake_inspect(calls):
    def run(serial, images, cals, recipe):
        calls.append((serial, {v: i.shape for v, i in images.items()}))
        if images["top"].mean() > 200:  # a "bad" board the pipeline rejects
            raise InputError("top image is overexposed")
        return BoardResult(board=BoardSummary(serial=serial, recipe_id=recipe.recipe_id, recipe_version=1, verdict=Verdict.FAIL))
    return run


def make_replay(tmp_path, n=3):
    rec = Recorder(tmp_path / "replay")
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 100 if i != 1 else 255, (60, 80, 3)).astype(np.uint8)
        if i == 1:
            img[:] = 250
        rec.save(f"SN{i}", {"top": Frame(img, "RGB8", time.time(), i, "synthetic")}, recipe=tmp_path / "recipe.yaml")
    return tmp_path / "replay"


def config(tmp_path, camera, **kw):
    raw = {"station_id": "st1", "cameras": {"c": camera}, "views": {"top": {"camera": "c"}},
           "trigger": {"kind": "api"}, "database": str(tmp_path / "st.sqlite"), **kw}
    return parse_config(raw, base=tmp_path)


def test_config_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="field 'views.top'|camera 'x'"):
        parse_config({"station_id": "s", "cameras": {}, "views": {"top": {"camera": "x"}}, "trigger": {"kind": "api"}}, base=tmp_path)
    with pytest.raises(InputError, match="trigger"):
        parse_config({"station_id": "s", "cameras": {"c": {"kind": "files", "paths": "x"}}, "views": {"top": {"camera": "c"}},
                      "trigger": {"kind": "pigeon"}}, base=tmp_path)
    assert parse_payload(b'{"serial": "A1"}') == "A1" and parse_payload(b"B2\n") == "B2" and parse_payload(b"") is None


def test_replay_boards_inspected_failed_board_never_pass_and_replay_recorded(tmp_path):
    root = make_replay(tmp_path)
    cfg = config(tmp_path, {"kind": "replay", "root": str(root)}, trigger={"kind": "timer", "period_s": 0.01})
    calls = []
    r = StationRunner(cfg, inspect=fake_inspect(calls), recorder=Recorder(tmp_path / "rec"))
    seen = []
    r.listeners.append(seen.append)
    r.open()
    r.run()
    r.close()
    assert [s.serial for s in seen] == ["SN0", "SN1", "SN2"]
    assert [s.status for s in seen] == ["inspected", "not_inspected", "inspected"]
    assert seen[1].verdict is None and "overexposed" in seen[1].reason
    assert [c[1]["top"] for c in calls] == [(60, 80, 3)] * 3
    assert r.outbox.counts() == {"local": 3}
    assert len(list((tmp_path / "rec").iterdir())) == 3  # recorded boards replayable
    assert r.state == "idle"


def test_camera_and_replay_go_through_the_same_capture_path(tmp_path, monkeypatch):
    cti = find_virtual_cti()
    if cti is None:
        pytest.skip("virtual GenTL producer not installed")
    used = []
    orig = StationRunner._capture
    monkeypatch.setattr(StationRunner, "_capture", lambda self, meta: used.append(self.cfg.cameras["c"].kind) or orig(self, meta))
    calls = []
    cam = {"kind": "genicam", "cti": str(cti), "index": 0, "width": 160, "height": 120, "pixel_format": "Mono8"}
    r = StationRunner(config(tmp_path, cam, recipe=str(_recipe(tmp_path))), inspect=fake_inspect(calls))
    r.open()
    assert r.health()["cameras"]["c"]["trigger_mode"] == "fetch-on-demand"
    r.trigger.fire("CAM1")
    r.run(max_boards=1)
    # the camera vanishes mid-run: real GenTL handles destroyed under the runner
    r.sources["c"]._ia.destroy()
    rec = r.handle(type("T", (), {"source": "api", "serial": "CAM2", "received": time.perf_counter()})())
    assert rec.status == "not_inspected" and rec.verdict is None and "capture failed" in rec.reason
    assert r.state == "fault" and r.health()["state"] == "fault"
    r.cfg.reconnect_every_s = 0.0
    r._try_reconnect()
    assert r.state == "idle"
    r.trigger.fire("CAM3")
    r.run(max_boards=1)
    r.close()
    r2 = StationRunner(config(tmp_path / "b", {"kind": "replay", "root": str(make_replay(tmp_path / "b", 1))}), inspect=fake_inspect(calls))
    r2.open(); r2.trigger.fire(None); r2.run(max_boards=1); r2.close()
    assert used == ["genicam", "genicam", "genicam", "replay"]
    assert [c[0] for c in calls] == ["CAM1", "CAM3", "SN0"] and calls[0][1]["top"] == (120, 160)


def _recipe(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    p = tmp_path / "recipe.yaml"
    p.write_text(yaml.safe_dump(RECIPE))
    return p


def test_fetch_timeout_and_wrong_frame_size_do_not_stop_the_line(tmp_path):
    cti = find_virtual_cti()
    if cti is None:
        pytest.skip("virtual GenTL producer not installed")
    cam = {"kind": "genicam", "cti": str(cti), "index": 2, "width": 160, "height": 120, "pixel_format": "Mono8",
           "frame_rate_hz": 1.0, "fetch_timeout_s": 0.05}
    r = StationRunner(config(tmp_path, cam, recipe=str(_recipe(tmp_path))), inspect=fake_inspect([]))
    r.open()
    T = type("T", (), {"source": "api", "serial": "X", "received": 0.0})
    rec = r.handle(T())  # 1 fps camera, 50 ms fetch timeout: a real fetch timeout
    assert rec.status == "not_inspected" and rec.verdict is None and "fetch timeout" in rec.reason
    assert r.state != "fault"  # a timeout is not a lost camera
    r.sources["c"].node_map.AcquisitionFrameRate.value = 200.0
    r.sources["c"].fetch_timeout_s = 1.0
    r.sources["c"].expected_shape = (480, 640)  # a frame of the wrong size arrives
    rec = r.handle(T())
    assert rec.status == "not_inspected" and rec.verdict is None and "640x480 px was expected" in rec.reason
    r.sources["c"].expected_shape = None
    rec = r.handle(T())  # the line goes on: this board is captured
    assert rec.views["top"].shape == [120, 160] and not (rec.reason or "").startswith("capture")
    r.close()


class _Service:
    """A small real HTTP server on loopback standing in for the service (POST /v1/inspections)."""

    def __init__(self):
        self.got, self.up = [], False
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not outer.up:
                    self.send_response(503); self.end_headers(); return
                outer.got.append((self.headers["Idempotency-Key"], self.headers["X-API-Key"], body))
                self.send_response(201); self.send_header("Content-Type", "application/json"); self.end_headers()
                self.wfile.write(b'{"id": "x"}')

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"


def test_service_unreachable_results_kept_and_delivered_later_none_lost(tmp_path):
    root = make_replay(tmp_path, 3)
    svc = _Service()
    cfg = config(tmp_path, {"kind": "replay", "root": str(root)}, trigger={"kind": "timer", "period_s": 0.01},
                 sink={"kind": "service", "url": svc.url, "api_key": "k1"})
    r = StationRunner(cfg, inspect=fake_inspect([]))
    r.open(); r.run(); r.close()
    ob = r.outbox
    assert ob.counts() == {"pending": 3}
    d = Deliverer(ob, ServiceClient(svc.url, api_key="k1"), base_s=0.01)
    assert d.drain_once() == 0 and "503" in d.last_error  # service down
    # an unreachable address as well
    d2 = Deliverer(ob, ServiceClient("http://127.0.0.1:9", api_key="k1"), base_s=0.01)
    time.sleep(0.05)
    assert d2.drain_once() == 0 and "unreachable" in d2.last_error
    assert ob.counts() == {"pending": 3}
    svc.up = True
    deadline = time.time() + 5
    while ob.counts().get("delivered", 0) < 3 and time.time() < deadline:
        time.sleep(0.05)
        d.drain_once()
    assert ob.counts() == {"delivered": 3}
    assert len({k for k, _, _ in svc.got}) == 3 and all(key == "k1" for _, key, _ in svc.got)
    assert all(b'name="top"' in body and b"\x89PNG" in body for _, _, body in svc.got)
    svc.srv.shutdown()


def test_trigger_backlog_is_bounded_and_a_timer_skips_ticks_while_busy():
    # an unbounded queue behind a fast timer was the soak's RSS growth and the backlog inspected after Ctrl-C
    from api.station.triggers import ApiTrigger, TimerTrigger

    t = TimerTrigger(0.001)
    t.start()
    time.sleep(0.2)  # nobody takes the triggers: a busy station
    t.stop()
    assert t.queue.qsize() == 1 and t.dropped > 50
    t2 = TimerTrigger(0.001, count=3)
    t2.start()
    got = [t2.get(timeout=1) for _ in range(3)]
    time.sleep(0.05)
    assert all(got) and t2.queue.empty() and t2.finished  # `count` boards, skipped ticks not counted
    a = ApiTrigger()
    assert all(a.fire(f"S{i}") for i in range(a.max_pending))
    assert a.fire("one too many") is False and a.dropped == 1 and a.queue.qsize() == a.max_pending
