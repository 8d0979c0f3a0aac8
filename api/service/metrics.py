"""Prometheus metrics computed from the database, so they are right whichever process (or machine)
ran the inspection: latency histogram (submission to result), verdict counts, queue depth, and
event delivery per sink (backlog, oldest pending age, dead events, failures)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import case, func, select

from api.service.db import InspectionRow

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    def __init__(self, Session) -> None:
        self.Session = Session
        self.queue = None
        self.dispatcher = None  # api.service.outbox.Dispatcher: delivery state per sink
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def describe(self):
        return []

    def collect(self):
        with self.Session() as s:
            cols = [func.sum(case((InspectionRow.latency_s <= b, 1), else_=0)) for b in LATENCY_BUCKETS_S]
            row = s.execute(
                select(func.count(InspectionRow.latency_s), func.coalesce(func.sum(InspectionRow.latency_s), 0.0), *cols)
                .where(InspectionRow.status.in_(("done", "failed")))
            ).one()
            verdicts = s.execute(
                select(InspectionRow.status, InspectionRow.verdict, func.count()).group_by(InspectionRow.status, InspectionRow.verdict)
            ).all()
        count, total = int(row[0] or 0), float(row[1] or 0.0)
        buckets = [(str(b), int(c or 0)) for b, c in zip(LATENCY_BUCKETS_S, row[2:])] + [("+Inf", count)]
        h = HistogramMetricFamily("pogoscope_inspection_latency_seconds", "submission to committed result")
        h.add_metric([], buckets, total)
        yield h
        g = GaugeMetricFamily("pogoscope_inspections", "inspections by status and verdict", labels=["status", "verdict"])
        for status, verdict, n in verdicts:
            g.add_metric([status, verdict or ""], n)
        yield g
        q = GaugeMetricFamily("pogoscope_queue_depth", "inspections waiting or running in this service's queue")
        q.add_metric([], float(self.queue.depth()) if self.queue is not None else 0.0)
        yield q
        yield from self._deliveries()

    def _deliveries(self):
        from api.service.deliveries import sink_stats

        stats = sink_stats(self.Session, self.dispatcher)
        backlog = GaugeMetricFamily("pogoscope_delivery_backlog", "events waiting for delivery to a sink", labels=["sink"])
        oldest = GaugeMetricFamily("pogoscope_delivery_oldest_pending_seconds", "age of the oldest event waiting for a sink",
                                   labels=["sink"])
        dead = GaugeMetricFamily("pogoscope_delivery_dead", "events parked dead for a sink (pogoscope events retry re-queues them)",
                                 labels=["sink"])
        fails = CounterMetricFamily("pogoscope_delivery_failures", "failed sends per sink since start: refused (4xx, bad topic) "
                                    "or transient (5xx, timeouts, sink down)", labels=["sink", "kind"])
        done = CounterMetricFamily("pogoscope_delivery_delivered", "events delivered per sink since start", labels=["sink"])
        for st in stats.values():
            backlog.add_metric([st.label], st.pending)
            oldest.add_metric([st.label], st.oldest_pending_s)
            dead.add_metric([st.label], st.dead)
            for kind, n in st.failures.items():
                fails.add_metric([st.label, kind], n)
            done.add_metric([st.label], st.delivered)
        yield from (backlog, oldest, dead, fails, done)

    def render(self) -> bytes:
        return generate_latest(self.registry)
