"""The outbox dispatcher against a real local HTTP receiver: exponential back-off between retries,
HMAC signatures, a delivery given up ('dead') after the attempt limit; and concurrent submissions
with one Idempotency-Key make one inspection (both backends)."""

from __future__ import annotations

import json
import threading
import time

from api.service.db import DeliveryRow, EventRow, engine_for, session_factory
from api.service.migrate import upgrade
from api.service.outbox import Dispatcher, sign, verify
from tests.api.service.support import WebhookReceiver, png, setup_board


def FlakyReceiver(fail_first: int) -> WebhookReceiver:
    """Answers 503 to the first `fail_first` requests, then 204."""
    rec = WebhookReceiver(lambda body: 503 if len(rec.calls) < fail_first else 204)
    return rec


def _dispatcher(settings, rec, **over):
    s = settings.model_copy(update={"webhook_urls": [f"http://127.0.0.1:{rec.port}/h"], "retry_base_s": 0.15, "retry_max_s": 5.0,
                                    "webhook_secret": "k", **over})
    engine = engine_for(s)
    upgrade(engine)
    Session = session_factory(engine)
    with Session() as ses:
        ses.add(EventRow(kind="inspection.completed", inspection_id="x", station_id="st", payload={"hello": 1}))
        ses.commit()
    return Dispatcher(s, Session), Session


def _drain(d, until, timeout_s=10):
    t0 = time.monotonic()
    while not until() and time.monotonic() - t0 < timeout_s:
        d.fan_out()
        d.deliver_due()
        time.sleep(0.02)


def test_retries_back_off_exponentially_and_are_signed(settings):
    rec = FlakyReceiver(fail_first=3)
    d, Session = _dispatcher(settings, rec)
    try:
        _drain(d, lambda: len(rec.calls) >= 4)
    finally:
        d.stop()
        rec.close()
    assert len(rec.calls) == 4
    gaps = [b[0] - a[0] for a, b in zip(rec.calls, rec.calls[1:])]
    for gap, want in zip(gaps, (0.15, 0.30, 0.60)):
        assert want - 0.02 <= gap <= want + 0.25, gaps
    _, headers, body, _ = rec.calls[-1]
    assert verify("k", headers["X-Pogoscope-Timestamp"], body, headers["X-Pogoscope-Signature"])
    assert not verify("other", headers["X-Pogoscope-Timestamp"], body, headers["X-Pogoscope-Signature"])
    assert headers["X-Pogoscope-Signature"] == sign("k", headers["X-Pogoscope-Timestamp"], body)
    assert json.loads(body)["data"] == {"hello": 1}
    with Session() as s:
        row = s.query(DeliveryRow).one()
        assert row.status == "delivered" and row.attempts == 4


def test_gives_up_after_the_attempt_limit(settings):
    rec = FlakyReceiver(fail_first=100)
    d, Session = _dispatcher(settings, rec, retry_max_attempts=2, retry_base_s=0.05)
    try:
        _drain(d, lambda: len(rec.calls) >= 2, timeout_s=5)
        time.sleep(0.3)
        d.deliver_due()
    finally:
        d.stop()
        rec.close()
    assert len(rec.calls) == 2
    with Session() as s:
        row = s.query(DeliveryRow).one()
        assert row.status == "dead" and "503" in row.last_error


def test_concurrent_submissions_with_one_key_make_one_inspection(app_client, board):
    c = app_client
    setup_board(c, board)
    data = png(board.image)
    out = []

    def post():
        out.append(c.post("/v1/inspections", data={"serial": "RACE", "recipe_id": board.recipe["recipe_id"]},
                          files={"top": ("t.png", data, "image/png")}, headers={"Idempotency-Key": "race"}))

    ts = [threading.Thread(target=post) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert [r.status_code for r in out] == [202] * 4
    assert len({r.json()["id"] for r in out}) == 1
    assert sum(not r.json()["replayed"] for r in out) == 1
    assert len(c.get("/v1/inspections", params={"serial": "RACE"}).json()["items"]) == 1


def test_an_event_committed_late_with_a_lower_id_is_not_skipped(settings):
    """PostgreSQL sequences hand out ids at insert, so id 7 can commit after id 11 was fanned out."""
    rec = FlakyReceiver(fail_first=0)
    d, Session = _dispatcher(settings, rec)
    try:
        with Session() as s:
            s.add_all([EventRow(id=10, kind="k", payload={"n": 10}), EventRow(id=11, kind="k", payload={"n": 11})])
            s.commit()
        d.fan_out()
        with Session() as s:
            s.add(EventRow(id=7, kind="k", payload={"n": 7}))
            s.commit()
        _drain(d, lambda: len(rec.calls) >= 4)
    finally:
        d.stop()
        rec.close()
    assert sorted(json.loads(b)["id"] for _, _, b, _ in rec.calls) == [1, 7, 10, 11]
