"""End to end over real HTTP: `pogoscope serve` in a subprocess (uvicorn on a free loopback port,
worker processes), real SQLite/PostgreSQL, a real webhook receiver, the real Mosquitto broker."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid

import httpx
import pytest

from api.service.outbox import verify
from tests.api.service.support import Server, png, setup_board, wait_done

SECRET = "s3cret-for-tests"


class Receiver:
    """A webhook receiver on a fixed port that can be started late (the receiver 'was down')."""

    def __init__(self, port: int) -> None:
        self.port, self.got, self.bad = port, [], []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if verify(SECRET, self.headers["X-Pogoscope-Timestamp"], body, self.headers["X-Pogoscope-Signature"]):
                    outer.got.append((self.headers["X-Pogoscope-Delivery"], json.loads(body)))
                else:
                    outer.bad.append(body)
                self.send_response(204)
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _submit(c, board, serial, key=None):
    return c.post("/v1/inspections", data={"serial": serial, "recipe_id": board.recipe["recipe_id"], "station_id": "line1"},
                  files={"top": ("top.png", png(board.image), "image/png")}, headers={"Idempotency-Key": key or serial})


def test_events_webhooks_after_receiver_down_mqtt_and_sse(tmp_path, board):
    from tests.api.service.support import free_port, mqtt_subscriber

    hook_port = free_port()
    prefix = f"pogoscope-test/{uuid.uuid4().hex[:8]}"
    with mqtt_subscriber(prefix) as received:
        _events_scene(tmp_path, board, hook_port, prefix, received)


def _events_scene(tmp_path, board, hook_port, prefix, received):
    env = {
        "POGOSCOPE_DATA_DIR": str(tmp_path / "data"), "POGOSCOPE_WORKERS": "1",
        "POGOSCOPE_WEBHOOK_URLS": json.dumps([f"http://127.0.0.1:{hook_port}/hook"]), "POGOSCOPE_WEBHOOK_SECRET": SECRET,
        "POGOSCOPE_RETRY_BASE_S": "0.2", "POGOSCOPE_RETRY_MAX_S": "0.8", "POGOSCOPE_OUTBOX_POLL_S": "0.1",
        "POGOSCOPE_MQTT_URL": "mqtt://127.0.0.1:1883", "POGOSCOPE_MQTT_TOPIC_PREFIX": prefix,
    }
    srv = Server(env, log=tmp_path / "service.log").start()
    rec = None
    try:
        with srv.client() as c:
            setup_board(c, board)
            sse_events = []

            def listen():
                with httpx.stream("GET", f"{srv.url}/v1/events", params={"after": 0, "max_events": 3, "api_key": "pgs_test_admin_key"},
                                  timeout=60) as r:
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            sse_events.append(json.loads(line[6:]))

            t = threading.Thread(target=listen)
            t.start()
            ids = [_submit(c, board, f"EV-{i}").json()["id"] for i in range(2)]
            from api.station.delivery import ServiceClient

            c.post("/v1/keys", json={"name": "line1", "role": "station"})
            st_key = c.post("/v1/keys", json={"name": "line1b", "role": "station"}).json()["key"]
            station = ServiceClient(srv.url, api_key=st_key)
            item = {"images": {"top": png(board.image)}, "serial": "EV-2", "station_id": "line1", "recipe_id": board.recipe["recipe_id"],
                    "key": "station-EV-2"}
            ok, retry, resp = station.submit(item)
            assert ok and not retry, resp
            assert station.submit(item)[2]["id"] == resp["id"]  # the station's retry is the same inspection
            station.close()
            ids.append(resp["id"])
            docs = [wait_done(c, i) for i in ids]
            time.sleep(0.6)  # the receiver is down: deliveries fail and back off
            rec = Receiver(hook_port)
            t0 = time.monotonic()
            while len({d for d, _ in rec.got}) < 3 and time.monotonic() - t0 < 20:
                time.sleep(0.1)
            t.join(20)
        assert not rec.bad, "a webhook arrived with a wrong signature"
        by_id = {b["data"]["inspection_id"]: b for _, b in rec.got}
        assert set(by_id) == set(ids)
        for d in docs:
            ev = by_id[d["id"]]["data"]
            assert ev["verdict"] == d["verdict"] and ev["serial"] == d["serial"]
            unit = ev["cfx"]["MessageBody"]["InspectedUnits"][0]
            assert ev["cfx"]["MessageName"] == "CFX.Production.Assurance.UnitsInspected"
            assert unit["UnitIdentifier"] == d["serial"]
            assert unit["OverallResult"] == {"PASS": "Passed", "FAIL": "Failed", "REVIEW": "Failed"}[d["verdict"]]
            assert len(unit["Inspections"]) == len(d["result"]["pins"])
        t0 = time.monotonic()
        while len(received) < 3 and time.monotonic() - t0 < 10:
            time.sleep(0.1)
        assert {m["data"]["inspection_id"] for _, m in received} == set(ids)
        assert {topic for topic, _ in received} == {f"{prefix}/line1/inspections"}
        assert [e["data"]["inspection_id"] for e in sse_events] == ids or {e["data"]["inspection_id"] for e in sse_events} == set(ids)
    finally:
        srv.stop()
        if rec:
            rec.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])])
def test_restart_mid_queue_loses_none_and_inspects_none_twice(tmp_path, board, backend):
    from tests.api.service import support

    hook_port = support.free_port()
    env = {"POGOSCOPE_DATA_DIR": str(tmp_path / "data"), "POGOSCOPE_WORKERS": "1",
           "POGOSCOPE_INSPECT_FUNC": "tests.api.service.support:delayed_inspect", "POGOSCOPE_TEST_DELAY_S": "0.25",
           "POGOSCOPE_WEBHOOK_URLS": json.dumps([f"http://127.0.0.1:{hook_port}/hook"]), "POGOSCOPE_WEBHOOK_SECRET": SECRET,
           "POGOSCOPE_RETRY_BASE_S": "0.2", "POGOSCOPE_RETRY_MAX_S": "0.5", "POGOSCOPE_OUTBOX_POLL_S": "0.1"}
    schema = None
    if backend == "postgres":
        why = support.pg_available()
        if why:
            pytest.skip(why)
        schema = support.new_schema()
        env |= {"POGOSCOPE_DATABASE_URL": support.PG_URL, "POGOSCOPE_DB_SCHEMA": schema}
    srv = Server(env, log=tmp_path / "service.log").start()
    n = 6
    try:
        with srv.client() as c:
            setup_board(c, board)
            ids = [_submit(c, board, f"RS-{i}").json()["id"] for i in range(n)]
            t0 = time.monotonic()
            while time.monotonic() - t0 < 30:
                done = [x for x in c.get("/v1/inspections", params={"status": "done"}).json()["items"]]
                if done:
                    break
                time.sleep(0.05)
        srv.kill()  # crash with a queue of submissions
        assert 0 < len(done) < n, "the kill should land in the middle of the queue"
        srv2 = Server(env, port=srv.port, log=tmp_path / "service.log").start()
        try:
            with srv2.client() as c:
                again = [_submit(c, board, f"RS-{i}") for i in range(n)]  # the station retries after the crash
                assert [r.json()["id"] for r in again] == ids and all(r.json()["replayed"] for r in again)
                docs = [wait_done(c, i) for i in ids]
                assert all(d["status"] == "done" for d in docs)
                assert len(c.get("/v1/inspections", params={"limit": 100}).json()["items"]) == n
                evs = []
                with httpx.stream("GET", f"{srv2.url}/v1/events", params={"after": 0, "max_events": n, "api_key": support.ADMIN_KEY},
                                  timeout=30) as r:
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            evs.append(json.loads(line[6:]))
                completed = [e["data"]["inspection_id"] for e in evs if e["kind"] == "inspection.completed"]
                assert sorted(completed) == sorted(ids)  # one committed result per inspection
            rec = Receiver(hook_port)  # the receiver was down through the crash: the outbox delivers all after it
            try:
                t0 = time.monotonic()
                while len({d for d, _ in rec.got}) < n and time.monotonic() - t0 < 20:
                    time.sleep(0.1)
                assert sorted({b["data"]["inspection_id"] for _, b in rec.got}) == sorted(ids)
            finally:
                rec.close()
        finally:
            srv2.stop()
    finally:
        srv.kill()
        if schema:
            support.drop_schema(schema)
