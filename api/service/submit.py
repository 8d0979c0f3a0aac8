"""Persisting a submission: resolve the recipe and calibration versions, store the images, write
the row (with its idempotency key) -- all before the API answers 202."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.boardset import calibration_key
from api.problems import ProblemError
from api.service.calref import fingerprint
from api.service.db import CalibrationRow, ImageRow, InspectionRow, RecipeRow
from api.service.store import ImageStore

VIEWS = ("top", "side_front", "side_back")


def resolve_recipe(s: Session, recipe_id: str, version: int | None = None) -> RecipeRow:
    q = select(RecipeRow).where(RecipeRow.recipe_id == recipe_id)
    q = q.where(RecipeRow.version == version) if version is not None else q.order_by(RecipeRow.version.desc())
    row = s.scalars(q.limit(1)).first()
    if row is None:
        known = s.scalars(select(RecipeRow.recipe_id).distinct().limit(20)).all()
        what = f"recipe {recipe_id!r}" + (f" version {version}" if version is not None else "")
        raise ProblemError(422, "unknown-recipe", f"unknown {what}; known recipes: {sorted(known) or 'none'} (create one with POST /v1/recipes)",
                           field="recipe_id")
    return row


def resolve_calibration(s: Session, key: str, station_id: str | None, ref: str | None) -> CalibrationRow:
    """The record for calibration key `key` ("top", "side", "stack:NAME"): ``ref`` if given
    (``CAMERA[@VERSION]`` or ``CAMERA#FINGERPRINT``, see `api.service.calref`), else the newest
    record for that view of this station, else of any station."""
    if ref and "#" in ref:
        cam, _, fp = ref.partition("#")
        for row in s.scalars(select(CalibrationRow).where(CalibrationRow.camera_id == cam).order_by(CalibrationRow.version.desc())):
            if fingerprint(row.body) == fp:
                return row
        raise ProblemError(422, "unknown-calibration",
                           f"no stored calibration record of camera {cam!r} has the content this submission was taken with "
                           f"(fingerprint {fp[:12]}...); upload that record with POST /v1/calibrations", field="calibrations")
    if ref:
        cam, _, ver = ref.partition("@")
        q = select(CalibrationRow).where(CalibrationRow.camera_id == cam)
        q = q.where(CalibrationRow.version == int(ver)) if ver.isdigit() else q.order_by(CalibrationRow.version.desc())
        row = s.scalars(q.limit(1)).first()
        if row is None:
            raise ProblemError(422, "unknown-calibration", f"no calibration record {ref!r}; list them with GET /v1/calibrations", field="calibrations")
        return row
    q = select(CalibrationRow).where(CalibrationRow.view == key)
    q = q.where(or_(CalibrationRow.station_id == station_id, CalibrationRow.station_id.is_(None)))
    rows = s.scalars(q.order_by(CalibrationRow.created_at.desc(), CalibrationRow.id.desc())).all()
    rows.sort(key=lambda r: r.station_id is None)  # this station's own record first
    if not rows:
        raise ProblemError(422, "no-calibration", f"no calibration record for the {key!r} view; upload one with POST /v1/calibrations",
                           field="calibrations")
    return rows[0]


def request_hash(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def scoped_key(key_id: int, key: str | None) -> str | None:
    """The stored form of an ``Idempotency-Key``: scoped to the API key that sent it, so one caller's
    key never replays (or blocks) another caller's inspection. ``<api key id>:<key>``, or a digest
    when that would not fit the column."""
    if not key:
        return None
    scoped = f"{key_id}:{key}"
    return scoped if len(scoped) <= 200 else f"{key_id}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def existing_for_key(s: Session, key: str | None, h: str) -> InspectionRow | None:
    """The original inspection of an idempotency key (`scoped_key`) reused with the same body; 409 for another body."""
    if not key:
        return None
    row = s.scalar(select(InspectionRow).where(InspectionRow.idempotency_key == key))
    if row is None:
        return None
    if row.request_hash != h:
        raise ProblemError(409, "idempotency-key-reused",
                           f"Idempotency-Key {key.partition(':')[2]!r} was used for another request (inspection {row.id}); "
                           "use a new key for a new board")
    return row


def store_blob(Session, store: ImageStore, data: bytes, media_type: str) -> str:
    """Put `data` in the store and record it (own short transaction); returns its sha256."""
    sha = store.put(data)
    with Session() as s:
        if s.get(ImageRow, sha) is None:
            s.add(ImageRow(sha256=sha, size_bytes=len(data), media_type=media_type))
            try:
                s.commit()
            except IntegrityError:  # recorded concurrently by another request: same bytes
                s.rollback()
    return sha


def persist(s: Session, row: InspectionRow) -> tuple[InspectionRow, bool]:
    """Insert `row`; if a concurrent request with the same idempotency key won, return that one."""
    s.add(row)
    try:
        s.commit()
        return row, False
    except IntegrityError:
        s.rollback()
        other = existing_for_key(s, row.idempotency_key, row.request_hash)
        if other is None:
            raise
        return other, True


__all__ = ["VIEWS", "calibration_key", "scoped_key", "resolve_recipe", "resolve_calibration", "request_hash", "existing_for_key", "store_blob", "persist"]
