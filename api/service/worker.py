"""The worker function: inspect one persisted submission and commit its result exactly once.

`run_inspection` needs nothing but the inspection id and Settings: it builds its own engine and
image store, so a worker on another machine (api.jobs.broker) can call it. A second call for a
finished inspection is a no-op, and two workers racing on the same id commit one result: the final
UPDATE only matches a row that is not finished yet, and the outbox event is written in that same
transaction.

A stored image the worker cannot find (`api.jobs.store.BlobNotFound`: a share not mounted on this
machine, an object store not yet consistent) is an outage, not bad input: the inspection goes back
to ``queued`` (the attempt is not counted) and the error propagates, so the queue retries it
(`api.jobs.local.LocalQueue` and the broker's retry policy, `api.jobs.tasks.retry_policy`).
"""

from __future__ import annotations

import importlib
import logging
import tempfile
import time
from pathlib import Path

from sqlalchemy import select, update

from api.service.analytics import index_result
from api.service.cfx import units_inspected
from api.service.db import CalibrationRow, EventRow, InspectionRow, RecipeRow, engine_for, session_factory, utcnow
from api.jobs.store import BlobNotFound
from api.service.store import ImageStore, service_store
from api.settings import Settings, get_settings
from models.errors import InputError
from vision.io import encode_png

log = logging.getLogger("pogoscope.worker")
FINISHED = ("done", "failed")


def _inspect_func(spec: str):
    mod, _, name = spec.partition(":")
    return getattr(importlib.import_module(mod), name or "inspect_board")


def build_input(row: InspectionRow, session, store: ImageStore, recipe_body: dict):
    """The `BoardInput` of a persisted submission: decode images, load records and stacks."""
    from api.boardset import calibration_key
    from vision.inspect import BoardInput
    from calibration.record import CalibrationRecord
    from models.recipe import Recipe
    from vision.io import decode_image

    recipe = Recipe.from_dict(recipe_body, source=f"recipe {row.recipe_id}@{row.recipe_version}")
    cals = {}
    for key, ref in (row.calibrations or {}).items():
        body = session.scalar(
            select(CalibrationRow.body).where(CalibrationRow.camera_id == ref["camera_id"], CalibrationRow.version == ref["version"])
        )
        if body is None:
            raise InputError(f"calibration {ref['camera_id']}@{ref['version']} is no longer stored")
        cals[key] = CalibrationRecord.model_validate(body)
    images, files = {}, {}
    for view, f in (row.files or {}).items():
        img = decode_image(store.get(f["sha256"]), name=f"{view} image {f.get('name') or f['sha256'][:12]}")
        key = calibration_key(view)
        if key not in cals:
            raise InputError(f"the {view} image needs a calibration record for {key!r}; upload one with POST /v1/calibrations")
        cals[key].check_image(img.shape, what=f"{view} image")
        images[view], files[view] = img, f["sha256"]
    stacks = {}
    for name, st in (row.stacks or {}).items():
        stacks[name] = _load_stack(st, store)
        files[f"stack:{name}"] = st["manifest_sha256"]
    return BoardInput(serial=row.serial, recipe=recipe, images=images, calibrations=cals, stacks=stacks, files=files)


def _load_stack(st: dict, store: ImageStore):
    """Rebuild a focus stack folder (manifest + slices) in a temporary directory and load it with
    vision.stack_io, so the service accepts exactly what the CLI accepts."""
    from vision.stack_io import load_stack

    with tempfile.TemporaryDirectory(prefix="pogoscope-stack-") as tmp:
        d = Path(tmp)
        for fname, sha in st["slices"].items():
            (d / Path(fname).name).write_bytes(store.get(sha))
        manifest = d / Path(st["manifest_name"]).name
        manifest.write_bytes(store.get(st["manifest_sha256"]))
        try:
            return load_stack(manifest)
        except InputError as exc:
            from api.service.intake import without_dir

            raise InputError(without_dir(str(exc), d, name="the stack")) from None


def _store_overlays(overlays: dict, store: ImageStore) -> tuple[str | None, dict[str, str]]:
    """PNG-encode and store every overlay; returns (main overlay sha: top first, {name: sha})."""
    shas = {}
    for name, img in overlays.items():
        shas[name] = store.put(encode_png(img, name=f"overlay {name}"))
    main = sorted(shas, key=lambda n: (n != "top", n))
    return (shas[main[0]] if main else None), shas


_STORES: dict[str, ImageStore] = {}


def _job_store(settings: Settings) -> ImageStore:
    """This process's store for `settings`, opened once: an S3 client costs ~0.1 s to build, a
    sizeable part of one board's inspection (clients are thread-safe, so threads share it)."""
    url = settings.image_store_url
    store = _STORES.get(url)
    if store is None:
        store = _STORES[url] = service_store(settings, at_start=False)
    return store


def run_inspection(inspection_id: str, *, settings: Settings | None = None) -> None:
    """Inspect persisted submission `inspection_id` and commit the result (once)."""
    settings = settings or get_settings()
    Session = session_factory(engine_for(settings))
    store = _job_store(settings)
    with Session() as s:
        row = s.get(InspectionRow, inspection_id)
        if row is None:
            log.warning("inspection %s does not exist; nothing to do", inspection_id)
            return
        if row.status in FINISHED:
            return
        if row.attempts >= settings.max_attempts:  # earlier starts never finished: the worker died on this board
            s.close()
            record_failure(inspection_id, f"gave up after {row.attempts} attempts: the worker process died while inspecting "
                           "this board; see the service log", settings=settings)
            return
        s.execute(
            update(InspectionRow)
            .where(InspectionRow.id == inspection_id, InspectionRow.status.not_in(FINISHED))
            .values(status="running", attempts=InspectionRow.attempts + 1, started_at=utcnow())
        )
        s.commit()
        s.refresh(row)
        recipe_body = s.scalar(select(RecipeRow.body).where(RecipeRow.recipe_id == row.recipe_id, RecipeRow.version == row.recipe_version))
        result = error = overlay_sha = None
        overlay_shas: dict[str, str] = {}
        t0 = time.perf_counter()
        try:
            if recipe_body is None:
                raise InputError(f"recipe {row.recipe_id}@{row.recipe_version} is no longer stored")
            inp = build_input(row, s, store, recipe_body)
            inp.overlays = settings.keep_overlays != "none"  # don't draw what will not be kept
            insp = _inspect_func(settings.inspect_func)(inp)
            result = insp.result.model_dump(mode="json")
            for v in result.get("views", []):
                f = (row.files or {}).get(v["name"])
                if f and not v.get("sha256"):
                    v["sha256"] = f["sha256"]
            keep = settings.keep_overlays == "all" or (settings.keep_overlays == "not_pass" and result["board"]["verdict"] != "PASS")
            if keep:
                overlay_sha, overlay_shas = _store_overlays(insp.overlays, store)
        except BlobNotFound:
            s.rollback()
            s.execute(update(InspectionRow).where(InspectionRow.id == inspection_id, InspectionRow.status == "running").values(
                status="queued", attempts=InspectionRow.attempts - 1))  # not the board's fault: this start does not count
            s.commit()
            log.warning("inspection %s: a stored image is missing; handed back to the queue", inspection_id)
            raise
        except InputError as exc:
            error = str(exc)
        except Exception as exc:  # a bug in a view must not leave the submission hanging, nor PASS it
            log.exception("inspection %s crashed", inspection_id)
            error = (f"the inspection stopped on an internal error ({type(exc).__name__}), not on a fault of the board; "
                     f"the service log has the details under inspection {inspection_id}")
        finished = utcnow()
        status = "done" if result is not None else "failed"
        verdict = result["board"]["verdict"] if result else None
        values = dict(
            status=status,
            verdict=verdict,
            reasons=result["board"]["reasons"] if result else ["input_error"],
            result=result,
            error=error,
            overlay_sha256=overlay_sha,
            overlays=overlay_shas,
            finished_at=finished,
            latency_s=(finished - row.created_at).total_seconds(),
        )
        res = s.execute(
            update(InspectionRow).where(InspectionRow.id == inspection_id, InspectionRow.status.not_in(FINISHED)).values(**values)
        )
        if res.rowcount != 1:  # another worker committed it first
            s.rollback()
            return
        payload = event_payload(row, recipe_body, result=result, status=status, error=error, started=row.started_at, finished=finished)
        s.add(EventRow(kind="inspection.completed", inspection_id=row.id, station_id=row.station_id, payload=payload))
        index_result(s, row, result)  # pin values for SPC, pin reasons for the Pareto: same transaction as the result
        s.commit()
        log.info("inspection %s %s %s in %.0f ms", inspection_id, status, verdict or error, (time.perf_counter() - t0) * 1e3)


def event_payload(row: InspectionRow, recipe_body: dict | None, *, result, status, error, started, finished, review=None) -> dict:
    return {
        "inspection_id": row.id,
        "serial": row.serial,
        "station_id": row.station_id,
        "recipe": {"id": row.recipe_id, "version": row.recipe_version},
        "status": status,
        "verdict": result["board"]["verdict"] if result else None,
        "reasons": result["board"]["reasons"] if result else ["input_error"],
        "error": error,
        "url": f"/v1/inspections/{row.id}",
        "cfx": units_inspected(
            inspection_id=row.id, serial=row.serial, station_id=row.station_id, recipe=recipe_body or {}, result=result,
            status=status, error=error, started=started, finished=finished, review=review,
        ),
    }


def record_failure(inspection_id: str, reason: str, *, settings: Settings | None = None) -> None:
    """Record an inspection the distributed queue gave up on (api.jobs.tasks: its worker process died on
    every delivery) as failed with `reason`, once; a no-op when it already finished."""
    settings = settings or get_settings()
    Session = session_factory(engine_for(settings))
    with Session() as s:
        row = s.get(InspectionRow, inspection_id)
        if row is None or row.status in FINISHED:
            return
        finished = utcnow()
        res = s.execute(
            update(InspectionRow).where(InspectionRow.id == inspection_id, InspectionRow.status.not_in(FINISHED)).values(
                status="failed", verdict=None, reasons=["input_error"], result=None, error=reason, finished_at=finished,
                latency_s=(finished - row.created_at).total_seconds())
        )
        if res.rowcount != 1:
            s.rollback()
            return
        recipe_body = s.scalar(select(RecipeRow.body).where(RecipeRow.recipe_id == row.recipe_id, RecipeRow.version == row.recipe_version))
        payload = event_payload(row, recipe_body, result=None, status="failed", error=reason, started=row.started_at, finished=finished)
        s.add(EventRow(kind="inspection.completed", inspection_id=row.id, station_id=row.station_id, payload=payload))
        s.commit()


__all__ = ["run_inspection", "build_input", "event_payload", "record_failure"]
