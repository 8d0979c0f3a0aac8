"""Event delivery without head-of-line blocking (issue #15 item 1), against a real webhook receiver on
loopback and the real Mosquitto: an event a sink refuses is parked dead after a few tries while the
events after it arrive at once; a sink that is down pauses alone; station ids are escaped into a
safe MQTT topic; backlog, oldest pending age, dead events and failures per sink are on /metrics and
/readyz; dead events are re-queued by the admin route and by `pogoscope events retry`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from api.service.db import DeliveryRow, EventRow, engine_for, session_factory
from api.service.migrate import upgrade
from api.service.outbox import Dispatcher, Refused, _Mqtt, mqtt_topic, topic_level
from tests.api.service.support import REPO, WebhookReceiver, free_port, mqtt_subscriber, png, setup_board, wait_done


class Receiver(WebhookReceiver):
    def delivered(self) -> list[int]:
        return [b["id"] for b, code in self.bodies() if code < 300]


def _setup(settings, urls, n_events, **over):
    s = settings.model_copy(update={"webhook_urls": urls, "webhook_secret": "k", **over})
    engine = engine_for(s)
    upgrade(engine)
    Session = session_factory(engine)
    with Session() as ses:
        ses.add_all([EventRow(kind="inspection.completed", inspection_id=f"i{n}", station_id="st", payload={"n": n})
                     for n in range(n_events)])
        ses.commit()
    return Dispatcher(s, Session), Session


def _until(cond, timeout_s):
    t0 = time.monotonic()
    while not cond() and time.monotonic() - t0 < timeout_s:
        time.sleep(0.02)
    return cond()


def test_a_refused_event_never_holds_back_the_next_ones(settings):
    """Receiver answers 400 to event 1: with a 60 s back-off, the old dispatcher paused the whole sink for
    a minute after it; now events 2-40 arrive within seconds and event 1 is parked dead after 3 tries."""
    rec = Receiver(lambda b: 400 if b["data"]["n"] == 0 else 204)
    d, Session = _setup(settings, [rec.url], 40, retry_base_s=0.1, retry_max_s=60.0, delivery_refused_attempts=3)
    d.start()
    try:
        t0 = time.monotonic()
        assert _until(lambda: len(rec.delivered()) == 39, 10), rec.calls
        took = time.monotonic() - t0
        assert _until(lambda: sum(1 for _, c in rec.bodies() if c == 400) == 3, 5)  # 0.1 s, then 0.2 s back-off
    finally:
        d.stop()
        rec.close()
    assert took < 5, f"39 events behind a refused one took {took:.1f} s"
    assert sorted(rec.delivered()) == list(range(2, 41))
    with Session() as s:
        row = s.query(DeliveryRow).filter_by(event_id=1).one()
        assert row.status == "dead" and row.attempts == 3 and "refused 3 times" in row.last_error and "400" in row.last_error
    assert d.state[d.sinks[0]].failures == {"refused": 3, "transient": 0}


def test_a_sink_that_is_down_pauses_alone(settings):
    """Webhook A is down (connection refused), webhook B works: B gets every event promptly while A backs off."""
    down_port = free_port()
    rec = Receiver()
    d, Session = _setup(settings, [f"http://127.0.0.1:{down_port}/hook", rec.url], 30, retry_base_s=0.2, retry_max_s=30.0)
    d.start()
    try:
        assert _until(lambda: len(rec.delivered()) == 30, 10)
        time.sleep(0.5)
    finally:
        d.stop()
        rec.close()
    with Session() as s:
        a = s.query(DeliveryRow).filter(DeliveryRow.sink.like(f"%{down_port}%")).all()
    assert len(a) == 30 and all(r.status == "pending" for r in a)
    tried = [r for r in a if r.attempts]
    assert 1 <= len(tried) <= 4, "a sink that is down must pause, not try its whole backlog"  # 0.2 + 0.4 s pauses in 0.5 s


def test_one_event_failing_transiently_does_not_stall_the_sink(settings):
    """The receiver answers 503 to event 1 only: after the sink's short pause the next events go on."""
    rec = Receiver(lambda b: 503 if b["data"]["n"] == 0 else 204)
    d, Session = _setup(settings, [rec.url], 20, retry_base_s=0.2, retry_max_s=60.0)
    d.start()
    try:
        assert _until(lambda: len(rec.delivered()) == 19, 5), rec.calls
    finally:
        d.stop()
        rec.close()
    with Session() as s:
        assert s.query(DeliveryRow).filter_by(event_id=1).one().status == "pending"


def test_station_ids_become_safe_topic_levels_and_mosquitto_refusals_are_refused(settings):
    assert topic_level("line#3") == "line%233" and topic_level("a/b+c") == "a%2Fb%2Bc" and topic_level("line3-top") == "line3-top"
    assert mqtt_topic(settings, "line#3") == "pogoscope/stations/line%233/inspections"
    try:
        m = _Mqtt("mqtt://127.0.0.1:1883")
    except OSError as exc:
        pytest.skip(f"no MQTT broker on 127.0.0.1:1883: {exc}")
    try:
        with pytest.raises(Refused, match="wildcards"):
            m.publish("pogoscope-test/line#3/x", b"{}", 2.0)
    finally:
        m.close()


def test_end_to_end_refused_event_metrics_readyz_and_retry(settings, board, tmp_path):
    """The issue's scene through the API: a board from station 'line#3' and a webhook receiver that answers
    400 to it. Later boards reach the receiver and Mosquitto promptly; the refused event is dead, on /metrics,
    and re-queued by the admin route and by `pogoscope events retry`."""
    from fastapi.testclient import TestClient

    from api.service.app import create_app
    from tests.api.service.support import ADMIN_KEY

    prefix = f"pogoscope-test/{uuid.uuid4().hex[:8]}"
    refuse = {"on": True}
    rec = Receiver(lambda b: 400 if refuse["on"] and b["data"].get("serial") == "BAD-1" else 204)
    s = settings.model_copy(update={"webhook_urls": [rec.url], "mqtt_url": "mqtt://127.0.0.1:1883", "mqtt_topic_prefix": prefix,
                                    "retry_base_s": 0.1, "retry_max_s": 60.0, "delivery_refused_attempts": 2,
                                    "delivery_stuck_after_s": 0.5})
    with mqtt_subscriber(prefix) as got_mqtt, TestClient(create_app(s), headers={"X-API-Key": ADMIN_KEY}) as c:
        setup_board(c, board)
        data = png(board.image)

        def submit(serial, station):
            r = c.post("/v1/inspections", data={"serial": serial, "recipe_id": board.recipe["recipe_id"], "station_id": station},
                       files={"top": ("t.png", data, "image/png")})
            assert r.status_code == 202, r.text
            return r.json()["id"]

        ids = [submit("BAD-1", "line#3")] + [submit(f"OK-{i}", "line1") for i in range(4)]
        for i in ids:
            wait_done(c, i)
        t_done = time.monotonic()
        assert _until(lambda: {b["data"]["serial"] for b, code in rec.bodies() if code < 300} == {f"OK-{i}" for i in range(4)}, 10)
        assert time.monotonic() - t_done < 5
        assert _until(lambda: len(got_mqtt) >= 5, 10)
        assert {t for t, m in got_mqtt if m["data"]["serial"] == "BAD-1"} == {f"{prefix}/line%233/inspections"}
        hook = f"webhook:{rec.url}"
        assert _until(lambda: c.get("/v1/deliveries/dead").json() != [], 5)
        dead = c.get("/v1/deliveries/dead").json()
        assert [(x["sink"], x["attempts"]) for x in dead] == [(hook, 2)] and "receiver answered 400" in dead[0]["reason"]
        metrics = c.get("/metrics").text
        assert f'pogoscope_delivery_dead{{sink="{hook}"}} 1.0' in metrics
        assert f'pogoscope_delivery_failures_total{{kind="refused",sink="{hook}"}} 2.0' in metrics
        assert f'pogoscope_delivery_backlog{{sink="{hook}"}} 0.0' in metrics
        assert 'pogoscope_delivery_backlog{sink="mqtt"} 0.0' in metrics
        assert c.get("/readyz").json()["status"] == "ready"  # dead events are parked, not a stuck sink
        # the admin route re-queues it; the receiver still refuses, so it is dead again
        assert c.post("/v1/deliveries/retry", json={"sink": hook}).json() == {"requeued": 1}
        assert _until(lambda: sum(1 for b, code in rec.bodies() if code == 400) == 4, 5)
        # the receiver fixed: `pogoscope events retry` (a separate process on the same database) re-queues it
        refuse["on"] = False
        _until(lambda: c.get("/v1/deliveries/dead").json() != [], 5)
        env = {"POGOSCOPE_DATA_DIR": str(s.data_dir)}
        if s.database_url:
            env |= {"POGOSCOPE_DATABASE_URL": s.database_url, "POGOSCOPE_DB_SCHEMA": s.db_schema}
        status = subprocess.run([sys.executable, "-m", "api.cli", "events", "status"], cwd=REPO, capture_output=True,
                                text=True, timeout=60, env={**os.environ, **env})
        assert status.returncode == 0 and f"{hook}: 0 pending" in status.stdout and "1 dead" in status.stdout, status
        assert "dead: event" in status.stdout and "receiver answered 400" in status.stdout, status.stdout
        out = subprocess.run([sys.executable, "-m", "api.cli", "events", "retry", "--sink", hook], cwd=REPO, capture_output=True,
                             text=True, timeout=60, env={**os.environ, **env})
        assert out.returncode == 0 and "re-queued 1 dead delivery" in out.stdout, out.stderr
        assert _until(lambda: "BAD-1" in {b["data"]["serial"] for b, code in rec.bodies() if code < 300}, 5)
        # a sink that is down for longer than delivery_stuck_after_s makes /readyz degraded, naming it
        rec.close()
        submit("OK-late", "line1")
        assert _until(lambda: c.get("/readyz").json()["status"] == "degraded", 15)
        ready = c.get("/readyz")
        assert ready.status_code == 200
        assert any(x.startswith(f"{hook}: 1 event(s) pending") for x in ready.json()["degraded"]), ready.json()
