"""The inspection recipe: what the board should look like and what is acceptable.

Loaded from YAML and validated; a wrong recipe gets one line naming the field and the problem.

Board frame: origin at the board's front-left corner on the board (solder-mask) surface,
+x along the front edge, +y into the board, +z up; pins are numbered row-major from the
front row (row 0 has the smallest y), column 0 at the smallest x.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model, field_validator, model_validator

from models.errors import InputError, read_yaml, validated
from models.decision import Check, Limit
from models.pin_geometry import PinGeometry
from models.measurands import CUE_CHECKS, DEFAULT_LIMITS, MEASURANDS

ViewName = Literal["top", "side_front", "side_back", "stack"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Board(_Strict):
    id: str = Field(min_length=1)
    size_mm: tuple[float, float, float] = Field(description="width (x), depth (y), thickness")
    mask_color: str = "green"

    @field_validator("size_mm")
    @classmethod
    def _pos(cls, v):
        if min(v) <= 0:
            raise ValueError("all board dimensions must be > 0 mm")
        return v


class PinType(_Strict):
    """Geometry of one pogo-pin type (mm). Heights are above the flange bottom unless said otherwise."""

    name: str = "pin"
    flange_diameter_mm: float = Field(gt=0)
    flange_thickness_mm: float = Field(gt=0)
    barrel_diameter_mm: float = Field(gt=0)
    barrel_length_mm: float = Field(gt=0, description="barrel length above the flange top")
    plunger_diameter_mm: float = Field(gt=0)
    plunger_protrusion_mm: float = Field(gt=0, description="plunger length above the barrel top, to the tip apex")
    tip_dome_radius_mm: float = Field(gt=0)
    tip_height_nominal_mm: float = Field(gt=0, description="tip apex above the board surface when seated")
    working_travel_mm: float | None = Field(default=None, gt=0, description="nominal plunger travel")

    @model_validator(mode="after")
    def _order(self) -> "PinType":
        if not (self.plunger_diameter_mm < self.barrel_diameter_mm < self.flange_diameter_mm):
            raise ValueError("expected plunger_diameter_mm < barrel_diameter_mm < flange_diameter_mm")
        return self

    @property
    def axial_length_mm(self) -> float:
        """Flange bottom to tip apex along the axis."""
        return self.flange_thickness_mm + self.barrel_length_mm + self.plunger_protrusion_mm

    @property
    def geometry(self) -> PinGeometry:
        """The pin type as the geometry the views measure with (radii, heights, derived quantities; mm)."""
        return PinGeometry(flange_radius_mm=self.flange_diameter_mm / 2, flange_thickness_mm=self.flange_thickness_mm,
                           barrel_radius_mm=self.barrel_diameter_mm / 2, barrel_length_mm=self.barrel_length_mm,
                           plunger_radius_mm=self.plunger_diameter_mm / 2, plunger_protrusion_mm=self.plunger_protrusion_mm,
                           dome_radius_mm=self.tip_dome_radius_mm, name=self.name)


class PinSpec(_Strict):
    id: str = Field(min_length=1)
    xy_mm: tuple[float, float]
    row: int = 0
    col: int = 0


class PinGrid(_Strict):
    """Shorthand: rows x cols at a pitch from the origin (centre of pin row 0, col 0)."""

    rows: int = Field(ge=1)
    cols: int = Field(ge=1)
    pitch_mm: float | tuple[float, float] = Field(description="pitch, or (pitch_x, pitch_y)")
    origin_mm: tuple[float, float]
    id_prefix: str = "P"

    def expand(self) -> list[PinSpec]:
        px, py = (self.pitch_mm, self.pitch_mm) if isinstance(self.pitch_mm, (int, float)) else self.pitch_mm
        width = max(2, len(str(self.rows * self.cols)))
        out = []
        for r in range(self.rows):
            for c in range(self.cols):
                n = r * self.cols + c + 1
                out.append(PinSpec(id=f"{self.id_prefix}{n:0{width}d}", xy_mm=(self.origin_mm[0] + c * px, self.origin_mm[1] + r * py), row=r, col=c))
        return out


class Fiducial(_Strict):
    xy_mm: tuple[float, float]
    diameter_mm: float = Field(gt=0)


class MatingPad(_Strict):
    """A pad on the mating board (for contact alignment) or on a mating-pad board (for pad checks)."""

    id: str
    center_mm: tuple[float, float]
    size_mm: tuple[float, float] = Field(description="(x, y) size; a round pad has equal sizes and shape 'round'")
    shape: Literal["round", "rect"] = "rect"


class Mating(_Strict):
    """The board the pins press on when assembled."""

    surface_height_mm: float | None = Field(default=None, gt=0, description="mating surface above this board's surface when assembled")
    pads: list[MatingPad] = Field(default_factory=list, description="mating pads in this board's frame, one per pin id")


def _limit_doc(check: Check) -> str:
    m = next((m for m in MEASURANDS.values() if m.check is check), None)
    if m is not None:
        return f"limit on {m.name} ({m.unit})"
    return next(f"cue {q.cue}" for q in CUE_CHECKS if q.check is check)


class _LimitsBase(_Strict):
    def for_check(self, check: Check) -> Limit:
        return getattr(self, check.value)


#: Acceptance limits, keyed by check: one field per check that has a limit, its default from the measurement
#: table (`models.measurands`), which follows common pogo-pin practice.
Limits = create_model(
    "Limits",
    __base__=_LimitsBase,
    __doc__="Acceptance limits, keyed by check (defaults: models.measurands).",
    **{c.value: (Limit, Field(default=lim, description=_limit_doc(c))) for c, lim in DEFAULT_LIMITS.items()},
)


DEFAULT_REQUIRED = [Check.missing, Check.xy_position, Check.tilt, Check.pitch, Check.solder_in_plunger_gap, Check.solder_wicking]

#: the checks each view can decide (a measurement or a cue of its own); "stack" is a microscope focus stack
#: (mono: it sees heights, positions and pad surfaces, not the grey of solder)
VIEW_CAN_DECIDE: dict[str, frozenset[Check]] = {
    "top": frozenset({Check.missing, Check.xy_position, Check.tilt, Check.pitch, Check.solder_in_plunger_gap,
                      Check.solder_wicking, Check.not_seated, Check.contact_alignment, Check.scratch, Check.oxidation}),
    "side_back": frozenset({Check.missing, Check.tilt, Check.pitch, Check.tip_height, Check.coplanarity, Check.not_seated,
                            Check.plunger_depression, Check.compression}),
    "side_front": frozenset({Check.solder_wicking, Check.solder_in_plunger_gap}),
    "stack": frozenset({Check.missing, Check.xy_position, Check.tilt, Check.pitch, Check.tip_height, Check.not_seated,
                        Check.plunger_depression, Check.scratch, Check.oxidation, Check.warp_or_dent, Check.roughness}),
}


def default_required(views: list[str]) -> list[Check]:
    """The checks a recipe requires when it does not say: the usual ones (`DEFAULT_REQUIRED`) that its views can
    decide. A recipe with no camera views is a microscope's (focus stacks only). A check no view can make is
    never demanded by default (it would send every good item to REVIEW); list it in ``required_checks`` to
    have it reported as not measured."""
    can = set().union(*(VIEW_CAN_DECIDE[v] for v in (views or ["stack"])))
    return [c for c in DEFAULT_REQUIRED if c in can]


class Recipe(_Strict):
    schema_version: int = 1
    recipe_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    version: int = Field(default=1, ge=1)
    board: Board
    pin_type: PinType | None = None
    pad_diameter_mm: float | None = Field(default=None, gt=0, description="solder pad diameter under each pin")
    pad_top_z_mm: float = Field(default=0.0, description="pad top above the board (mask) surface")
    pins: list[PinSpec] = Field(default_factory=list)
    pin_grid: PinGrid | None = None
    fiducials: list[Fiducial] = Field(default_factory=list)
    mating: Mating | None = None
    pads: list[MatingPad] = Field(default_factory=list, description="pads to judge on a mating-pad board")
    limits: Limits = Field(default_factory=Limits)
    views: list[ViewName] = Field(default_factory=lambda: ["top"])
    required_checks: list[Check] | None = Field(
        default=None, description="checks that must be made (REVIEW not_measured:<check> when no view makes them); "
                                  "default: the usual ones the recipe's views can decide (models.recipe.default_required)")
    allow_pin_registration: bool = Field(
        default=False, description="let a board of only two pins register on them (three or more pins are used as the "
                                   "pattern whenever the fiducials are missing, cut off or disagree with the recipe)")

    #: the nominal pitches, worked out once (every pin's verdict asks whether the pitch check applies)
    _nominal_pitch: dict[tuple[str, str], float] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _expand(self) -> "Recipe":
        if self.pin_grid is not None:
            if self.pins:
                raise ValueError("give either 'pins' or 'pin_grid', not both")
            self.pins = self.pin_grid.expand()
        ids = [p.id for p in self.pins]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate pin ids: {sorted(dup)}")
        if self.pins and self.pin_type is None:
            raise ValueError("a recipe with pins needs 'pin_type'")
        if not self.pins and not self.pads:
            raise ValueError("the recipe has neither pins nor pads to inspect")
        if self.required_checks is None:
            self.required_checks = default_required(list(self.views))
        W, D, _ = self.board.size_mm
        for p in self.pins:
            if not (0 <= p.xy_mm[0] <= W and 0 <= p.xy_mm[1] <= D):
                raise ValueError(f"pin {p.id} at {p.xy_mm} lies outside the {W} x {D} mm board")
        for f in self.fiducials:
            if not (0 <= f.xy_mm[0] <= W and 0 <= f.xy_mm[1] <= D):
                raise ValueError(f"fiducial at {f.xy_mm} lies outside the {W} x {D} mm board")
        self._nominal_pitch = self._neighbour_pitches()
        return self

    # convenience --------------------------------------------------------------
    @property
    def key(self) -> str:
        return f"{self.recipe_id}@{self.version}"

    def pin(self, pin_id: str) -> PinSpec:
        for p in self.pins:
            if p.id == pin_id:
                return p
        raise KeyError(pin_id)

    @property
    def rows(self) -> int:
        return 1 + max((p.row for p in self.pins), default=0)

    def is_required(self, check: Check) -> bool:
        """Whether the recipe requires `check`. A pitch needs a neighbour: on a board whose recipe puts no two pins
        side by side in a row or column, the pitch check does not apply (the pin's place is its xy check)."""
        if check is Check.pitch and check in self.required_checks:
            return bool(self._nominal_pitch)
        return check in self.required_checks

    def nominal_pitch_mm(self) -> dict[tuple[str, str], float]:
        """Nominal distance between row/column neighbours, keyed by (pin id, neighbour id)."""
        return dict(self._nominal_pitch)

    def _neighbour_pitches(self) -> dict[tuple[str, str], float]:
        by_rc = {(p.row, p.col): p for p in self.pins}
        out = {}
        for (r, c), p in by_rc.items():
            for dr, dc in ((0, 1), (1, 0)):
                q = by_rc.get((r + dr, c + dc))
                if q is not None:
                    out[(p.id, q.id)] = math.dist(p.xy_mm, q.xy_mm)
        return out

    # I/O ------------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path) -> "Recipe":
        return cls.from_dict(read_yaml(path, what="recipe"), source=str(path))

    @classmethod
    def from_dict(cls, raw: object, *, source: str = "recipe") -> "Recipe":
        return validated(cls, raw, source=source)

    def to_yaml(self, path: str | Path) -> None:
        data = self.model_dump(mode="json", exclude={"pin_grid"})
        Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
