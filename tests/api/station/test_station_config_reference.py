"""Issue #15 item 14: the station configuration is documented from the model (README table and
`pogoscope schema station` agree with the code), every example config parses, and two stations on one
host are told which port (or database) clashes -- with real sockets and a real second process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from api.cli import main
from api.station import reference
from api.station.config import StationConfig, load_config
from tests.api.service import support

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "api" / "station" / "examples").glob("*.yaml"))


def test_readme_table_is_the_models_reference():
    section = reference.readme_section((REPO / "README.md").read_text())
    assert section is not None, "README lacks the station-config markers"
    assert section == reference.markdown(), "README station table is stale: python -m api.station.reference --write README.md"
    # every field of every nested model is in it, with its description
    keys = " ".join(r[0] for r in reference.rows())
    for k in ("cameras.<name>.frame_rate_hz", "cameras.<name>.gain_db", "cameras.<name>.loop", "cameras.<name>.cache",
              "cameras.<name>.paths", "trigger.topic", "trigger.poll_s", "trigger.period_s", "sink.timeout_s", "sink.held_retry_s",
              "health.port", "database", "retention.delivered_h"):
        assert f"`{k}`" in keys, k
    assert all(r[3] for r in reference.rows()), [r[0] for r in reference.rows() if not r[3]]


def test_schema_station_is_the_json_schema_of_the_model(tmp_path, capsys):
    assert main(["schema", "station", "--out", str(tmp_path / "s.json")]) == 0
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["properties"].keys() == StationConfig.model_json_schema()["properties"].keys()
    assert {"GenICamCamera", "ReplayCamera", "FilesCamera", "ApiTrigger", "MqttTrigger", "FolderTrigger", "TimerTrigger",
            "ServiceSink", "Retention", "Health"} <= set(doc["$defs"])
    assert main(["schema", "nonsense"]) == 2
    assert "station" in capsys.readouterr().err


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_parses(path):
    cfg = load_config(path)
    assert cfg.trigger.kind in path.stem


def test_one_example_per_trigger_kind():
    assert {load_config(p).trigger.kind for p in EXAMPLES} == {"api", "mqtt", "folder", "timer"}


def _station_yaml(tmp_path: Path, port: int, database: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    img = tmp_path / "img"
    img.mkdir(exist_ok=True)
    import cv2
    import numpy as np

    cv2.imwrite(str(img / "a.png"), np.zeros((8, 8), np.uint8))
    p = tmp_path / "station.yaml"
    p.write_text(yaml.safe_dump({"station_id": tmp_path.name, "cameras": {"c": {"kind": "files", "paths": str(img)}},
                                 "views": {"top": {"camera": "c"}}, "trigger": {"kind": "api"}, "database": database,
                                 "health": {"port": port}}))
    return p


def test_two_stations_on_one_host_are_told_which_port_or_database_clashes(tmp_path, capsys):
    port = support.free_port()
    first = _station_yaml(tmp_path / "first", port, str(tmp_path / "first.sqlite"))
    err = tmp_path / "first.err"
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "station", "run", "--config", str(first)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=err.open("wb"), text=True)
    try:
        t0 = time.monotonic()
        while "healthz at" not in err.read_text():
            assert proc.poll() is None and time.monotonic() - t0 < 30, err.read_text()
            time.sleep(0.05)
        # the same health port: one line naming it, exit 2
        second = _station_yaml(tmp_path / "second", port, str(tmp_path / "second.sqlite"))
        assert main(["station", "run", "--config", str(second)]) == 2
        msg = capsys.readouterr().err.strip()
        assert len(msg.splitlines()) == 1 and f"port {port} on 127.0.0.1" in msg and "health.port" in msg and "already in use" in msg
        # a free port but the first station's database: named, with who holds it
        third = _station_yaml(tmp_path / "third", 0, str(tmp_path / "first.sqlite"))
        assert main(["station", "run", "--config", str(third)]) == 2
        msg = capsys.readouterr().err.strip()
        assert re.search(r"outbox database .*first\.sqlite is in use by station first \(pid \d+\)", msg), msg
        # `station deliver` on a running station's database does not send behind its back
        assert main(["station", "deliver", "--config", str(first)]) == 2  # sink local: nothing to deliver
        assert "sink is 'local'" in capsys.readouterr().err
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "stopped (SIGTERM" in out
    # once the first has stopped, the database is free again
    assert main(["station", "run", "--config", str(tmp_path / "third" / "station.yaml"), "--max-boards", "0"]) == 0
