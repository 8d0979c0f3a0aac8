"""Focus stacks in: a folder of slices plus the focus-plane z of each slice.

One entry point, `load_stack(path)`, accepts

* a CSV manifest with a header ``file,z_mm`` (file names relative to the manifest),
* a JSON manifest: ``{"slices": [{"file": ..., "z_mm": ...}, ...], ...}`` or a bare list of
  such objects; optional top-level keys are kept in ``FocusStack.meta`` (e.g. ``mm_per_px``,
  ``stage_xy_mm`` -- the board position of the optical axis -- or ``items`` -- the ids in view),
* a folder holding ``manifest.csv`` or ``manifest.json``, or TIFF slices whose ImageDescription
  carries the z as JSON ``{"z_mm": ...}`` or as text ``z_mm=<value>``.

What a stack images, and where (manifest metadata; JSON top-level keys, or ``# key: value`` comment
lines at the top of a CSV manifest):

* ``target``: ``pins`` (the pins in view are measured) or ``pad:<ID>`` (the mating pad <ID> of the
  recipe is judged). Default ``pins``.
* ``items``: the pin ids in view (JSON list, or space/comma separated in a CSV comment).
* ``stage_xy_mm``: board (x, y) of the optical axis, from the stage and the board's registration;
  with it pins are looked for where the recipe puts them, without it they are found in the image and
  named from ``items`` left to right.
* ``align``: ``ecc`` or ``phase`` for hand-held stacks (frames registered before depth from focus).
* ``z_mm`` of a slice is the height of its focus plane in the **board frame** (mm above the board
  surface), so the heights measured from the stack are board heights.

Slices listed top-down (z decreasing) are reversed (a stage may be driven either way) and
``FocusStack.notes`` says so; slices out of order (z going up and down), a repeated z, a missing
slice file, slices of different
size, channel count or bit depth, and a gap in z (a step over 1.5x the median: a slice is missing)
are an `InputError`.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.errors import InputError
from vision.io import read_image

__all__ = ["FocusStack", "load_stack", "stack_from_arrays"]


@dataclass
class FocusStack:
    """Slices of one field of view at known focus-plane heights.

    Attributes
    ----------
    images : ndarray, shape (N, H, W) or (N, H, W, 3), uint8 or uint16
        Slices in increasing z order; colour is RGB.
    z_mm : ndarray, shape (N,), float64
        Focus-plane height of each slice in mm, strictly increasing.
    names : list of str
        Slice file names (or labels), in the same order.
    """

    images: np.ndarray
    z_mm: np.ndarray
    names: list[str]
    source: str = ""
    meta: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.images.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def target(self) -> tuple[str, str | None]:
        """``("pins", None)`` or ``("pad", ID)`` from the manifest's ``target`` (default pins)."""
        t = str(self.meta.get("target", "pins")).strip()
        if t == "pins":
            return "pins", None
        if t.startswith("pad:") and t[4:].strip():
            return "pad", t[4:].strip()
        raise InputError(f"{self.source}: target {t!r} is not understood; write 'target: pins' or 'target: pad:<ID>' in the manifest")

    @property
    def align(self) -> str | None:
        """``"ecc"``, ``"phase"`` or None (no ``align`` in the manifest, or ``none``)."""
        a = self.meta.get("align")
        a = None if a is None else str(a).strip().lower()
        if a in (None, "", "none"):
            return None
        if a not in ("ecc", "phase"):
            raise InputError(f"{self.source}: align {self.meta.get('align')!r} is not understood; write 'align: ecc' or 'align: phase' "
                             "(hand-held stacks) in the manifest, or leave it out")
        return a

    @property
    def items(self) -> list[str]:
        """The pin ids in view (manifest ``items``), in the order given; [] when not given."""
        it = self.meta.get("items")
        if it is None:
            return []
        if isinstance(it, str):
            it = [t for t in re.split(r"[\s,]+", it) if t]
        if not isinstance(it, list) or not all(isinstance(t, (str, int)) for t in it):
            raise InputError(f"{self.source}: items {it!r} must be a list of pin ids (e.g. 'items: P01 P02')")
        return [str(t) for t in it]

    @property
    def stage_xy_mm(self) -> tuple[float, float] | None:
        """Board (x, y) of the optical axis (manifest ``stage_xy_mm``), or None."""
        v = self.meta.get("stage_xy_mm")
        if v is None:
            return None
        try:
            xy = tuple(float(t) for t in v)
        except (TypeError, ValueError):
            xy = ()
        if len(xy) != 2 or not all(np.isfinite(xy)):
            raise InputError(f"{self.source}: stage_xy_mm {v!r} must be two numbers (board x y of the optical axis, mm)")
        return xy

    def check_meta(self) -> None:
        """Raise `InputError` naming the first manifest key (target, align, items, stage_xy_mm) that is not understood."""
        self.target, self.align, self.items, self.stage_xy_mm  # noqa: B018 (each property validates its key)

    @property
    def z_step_mm(self) -> float:
        """Median step between slices (mm)."""
        return float(np.median(np.diff(self.z_mm))) if self.n > 1 else float("nan")


def stack_from_arrays(images, z_mm, *, names=None, source: str = "arrays", meta: dict | None = None) -> FocusStack:
    """Validate slices held in memory and return a `FocusStack` sorted by z.

    Parameters
    ----------
    images : sequence of ndarray, each (H, W) or (H, W, 3), uint8 or uint16
    z_mm : sequence of float, shape (N,)
        Focus-plane height of each slice (mm).
    """
    imgs = list(images)
    z = np.asarray(z_mm, dtype=np.float64).ravel()
    names = list(names) if names is not None else [f"slice_{i:02d}" for i in range(len(imgs))]
    if len(imgs) < 3:
        raise InputError(f"{source}: a focus stack needs at least 3 slices, got {len(imgs)}")
    if len(z) != len(imgs) or len(names) != len(imgs):
        raise InputError(f"{source}: {len(imgs)} slices but {len(z)} z values; give one z_mm per slice")
    if not np.all(np.isfinite(z)):
        raise InputError(f"{source}: z_mm must be finite numbers")
    ref = imgs[0]
    for nm, im in zip(names, imgs):
        if im.ndim not in (2, 3) or (im.ndim == 3 and im.shape[2] != 3):
            raise InputError(f"{source}: slice {nm} has shape {im.shape}; give mono (H, W) or RGB (H, W, 3) slices")
        if im.shape != ref.shape:
            raise InputError(f"{source}: slice {nm} is {im.shape[1]}x{im.shape[0]} ({'colour' if im.ndim == 3 else 'mono'}) "
                             f"but slice {names[0]} is {ref.shape[1]}x{ref.shape[0]} ({'colour' if ref.ndim == 3 else 'mono'}); "
                             "all slices of a stack must have the same size and channels")
        if im.dtype != ref.dtype:
            raise InputError(f"{source}: slice {nm} is {im.dtype} but slice {names[0]} is {ref.dtype}; use one bit depth for the stack")
    uniq, counts = np.unique(z, return_counts=True)
    if np.any(counts > 1):
        zz = uniq[counts > 1][0]
        dup = [n for n, zi in zip(names, z) if zi == zz]
        raise InputError(f"{source}: slices {', '.join(dup)} have the same z_mm {zz:g}; each slice needs its own focus height")
    notes = []
    dz = np.diff(z)
    if len(z) > 2 and not (np.all(dz > 0) or np.all(dz < 0)):
        # a stage drives one way: a list that goes up and down has slices swapped or mislabelled
        i = int(np.flatnonzero(np.sign(dz) != np.sign(dz[0]))[0])
        raise InputError(f"{source}: slices out of order: {names[i + 1]} (z {z[i + 1]:g}) follows {names[i]} (z {z[i]:g}) but the stack "
                         f"{'rises' if dz[0] > 0 else 'falls'} from {names[0]} to {names[1]}; list the slices in stage order with their own z")
    order = np.argsort(z, kind="stable")
    zs = z[order]
    if len(zs) >= 3:
        steps = np.diff(zs)
        med = float(np.median(steps))
        gap = np.flatnonzero(steps > 1.5 * med)
        if gap.size:
            i = int(gap[0])
            raise InputError(f"{source}: the step between slices {names[order[i]]} (z {zs[i]:g}) and {names[order[i + 1]]} "
                             f"(z {zs[i + 1]:g}) is {steps[i]:g} mm but the stack steps {med:g} mm; a slice is missing -- "
                             "re-acquire it or list it in the manifest")
    if np.any(order != np.arange(len(z))):
        notes.append(f"{source}: slices were listed top-down (decreasing z); reversed to increasing z")
    arr = np.stack([imgs[i] for i in order])
    return FocusStack(arr, z[order], [names[i] for i in order], source=source, meta=dict(meta or {}), notes=notes)


def _csv_meta(lines: list[str]) -> dict:
    meta: dict = {}
    for ln in lines:
        body = ln.lstrip("#").strip()
        if ":" not in body:
            continue
        k, v = (t.strip() for t in body.split(":", 1))
        if k == "items":
            meta[k] = [t for t in re.split(r"[\s,]+", v) if t]
        elif k == "stage_xy_mm":
            try:
                meta[k] = [float(t) for t in re.split(r"[\s,]+", v) if t]
            except ValueError:
                raise InputError(f"manifest comment 'stage_xy_mm: {v}' needs two numbers (board x y in mm)") from None
        else:
            meta[k] = v
    return meta


def _read_csv(p: Path) -> tuple[list[tuple[str, float]], dict]:
    with p.open(newline="") as fh:
        text = fh.read().splitlines()
    comments = [ln for ln in text if ln.lstrip().startswith("#")]
    rows = list(csv.reader([ln for ln in text if not ln.lstrip().startswith("#")]))
    if not rows:
        raise InputError(f"{p}: the manifest is empty; give a header 'file,z_mm' and one row per slice")
    head = [h.strip().lower() for h in rows[0]]
    if "file" not in head or "z_mm" not in head:
        raise InputError(f"{p}: the manifest header is {','.join(rows[0])!r}; it must name the columns 'file' and 'z_mm'")
    fi, zi = head.index("file"), head.index("z_mm")
    out = []
    for k, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue
        try:
            out.append((r[fi].strip(), float(r[zi])))
        except (IndexError, ValueError):
            raise InputError(f"{p}: data row {k - 1} ({','.join(r)!r}) needs a file name and a number in z_mm") from None
    return out, _csv_meta(comments)


def _read_json(p: Path) -> tuple[list[tuple[str, float]], dict]:
    try:
        raw = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: the manifest is not valid JSON: {exc}") from None
    meta = {}
    if isinstance(raw, dict):
        meta = {k: v for k, v in raw.items() if k != "slices"}
        raw = raw.get("slices")
    if not isinstance(raw, list):
        raise InputError(f"{p}: expected a list of slices ({{'file': ..., 'z_mm': ...}}) under 'slices'")
    out = []
    for k, s in enumerate(raw):
        try:
            out.append((str(s["file"]), float(s["z_mm"])))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{p}: slice {k} needs 'file' and a numeric 'z_mm'") from None
    return out, meta


_Z_RE = re.compile(r"z_mm\s*[=:]\s*\"?([-+0-9.eE]+)")


def _tiff_z(p: Path) -> float:
    import tifffile

    with tifffile.TiffFile(p) as tf:
        desc = tf.pages[0].description or ""
    try:
        d = json.loads(desc)
        if isinstance(d, dict) and "z_mm" in d:
            return float(d["z_mm"])
    except (json.JSONDecodeError, ValueError, TypeError):
        pass
    m = _Z_RE.search(desc)
    if not m:
        raise InputError(f"{p}: the TIFF has no z in its ImageDescription; write 'z_mm=<value>' there or give a manifest file,z_mm")
    return float(m.group(1))


def _read_slice(path: Path, base: Path) -> np.ndarray:
    if not path.exists():
        raise InputError(f"{base}: slice file {path.name} listed in the manifest does not exist in {path.parent}")
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        img = tifffile.imread(path)
        if img.dtype not in (np.uint8, np.uint16):
            raise InputError(f"{path}: unsupported sample type {img.dtype}; give 8- or 16-bit slices")
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
        return np.ascontiguousarray(img)
    return read_image(path)


def load_stack(path: str | Path) -> FocusStack:
    """Load a focus stack from a manifest (CSV/JSON) or a folder; see the module docstring."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"focus stack {p} does not exist; give a manifest (.csv/.json) or a folder of slices")
    meta: dict = {}
    if p.is_dir():
        for cand in ("manifest.csv", "manifest.json"):
            if (p / cand).exists():
                return load_stack(p / cand)
        tifs = sorted(q for q in p.iterdir() if q.suffix.lower() in (".tif", ".tiff"))
        if not tifs:
            raise InputError(f"{p}: no manifest.csv/manifest.json and no TIFF slices with z in their metadata")
        entries = [(q.name, _tiff_z(q)) for q in tifs]
        base_dir = p
    elif p.suffix.lower() == ".csv":
        (entries, meta), base_dir = _read_csv(p), p.parent
    elif p.suffix.lower() == ".json":
        (entries, meta), base_dir = _read_json(p), p.parent
    else:
        raise InputError(f"{p}: unknown stack manifest type {p.suffix!r}; use a .csv (file,z_mm), a .json or a folder")
    if not entries:
        raise InputError(f"{p}: the manifest lists no slices")
    # the manifest's keys are checked before any slice is decoded: a typo is one line, at once
    FocusStack(np.zeros((0, 1, 1), np.uint8), np.zeros(0), [], source=str(p), meta=meta).check_meta()
    imgs = [_read_slice(base_dir / f, p) for f, _ in entries]
    return stack_from_arrays(imgs, [z for _, z in entries], names=[f for f, _ in entries], source=str(p), meta=meta)
