"""Live results as server-sent events, read from the database outbox (so results committed by a
worker in any process reach every client). Resume with the ``Last-Event-ID`` header or ``?after=``.

A stream whose API key is revoked ends within `KEY_CHECK_S` with an ``event: stream.closed``. A
``Last-Event-ID`` beyond the newest stored event (a restored or replaced database) starts with an
``event: stream.reset`` saying so, and the stream resumes after the newest event."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from api.service.db import ApiKey, EventRow
from api.service.deps import MAX_INT, Reader, get_state
from api.service.outbox import LOOKBACK_IDS, envelope

router = APIRouter(prefix="/v1", tags=["events"])
State = Annotated[object, Depends(get_state)]


def _fetch(Session, after: int, station_id: str | None, seen: set[int], limit: int = 200):
    """Events after `after` not in `seen`: ids first (cheap), then only the new rows."""
    with Session() as s:
        q = select(EventRow.id).where(EventRow.id > after)
        if station_id:
            q = q.where(EventRow.station_id == station_id)
        new = [i for i in s.scalars(q.order_by(EventRow.id)).all() if i not in seen][:limit]
        if not new:
            return []
        return [envelope(e) for e in s.scalars(select(EventRow).where(EventRow.id.in_(new)).order_by(EventRow.id)).all()]


def _last_id(Session) -> int:
    with Session() as s:
        return s.scalar(select(func.max(EventRow.id))) or 0


def _key_active(Session, key_id: int) -> bool:
    with Session() as s:
        return s.scalar(select(ApiKey.id).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))) is not None


#: how often an open stream re-checks that its API key is still valid
KEY_CHECK_S = 1.0


@router.get("/events", summary="Server-sent events: inspection.completed, inspection.verified",
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def events(
    request: Request,
    state: State,
    who: Reader,
    after: int | None = Query(None, ge=0, le=MAX_INT, description="replay events after this id (default: only new events)"),
    station_id: str | None = None,
    max_events: int | None = Query(None, ge=1, le=100000, description="close the stream after this many events"),
    last_event_id: Annotated[str | None, Header()] = None,
):
    Session, poll = state.Session, state.settings.outbox_poll_s
    start = after
    if start is None and last_event_id and last_event_id.isdigit():
        start = int(last_event_id)
    newest = await run_in_threadpool(_last_id, Session)
    notice = None
    if start is None:
        start = newest
    elif start > newest:  # the client saw ids this database never had (restored, or another service): say so
        notice = {"kind": "stream.reset", "requested_after": start, "resumed_after": newest,
                  "detail": f"event {start} is beyond the newest event {newest} (the database was replaced or restored?); "
                            f"resuming after {newest}: events you may have missed are in GET /v1/inspections"}
        start = newest

    async def stream():
        last, sent, beat, checked = start, 0, time.monotonic(), time.monotonic()
        seen: set[int] = set()  # ids sent within the look-back window (late commits of lower ids)
        yield "retry: 2000\n\n"
        if notice is not None:
            yield f"event: stream.reset\ndata: {json.dumps(notice, separators=(',', ':'))}\n\n"
        while True:
            if await request.is_disconnected():
                return
            if time.monotonic() - checked >= KEY_CHECK_S:
                checked = time.monotonic()
                if not await run_in_threadpool(_key_active, Session, who.key_id):
                    yield "event: stream.closed\ndata: {\"detail\":\"the API key of this stream was revoked\"}\n\n"
                    return
            floor = max(start, last - LOOKBACK_IDS)
            for ev in await run_in_threadpool(_fetch, Session, floor, station_id, seen):
                seen.add(ev["id"])
                last = max(last, ev["id"])
                yield f"id: {ev['id']}\nevent: {ev['kind']}\ndata: {json.dumps(ev, separators=(',', ':'))}\n\n"
                sent += 1
                if max_events is not None and sent >= max_events:
                    return
            if len(seen) > 2 * LOOKBACK_IDS:
                seen = {i for i in seen if i > last - LOOKBACK_IDS}
            if time.monotonic() - beat > 15:
                beat = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(poll)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
