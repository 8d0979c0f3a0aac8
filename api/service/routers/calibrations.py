"""Calibration records: create (a new version per camera), list, fetch."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import ValidationError
from sqlalchemy import select

from api.problems import ProblemError
from api.service.calref import fingerprint
from api.service.db import CalibrationRow
from api.service.intake import check_calibration_record
from api.service.deps import CalibrationEditor, Reader, SessionDep, VersionPath
from api.service.schemas import CalibrationCreate, CalibrationPublic
from api.service.versions import get_version, insert_next_version
from models.errors import InputError
from calibration.record import CalibrationRecord

router = APIRouter(prefix="/v1/calibrations", tags=["calibrations"])


def _public(r: CalibrationRow) -> CalibrationPublic:
    return CalibrationPublic(camera_id=r.camera_id, version=r.version, view=r.view, station_id=r.station_id, created_at=r.created_at,
                             created_by=r.created_by, record=r.body)


@router.post("", status_code=201, response_model=CalibrationPublic, summary="Store a calibration record as its camera's next version",
             description="201 with the new version; 200 with the newest version when the record (content, view, station) is identical to it.")
def create_calibration(body: CalibrationCreate, response: Response, s: SessionDep, who: CalibrationEditor):
    try:
        rec = CalibrationRecord.model_validate(body.record)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise ProblemError(422, "invalid-calibration", f"calibration record field '{loc}': {err['msg']}", field=f"record.{loc}") from None
    try:
        check_calibration_record(rec, body.view)
    except InputError as exc:
        raise ProblemError(422, "invalid-calibration", f"calibration record for view {body.view!r}: {exc}", field="record") from None

    newest = s.scalars(select(CalibrationRow).where(CalibrationRow.camera_id == rec.camera_id)
                       .order_by(CalibrationRow.version.desc()).limit(1)).first()
    if newest is not None and (newest.view, newest.station_id) == (body.view, body.station_id) \
            and fingerprint(newest.body) == fingerprint(rec.model_dump(mode="json")):
        response.status_code = 200  # the same record again (a station uploading its record at every start): not a new version
        response.headers["Location"] = f"/v1/calibrations/{newest.camera_id}/versions/{newest.version}"
        return _public(newest)

    def make(n: int) -> CalibrationRow:
        stored = rec.model_copy(update={"version": n}).model_dump(mode="json")
        return CalibrationRow(camera_id=rec.camera_id, version=n, view=body.view, station_id=body.station_id, body=stored, created_by=who.name)

    row = insert_next_version(s, CalibrationRow, "camera_id", rec.camera_id, make, what="camera")
    response.headers["Location"] = f"/v1/calibrations/{row.camera_id}/versions/{row.version}"
    return _public(row)


@router.get("", response_model=list[CalibrationPublic], summary="All calibration records (newest version of each camera unless all=true)")
def list_calibrations(s: SessionDep, _: Reader, all: bool = False):
    rows = s.scalars(select(CalibrationRow).order_by(CalibrationRow.camera_id, CalibrationRow.version.desc())).all()
    if not all:
        seen, keep = set(), []
        for r in rows:
            if r.camera_id not in seen:
                seen.add(r.camera_id)
                keep.append(r)
        rows = keep
    return [_public(r) for r in rows]


def _get(s, camera_id: str, version: int | None) -> CalibrationRow:
    return get_version(s, CalibrationRow, "camera_id", camera_id, version, what="calibration record of camera", slug="unknown-calibration")


@router.get("/{camera_id}", response_model=CalibrationPublic, summary="The newest record of a camera")
def get_calibration(camera_id: str, s: SessionDep, _: Reader):
    return _public(_get(s, camera_id, None))


@router.get("/{camera_id}/versions/{version}", response_model=CalibrationPublic, summary="One version of a camera's record")
def get_calibration_version(camera_id: str, version: VersionPath, s: SessionDep, _: Reader):
    return _public(_get(s, camera_id, version))
