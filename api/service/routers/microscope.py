"""Microscope uploads: a focus stack (slices + manifest) inspected as a board or a pad.

The manifest is what `vision.stack_io.load_stack` reads (CSV ``file,z_mm`` or JSON); the upload
is checked with that same loader before it is accepted, so a bad stack is a 422 naming the problem.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Response, UploadFile

from api.problems import ProblemError
from api.service import present
from api.service.db import InspectionRow
from api.service.deps import MAX_INT, SessionDep, Uploader, get_state
from api.service.intake import SerialStr, StationStr, without_dir
from api.service.routers.inspections import check_backlog, queue_or_503, read_upload
from api.service.schemas import InspectionAccepted
from api.service.store import sha256_hex
from api.service.submit import existing_for_key, persist, request_hash, resolve_calibration, resolve_recipe, scoped_key, store_blob
from models.errors import InputError

router = APIRouter(prefix="/v1/microscope", tags=["microscope"])
State = Annotated[object, Depends(get_state)]


@router.post("/stacks", status_code=202, response_model=InspectionAccepted, summary="Submit a focus stack for inspection")
def submit_stack(
    response: Response,
    state: State,
    s: SessionDep,
    who: Uploader,
    serial: Annotated[SerialStr, Form(description="1-200 printable characters after trimming")],
    recipe_id: Annotated[str, Form(min_length=1, max_length=100)],
    manifest: Annotated[UploadFile, File(description="manifest.csv (file,z_mm) or manifest.json")],
    slices: Annotated[list[UploadFile], File(description="the slice images named in the manifest")],
    stack_name: Annotated[str, Form(pattern=r"^[A-Za-z0-9_.\-]+$", max_length=50)] = "pins",
    kind: Annotated[Literal["board", "pad"], Form()] = "board",
    station_id: Annotated[StationStr | None, Form(description="1-100 printable characters")] = None,
    recipe_version: Annotated[int | None, Form(ge=1, le=MAX_INT)] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
):
    from vision.stack_io import load_stack

    recipe = resolve_recipe(s, recipe_id, recipe_version)
    if "stack" not in recipe.body.get("views", []):
        raise ProblemError(422, "view-not-in-recipe", f"recipe {recipe.recipe_id}@{recipe.version} has no 'stack' view; it provides {recipe.body.get('views')}")
    limit = state.settings.max_upload_bytes
    mdata = read_upload(manifest, limit=limit, what="the manifest")
    mname = Path(manifest.filename or "manifest.json").name
    if not mname.endswith((".csv", ".json")):
        mname = "manifest.json" if mdata.lstrip().startswith((b"{", b"[")) else "manifest.csv"
    datas = {}
    for up in slices:
        name = Path(up.filename or "").name
        if not name:
            raise ProblemError(422, "invalid-request", "every slice needs a file name (the manifest refers to slices by name)")
        datas[name] = read_upload(up, limit=limit, what=f"slice {name}")
    with tempfile.TemporaryDirectory(prefix="pogoscope-upload-") as tmp:
        d = Path(tmp)
        for name, data in datas.items():
            (d / name).write_bytes(data)
        (d / mname).write_bytes(mdata)
        try:
            stack = load_stack(d / mname)
        except InputError as exc:
            raise ProblemError(422, "invalid-stack", without_dir(str(exc), d)) from None
    used = set(stack.names)
    cals = {}
    try:
        c = resolve_calibration(s, f"stack:{stack_name}", station_id, None)
        cals[f"stack:{stack_name}"] = {"camera_id": c.camera_id, "version": c.version}
    except ProblemError:
        pass  # a stack may carry its scale in the manifest (mm_per_px); the view says if it lacks one
    h = request_hash({"serial": serial, "recipe": [recipe_id, recipe_version], "station": station_id, "kind": kind,
                      "manifest": sha256_hex(mdata), "slices": {n: sha256_hex(b) for n, b in sorted(datas.items())}})
    old = existing_for_key(s, scoped_key(who.key_id, idempotency_key), h)
    if old is not None:
        response.headers["Idempotent-Replayed"] = "true"
        return InspectionAccepted(id=old.id, url=present.inspection_url(old.id), status=old.status, serial=old.serial, replayed=True)
    check_backlog(state)
    slices_sha = {n: store_blob(state.Session, state.store, b, "image/tiff" if n.lower().endswith((".tif", ".tiff")) else "image/png")
                  for n, b in datas.items() if n in used}
    msha = store_blob(state.Session, state.store, mdata, "text/csv" if mname.endswith(".csv") else "application/json")
    row = InspectionRow(
        serial=serial, kind=kind, station_id=station_id, recipe_id=recipe.recipe_id, recipe_version=recipe.version,
        calibrations=cals, files={}, stacks={stack_name: {"manifest_name": mname, "manifest_sha256": msha, "slices": slices_sha}},
        idempotency_key=scoped_key(who.key_id, idempotency_key), request_hash=h, status="queued", reasons=[], attempts=0, submitted_by=who.name,
    )
    row, replayed = persist(s, row)
    if not replayed:
        queue_or_503(state, row.id)
    response.headers["Location"] = present.inspection_url(row.id)
    return InspectionAccepted(id=row.id, url=present.inspection_url(row.id), status=row.status, serial=row.serial, replayed=replayed)
