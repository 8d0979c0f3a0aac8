"""The FastAPI application factory.

``create_app(settings)`` wires the database (migrated at start), the image store, the job queue
(`api.jobs.get_queue`), the outbox dispatcher and the routers. On start every inspection that is
not finished is handed to the queue again: the database is the queue's memory.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from sqlalchemy.engine import Engine

from api import problems
from api.service.db import ApiKey, InspectionRow, make_engine, session_factory
from api.service.deps import hash_key, key_cache
from api.service.metrics import Metrics
from api.service.migrate import upgrade
from api.service.outbox import Dispatcher
from api.service.store import ImageStore, service_store
from api.settings import Settings, get_settings

log = logging.getLogger("pogoscope.service")
WEB_DIR = Path(__file__).resolve().parents[1] / "web"

DESCRIPTION = """
Submit boards (`POST /v1/inspections`, multipart: one image per view named `top`, `side_front`,
`side_back`, plus `serial`, `recipe_id`, `station_id`; header `Idempotency-Key`). The submission is
stored before the `202`; a worker inspects it; fetch the result by id, by serial
(`/v1/boards/{serial}`) or per pin, or follow it live.

**Calibration records**: form field `calibrations` names each view's record, `{"top": "CAMERA@VERSION"}`
or `{"top": "CAMERA#FINGERPRINT"}` (the newest stored version with that content: sha256 of the record's
JSON without `version`; a station sends this for the record it inspected with). Without it the newest
record for the view of this `station_id`, else of any station, is used. The inspection records the
exact version it used.

**Auth**: header `X-API-Key` (GET requests may use `?api_key=`). Roles: `station` submit; `mes`
submit + read; `engineer` also uploads, recipes, calibrations, reviews; `admin` also keys.

**Idempotency**: the same key with the same body returns the original inspection
(`Idempotent-Replayed: true`); the same key with another body is `409`.

**Events** (from a persisted outbox, so none is lost on a restart): `GET /v1/events` (server-sent
events, resume with `Last-Event-ID`), webhooks (POST JSON; `X-Pogoscope-Signature: sha256=HMAC(secret,
"<X-Pogoscope-Timestamp>.<body>")`, retried with exponential back-off; de-duplicate on
`X-Pogoscope-Delivery`), MQTT topic `<prefix>/<station_id>/inspections` (QoS 1). Each event carries an
IPC-CFX `CFX.Production.Assurance.UnitsInspected`-shaped body under `data.cfx`. CFX has no "review"
state: a REVIEW verdict is sent as `Failed` with `ConfidenceLevel` 0.5 and `VerificationResult`
`NotVerified`; a later human verification is an `inspection.verified` event.

**Errors** are `application/problem+json` (RFC 9457) with a one-line `detail`.
"""


@dataclass
class ServiceState:
    settings: Settings
    engine: Engine
    Session: object
    store: ImageStore
    metrics: Metrics
    queue: object = None
    dispatcher: Dispatcher | None = None
    extra: dict = field(default_factory=dict)


def ensure_key(Session, key: str, *, name: str, role: str) -> None:
    """Store `key` (hashed) with `role` unless it is already there."""
    h = hash_key(key)
    with Session() as s:
        if s.scalar(select(ApiKey.id).where(ApiKey.key_hash == h)) is None:
            s.add(ApiKey(name=name, role=role, key_hash=h))
            s.commit()


def requeue_unfinished(state: ServiceState) -> int:
    """Hand every queued/running inspection to the queue (after a restart, nothing is lost)."""
    with state.Session() as s:
        ids = s.scalars(
            select(InspectionRow.id).where(InspectionRow.status.in_(("queued", "running"))).order_by(InspectionRow.created_at)
        ).all()
    for iid in ids:
        try:
            state.queue.submit(iid)
        except Exception as exc:  # QueueFull: the rest stay queued in the database
            log.warning("re-queue stopped at %s: %s", iid, exc)
            break
    return len(ids)


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) from the assets the ``fastapi-offline`` wheel ships, served at
    ``/docs-assets``: the page loads nothing from the internet. (No ``/redoc``: ReDoc's bundle
    fetches its logo from a CDN.)"""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html

    assets = Path(fastapi_offline.__file__).resolve().parent / "static"
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def _docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} API", swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css", swagger_favicon_url="/docs-assets/favicon.png",
                                   oauth2_redirect_url="/docs/oauth2-redirect")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def _oauth2_redirect():
        return get_swagger_ui_oauth2_redirect_html()


def routers() -> list:
    """The API's routers, one per resource."""
    from api.service.routers import (boards, calibrations, deliveries, events, grr, health, images, inspections, keys, microscope,
                                     recipes, spc)

    return [m.router for m in (health, inspections, boards, recipes, calibrations, images, microscope, events, deliveries, keys, spc,
                               grr)]


class DoorChecks:
    """Refusals every request gets before any route runs: a declared body over the limit (413) and a
    control character in the path or query (422: no identifier has one, and PostgreSQL refuses NUL).

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` wraps every request and response
    in extra tasks and streams, CPU that each read of a loaded service paid twice (issue #15)."""

    def __init__(self, app, *, max_request_bytes: int) -> None:
        self.app, self.max_request_bytes = app, max_request_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope):
        for k, v in scope.get("headers", ()):
            if k == b"content-length" and v.isdigit() and int(v) > self.max_request_bytes:
                return problems.problem_response(
                    Request(scope), 413, "request-too-large",
                    f"request body is {int(v)} bytes; the limit is {self.max_request_bytes} bytes (POGOSCOPE_MAX_REQUEST_BYTES)")
        bad = next((c for c in scope.get("path", "") if not c.isprintable()), None)
        if bad is None and scope.get("query_string"):
            bad = next((c for _, v in Request(scope).query_params.multi_items() for c in v if not c.isprintable()), None)
        if bad is not None:
            return problems.problem_response(Request(scope), 422, "invalid-request",
                                             f"the URL contains the control character U+{ord(bad):04X}; identifiers are printable text")
        return None


def create_app(settings: Settings | None = None, *, start_workers: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(settings)
        upgrade(engine)
        Session = session_factory(engine)
        state = ServiceState(settings=settings, engine=engine, Session=Session, store=service_store(settings),
                             metrics=Metrics(Session))
        app.state.svc = state
        key_cache.clear()
        if settings.admin_key:
            ensure_key(Session, settings.admin_key, name="bootstrap-admin", role="admin")
        if start_workers:
            from api.jobs import get_queue

            state.queue = get_queue(settings)
            state.metrics.queue = state.queue
            n = requeue_unfinished(state)
            if n:
                log.info("re-queued %d unfinished inspections", n)
        state.dispatcher = Dispatcher(settings, Session)
        state.metrics.dispatcher = state.dispatcher
        state.dispatcher.start()
        if settings.spc_alarm_interval_s > 0:
            from api.service.analytics import AlarmWatcher

            mode = "process" if settings.worker_mode == "process" and settings.workers > 0 else "thread"
            state.extra["spc_alarms"] = AlarmWatcher(Session, settings.spc_alarm_interval_s, settings=settings, mode=mode,
                                                     nice=settings.worker_nice, baseline=settings.spc_baseline_points)
            state.extra["spc_alarms"].start()
        try:
            yield
        finally:
            if "spc_alarms" in state.extra:
                state.extra["spc_alarms"].stop()
            state.dispatcher.stop()
            if state.queue is not None:
                state.queue.close()
            engine.dispose()

    app = FastAPI(
        title="pogoscope",
        version="1",
        summary="Pogo-pin inspection service: submissions, results by serial, live events, review.",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=problems.PROBLEM_RESPONSES,
        docs_url=None,  # served below from local assets: factory networks are often offline
        redoc_url=None,
    )
    install_docs(app)
    problems.install(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"])

    app.add_middleware(DoorChecks, max_request_bytes=settings.max_request_bytes)

    from sqlalchemy.exc import DBAPIError, OperationalError

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError):
        if "NUL" in str(exc.orig):  # PostgreSQL text cannot hold U+0000 (a review reason, a key name, ...)
            return problems.problem_response(request, 422, "invalid-request", "a text field contains a NUL character (U+0000); remove it")
        if isinstance(exc, OperationalError):
            log.warning("database unavailable: %s", " ".join(str(exc.orig).split())[:300])
            return problems.problem_response(request, 503, "database-unavailable", "the database is not reachable right now; retry shortly",
                                             headers={"Retry-After": "5"})
        raise exc

    for r in routers():
        app.include_router(r)

    if WEB_DIR.is_dir():
        app.mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="ui")

        @app.get("/", include_in_schema=False)
        def _root():
            return RedirectResponse("/ui/")

    return app
