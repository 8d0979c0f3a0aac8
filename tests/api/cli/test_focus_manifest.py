"""`pogoscope focus`: the manifest is the stack's truth (align, target, items, stage_xy_mm), a flag
overrides a key and says so, and the result says what share was measured and why the rest was not."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from api.cli import main
from vision.synth.scene import PadCondition
from vision.synth.stack import pad_stack


@pytest.fixture(scope="module")
def pad(tmp_path_factory):
    """A generated pad stack on disk (17 slices, 480x360); the manifest head is written per test."""
    d = tmp_path_factory.mktemp("padstack")
    ss = pad_stack(PadCondition("Q1", (0.0, 0.0), (1.4, 1.0), warp_shape="dome", warp_pv_um=30.0), np.round(np.arange(17) * 0.01, 6), seed=5)
    rows = []
    for i, (im, z) in enumerate(zip(ss.stack.images, ss.stack.z_mm)):
        cv2.imwrite(str(d / f"s{i:02d}.png"), im)
        rows.append(f"s{i:02d}.png,{z}")
    return d, "file,z_mm\n" + "\n".join(rows) + "\n"


def _manifest(pad, head: str):
    d, body = pad
    p = d / "manifest.csv"
    p.write_text(head + body)
    return p


def test_every_manifest_key_followed_without_flags(pad, tmp_path, capsys):
    man = _manifest(pad, "# target: pad:Q1\n# align: phase\n# items: P01 P02\n# stage_xy_mm: 2.5 -1\n")
    assert main(["focus", str(man), "--out", str(tmp_path / "hm.png"), "--json", str(tmp_path / "r.json")]) == 0
    cap = capsys.readouterr()
    assert cap.err == ""  # nothing overridden
    assert "target pad Q1, items P01 P02, stage (2.5, -1) mm" in cap.out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["manifest"] == {"target": "pad:Q1", "align": "phase", "items": ["P01", "P02"], "stage_xy_mm": [2.5, -1.0]}
    assert doc["settings"]["window_px"] == 15  # the pad settings of the inspection
    assert any(n.startswith("aligned with phase") for n in doc["notes"])


def test_flags_override_the_manifest_and_say_so(pad, tmp_path, capsys):
    man = _manifest(pad, "# target: pad:Q1\n# align: phase\n# items: P01 P02\n# stage_xy_mm: 2.5 -1\n")
    assert main(["focus", str(man), "--out", str(tmp_path / "hm.png"), "--json", str(tmp_path / "r.json"), "--align", "none",
                 "--target", "pins", "--items", "P03", "--stage-xy-mm", "1 2"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["--align none overrides the manifest's align: phase", "--target pins overrides the manifest's target: pad:Q1",
                   "--items P03 overrides the manifest's items: ['P01', 'P02']", "--stage-xy-mm 1 2 overrides the manifest's stage_xy_mm: [2.5, -1.0]"]
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["manifest"] == {"target": "pins", "align": None, "items": ["P03"], "stage_xy_mm": [1.0, 2.0]}
    assert doc["settings"]["window_px"] == 9
    assert not any(n.startswith("aligned") for n in doc["notes"]) and len([n for n in doc["notes"] if "overrides" in n]) == 4
    # a flag on a key the manifest lacks says that too
    man = _manifest(pad, "")
    assert main(["focus", str(man), "--out", str(tmp_path / "hm.png"), "--align", "ecc"]) == 0
    cap = capsys.readouterr()
    assert cap.err.strip() == "--align ecc (the manifest has no align)" and "aligned with ecc" in cap.out


@pytest.mark.parametrize("head,flags,why", [
    ("# align: sift\n", [], "align 'sift' is not understood"),
    ("# stage_xy_mm: 1\n", [], "stage_xy_mm"),
    ("# target: pad\n", [], "target 'pad' is not understood"),
    ("", ["--stage-xy-mm", "a b"], "--stage-xy-mm 'a b' needs two numbers"),
    ("", ["--align", "sift"], "--align must be none, ecc or phase"),
])
def test_bad_manifest_keys_and_flags_one_line_exit_2(pad, tmp_path, head, flags, why):
    man = _manifest(pad, head)
    r = subprocess.run([sys.executable, "-m", "api.cli", "focus", str(man), "--out", str(tmp_path / "h.png"), *flags],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and why in r.stderr and r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert not (tmp_path / "h.png").exists()


def test_unmeasured_share_and_reasons_in_the_result_and_the_picture(pad, tmp_path, capsys):
    man = _manifest(pad, "# target: pad:Q1\n")
    out = tmp_path / "hm.png"
    assert main(["focus", str(man), "--out", str(out), "--json", str(tmp_path / "r.json")]) == 0
    line = capsys.readouterr().out
    cov = json.loads((tmp_path / "r.json").read_text())["coverage"]
    un = cov["unmeasured"]
    assert set(un) == {"no_contrast", "outside_z_range"} and set(cov["explain"]) == set(un)
    assert abs(cov["measured_fraction"] + sum(un.values()) - 1) < 1e-3
    assert 0 < cov["measured_fraction"] < 1 and un["no_contrast"] > 0  # flat ENIG: much of it has no contrast
    assert (f"{cov['measured_fraction'] * 100:.1f} % of pixels measured, not measured: {un['no_contrast'] * 100:.1f} % no contrast, "
            f"{un['outside_z_range'] * 100:.1f} % outside the z range") in line
    hm = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    view = hm[:360, :480].astype(int)
    grey = (view[..., 0] == view[..., 1]) & (view[..., 1] == view[..., 2])
    # unmeasured pixels are neutral grey (hatched: two levels), measured ones carry the colour scale (viridis has no grey)
    assert abs(grey.mean() - (1 - cov["measured_fraction"])) < 0.01
    assert len(np.unique(view[grey][:, 0])) >= 2
    band = hm[360:, :480]
    assert band.shape[0] == 20 and (band == 255).mean() > 0.6 and (band < 100).any()  # the legend, with text
