"""Rows -> public models."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import Response

from api.service.db import InspectionRow, ReviewRow
from api.service.schemas import (
    CalibrationRef,
    ImageRef,
    InspectionPublic,
    InspectionSummary,
    ReviewPublic,
    VersionRef,
)


def json_response(model) -> Response:
    """`model` serialized once (pydantic-core, in Rust): returning the model itself makes FastAPI dump
    it to Python objects, validate them again against the response model and serialize that -- three
    passes over a ~100 kB result document on every read. The route keeps its ``response_model`` for
    the OpenAPI schema."""
    return Response(model.model_dump_json(), media_type="application/json")


def inspection_url(iid: str) -> str:
    return f"/v1/inspections/{iid}"


def review_public(r: ReviewRow) -> ReviewPublic:
    return ReviewPublic(id=r.id, inspection_id=r.inspection_id, verdict=r.verdict, reason=r.reason, reviewer=r.reviewer, created_at=r.created_at)


def inspection_public(row: InspectionRow, reviews: list[ReviewRow] = ()) -> InspectionPublic:
    url = inspection_url(row.id)
    return InspectionPublic(
        id=row.id,
        url=url,
        serial=row.serial,
        kind=row.kind,
        station_id=row.station_id,
        recipe=VersionRef(id=row.recipe_id, version=row.recipe_version),
        calibrations={k: CalibrationRef(**v) for k, v in (row.calibrations or {}).items()},
        status=row.status,
        verdict=row.verdict,
        reasons=list(row.reasons or []),
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        images={
            v: ImageRef(sha256=f["sha256"], name=f.get("name"), media_type=f.get("media_type"), url=f"{url}/images/{v}")
            for v, f in (row.files or {}).items()
        },
        stacks=sorted(row.stacks or {}),
        overlay_url=f"{url}/overlay.png" if row.overlay_sha256 else None,
        overlays={n: f"{url}/overlays/{quote(n, safe='')}.png" for n in sorted(row.overlays or {})},
        reviews=[review_public(r) for r in reviews],
        **reviewed_fields(reviews[-1] if reviews else None),
        result=row.result,
    )


def reviewed_fields(last: ReviewRow | None) -> dict:
    """The latest human verification as flat fields: reviewed_verdict, reviewed_by, reviewed_at."""
    if last is None:
        return {"reviewed_verdict": None, "reviewed_by": None, "reviewed_at": None}
    return {"reviewed_verdict": last.verdict, "reviewed_by": last.reviewer, "reviewed_at": last.created_at}


def reviews_by_inspection(s, ids: list[str]) -> dict[str, list[ReviewRow]]:
    """The reviews of each of `ids` that has any, oldest first (one query per 500 ids)."""
    from sqlalchemy import select

    out: dict[str, list[ReviewRow]] = {}
    for i in range(0, len(ids), 500):
        for r in s.scalars(select(ReviewRow).where(ReviewRow.inspection_id.in_(ids[i:i + 500])).order_by(ReviewRow.id)).all():
            out.setdefault(r.inspection_id, []).append(r)
    return out


def last_reviews(s, ids: list[str]) -> dict[str, ReviewRow]:
    """The latest review of each of `ids` (those reviewed)."""
    return {k: v[-1] for k, v in reviews_by_inspection(s, ids).items()}


def inspection_summary(row: InspectionRow, reviewed: ReviewRow | None = None) -> InspectionSummary:
    return InspectionSummary(
        id=row.id,
        url=inspection_url(row.id),
        serial=row.serial,
        station_id=row.station_id,
        recipe=VersionRef(id=row.recipe_id, version=row.recipe_version),
        status=row.status,
        verdict=row.verdict,
        reasons=list(row.reasons or []),
        created_at=row.created_at,
        finished_at=row.finished_at,
        **reviewed_fields(reviewed),
    )
