"""The station end to end with the real pipeline: generated boards replayed through the runner,
inspected by the top view, results persisted in the local outbox and published over real MQTT."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from api.cli import main
from api.station.config import parse_config
from api.station.runner import StationRunner


def _mosquitto_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    boards = [("000001_A", "P02=missing"), ("000002_B", ""), ("000003_C", "P04=tilt")]
    for i, (name, defects) in enumerate(boards):
        assert main(["generate", str(root / name), "--seed", str(40 + i), "--rows", "1", "--cols", "4",
                     "--defects", defects, "--serial", f"E2E-{i}"]) == 0
    return root


def test_replayed_boards_are_inspected_persisted_and_published(replay, tmp_path):
    if not _mosquitto_up():
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (start it: mosquitto -d -c /etc/mosquitto/mosquitto.conf)")
    import paho.mqtt.client as mqtt

    got, subscribed = [], threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", 1883)
    sub.subscribe("pogoscope-test/e2e/#", qos=1)
    sub.loop_start()
    try:
        assert subscribed.wait(5)
        cfg = parse_config({"station_id": "e2e", "cameras": {"c": {"kind": "replay", "root": str(replay)}},
                            "views": {"top": {"camera": "c"}}, "trigger": {"kind": "timer", "period_s": 0.01},
                            "database": str(tmp_path / "st.sqlite"),
                            "publish": {"mqtt_topic": "pogoscope-test/e2e/results"}}, base=tmp_path)
        seen = []
        r = StationRunner(cfg)
        r.listeners.append(seen.append)
        r.open()
        r.run()
        r.close()
        assert [s.serial for s in seen] == ["E2E-0", "E2E-1", "E2E-2"]
        assert all(s.status == "inspected" for s in seen), [s.reason for s in seen]
        # the replayed board with a missing pin never passes, and the reason is there
        assert seen[0].verdict == "FAIL"
        assert r.outbox.counts() == {"local": 3}
        for _ in range(50):
            if len(got) >= 3:
                break
            threading.Event().wait(0.1)
        assert sorted(m.get("serial") for m in got) == ["E2E-0", "E2E-1", "E2E-2"]
    finally:
        sub.loop_stop()
        sub.disconnect()
