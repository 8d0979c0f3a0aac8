"""Event delivery per sink (admin): the state of each sink, the events parked dead and why, and
re-queuing them once the cause is fixed (also ``pogoscope events retry``)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.service.deliveries import dead_deliveries, requeue_dead, sink_stats
from api.service.deps import MAX_INT, DeliveryAdmin
from api.service.routers.health import State

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])


class SinkPublic(BaseModel):
    sink: str
    pending: int
    oldest_pending_s: float
    dead: int
    last_error: str | None
    failures: dict[str, int]
    delivered: int
    paused_s: float


class DeadDelivery(BaseModel):
    event_id: int
    kind: str
    sink: str
    attempts: int
    reason: str | None
    parked_at: dt.datetime


class RetryRequest(BaseModel):
    sink: str | None = Field(None, max_length=600, description="only this sink (as listed, e.g. 'mqtt' or 'webhook:http://mes/hook')")
    event_ids: list[int] | None = Field(None, max_length=10000, description="only these events")


class RetryResult(BaseModel):
    requeued: int


@router.get("", response_model=list[SinkPublic], summary="Delivery state of every sink (admin)")
def list_sinks(state: State, _: DeliveryAdmin):
    return [SinkPublic(**st.as_dict()) for st in sink_stats(state.Session, state.dispatcher).values()]


@router.get("/dead", response_model=list[DeadDelivery], summary="Events parked dead, with the reason (admin)")
def list_dead(state: State, _: DeliveryAdmin, sink: str | None = Query(None, max_length=600), limit: int = Query(100, ge=1, le=1000)):
    return dead_deliveries(state.Session, sink=sink, limit=limit)


@router.post("/retry", response_model=RetryResult, summary="Re-queue dead events (admin)")
def retry_dead(body: RetryRequest, state: State, _: DeliveryAdmin):
    ids = [i for i in body.event_ids or [] if 1 <= i <= MAX_INT] or None
    if body.event_ids and ids is None:
        return RetryResult(requeued=0)
    return RetryResult(requeued=requeue_dead(state.Session, sink=body.sink, event_ids=ids))
