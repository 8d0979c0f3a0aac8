"""`pogoscope station record` (issue #15 item 13): it never writes into the delivery outbox, every
recording is a board folder `pogoscope inspect` reads (recipe and calibration records beside the
images, also when they came from a replayed board), and every trigger kind works: timer, folder,
MQTT (real Mosquitto) and api (POST /trigger on a real `station record` subprocess)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from api.cli import main
from vision.acquisition.genicam import find_virtual_cti

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    root = tmp_path_factory.mktemp("rec_replay")
    for i, defects in enumerate(["P02=missing", ""]):
        assert main(["generate", str(root / f"{i:06d}"), "--seed", str(60 + i), "--rows", "1", "--cols", "4", "--defects", defects,
                     "--serial", f"REC-{i}"]) == 0
    return root


def write_cfg(tmp_path: Path, replay: Path, trigger: dict, **extra) -> Path:
    # no station-level recipe or calibration: each replayed board carries its own (the case the issue found broken)
    cfg = {"station_id": "rec", "cameras": {"c": {"kind": "replay", "root": str(replay), "loop": True}}, "views": {"top": {"camera": "c"}},
           "trigger": trigger, "database": str(tmp_path / "outbox.sqlite"), "health": {"port": 0},
           "sink": {"kind": "service", "url": "http://127.0.0.1:9", "api_key": "k"}, **extra}
    tmp_path.mkdir(parents=True, exist_ok=True)
    p = tmp_path / "station.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def verdict(folder: Path, tmp: Path) -> str:
    out = tmp / f"{folder.name}.json"
    assert main(["inspect", str(folder), "--json", str(out)]) == 0
    return json.loads(out.read_text())["board"]["verdict"]


def test_recording_is_inspectable_and_never_touches_the_outbox(tmp_path, replay, capsys):
    cfg = write_cfg(tmp_path, replay, {"kind": "timer", "period_s": 0.01})
    assert main(["station", "record", "--config", str(cfg), "--out", str(tmp_path / "rec"), "--boards", "2"]) == 0
    assert "2 board(s) recorded" in capsys.readouterr().out
    assert not (tmp_path / "outbox.sqlite").exists()  # the delivery outbox is never opened, so `run` has nothing to send
    recorded = sorted((tmp_path / "rec").iterdir())
    assert [p.name for p in recorded] == ["000001_REC-0", "000002_REC-1"]
    for rec, orig in zip(recorded, sorted(replay.iterdir())):
        doc = yaml.safe_load((rec / "board.yaml").read_text())
        assert doc["recipe"] == "recipe.yaml" and doc["calibrations"] == {"top": "calibration_top.json"}
        assert verdict(rec, tmp_path) == verdict(orig, tmp_path)  # the same board, inspected from the recording
    # and a recording replays through a station like any board folder
    cfg2 = write_cfg(tmp_path / "again", tmp_path / "rec", {"kind": "timer", "period_s": 0.01})
    assert main(["station", "record", "--config", str(cfg2), "--out", str(tmp_path / "rec2"), "--boards", "5"]) == 0
    assert len(list((tmp_path / "rec2").iterdir())) == 5  # looped replay of the recordings


def test_a_camera_recording_needs_the_stations_recipe_and_calibration(tmp_path, capsys):
    cti = find_virtual_cti()
    if cti is None:
        pytest.skip("virtual GenTL producer not installed")
    board = tmp_path / "gen"
    assert main(["generate", str(board), "--seed", "5", "--rows", "1", "--cols", "2"]) == 0  # its record is for 720x544 px
    cfg = {"station_id": "rec", "cameras": {"c": {"kind": "genicam", "cti": "virtual", "index": 0, "width": 720, "height": 544,
                                                  "pixel_format": "Mono8"}},
           "views": {"top": {"camera": "c"}}, "trigger": {"kind": "timer", "period_s": 0.01}, "health": {"port": 0}}
    (tmp_path / "st.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["station", "record", "--config", str(tmp_path / "st.yaml"), "--out", str(tmp_path / "rec")]) == 2
    assert "needs recipe, views.top.calibration" in capsys.readouterr().err
    cfg["recipe"] = str(board / "recipe.yaml")
    cfg["views"]["top"]["calibration"] = str(board / "cal_top.json")
    (tmp_path / "st.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["station", "record", "--config", str(tmp_path / "st.yaml"), "--out", str(tmp_path / "rec")]) == 0
    (folder,) = (tmp_path / "rec").iterdir()
    from api.boardset import load_board_dir

    inp, manifest = load_board_dir(folder)  # what `pogoscope inspect` reads: recipe, image, calibration record
    assert inp.images["top"].shape == (544, 720) and set(inp.calibrations) == {"top"} and manifest.recipe == "recipe.yaml"


def test_folder_trigger_records_with_the_serial_from_the_file(tmp_path, replay, capsys):
    trig = tmp_path / "triggers"
    trig.mkdir()
    (trig / "a.trigger").write_text("LOT7-0001\n")
    (trig / "b.json").write_text(json.dumps({"serial": "LOT7-0002"}))
    cfg = write_cfg(tmp_path, replay, {"kind": "folder", "path": str(trig)})
    assert main(["station", "record", "--config", str(cfg), "--out", str(tmp_path / "rec"), "--boards", "2"]) == 0
    names = sorted(p.name for p in (tmp_path / "rec").iterdir())
    assert names == ["000001_LOT7-0001", "000002_LOT7-0002"]
    assert sorted(p.name for p in (trig / "done").iterdir()) == ["a.trigger", "b.json"]


def test_mqtt_trigger_records(tmp_path, replay):
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=0.5).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883")
    import paho.mqtt.client as mqtt

    topic = f"pogoscope-test/record/{uuid.uuid4().hex[:8]}"
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    try:  # retained: the station gets it when it subscribes, whenever that is
        pub.publish(topic, json.dumps({"serial": "MQ-1"}), qos=1, retain=True).wait_for_publish(5)
        cfg = write_cfg(tmp_path, replay, {"kind": "mqtt", "topic": topic})
        assert main(["station", "record", "--config", str(cfg), "--out", str(tmp_path / "rec"), "--boards", "1"]) == 0
    finally:
        pub.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        pub.loop_stop()
        pub.disconnect()
    assert [p.name for p in (tmp_path / "rec").iterdir()] == ["000001_MQ-1"]


def test_api_trigger_records_through_post_trigger(tmp_path, replay):
    cfg = write_cfg(tmp_path, replay, {"kind": "api"})
    err = tmp_path / "stderr.txt"
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "station", "record", "--config", str(cfg), "--out", str(tmp_path / "rec"),
                             "--boards", "2"], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=err.open("wb"), text=True)
    try:
        t0 = time.monotonic()
        while not (m := re.search(r"healthz at (http://\S+)/healthz", err.read_text())):
            assert proc.poll() is None and time.monotonic() - t0 < 30, err.read_text()
            time.sleep(0.05)
        url = m.group(1)
        for serial in ("API-1", "API-2"):
            r = httpx.post(url + "/trigger", content=serial, timeout=5)
            assert r.status_code == 202 and r.json()["serial"] == serial
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.read_text()[-2000:]
    assert "2 board(s) recorded" in out
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == ["000001_API-1", "000002_API-2"]
    assert not (tmp_path / "outbox.sqlite").exists()
