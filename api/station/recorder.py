"""Saving captured boards as a replay folder (see `vision.acquisition.replay`)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from vision.io import write_image


class Recorder:
    """Writes ``root/<NNNNNN>_<serial>/{board.yaml, <view>.png}``; PNG keeps 8/16-bit data exact."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        existing = [int(m.group(1)) for p in self.root.iterdir() if (m := re.match(r"(\d{6})_", p.name))]
        self._n = max(existing, default=0)

    def save(self, serial: str, frames: dict, *, meta: dict | None = None, recipe: Path | None = None,
             calibrations: dict[str, Path] | None = None) -> Path:
        """One board folder: the images, board.yaml, and copies of `recipe` and of each calibration
        record (`calibrations` keyed like board.yaml: ``top``, ``side``), so that `pogoscope inspect`
        and the replay source read it as it is."""
        self._n += 1
        safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", serial)[:80] or "board"
        d = self.root / f"{self._n:06d}_{safe}"
        d.mkdir(parents=True, exist_ok=False)
        views = {}
        for view, fr in frames.items():
            write_image(d / f"{view}.png", fr.image)
            views[view] = f"{view}.png"
        doc = {"serial": serial, "views": views,
               "frames": {v: {"source": f.source, "frame_id": f.frame_id, "pixel_format": f.pixel_format,
                              "timestamp_s": f.timestamp_s} for v, f in frames.items()}}
        if meta:
            doc["meta"] = {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool))}
        if recipe is not None and Path(recipe).is_file():
            shutil.copy(recipe, d / "recipe.yaml")
            doc["recipe"] = "recipe.yaml"
        for key, cal in (calibrations or {}).items():
            if cal is not None and Path(cal).is_file():
                name = "calibration_" + re.sub(r"[^A-Za-z0-9_.\-]", "_", key) + ".json"
                shutil.copy(cal, d / name)
                doc.setdefault("calibrations", {})[key] = name
        (d / "board.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return d
