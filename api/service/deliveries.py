"""The state of event delivery per sink, read from the database: backlog, oldest pending event,
dead (parked) events; and re-queuing dead events. Used by ``/metrics``, ``/readyz``, the admin
routes (`api.service.routers.deliveries`) and ``pogoscope events``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select, update

from api.service.db import DeliveryRow, EventRow, utcnow
from api.service.outbox import sink_label


@dataclass
class SinkStats:
    sink: str
    label: str
    pending: int = 0
    oldest_pending_s: float = 0.0  # age of the oldest event still waiting for this sink (from the event's creation)
    dead: int = 0
    last_error: str | None = None
    failures: dict = field(default_factory=lambda: {"refused": 0, "transient": 0})  # this process's, since start
    delivered: int = 0  # this process's, since start
    paused_s: float = 0.0  # the sink's back-off left after a transient failure

    def as_dict(self) -> dict:
        return {"sink": self.label, "pending": self.pending, "oldest_pending_s": round(self.oldest_pending_s, 1), "dead": self.dead,
                "last_error": self.last_error, "failures": dict(self.failures), "delivered": self.delivered,
                "paused_s": round(self.paused_s, 1)}


def sink_stats(Session, dispatcher=None, *, sinks: list[str] | None = None) -> dict[str, SinkStats]:
    """Per sink (the configured ones, plus any that still holds pending or dead rows): counts from
    the database, failures and pause from this process's `dispatcher`."""
    import time

    now = utcnow()
    out: dict[str, SinkStats] = {}
    for s in (sinks if sinks is not None else (dispatcher.sinks if dispatcher is not None else [])):
        out[s] = SinkStats(s, sink_label(s))
    with Session() as ses:
        rows = ses.execute(
            select(DeliveryRow.sink, DeliveryRow.status, func.count(), func.min(EventRow.created_at))
            .join(EventRow, EventRow.id == DeliveryRow.event_id)
            .where(DeliveryRow.status.in_(("pending", "dead")))
            .group_by(DeliveryRow.sink, DeliveryRow.status)
        ).all()
        for sink, status, n, oldest in rows:
            st = out.setdefault(sink, SinkStats(sink, sink_label(sink)))
            if status == "pending":
                st.pending = int(n)
                if oldest is not None:
                    if oldest.tzinfo is None:
                        oldest = oldest.replace(tzinfo=dt.timezone.utc)
                    st.oldest_pending_s = max(0.0, (now - oldest).total_seconds())
            else:
                st.dead = int(n)
        for sink, st in out.items():
            if st.pending or st.dead:
                st.last_error = ses.scalar(
                    select(DeliveryRow.last_error).where(DeliveryRow.sink == sink, DeliveryRow.last_error.is_not(None),
                                                         DeliveryRow.status.in_(("pending", "dead")))
                    .order_by(DeliveryRow.id.desc()).limit(1))
    if dispatcher is not None:
        for sink, mem in dispatcher.state.items():
            st = out.setdefault(sink, SinkStats(sink, sink_label(sink)))
            st.failures, st.delivered = dict(mem.failures), mem.delivered
            st.paused_s = max(0.0, mem.blocked_until - time.monotonic())
            if mem.last_error and st.pending:
                st.last_error = mem.last_error
    return out


def stuck_reasons(stats: dict[str, SinkStats], stuck_after_s: float) -> list[str]:
    """One sentence per sink whose oldest pending event has waited longer than `stuck_after_s`."""
    out = []
    for st in stats.values():
        if st.pending and st.oldest_pending_s > stuck_after_s:
            why = f"; last error: {st.last_error}" if st.last_error else ""
            out.append(f"{st.label}: {st.pending} event(s) pending, the oldest for {st.oldest_pending_s:.0f} s{why}")
    return out


def dead_deliveries(Session, *, sink: str | None = None, limit: int = 100) -> list[dict]:
    with Session() as s:
        q = select(DeliveryRow, EventRow.kind).join(EventRow, EventRow.id == DeliveryRow.event_id).where(DeliveryRow.status == "dead")
        if sink:
            q = q.where(DeliveryRow.sink.in_(_sink_names(s, sink)))
        rows = s.execute(q.order_by(DeliveryRow.id).limit(limit)).all()
        return [{"event_id": d.event_id, "kind": kind, "sink": sink_label(d.sink), "attempts": d.attempts, "reason": d.last_error,
                 "parked_at": d.next_at} for d, kind in rows]


def _sink_names(s, sink: str) -> list[str]:
    """Stored sink names matching `sink` given as stored (``webhook:<url>``, ``mqtt``) or by its label."""
    names = s.scalars(select(DeliveryRow.sink).distinct()).all()
    return [n for n in names if sink in (n, sink_label(n))] or [sink]


def requeue_dead(Session, *, sink: str | None = None, event_ids: list[int] | None = None) -> int:
    """Hand dead deliveries (all, one sink's, or these events') back to delivery with fresh attempts."""
    with Session() as s:
        q = update(DeliveryRow).where(DeliveryRow.status == "dead")
        if sink:
            q = q.where(DeliveryRow.sink.in_(_sink_names(s, sink)))
        if event_ids:
            q = q.where(DeliveryRow.event_id.in_(event_ids))
        n = s.execute(q.values(status="pending", attempts=0, next_at=utcnow())).rowcount
        s.commit()
        return n or 0
