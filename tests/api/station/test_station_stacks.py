"""The station inspects a replayed board's focus stacks as their manifests say (align, target, items,
stage_xy_mm: the same loader and pipeline as the CLI and the service); a manifest key it does not
understand makes the board not_inspected with the reason, never a PASS."""

from __future__ import annotations

from api.cli import main
from api.station.config import parse_config
from api.station.runner import StationRunner


def _board(root, name, seed, align_line):
    d = root / name
    assert main(["generate", str(d), "--seed", str(seed), "--rows", "1", "--cols", "2", "--views", "top,stack"]) == 0
    man = d / "stack_pins" / "manifest.csv"
    man.write_text(align_line + man.read_text())
    return d


def test_replayed_board_stacks_follow_their_manifest(tmp_path):
    root = tmp_path / "replay"
    _board(root, "a", 1, "# align: phase\n")
    _board(root, "b", 2, "# align: sift\n")
    cfg = parse_config({"station_id": "st-stack", "cameras": {"c": {"kind": "replay", "root": str(root)}}, "views": {"top": {"camera": "c"}},
                        "trigger": {"kind": "timer", "period_s": 0.01}, "database": str(tmp_path / "st.sqlite")}, base=tmp_path)
    r = StationRunner(cfg)
    seen = []
    r.listeners.append(seen.append)
    r.open()
    r.run(max_boards=2)
    r.close()
    a, b = seen
    assert a.status == "inspected", a.reason
    notes = a.result["notes"]
    assert any(n.startswith("aligned with phase (manifest)") for n in notes), notes
    pins = {p["id"]: p for p in a.result["pins"]}
    assert set(pins) == {"P01", "P02"}  # the manifest's items
    assert all(p["measurements"]["tip_height_mm"]["source"] == "stack:pins" for p in pins.values())
    assert a.calibrations.keys() >= {"top", "stack:pins"}
    assert b.status == "not_inspected" and b.verdict is None and "align 'sift' is not understood" in b.reason
