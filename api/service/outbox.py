"""Delivering the event outbox: signed webhooks and MQTT, with retries and back-off.

Events are rows written by whoever changed the state (a worker in any process, a review); this
dispatcher runs in the service and only reads the database, so nothing is lost on a restart:

1. fan-out: for every configured sink (``webhook:<url>``, ``mqtt``) each event after the sink's
   persisted cursor gets a `DeliveryRow`;
2. delivery: every sink has its own thread, connection and back-off, so a slow or broken sink
   never delays another. Within a sink every event is tried on its own: one the sink refuses
   never holds back the events after it.

How a failed send is treated depends on what failed:

* **refused** (`Refused`: an HTTP 4xx other than 408/425/429, a 3xx, an MQTT topic or payload
  the client rejects): the sink works but does not want *this* event. The event is retried after
  its own back-off and parked ``dead`` with the reason after ``delivery_refused_attempts`` tries;
  the sink goes on with the next events at once.
* **transient** (5xx, 408/429, timeouts, connection errors): the sink looks down. The event is
  retried after ``retry_base_s * 2**(attempts-1)`` (capped at ``retry_max_s``) and the *sink*
  pauses for its own back-off (doubling per consecutive failure, reset by any success), so a
  backlog does not hammer a receiver that is down. After the pause the sink tries untried events
  first (due events are taken by attempts, then id), so an event that fails alone cannot stall it. An event is
  parked ``dead`` after ``retry_max_attempts`` transient failures.

Dead events stay in the table with their reason; ``pogoscope events retry`` or
``POST /v1/deliveries/retry`` (admin) hands them back to delivery. `sink_stats` feeds ``/metrics``
and ``/readyz`` (backlog, oldest pending age, dead events, failures per sink).

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

from api.backoff import backoff_s
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


_TOPIC_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def topic_level(text: str) -> str:
    """`text` as one MQTT topic level: letters, digits and ``-_.~`` stay, every other byte is
    percent-encoded (``line#3`` -> ``line%233``, ``a/b`` -> ``a%2Fb``), so a station id can never
    add levels or wildcards to a topic."""
    return "".join(c if c in _TOPIC_SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in text) or "_"


def mqtt_topic(settings: Settings, station_id: str | None) -> str:
    """``<prefix>/<station_id, escaped>/inspections`` (`topic_level`)."""
    return f"{settings.mqtt_topic_prefix}/{topic_level(station_id) if station_id else '_none'}/inspections"


class Refused(Exception):
    """The sink works but refuses this event (HTTP 4xx, an MQTT topic or payload it cannot take):
    retrying soon will not help, and the next events must not wait for it."""


def sink_label(sink: str) -> str:
    """A sink's name for metrics, logs and the API: a webhook URL without credentials or query."""
    if not sink.startswith("webhook:"):
        return sink
    u = urlparse(sink.removeprefix("webhook:"))
    host = u.hostname or ""
    if u.port:
        host += f":{u.port}"
    return f"webhook:{u.scheme}://{host}{u.path}"


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
        try:
            info = self.client.publish(topic, body, qos=1)
        except ValueError as exc:  # paho: wildcards or NUL in the topic, payload too large
            raise Refused(f"MQTT client refused topic {topic!r}: {exc}") from None
        if info.rc != 0:
            raise RuntimeError(f"MQTT publish to {topic} failed: {info.rc}")
        info.wait_for_publish(timeout=timeout_s)
        if not info.is_published():
            raise RuntimeError(f"MQTT publish to {topic} not acknowledged within {timeout_s} s")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class _SinkState:
    """What one sink's thread knows between rounds (in memory: a restart starts afresh)."""

    def __init__(self, sink: str) -> None:
        self.sink, self.label = sink, sink_label(sink)
        self.consecutive_failures = 0
        self.blocked_until = 0.0  # time.monotonic(): the sink pauses after a transient failure
        self.last_error: str | None = None
        self.failures = {"refused": 0, "transient": 0}
        self.delivered = 0
        self.mqtt: _Mqtt | None = None
        self.lock = threading.Lock()  # deliver_due (tests, CLI) and the sink's thread never send at once


class Dispatcher:
    """Fan-out thread plus one delivery thread per sink (webhook URL, MQTT)."""

    def __init__(self, settings: Settings, Session) -> None:
        self.settings, self.Session = settings, Session
        self.sinks = [f"webhook:{u}" for u in settings.webhook_urls] + (["mqtt"] if settings.mqtt_url else [])
        self.state = {sink: _SinkState(sink) for sink in self.sinks}
        self._http = httpx.Client(timeout=settings.webhook_timeout_s)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if not self.sinks:
            return
        self._threads = [threading.Thread(target=self._fan_out_loop, name="outbox-fan-out", daemon=True)]
        self._threads += [threading.Thread(target=self._sink_loop, args=(sink,), name=f"outbox-{sink_label(sink)}", daemon=True)
                          for sink in self.sinks]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2 * self.settings.webhook_timeout_s + 1)
        self._http.close()
        for st in self.state.values():
            if st.mqtt is not None:
                st.mqtt.close()
                st.mqtt = None

    def _fan_out_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.fan_out()
            except Exception:  # the loop must survive a database hiccup; events stay in the table
                log.exception("outbox fan-out error")
            self._stop.wait(self.settings.outbox_poll_s)

    def _sink_loop(self, sink: str) -> None:
        while not self._stop.is_set():
            n = 0
            try:
                n = self.deliver_sink(sink)
            except Exception:  # a database hiccup; rows stay pending
                log.exception("outbox delivery error (%s)", sink_label(sink))
            if not n:
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
        """One round over every sink (what the sink threads do continuously)."""
        return sum(self.deliver_sink(sink) for sink in self.sinks)

    def deliver_sink(self, sink: str) -> int:
        """Try this sink's due events, oldest first, until one fails transiently (the sink pauses)
        or none is due. Returns the number delivered."""
        st = self.state[sink]
        if not st.lock.acquire(blocking=False):
            return 0
        try:
            return self._deliver_sink(st)
        finally:
            st.lock.release()

    def _deliver_sink(self, st: _SinkState) -> int:
        cfg = self.settings
        delivered = 0
        if st.blocked_until > time.monotonic():
            return 0
        now = utcnow()
        with self.Session() as s:
            rows = s.execute(
                select(DeliveryRow, EventRow)
                .join(EventRow, EventRow.id == DeliveryRow.event_id)
                .where(DeliveryRow.sink == st.sink, DeliveryRow.status == "pending", DeliveryRow.next_at <= now)
                .order_by(DeliveryRow.attempts, DeliveryRow.id)  # untried events first: a failing one goes after them
                .limit(100)
            ).all()
            for d, ev in rows:
                if self._stop.is_set():
                    break
                # the claim expires after one send's worth of time, so a crash mid-send delays that event only briefly
                lease = utcnow() + dt.timedelta(seconds=2 * cfg.webhook_timeout_s + 1)
                claimed = s.execute(
                    update(DeliveryRow).where(DeliveryRow.id == d.id, DeliveryRow.status == "pending", DeliveryRow.next_at <= now)
                    .values(next_at=lease)
                ).rowcount
                s.commit()
                if claimed != 1:
                    continue
                try:
                    self._send(st, ev)
                except Exception as exc:
                    refused = isinstance(exc, Refused)
                    attempts = d.attempts + 1
                    delay = backoff_s(attempts - 1, base_s=cfg.retry_base_s, max_s=cfg.retry_max_s)
                    limit = cfg.delivery_refused_attempts if refused else cfg.retry_max_attempts
                    dead = attempts >= limit
                    why = str(exc) if refused else f"{type(exc).__name__}: {exc}"
                    if dead:
                        why = f"{'refused' if refused else 'failed'} {attempts} times, parked: {why}"
                    s.execute(
                        update(DeliveryRow).where(DeliveryRow.id == d.id).values(
                            attempts=attempts, last_error=why[:1000],
                            status="dead" if dead else "pending", next_at=utcnow() + dt.timedelta(seconds=delay),
                        )
                    )
                    s.commit()
                    st.failures["refused" if refused else "transient"] += 1
                    st.last_error = why[:300]
                    log.warning("delivery of event %s to %s %s (attempt %d%s): %s", ev.id, st.label,
                                "refused" if refused else "failed", attempts, ", parked dead" if dead else "", exc)
                    if refused:
                        continue  # the sink works: go on with the next event
                    st.consecutive_failures += 1
                    st.blocked_until = time.monotonic() + backoff_s(st.consecutive_failures - 1, base_s=cfg.retry_base_s, max_s=cfg.retry_max_s)
                    break
                s.execute(
                    update(DeliveryRow).where(DeliveryRow.id == d.id).values(
                        attempts=d.attempts + 1, status="delivered", delivered_at=utcnow(), last_error=None
                    )
                )
                s.commit()
                st.consecutive_failures, st.blocked_until = 0, 0.0
                st.delivered += 1
                delivered += 1
        return delivered

    def _send(self, st: _SinkState, ev: EventRow) -> None:
        body = json.dumps(envelope(ev), separators=(",", ":")).encode()
        sink = st.sink
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
                    "X-Pogoscope-Signature": sign(self.settings.webhook_secret or "", ts, body),
                },
            )
            code = r.status_code
            if code < 300:
                return
            said = " ".join(r.text.split())[:200] if r.text else ""
            msg = f"receiver answered {code}" + (f": {said}" if said else "")
            if code in (408, 425, 429) or code >= 500:
                raise RuntimeError(msg)
            raise Refused(msg)
        elif sink == "mqtt":
            if st.mqtt is None:
                st.mqtt = _Mqtt(self.settings.mqtt_url)
            try:
                st.mqtt.publish(mqtt_topic(self.settings, ev.station_id), body, self.settings.webhook_timeout_s)
            except Refused:
                raise
            except Exception:
                st.mqtt.close()
                st.mqtt = None
                raise
        else:
            raise RuntimeError(f"unknown sink {sink!r}")


def pending_count(Session) -> int:
    with Session() as s:
        return s.scalar(select(func.count()).select_from(DeliveryRow).where(DeliveryRow.status == "pending")) or 0
