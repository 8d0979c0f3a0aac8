"""Inspections: submit (idempotent, persisted before 202), fetch, list with filters, images,
overlay, human review."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Query, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import ValidationError
from sqlalchemy import and_, or_, select

from api.jobs import QueueFull
from api.problems import ProblemError
from api.service import present
from api.service.db import EventRow, ImageRow, InspectionRow, RecipeRow, ReviewRow
from api.service.deps import MAX_INT, Reader, Reviewer, SessionDep, Submitter, get_state
from api.service.schemas import InspectionAccepted, InspectionPublic, Page, ReviewCreate, ReviewPublic
from api.service.store import blob_response, sha256_hex, sniff_image
from api.service.submit import (
    VIEWS,
    calibration_key,
    existing_for_key,
    persist,
    scoped_key,
    request_hash,
    resolve_calibration,
    resolve_recipe,
    store_blob,
)
from api.service.intake import ImageHeader, SerialStr, StationStr, check_recipe_fits, check_view_calibration, image_header
from api.service.worker import event_payload
from models.errors import InputError
from calibration.record import CalibrationRecord
from models.recipe import Recipe

router = APIRouter(prefix="/v1/inspections", tags=["inspections"])
State = Annotated[object, Depends(get_state)]
ImageFile = Annotated[UploadFile | None, File(description="image of this view (PNG, JPEG, TIFF, BMP)")]


def get_row(s, inspection_id: str) -> InspectionRow:
    row = s.get(InspectionRow, inspection_id)
    if row is None:
        raise ProblemError(404, "unknown-inspection", f"no inspection {inspection_id!r}")
    return row


def read_upload(up: UploadFile, *, limit: int, what: str) -> bytes:
    if up.size is not None and up.size > limit:
        raise ProblemError(413, "upload-too-large", f"{what} is {up.size} bytes; the limit is {limit} bytes per file (POGOSCOPE_MAX_UPLOAD_BYTES)")
    data = up.file.read(limit + 1)
    if len(data) > limit:
        raise ProblemError(413, "upload-too-large", f"{what} is larger than {limit} bytes per file (POGOSCOPE_MAX_UPLOAD_BYTES)")
    return data


def header_of(settings, data: bytes, name: str) -> ImageHeader:
    return image_header(data, name=name, min_side_px=settings.min_image_side_px, max_pixels=settings.max_image_pixels)


def queue_or_503(state, iid: str) -> None:
    if state.queue is None:  # an API-only instance: workers elsewhere pick persisted rows up
        return
    try:
        state.queue.submit(iid)
    except QueueFull as exc:  # persisted: it runs after the next restart or when a retry re-queues it
        raise ProblemError(503, "queue-full", str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None


def check_backlog(state) -> None:
    q = state.queue
    if q is not None and q.depth() >= state.settings.queue_max_depth:
        raise ProblemError(503, "queue-full", f"{q.depth()} inspections are waiting (limit {state.settings.queue_max_depth}); retry later",
                           headers={"Retry-After": "5"})


@router.post("", status_code=202, response_model=InspectionAccepted, summary="Submit a board for inspection")
def submit_inspection(
    response: Response,
    state: State,
    s: SessionDep,
    who: Submitter,
    serial: Annotated[SerialStr, Form(description="board serial number: 1-200 printable characters after trimming surrounding whitespace")],
    recipe_id: Annotated[str | None, Form(max_length=100, description="recipe to inspect against (required)")] = None,
    recipe_version: Annotated[int | None, Form(ge=1, le=MAX_INT, description="recipe version; default the newest")] = None,
    station_id: Annotated[StationStr | None, Form(description="1-100 printable characters")] = None,
    calibrations: Annotated[str | None, Form(description='JSON {"top": "CAMERA[@VERSION]", ...}; default the newest record per view')] = None,
    image_set: Annotated[str | None, Form(description='JSON {"top": "<sha256>", ...} of images uploaded with POST /v1/images')] = None,
    top: ImageFile = None,
    side_front: ImageFile = None,
    side_back: ImageFile = None,
    idempotency_key: Annotated[str | None, Header(max_length=200, description="same key + same body returns the original")] = None,
):
    if not recipe_id:
        raise ProblemError(422, "invalid-request", "form field 'recipe_id' is required: name the recipe to inspect against", field="recipe_id")
    try:
        cal_refs = json.loads(calibrations) if calibrations else {}
        refs = json.loads(image_set) if image_set else {}
    except json.JSONDecodeError as exc:
        raise ProblemError(422, "invalid-request", f"'calibrations'/'image_set' must be JSON objects: {exc.msg}") from None
    if not isinstance(cal_refs, dict) or not isinstance(refs, dict) or not all(isinstance(v, str) for v in [*cal_refs.values(), *refs.values()]):
        raise ProblemError(422, "invalid-request", "'calibrations' and 'image_set' must be JSON objects of strings")
    uploads = {v: f for v, f in (("top", top), ("side_front", side_front), ("side_back", side_back)) if f is not None}
    both = set(uploads) & set(refs)
    if both:
        raise ProblemError(422, "invalid-request", f"view(s) {sorted(both)} given both as a file and in image_set; give each view once")
    bad = [v for v in refs if v not in VIEWS]
    if bad:
        raise ProblemError(422, "unknown-view", f"unknown view {bad[0]!r} in image_set; views are {', '.join(VIEWS)}", field="image_set")
    if not uploads and not refs:
        raise ProblemError(422, "no-images", "nothing to inspect: send at least one image (form file 'top', 'side_front' or 'side_back') or an image_set")

    recipe = resolve_recipe(s, recipe_id, recipe_version)
    views = list(uploads) + list(refs)
    missing = [v for v in views if v not in recipe.body.get("views", ["top"])]
    if missing:
        raise ProblemError(422, "view-not-in-recipe",
                           f"recipe {recipe.recipe_id}@{recipe.version} has no {missing[0]!r} view; it provides {recipe.body.get('views', ['top'])}",
                           field=missing[0])

    # the records first (database lookups): a station's start-up probe learns what the service lacks before images
    cal_rows = {key: resolve_calibration(s, key, station_id, cal_refs.get(key)) for key in sorted({calibration_key(v) for v in views})}

    limit = state.settings.max_upload_bytes
    files: dict[str, dict] = {}
    blobs: dict[str, tuple[bytes, str]] = {}
    headers: dict[str, ImageHeader] = {}
    for view, up in uploads.items():
        data = read_upload(up, limit=limit, what=f"the {view} image")
        name = f"the {view} image {up.filename or ''}".rstrip()
        try:
            media = sniff_image(data, name=name)
            headers[view] = header_of(state.settings, data, name)
        except InputError as exc:
            raise ProblemError(422, "image-does-not-decode", str(exc), field=view) from None
        blobs[view] = (data, media)
        files[view] = {"sha256": sha256_hex(data), "name": up.filename, "media_type": media}
    for view, sha in refs.items():
        img = s.get(ImageRow, sha)
        if img is None:
            raise ProblemError(422, "unknown-image", f"image_set {view}: no stored image {sha}; upload it with POST /v1/images first", field="image_set")
        files[view] = {"sha256": sha, "name": None, "media_type": img.media_type}
        try:
            blob = state.store.get(sha)
        except Exception:  # BlobNotFound, the store unreachable: an outage, the worker checks the image when it can read it
            continue
        try:
            headers[view] = header_of(state.settings, blob, f"image_set {view} ({sha[:12]})")
        except InputError as exc:
            raise ProblemError(422, "image-does-not-decode", str(exc), field="image_set") from None

    cals = {}
    recipe_doc = None
    for key, c in cal_rows.items():
        cals[key] = {"camera_id": c.camera_id, "version": c.version}
        ref = f"{c.camera_id}@{c.version}"
        try:
            rec = CalibrationRecord.model_validate(c.body)
        except ValidationError:
            raise ProblemError(422, "unusable-calibration", f"calibration {ref} is not a valid record; upload a corrected one "
                               "with POST /v1/calibrations", field="calibrations") from None
        for view in (v for v in views if calibration_key(v) == key):
            try:
                check_view_calibration(rec, key, headers.get(view), view=view, ref=ref)
            except InputError as exc:
                raise ProblemError(422, "calibration-does-not-fit", str(exc), field=view) from None
            if view == "top" and view in headers:
                try:
                    recipe_doc = recipe_doc or Recipe.from_dict(recipe.body, source=f"recipe {recipe.recipe_id}@{recipe.version}")
                    check_recipe_fits(recipe_doc, rec, headers[view], ref=ref)
                except InputError as exc:
                    raise ProblemError(422, "board-does-not-match-recipe", str(exc), field=view) from None

    h = request_hash({
        "serial": serial, "recipe": [recipe.recipe_id, recipe_version], "station": station_id,
        "files": {v: f["sha256"] for v, f in files.items()}, "calibrations": cal_refs,
    })
    old = existing_for_key(s, scoped_key(who.key_id, idempotency_key), h)
    if old is None:
        check_backlog(state)
        for data, media in blobs.values():
            store_blob(state.Session, state.store, data, media)
        row = InspectionRow(
            serial=serial, kind="board", station_id=station_id, recipe_id=recipe.recipe_id, recipe_version=recipe.version,
            calibrations=cals, files=files, stacks={}, idempotency_key=scoped_key(who.key_id, idempotency_key), request_hash=h,
            status="queued", reasons=[], attempts=0, submitted_by=who.name,
        )
        row, replayed = persist(s, row)
        if not replayed:
            queue_or_503(state, row.id)
    else:
        row, replayed = old, True
    response.headers["Location"] = present.inspection_url(row.id)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return InspectionAccepted(id=row.id, url=present.inspection_url(row.id), status=row.status, serial=row.serial, replayed=replayed)


def _cursor_encode(row: InspectionRow) -> str:
    return base64.urlsafe_b64encode(f"{row.created_at.isoformat()}|{row.id}".encode()).decode()


def _cursor_decode(c: str) -> tuple[dt.datetime, str]:
    try:
        t, _, iid = base64.urlsafe_b64decode(c.encode()).decode().partition("|")
        return dt.datetime.fromisoformat(t), iid
    except Exception:
        raise ProblemError(422, "invalid-cursor", "cursor is not one this service handed out; start again without ?cursor=", field="cursor") from None


@router.get("", response_model=Page, summary="List inspections, newest first")
def list_inspections(
    s: SessionDep,
    _: Reader,
    serial: SerialStr | None = None,
    recipe_id: Annotated[str | None, Query(max_length=100)] = None,
    station_id: StationStr | None = None,
    verdict: Literal["PASS", "FAIL", "REVIEW"] | None = None,
    status: Literal["queued", "running", "done", "failed"] | None = None,
    reviewed: bool | None = Query(None, description="only inspections with (true) or without (false) a human review"),
    since: dt.datetime | None = Query(None, description="created at or after (ISO 8601)"),
    until: dt.datetime | None = Query(None, description="created before (ISO 8601)"),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
):
    q = select(InspectionRow)
    for col, val in ((InspectionRow.serial, serial), (InspectionRow.recipe_id, recipe_id), (InspectionRow.station_id, station_id),
                     (InspectionRow.verdict, verdict), (InspectionRow.status, status)):
        if val is not None:
            q = q.where(col == val)
    if since is not None:
        q = q.where(InspectionRow.created_at >= _aware(since))
    if until is not None:
        q = q.where(InspectionRow.created_at < _aware(until))
    has_review = select(ReviewRow.id).where(ReviewRow.inspection_id == InspectionRow.id).exists()
    if reviewed is True:
        q = q.where(has_review)
    elif reviewed is False:
        q = q.where(~has_review)
    if cursor:
        t, iid = _cursor_decode(cursor)
        q = q.where(or_(InspectionRow.created_at < t, and_(InspectionRow.created_at == t, InspectionRow.id < iid)))
    rows = s.scalars(q.order_by(InspectionRow.created_at.desc(), InspectionRow.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    last_review = _last_reviews(s, [r.id for r in rows])
    return Page(items=[present.inspection_summary(r, last_review.get(r.id)) for r in rows],
                next_cursor=_cursor_encode(rows[-1]) if more and rows else None)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _last_reviews(s, ids: list[str]) -> dict[str, ReviewRow]:
    return present.last_reviews(s, ids)


@router.get("/{inspection_id}", response_model=InspectionPublic, summary="One inspection with its result")
def get_inspection(inspection_id: str, s: SessionDep, _: Reader):
    row = get_row(s, inspection_id)
    reviews = s.scalars(select(ReviewRow).where(ReviewRow.inspection_id == row.id).order_by(ReviewRow.id)).all()
    return present.json_response(present.inspection_public(row, reviews))


@router.get("/{inspection_id}/overlay.png", response_class=FileResponse, summary="The per-pin overlay image",
            responses={200: {"content": {"image/png": {}}}})
def get_overlay(inspection_id: str, s: SessionDep, state: State, _: Reader):
    row = get_row(s, inspection_id)
    if not row.overlay_sha256:
        why = {"queued": "is still queued", "running": "is still running", "failed": f"failed: {row.error}"}.get(
            row.status, "has no stored overlay (no view drew one, or POGOSCOPE_KEEP_OVERLAYS kept none for this verdict)")
        raise ProblemError(404, "no-overlay", f"inspection {inspection_id} {why}")
    return blob_response(state.store, row.overlay_sha256, "image/png")


@router.get("/{inspection_id}/overlays/{name}.png", response_class=FileResponse, summary="One view's overlay (see 'overlays')",
            responses={200: {"content": {"image/png": {}}}})
def get_named_overlay(inspection_id: str, name: str, s: SessionDep, state: State, _: Reader):
    row = get_row(s, inspection_id)
    sha = (row.overlays or {}).get(name)
    if sha is None:
        raise ProblemError(404, "no-overlay", f"inspection {inspection_id} has no overlay {name!r}; it has {sorted(row.overlays or {})}")
    return blob_response(state.store, sha, "image/png")


@router.get("/{inspection_id}/images/{view}", response_class=FileResponse, summary="An original image as submitted",
            responses={200: {"content": {"image/*": {}}}})
def get_original(inspection_id: str, view: str, s: SessionDep, state: State, _: Reader):
    row = get_row(s, inspection_id)
    f = (row.files or {}).get(view)
    if f is None:
        raise ProblemError(404, "no-such-view", f"inspection {inspection_id} has no {view!r} image; it has {sorted(row.files or {})}")
    return blob_response(state.store, f["sha256"], f.get("media_type") or "application/octet-stream")


@router.post("/{inspection_id}/reviews", status_code=201, response_model=ReviewPublic, summary="Confirm or override the verdict")
def add_review(inspection_id: str, body: ReviewCreate, s: SessionDep, who: Reviewer):
    row = get_row(s, inspection_id)
    if row.status != "done":
        raise ProblemError(409, "not-reviewable", f"inspection {inspection_id} is {row.status}; only finished inspections can be reviewed")
    rev = ReviewRow(inspection_id=row.id, verdict=body.verdict, reason=body.reason, reviewer=who.name)
    s.add(rev)
    s.flush()
    recipe_body = s.scalar(select(RecipeRow.body).where(RecipeRow.recipe_id == row.recipe_id, RecipeRow.version == row.recipe_version))
    review = {"verdict": rev.verdict, "reason": rev.reason, "reviewer": rev.reviewer, "created_at": rev.created_at.isoformat()}
    payload = event_payload(row, recipe_body, result=row.result, status=row.status, error=row.error, started=row.started_at,
                            finished=row.finished_at, review=review)
    payload["review"] = review
    payload |= {"reviewed_verdict": rev.verdict, "reviewed_by": rev.reviewer, "reviewed_at": review["created_at"]}
    s.add(EventRow(kind="inspection.verified", inspection_id=row.id, station_id=row.station_id, payload=payload))
    s.commit()
    return present.review_public(rev)
