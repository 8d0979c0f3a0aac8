"""Submitting boards to the pogoscope service, and the thread that drains the outbox.

Contract: ``POST {url}/v1/inspections``, multipart: one image file per view (field name =
view name), form fields ``serial``, ``recipe_id``, ``station_id`` and ``calibrations`` (JSON: the
record of each view as ``CAMERA#FINGERPRINT``, so the service inspects with the records the station
used, see `api.service.calref`); headers ``X-API-Key``
and ``Idempotency-Key`` (the board key, so a retry after a lost response never creates a
second inspection).
"""

from __future__ import annotations

import json
import logging
import threading

import httpx

from api.station.outbox import Outbox

log = logging.getLogger("pogoscope.station.delivery")


class ServiceClient:
    def __init__(self, url: str, *, api_key: str | None, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/") + "/v1/inspections"
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(timeout=timeout_s, headers=headers)

    def close(self) -> None:
        self._http.close()

    def submit(self, item: dict) -> tuple[bool, bool, object]:
        """Returns (ok, retryable, response JSON or error text)."""
        files = {v: (f"{v}.png", b, "image/png") for v, b in item["images"].items()}
        data = {"serial": item["serial"], "station_id": item["station_id"]}
        if item.get("recipe_id"):
            data["recipe_id"] = item["recipe_id"]
        if item.get("calibrations"):  # the exact records the station inspected with (api.service.calref)
            data["calibrations"] = json.dumps(item["calibrations"], sort_keys=True)
        try:
            r = self._http.post(self.url, files=files, data=data, headers={"Idempotency-Key": item["key"]})
        except httpx.HTTPError as exc:
            return False, True, f"service unreachable: {type(exc).__name__}: {exc}"
        if r.status_code < 300:
            try:
                return True, False, r.json()
            except ValueError:
                return True, False, {"status_code": r.status_code}
        text = f"service answered {r.status_code}: {r.text[:200]}"
        retryable = r.status_code >= 500 or r.status_code in (408, 425, 429)
        return False, retryable, text


class Deliverer:
    """Background thread: submit due outbox rows; back off exponentially while the service fails."""

    def __init__(self, outbox: Outbox, client: ServiceClient, *, base_s: float = 0.5, max_s: float = 60.0, poll_s: float = 0.1) -> None:
        self.outbox, self.client = outbox, client
        self.base_s, self.max_s, self.poll_s = base_s, max_s, poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @classmethod
    def for_sink(cls, sink, outbox: Outbox) -> "Deliverer":
        """The deliverer of a station config's ``sink: {kind: service, ...}`` (key from ``api_key`` or ``api_key_env``)."""
        import os

        key = sink.api_key or (os.environ.get(sink.api_key_env) if sink.api_key_env else None)
        return cls(outbox, ServiceClient(sink.url, api_key=key, timeout_s=sink.timeout_s), base_s=sink.retry_base_s,
                   max_s=sink.retry_max_s)

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

    def drain_once(self) -> int:
        """Try every due row once; returns how many were delivered."""
        n = 0
        for item in self.outbox.due():
            if self._stop.is_set():
                break
            ok, retryable, resp = self.client.submit(item)
            if ok:
                self.outbox.mark_delivered(item["key"], resp if isinstance(resp, dict) else None)
                self.last_error = None
                n += 1
            else:
                self.last_error = str(resp)
                delay = min(self.max_s, self.base_s * 2 ** item["attempts"]) if retryable else None
                self.outbox.mark_failed(item["key"], str(resp), retry_in_s=delay)
                log.warning("delivery of %s failed (%s); %s", item["key"], resp, f"retry in {delay:.1f} s" if delay else "rejected")
                if retryable:
                    break  # the service is down: do not hammer it with the rest of the queue
        return n

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.drain_once()
            except Exception:  # never let the delivery thread die; the rows stay pending
                log.exception("delivery loop error")
            self._wake.wait(self.poll_s)
            self._wake.clear()
