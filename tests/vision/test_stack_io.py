"""Focus stacks in: manifests (CSV/JSON), TIFF z metadata, 8/16-bit, mono/colour, and every bad stack as one precise line."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import tifffile

from models.errors import InputError
from vision.stack_io import load_stack, stack_from_arrays


def _slices(n=5, shape=(24, 32), dtype=np.uint8, colour=False, seed=0):
    rng = np.random.default_rng(seed)
    hi = 255 if dtype == np.uint8 else 65535
    sh = (*shape, 3) if colour else shape
    return [rng.integers(0, hi, sh, dtype=dtype) for _ in range(n)]


def _write(tmp_path, imgs, names=None):
    names = names or [f"s{i:02d}.png" for i in range(len(imgs))]
    for nm, im in zip(names, imgs):
        cv2.imwrite(str(tmp_path / nm), im if im.ndim == 2 else cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    return names


def _csv(tmp_path, names, z, header="file,z_mm", comments=()):
    p = tmp_path / "manifest.csv"
    p.write_text("\n".join([*comments, header, *(f"{n},{v}" for n, v in zip(names, z))]) + "\n")
    return p


@pytest.mark.parametrize("dtype,colour", [(np.uint8, False), (np.uint16, False), (np.uint8, True)])
def test_csv_manifest_round_trip(tmp_path, dtype, colour):
    imgs = _slices(dtype=dtype, colour=colour)
    names = _write(tmp_path, imgs)
    z = [0.0, 0.01, 0.02, 0.03, 0.04]
    st = load_stack(_csv(tmp_path, names, z, comments=["# target: pad:Q02", "# stage_xy_mm: 4.5 2.5"]))
    assert st.images.dtype == dtype and st.images.shape == (5, *imgs[0].shape)
    assert np.array_equal(st.images[3], imgs[3])
    assert st.z_mm.tolist() == z and st.z_step_mm == pytest.approx(0.01)
    assert st.target == ("pad", "Q02") and st.meta["stage_xy_mm"] == [4.5, 2.5]
    # the folder form finds the same manifest
    assert np.array_equal(load_stack(tmp_path).images, st.images)


def test_json_manifest_top_down_is_reversed_with_a_note(tmp_path):
    imgs = _slices()
    names = _write(tmp_path, imgs)
    z = [0.04, 0.03, 0.02, 0.01, 0.0]
    p = tmp_path / "stack.json"
    p.write_text(json.dumps({"target": "pins", "items": ["P01", "P02"], "slices": [{"file": n, "z_mm": v} for n, v in zip(names, z)]}))
    st = load_stack(p)
    assert st.z_mm.tolist() == sorted(z)
    assert st.names[0] == names[4] and np.array_equal(st.images[0], imgs[4])
    assert any("reversed" in n for n in st.notes)
    assert st.target == ("pins", None) and st.meta["items"] == ["P01", "P02"]


def test_tiff_z_metadata(tmp_path):
    imgs = _slices(dtype=np.uint16)
    for i, im in enumerate(imgs):
        desc = json.dumps({"z_mm": 0.05 * i}) if i % 2 else f"z_mm={0.05 * i}"
        tifffile.imwrite(tmp_path / f"f{i}.tif", im, description=desc)
    st = load_stack(tmp_path)
    assert np.allclose(st.z_mm, 0.05 * np.arange(5)) and st.images.dtype == np.uint16
    assert np.array_equal(st.images[2], imgs[2])


def test_tiff_without_z_is_refused(tmp_path):
    for i, im in enumerate(_slices(3)):
        tifffile.imwrite(tmp_path / f"f{i}.tif", im)
    with pytest.raises(InputError, match="no z in its ImageDescription"):
        load_stack(tmp_path)


@pytest.mark.parametrize(
    "case,match",
    [
        ("repeated_z", r"slices s01.png, s02.png have the same z_mm 0.01"),
        ("out_of_order", r"slices out of order: s03.png \(z 0.01\) follows s02.png \(z 0.03\) but the stack rises"),
        ("missing_file", r"slice file s09.png listed in the manifest does not exist"),
        ("gap", r"step between slices s02.png \(z 0.02\) and s03.png \(z 0.04\) is 0.02 mm .* a slice is missing"),
        ("mixed_size", r"slice s03.png is 40x24 .* all slices of a stack must have the same size"),
        ("mixed_depth", r"slice s04.png is uint16 but slice s00.png is uint8"),
        ("bad_header", r"must name the columns 'file' and 'z_mm'"),
        ("bad_number", r"data row 3 .* needs a file name and a number in z_mm"),
        ("too_few", r"needs at least 3 slices, got 2"),
    ],
)
def test_bad_stacks_are_one_precise_line(tmp_path, case, match):
    imgs = _slices()
    z = [0.0, 0.01, 0.02, 0.03, 0.04]
    names = [f"s{i:02d}.png" for i in range(5)]
    header = "file,z_mm"
    if case == "repeated_z":
        z[2] = 0.01
    elif case == "out_of_order":
        z = [0.0, 0.02, 0.03, 0.01, 0.04]
    elif case == "missing_file":
        names[4] = "s09.png"
    elif case == "gap":
        z = [0.0, 0.01, 0.02, 0.04, 0.05]
    elif case == "mixed_size":
        imgs[3] = np.zeros((24, 40), np.uint8)
    elif case == "mixed_depth":
        imgs[4] = np.zeros((24, 32), np.uint16)
    elif case == "bad_header":
        header = "name,height"
    elif case == "too_few":
        imgs, z, names = imgs[:2], z[:2], names[:2]
    _write(tmp_path, imgs, [n if n != "s09.png" else "s04.png" for n in names])
    p = _csv(tmp_path, names, z, header=header)
    if case == "bad_number":
        p.write_text(p.read_text().replace("s02.png,0.02", "s02.png,abc"))
    with pytest.raises(InputError, match=match) as ei:
        load_stack(p)
    assert "\n" not in str(ei.value)


def test_unknown_target_and_bad_manifest_type(tmp_path):
    st = stack_from_arrays(_slices(3), [0, 1, 2], meta={"target": "board"})
    with pytest.raises(InputError, match="target 'board' is not understood"):
        st.target
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(InputError, match="unknown stack manifest type"):
        load_stack(tmp_path / "m.txt")
    with pytest.raises(InputError, match="does not exist"):
        load_stack(tmp_path / "nope.csv")
