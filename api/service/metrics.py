"""Prometheus metrics computed from the database, so they are right whichever process (or machine)
ran the inspection: latency histogram (submission to result), verdict counts, queue depth."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import case, func, select

from api.service.db import InspectionRow

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    def __init__(self, Session) -> None:
        self.Session = Session
        self.queue = None
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

    def render(self) -> bytes:
        return generate_latest(self.registry)
