"""Delivering the event outbox: signed webhooks and MQTT, with retries and back-off.

Events are rows written by whoever changed the state (a worker in any process, a review); this
dispatcher runs in the service and only reads the database, so nothing is lost on a restart:

1. fan-out: for every configured sink (``webhook:<url>``, ``mqtt``) each event after the sink's
   persisted cursor gets a `DeliveryRow`;
2. delivery: due rows are tried; a failure is retried after ``retry_base_s * 2**attempts``
   (capped at ``retry_max_s``) until ``retry_max_attempts``, then marked ``dead``.

Webhook requests are ``POST`` JSON with headers ``X-Pogoscope-Event`` (kind),
``X-Pogoscope-Delivery`` (event id; receivers de-duplicate on it), ``X-Pogoscope-Timestamp``
(unix seconds) and ``X-Pogoscope-Signature: sha256=<hex>``, the HMAC-SHA256 with the shared
secret of ``<timestamp>.<body>``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
from urllib.parse import urlparse

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from api.service.db import DeliveryRow, EventRow, SinkCursor, utcnow
from api.settings import Settings

log = logging.getLogger("pogoscope.outbox")

# Event ids come from a sequence: on PostgreSQL a lower id can commit after a higher one, so readers
# look this far back behind what they have seen instead of trusting "id > last".
LOOKBACK_IDS = 1000


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` HMAC of ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def envelope(ev: EventRow) -> dict:
    return {"id": ev.id, "kind": ev.kind, "created_at": ev.created_at.isoformat(), "data": ev.payload}


def mqtt_topic(settings: Settings, station_id: str | None) -> str:
    return f"{settings.mqtt_topic_prefix}/{station_id or '_none'}/inspections"


class _Mqtt:
    def __init__(self, url: str) -> None:
        import paho.mqtt.client as mqtt

        u = urlparse(url)
        if u.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"mqtt_url {url!r}: use mqtt://HOST:PORT")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pogoscope-{id(self):x}")
        if u.username:
            self.client.username_pw_set(u.username, u.password)
        self.client.connect(u.hostname or "127.0.0.1", u.port or 1883, keepalive=30)
        self.client.loop_start()

    def publish(self, topic: str, body: bytes, timeout_s: float) -> None:
        info = self.client.publish(topic, body, qos=1)
        info.wait_for_publish(timeout=timeout_s)
        if not info.is_published():
            raise RuntimeError(f"MQTT publish to {topic} not acknowledged within {timeout_s} s")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Dispatcher:
    """Background thread that drains the outbox to the configured sinks."""

    def __init__(self, settings: Settings, Session) -> None:
        self.settings, self.Session = settings, Session
        self.sinks = [f"webhook:{u}" for u in settings.webhook_urls] + (["mqtt"] if settings.mqtt_url else [])
        self._http = httpx.Client(timeout=settings.webhook_timeout_s)
        self._mqtt: _Mqtt | None = None
        self._blocked_until: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if not self.sinks:
            return
        self._thread = threading.Thread(target=self._loop, name="outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._http.close()
        if self._mqtt is not None:
            self._mqtt.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.fan_out()
                self.deliver_due()
            except Exception:  # the loop must survive a database hiccup; rows stay pending
                log.exception("outbox loop error")
            self._stop.wait(self.settings.outbox_poll_s)

    # -- steps -------------------------------------------------------------------------
    def fan_out(self) -> int:
        n = 0
        with self.Session() as s:
            for sink in self.sinks:
                cur = s.get(SinkCursor, sink)
                if cur is None:
                    cur = SinkCursor(sink=sink, last_event_id=0)
                    s.add(cur)
                    s.flush()
                fanned = select(DeliveryRow.id).where(DeliveryRow.event_id == EventRow.id, DeliveryRow.sink == sink).exists()
                ids = s.scalars(
                    select(EventRow.id).where(EventRow.id > cur.last_event_id - LOOKBACK_IDS, ~fanned).order_by(EventRow.id).limit(500)
                ).all()
                if not ids:
                    continue
                for eid in ids:
                    s.add(DeliveryRow(event_id=eid, sink=sink, status="pending", attempts=0, next_at=utcnow()))
                cur.last_event_id = max(cur.last_event_id, ids[-1])
                n += len(ids)
            try:
                s.commit()
            except IntegrityError:  # another service instance fanned out the same events
                s.rollback()
        return n

    def deliver_due(self) -> int:
        now = utcnow()
        delivered = 0
        with self.Session() as s:
            rows = s.execute(
                select(DeliveryRow, EventRow)
                .join(EventRow, EventRow.id == DeliveryRow.event_id)
                .where(DeliveryRow.status == "pending", DeliveryRow.next_at <= now)
                .order_by(DeliveryRow.id)
                .limit(100)
            ).all()
            for d, ev in rows:
                if self._stop.is_set():
                    break
                if self._blocked_until.get(d.sink, 0) > time.monotonic():
                    continue  # this sink just failed: do not hammer it with the rest of the backlog
                # the claim expires after one send's worth of time, so a crash mid-send delays that event only briefly
                lease = now + dt.timedelta(seconds=2 * self.settings.webhook_timeout_s + 1)
                claimed = s.execute(
                    update(DeliveryRow).where(DeliveryRow.id == d.id, DeliveryRow.status == "pending", DeliveryRow.next_at <= now)
                    .values(next_at=lease)
                ).rowcount
                s.commit()
                if claimed != 1:
                    continue
                try:
                    self._send(d.sink, ev)
                except Exception as exc:
                    attempts = d.attempts + 1
                    delay = min(self.settings.retry_max_s, self.settings.retry_base_s * 2 ** (attempts - 1))
                    dead = attempts >= self.settings.retry_max_attempts
                    s.execute(
                        update(DeliveryRow).where(DeliveryRow.id == d.id).values(
                            attempts=attempts, last_error=f"{type(exc).__name__}: {exc}"[:1000],
                            status="dead" if dead else "pending", next_at=utcnow() + dt.timedelta(seconds=delay),
                        )
                    )
                    s.commit()
                    self._blocked_until[d.sink] = time.monotonic() + delay
                    log.warning("delivery of event %s to %s failed (attempt %d): %s", ev.id, d.sink, attempts, exc)
                    continue
                s.execute(
                    update(DeliveryRow).where(DeliveryRow.id == d.id).values(
                        attempts=d.attempts + 1, status="delivered", delivered_at=utcnow(), last_error=None
                    )
                )
                s.commit()
                self._blocked_until.pop(d.sink, None)
                delivered += 1
        return delivered

    def _send(self, sink: str, ev: EventRow) -> None:
        body = json.dumps(envelope(ev), separators=(",", ":")).encode()
        if sink.startswith("webhook:"):
            url = sink.removeprefix("webhook:")
            ts = str(int(time.time()))
            r = self._http.post(
                url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Pogoscope-Event": ev.kind,
                    "X-Pogoscope-Delivery": str(ev.id),
                    "X-Pogoscope-Timestamp": ts,
                    "X-Pogoscope-Signature": sign(self.settings.webhook_secret, ts, body),
                },
            )
            if r.status_code >= 300:
                raise RuntimeError(f"receiver answered {r.status_code}")
        elif sink == "mqtt":
            if self._mqtt is None:
                self._mqtt = _Mqtt(self.settings.mqtt_url)
            try:
                self._mqtt.publish(mqtt_topic(self.settings, ev.station_id), body, self.settings.webhook_timeout_s)
            except Exception:
                self._mqtt.close()
                self._mqtt = None
                raise
        else:
            raise RuntimeError(f"unknown sink {sink!r}")


def pending_count(Session) -> int:
    with Session() as s:
        return s.scalar(select(func.count()).select_from(DeliveryRow).where(DeliveryRow.status == "pending")) or 0
