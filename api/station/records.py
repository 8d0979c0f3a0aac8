"""What the station keeps about each board it saw -- inspected or not."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CapturedView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    frame_id: int
    shape: list[int]
    pixel_format: str
    timestamp_s: float


class StationRecord(BaseModel):
    """One board at the station.

    ``status='not_inspected'`` carries the reason and never a verdict: a board the station
    could not inspect is never PASS.
    """

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="unique board key; the Idempotency-Key when submitted")
    station_id: str
    serial: str
    recipe_id: str | None = None
    status: Literal["inspected", "not_inspected"]
    verdict: Literal["PASS", "FAIL", "REVIEW"] | None = None
    reason: str | None = None
    trigger: str = ""
    triggered_utc: str
    views: dict[str, CapturedView] = Field(default_factory=dict)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    result: dict | None = Field(default=None, description="the BoardResult document when inspected")
    calibrations: dict[str, str] = Field(
        default_factory=dict, description="record used per calibration key, 'CAMERA#FINGERPRINT' (api.service.calref); sent to the service")
