"""Submitting boards to the pogoscope service, and the thread that drains the outbox.

Contract: ``POST {url}/v1/inspections``, multipart: one image file per view (field name =
view name), form fields ``serial``, ``recipe_id``, ``station_id`` and ``calibrations`` (JSON: the
record of each view as ``CAMERA#FINGERPRINT``, so the service inspects with the records the station
used, see `api.service.calref`); headers ``X-API-Key``
and ``Idempotency-Key`` (the board key, so a retry after a lost response never creates a
second inspection).

What happens to a refused delivery (see `api.station.outbox` for the states):

* unreachable, 5xx, 408/425/429: stays ``pending``, retried with exponential back-off;
* 401/403 (the key) and 422 (a recipe, calibration or view the service does not know, or any other
  422): ``held`` -- the cause is fixed on the service or in the config, not by waiting; the station
  reports a fault with the reason, re-sends held boards every ``held_retry_s`` and at once when
  its start-up check (`api.station.preflight`) passes again;
* any other 4xx (e.g. 409, 413): ``rejected``; ``pogoscope station deliver --retry-rejected`` re-sends.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import httpx

from api.station.outbox import Outbox
from api.backoff import backoff_s

log = logging.getLogger("pogoscope.station.delivery")


class ServiceClient:
    def __init__(self, url: str, *, api_key: str | None, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/") + "/v1/inspections"
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(timeout=timeout_s, headers=headers)

    def close(self) -> None:
        self._http.close()

    def submit(self, item: dict) -> tuple[bool, bool, object]:
        """Returns (ok, retryable by waiting, response JSON or error text)."""
        ok, kind, resp = self.send(item)
        return ok, kind == "transient", resp

    def send(self, item: dict) -> tuple[bool, str, object]:
        """Returns (ok, kind, response JSON or error text); kind is "ok", "transient", "held" or "rejected"."""
        files = {v: (f"{v}.png", b, "image/png") for v, b in item["images"].items()}
        data = {"serial": item["serial"], "station_id": item["station_id"]}
        if item.get("recipe_id"):
            data["recipe_id"] = item["recipe_id"]
        if item.get("calibrations"):  # the exact records the station inspected with (api.service.calref)
            data["calibrations"] = json.dumps(item["calibrations"], sort_keys=True)
        try:
            r = self._http.post(self.url, files=files, data=data, headers={"Idempotency-Key": item["key"]})
        except httpx.HTTPError as exc:
            return False, "transient", f"service unreachable: {type(exc).__name__}: {exc}"
        if r.status_code < 300:
            try:
                return True, "ok", r.json()
            except ValueError:
                return True, "ok", {"status_code": r.status_code}
        text = f"service answered {r.status_code}: {r.text[:300]}"
        if r.status_code >= 500 or r.status_code in (408, 425, 429):
            return False, "transient", text
        if r.status_code in (401, 403, 422):
            return False, "held", text
        return False, "rejected", text


class Deliverer:
    """Background thread: submit due outbox rows; back off exponentially while the service fails;
    hold boards the service refuses for a fixable cause and report it as `fault`."""

    def __init__(self, outbox: Outbox, client: ServiceClient, *, base_s: float = 0.5, max_s: float = 60.0, poll_s: float = 0.1,
                 held_retry_s: float = 30.0, preflight=None) -> None:
        self.outbox, self.client = outbox, client
        self.base_s, self.max_s, self.poll_s, self.held_retry_s = base_s, max_s, poll_s, held_retry_s
        self.preflight = preflight  # () -> api.station.preflight.Preflight, or None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.fault: str | None = None  # why deliveries are held (None: none are)
        self.notes: list[str] = []
        self._next_check = 0.0
        self.checked_ok = preflight is None  # the start-up check passed (re-run until it does)
        self._paused_until = 0.0  # after a 401/403 nothing is sent until the check passes or held_retry_s

    @classmethod
    def for_sink(cls, sink, outbox: Outbox, *, preflight=None) -> "Deliverer":
        """The deliverer of a station config's ``sink: {kind: service, ...}`` (key from ``api_key`` or ``api_key_env``)."""
        return cls(outbox, ServiceClient(sink.url, api_key=sink_key(sink), timeout_s=sink.timeout_s), base_s=sink.retry_base_s,
                   max_s=sink.retry_max_s, held_retry_s=sink.held_retry_s, preflight=preflight)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="deliverer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 0.5) -> None:
        """Stop the thread; a delivery still in flight after `timeout_s` is abandoned (its row stays
        pending and is re-sent later under the same Idempotency-Key, so it is never inspected twice)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def check(self) -> bool:
        """Run the start-up check now; when it passes, held boards are released (sent at once).
        Returns whether it passed."""
        self._next_check = time.monotonic() + self.held_retry_s
        if self.preflight is None:
            return True
        pf = self.preflight()
        self.notes = list(pf.notes)
        self.checked_ok = pf.ok
        if pf.ok:
            self._paused_until = 0.0
            n = self.outbox.release()
            if n:
                log.info("start-up check passed: %d held board(s) re-sent", n)
            self.fault = None
            return True
        if not pf.unreachable:
            self.fault = pf.reason
            log.error("station fault: %s", pf.reason)
        return False

    def drain_once(self) -> int:
        """Try every due row once; returns how many were delivered."""
        n = 0
        if time.monotonic() < self._paused_until:
            return 0
        for item in self.outbox.due():
            if self._stop.is_set():
                break
            ok, kind, resp = self.client.send(item)
            if ok:
                self.outbox.mark_delivered(item["key"], resp if isinstance(resp, dict) else None)
                self.last_error = None
                if item["delivery"] == "held":
                    self.fault = None  # the cause was fixed; other held rows follow at once
                    self.outbox.release()
                n += 1
                continue
            self.last_error = str(resp)
            if kind == "transient":
                delay = backoff_s(item["attempts"], base_s=self.base_s, max_s=self.max_s)
                self.outbox.mark_failed(item["key"], str(resp), retry_in_s=delay)
                log.warning("delivery of %s failed (%s); retry in %.1f s", item["serial"], resp, delay)
                break  # the service is down: do not hammer it with the rest of the queue
            if kind == "held":
                self.outbox.mark_failed(item["key"], str(resp), retry_in_s=self.held_retry_s, held=True)
                self.fault = f"board {item['serial']} held: {resp}"
                log.error("delivery of %s refused (%s); held, re-sent every %.0f s and when the cause is fixed",
                          item["serial"], resp, self.held_retry_s)
                if " 401:" in str(resp) or " 403:" in str(resp):
                    self._paused_until = time.monotonic() + self.held_retry_s
                    break  # the key: every other board would be refused the same way
                continue
            self.outbox.mark_failed(item["key"], str(resp), retry_in_s=None)
            log.error("delivery of %s rejected (%s); re-send with `pogoscope station deliver --retry-rejected`", item["serial"], resp)
        return n

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if (self.fault or not self.checked_ok) and time.monotonic() >= self._next_check:
                    self.check()
                self.drain_once()
            except Exception:  # never let the delivery thread die; the rows stay pending
                log.exception("delivery loop error")
            self._wake.wait(self.poll_s)
            self._wake.clear()


def sink_key(sink) -> str | None:
    import os

    return sink.api_key or (os.environ.get(sink.api_key_env) if sink.api_key_env else None)
