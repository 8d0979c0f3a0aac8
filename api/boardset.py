"""A board on disk: a folder with a `board.yaml` manifest naming its recipe, images, calibration
records and focus stacks. The CLI (`pogoscope inspect DIR`, `inspect-samples`), the bundled
`sample_images/`, the station's recorder and the replay source all use this one layout, so a
recorded day of boards can be re-inspected and the samples can be replayed through a station.

``board.yaml``::

    serial: SYN-0001
    recipe: recipe.yaml                 # path relative to the folder
    views: {top: top.png, side_front: side_front.png, side_back: side_back.png}
    calibrations: {top: cal_top.json, side: cal_side.json, "stack:pins": cal_micro.json}
    stacks: {pins: stack_pins}          # folders with a manifest (see vision.stack_io)
    truth: truth.json                   # optional: generator truth, used only to report agreement
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vision.inspect import BoardInput
from models.errors import InputError, read_yaml, validated
from calibration.record import CalibrationRecord
from models.recipe import Recipe
from vision.io import read_image

MANIFEST = "board.yaml"
VIEWS = ("top", "side_front", "side_back")


class BoardManifest(BaseModel):
    # the recorder adds frame metadata (frames, meta) that inspection does not need
    model_config = ConfigDict(extra="ignore")

    serial: str = Field(min_length=1)
    recipe: str
    views: dict[str, str] = Field(default_factory=dict, description="view name -> image file")
    calibrations: dict[str, str] = Field(default_factory=dict)
    stacks: dict[str, str] = Field(default_factory=dict)
    truth: str | None = None


def calibration_key(view: str) -> str:
    """The calibration a view's image needs: ``side_front``/``side_back`` share ``side``."""
    return "side" if view.startswith("side") else view


def load_manifest(folder: str | Path) -> BoardManifest:
    p = Path(folder) / MANIFEST
    if not p.is_file():
        raise InputError(f"{folder}: no {MANIFEST} (a board folder names its recipe, images and calibrations there)")
    return validated(BoardManifest, read_yaml(p, what="board manifest"), source=str(p))


def build_input(*, serial: str, recipe: Recipe, images: dict[str, Path], calibrations: dict[str, Path],
                stacks: dict[str, Path] | None = None) -> BoardInput:
    """Read and check every file of one board; raises InputError naming the first bad one."""
    bad = [v for v in images if v not in VIEWS]
    if bad:
        raise InputError(f"unknown view {bad[0]!r}; views are {', '.join(VIEWS)}")
    cals = {k: CalibrationRecord.load(p) for k, p in calibrations.items()}
    arrays, files = {}, {}
    for view, path in images.items():
        img = read_image(path)
        key = calibration_key(view)
        if key not in cals:
            raise InputError(f"the {view} image needs a calibration record for {key!r} (--calibration {key}=FILE.json)")
        cals[key].check_image(img.shape, what=f"{view} image {Path(path).name}")
        arrays[view] = img
        files[view] = Path(path).name
    loaded_stacks = {}
    for name, path in (stacks or {}).items():
        from vision.stack_io import load_stack

        loaded_stacks[name] = load_stack(path)
        files[f"stack:{name}"] = Path(path).name
    return BoardInput(serial=serial, recipe=recipe, images=arrays, calibrations=cals, stacks=loaded_stacks, files=files)


def load_board_dir(folder: str | Path) -> tuple[BoardInput, BoardManifest]:
    """A `BoardInput` from a board folder and its manifest."""
    folder = Path(folder)
    m = load_manifest(folder)
    recipe = Recipe.from_yaml(folder / m.recipe)
    inp = build_input(
        serial=m.serial,
        recipe=recipe,
        images={v: folder / f for v, f in m.views.items()},
        calibrations={k: folder / f for k, f in m.calibrations.items()},
        stacks={k: folder / f for k, f in m.stacks.items()},
    )
    return inp, m
