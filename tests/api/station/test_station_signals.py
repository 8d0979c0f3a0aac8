"""SIGINT and SIGTERM stop a real `pogoscope station run` on the virtual GenICam producer within 2 s,
with one summary line, the current board finished or recorded ``not_inspected``, and the outbox
consistent with the summary. Real signals to a real subprocess; no mocks.

Before the fix, SIGINT never reached the station: harvesters' ImageAcquirer replaced the SIGINT
handler with one that destroyed the acquirer, the station reconnected, and the next fetch hung in
the producer with the GIL held (the process ran until SIGKILL)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.api.station.waiting import until
from vision.acquisition.genicam import find_virtual_cti

CTI = find_virtual_cti()
REPO = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.skipif(CTI is None, reason="genicam wheel's virtual producer (.cti) not installed"), pytest.mark.timeout(90)]

RECIPE = {"recipe_id": "sig", "board": {"id": "b", "size_mm": [20, 10, 1.6]}, "pin_type": {
    "flange_diameter_mm": 1.4, "flange_thickness_mm": 0.3, "barrel_diameter_mm": 1.0, "barrel_length_mm": 2.0,
    "plunger_diameter_mm": 0.56, "plunger_protrusion_mm": 1.0, "tip_dome_radius_mm": 0.35, "tip_height_nominal_mm": 3.32},
    "pin_grid": {"rows": 1, "cols": 2, "pitch_mm": 2.54, "origin_mm": [5, 5]}}


def start_station(tmp_path: Path, camera: dict, *, period_s: float) -> tuple[subprocess.Popen, str, Path]:
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    cfg = {"station_id": "sigtest", "cameras": {"c": {"kind": "genicam", "cti": "virtual", **camera}},
           "views": {"top": {"camera": "c"}}, "recipe": "recipe.yaml", "trigger": {"kind": "timer", "period_s": period_s},
           "health": {"port": 0}, "database": "station.sqlite"}
    (tmp_path / "station.yaml").write_text(yaml.safe_dump(cfg))
    err = tmp_path / "stderr.txt"
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "station", "run", "--config", str(tmp_path / "station.yaml")],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=err.open("wb"), text=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        m = re.search(r"healthz at (http://\S+)/healthz", err.read_text())
        if m:
            return proc, m.group(1), err
        assert proc.poll() is None, err.read_text()
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("station did not start: " + err.read_text()[-2000:])


def health(url: str) -> dict:
    return httpx.get(url + "/healthz", timeout=2).json()


def stop_and_time(proc: subprocess.Popen, sig: int) -> tuple[float, str]:
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"station still running 10 s after {signal.Signals(sig).name}")
    return time.monotonic() - t0, out


def outbox_rows(db: Path) -> list[dict]:
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT record_json FROM boards ORDER BY created").fetchall()
    return [json.loads(r[0]) for r in rows]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_a_genicam_station_on_a_timer_within_2_s(tmp_path, sig):
    # a timer much faster than the boards: triggers queue up, and none of them may run after the signal
    proc, url, err = start_station(tmp_path, {"index": 0, "width": 320, "height": 240, "pixel_format": "Mono8"}, period_s=0.005)
    try:
        until(lambda: health(url)["counts"]["boards"] >= 5, what="5 boards", poll_s=0.01)
        took, out = stop_and_time(proc, sig)
    finally:
        if proc.poll() is None:
            proc.kill()
    name = signal.Signals(sig).name
    assert took < 2.0, f"{name}: exit took {took:.2f} s"
    assert proc.returncode == 0, err.read_text()[-2000:]
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    m = re.match(rf"station sigtest stopped \({name}, [\d.]+ s after the signal\): (\d+) boards, (\d+) inspected, (\d+) not inspected; "
                 r"outbox: (\d+) local$", lines[0])
    assert m, lines[0]
    boards, inspected, not_inspected, local = map(int, m.groups())
    assert boards == inspected + not_inspected == local >= 5
    rows = outbox_rows(tmp_path / "station.sqlite")
    assert len(rows) == boards  # every board the summary counts is committed, none half-written
    assert all(r["status"] in ("inspected", "not_inspected") for r in rows)
    assert all(r["verdict"] is None for r in rows if r["status"] == "not_inspected")
    assert "Traceback" not in err.read_text()


def test_signal_during_a_capture_abandons_the_board_as_not_inspected(tmp_path):
    # 1 frame/s (the virtual device's slowest) and a long fetch timeout: the station spends nearly all its time waiting
    # for a frame. A frame can still land between the poll that saw "capturing" and the signal (once in ~30 runs on a
    # loaded CI): that board is then inspected, rightly, and the run did not test the abandon -- it is run again
    for attempt in range(3):
        run = tmp_path / f"run{attempt}"
        run.mkdir()
        proc, url, err = start_station(run, {"index": 1, "width": 320, "height": 240, "pixel_format": "Mono8", "frame_rate_hz": 1.0,
                                             "fetch_timeout_s": 10.0}, period_s=0.01)
        try:
            until(lambda: health(url)["counts"]["boards"] >= 1, what="a board", poll_s=0.01)
            until(lambda: health(url)["state"] == "capturing", what="capturing", poll_s=0.01)
            took, out = stop_and_time(proc, signal.SIGTERM)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert took < 2.0, f"exit took {took:.2f} s with a capture waiting up to 10 s"
        assert proc.returncode == 0 and "stopped (SIGTERM" in out
        rows = outbox_rows(run / "station.sqlite")
        assert f"{len(rows)} boards" in out
        last = rows[-1]
        if "stopped during capture" in (last["reason"] or ""):
            assert last["status"] == "not_inspected" and last["verdict"] is None
            return
        assert last["status"] in ("inspected", "not_inspected"), last  # the frame came first: a whole board, consistent
    raise AssertionError("in three runs a frame always landed before the signal: the abandon was never exercised")
