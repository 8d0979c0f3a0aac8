"""Images by content hash: upload once, refer to them from submissions (``image_set``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.responses import FileResponse

from api.problems import ProblemError
from api.service.db import ImageRow
from api.service.deps import Reader, SessionDep, Submitter, get_state
from api.service.schemas import ImageUploaded
from api.service.store import blob_response, sniff_image
from api.service.submit import store_blob
from models.errors import InputError

router = APIRouter(prefix="/v1/images", tags=["images"])
State = Annotated[object, Depends(get_state)]


@router.post("", status_code=201, response_model=ImageUploaded, summary="Store an image (deduplicated by sha256)")
def upload_image(file: Annotated[UploadFile, File(description="PNG, JPEG, TIFF or BMP")], state: State, _: Submitter):
    from api.service.routers.inspections import header_of, read_upload

    data = read_upload(file, limit=state.settings.max_upload_bytes, what="the image")
    try:
        media = sniff_image(data, name=f"image {file.filename or ''}".rstrip())
        header_of(state.settings, data, f"image {file.filename or ''}".rstrip())
    except InputError as exc:
        raise ProblemError(422, "image-does-not-decode", str(exc), field="file") from None
    sha = store_blob(state.Session, state.store, data, media)
    return ImageUploaded(sha256=sha, size_bytes=len(data), media_type=media, url=f"/v1/images/{sha}")


@router.get("/{sha256}", response_class=FileResponse, summary="A stored image", responses={200: {"content": {"image/*": {}}}})
def get_image(sha256: str, s: SessionDep, state: State, _: Reader):
    row = s.get(ImageRow, sha256)
    if row is None:
        raise ProblemError(404, "unknown-image", f"no stored image {sha256!r}")
    return blob_response(state.store, sha256, row.media_type)
