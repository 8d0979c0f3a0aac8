"""The result document: one JSON document per inspected board."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from models.decision import Decision, Verdict
from models.measurement import Cue, Measurement

RESULT_SCHEMA_VERSION = 1


class ItemResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    verdict: Verdict
    reasons: list[str] = Field(default_factory=list)
    measurements: dict[str, Measurement] = Field(default_factory=dict)
    cues: dict[str, Cue] = Field(default_factory=dict)
    decisions: list[Decision] = Field(default_factory=list)
    image_px: dict[str, list[float]] = Field(default_factory=dict, description="where the item was seen, per view (u, v)")


class PinResult(ItemResult):
    pass


class PadResult(ItemResult):
    pass


class ViewUsed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    file: str | None = None
    sha256: str | None = None
    shape: list[int] | None = None
    camera_id: str | None = None


class CalibrationUsed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: str
    version: int
    created: str
    model: str
    mm_per_px: float | None = None


class BoardSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: str
    recipe_id: str
    recipe_version: int
    verdict: Verdict
    reasons: list[str] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    measurements: dict[str, Measurement] = Field(default_factory=dict, description="board-level figures, e.g. coplanarity_mm")


class BoardResult(BaseModel):
    """Everything pogoscope says about one board."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = RESULT_SCHEMA_VERSION
    board: BoardSummary
    pins: list[PinResult] = Field(default_factory=list)
    pads: list[PadResult] = Field(default_factory=list)
    views: list[ViewUsed] = Field(default_factory=list)
    calibrations: dict[str, CalibrationUsed] = Field(default_factory=dict, description="by view name")
    registration: dict = Field(default_factory=dict, description="board->image transform per view, residual, uncertainty")
    notes: list[str] = Field(default_factory=list)

    def pin(self, pin_id: str) -> PinResult:
        for p in self.pins:
            if p.id == pin_id:
                return p
        raise KeyError(pin_id)

    def pad(self, pad_id: str) -> PadResult:
        for p in self.pads:
            if p.id == pad_id:
                return p
        raise KeyError(pad_id)

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n")


def result_json_schema() -> dict:
    return BoardResult.model_json_schema()


def write_json_schema(path: str | Path) -> None:
    Path(path).write_text(json.dumps(result_json_schema(), indent=2) + "\n")
