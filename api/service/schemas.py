"""Pydantic models at the API boundary: ``*Create`` (what clients send) and ``*Public`` (what they get)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.service.deps import ROLES
from api.service.intake import KeyNameStr


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionRef(_M):
    id: str
    version: int


class CalibrationRef(_M):
    camera_id: str
    version: int


class ImageRef(_M):
    sha256: str
    name: str | None = None
    media_type: str | None = None
    url: str


class ReviewCreate(_M):
    verdict: Literal["PASS", "FAIL"] = Field(description="the verdict the reviewer settles on")
    reason: str = Field(min_length=3, max_length=2000, description="why (recorded with the reviewer's key name)")


class ReviewPublic(_M):
    id: int
    inspection_id: str
    verdict: str
    reason: str
    reviewer: str
    created_at: dt.datetime


class InspectionAccepted(_M):
    id: str
    url: str
    status: str
    serial: str
    replayed: bool = False


class InspectionPublic(_M):
    id: str
    url: str
    serial: str
    kind: str
    station_id: str | None
    recipe: VersionRef
    calibrations: dict[str, CalibrationRef]
    status: Literal["queued", "running", "done", "failed"]
    verdict: Literal["PASS", "FAIL", "REVIEW"] | None
    reasons: list[str]
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    images: dict[str, ImageRef]
    stacks: list[str]
    overlay_url: str | None
    overlays: dict[str, str] = Field(default_factory=dict, description="every view's overlay: name -> URL (PNG)")
    reviews: list[ReviewPublic] = Field(default_factory=list)
    reviewed_verdict: Literal["PASS", "FAIL"] | None = Field(default=None, description="the latest human verification's verdict (null: not reviewed)")
    reviewed_by: str | None = Field(default=None, description="who recorded the latest verification (API key name)")
    reviewed_at: dt.datetime | None = Field(default=None, description="when the latest verification was recorded")
    result: dict | None = Field(description="the BoardResult document (see `pogoscope schema`), once done")


class InspectionSummary(_M):
    id: str
    url: str
    serial: str
    station_id: str | None
    recipe: VersionRef
    status: str
    verdict: str | None
    reasons: list[str]
    created_at: dt.datetime
    finished_at: dt.datetime | None
    reviewed_verdict: str | None = None
    reviewed_by: str | None = None
    reviewed_at: dt.datetime | None = None


class Page(_M):
    items: list[InspectionSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page; null at the end")


class BoardPublic(_M):
    serial: str
    verdict: str | None = Field(default=None, description="the latest finished inspection's measured verdict")
    reviewed_verdict: str | None = Field(default=None, description="its human-reviewed verdict, when reviewed")
    reviewed_by: str | None = None
    reviewed_at: dt.datetime | None = None
    latest: InspectionPublic
    history: list[InspectionSummary]


class PinHistoryEntry(_M):
    inspection_id: str
    created_at: dt.datetime
    verdict: str
    reasons: list[str]
    measurements: dict


class PinPublic(_M):
    serial: str
    pin_id: str
    latest: dict = Field(description="the pin's result (PinResult) in the latest finished inspection")
    inspection_id: str
    history: list[PinHistoryEntry]


class RecipePublic(_M):
    recipe_id: str
    version: int
    created_at: dt.datetime
    created_by: str | None
    body: dict


class RecipeSummary(_M):
    recipe_id: str
    latest_version: int
    versions: list[int]


class CalibrationCreate(_M):
    view: str = Field(pattern=r"^(top|side|stack:[A-Za-z0-9_.\-]+)$", description="which images it maps: top, side or stack:NAME")
    station_id: str | None = Field(default=None, description="only for this station (else any)")
    record: dict = Field(description="a CalibrationRecord document (as written by `pogoscope calibrate`)")


class CalibrationPublic(_M):
    camera_id: str
    version: int
    view: str
    station_id: str | None
    created_at: dt.datetime
    created_by: str | None
    record: dict


class ImageUploaded(_M):
    sha256: str
    size_bytes: int
    media_type: str
    url: str


class KeyCreate(_M):
    name: KeyNameStr = Field(description="1-100 printable characters (who holds the key: a station, the MES, a person)")
    role: Literal[ROLES]  # type: ignore[valid-type]


class KeyPublic(_M):
    id: int
    name: str
    role: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="the secret; shown once, stored only as a hash")
