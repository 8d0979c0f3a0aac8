"""Liveness, readiness (database and worker reachable) and Prometheus metrics. Public routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import text

from api.problems import ProblemError
from api.service.deliveries import sink_stats, stuck_reasons
from api.service.deps import get_state

router = APIRouter(tags=["health"])
State = Annotated[object, Depends(get_state)]


@router.get("/healthz", summary="The process is up (public)")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Database and job queue reachable (public)")
def readyz(state: State) -> dict:
    """Ready: the database answers and the job queue is reachable. Reports the queue depth and the
    workers attached: the in-process pool's size, or the worker processes consuming the broker's
    queue (`BrokerQueue.workers`). Zero workers is still ready (submissions are kept and wait),
    with a note saying so. Event delivery per sink is under ``deliveries``; a sink whose oldest
    pending event is older than ``delivery_stuck_after_s`` makes the status ``degraded`` (still
    200: submissions work) with one sentence per stuck sink under ``degraded``."""
    try:
        with state.engine.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as exc:
        raise ProblemError(503, "not-ready", f"database unreachable: {type(exc).__name__}") from None
    if state.queue is None:
        raise ProblemError(503, "not-ready", "no job queue: this service does not run inspections")
    try:
        depth, workers = state.queue.depth(), state.queue.workers()
    except Exception as exc:
        raise ProblemError(503, "not-ready", f"job queue unreachable: {type(exc).__name__}: {exc}") from None
    out = {"status": "ready", "queue_depth": depth, "workers": workers}
    if workers == 0:
        out["note"] = "no worker is attached to the job queue: submissions are kept and wait; start `pogoscope worker`"
    stats = sink_stats(state.Session, state.dispatcher)
    out["deliveries"] = [st.as_dict() for st in stats.values()]
    stuck = stuck_reasons(stats, state.settings.delivery_stuck_after_s)
    if stuck:  # submissions still work, so the service stays in rotation (200), but says what is wrong
        out["status"] = "degraded"
        out["degraded"] = stuck
    return out


@router.get("/metrics", summary="Prometheus metrics (public)", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
def metrics(state: State) -> Response:
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
