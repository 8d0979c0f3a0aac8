"""The station's small HTTP endpoint: ``GET /healthz`` (state, cameras, outbox) and ``POST /trigger``.

200 while the station can work, 503 in ``fault`` -- so a line controller can poll it.
"""

from __future__ import annotations

import errno
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from api.station.triggers import ApiTrigger, parse_payload
from models.errors import InputError


class HealthServer:
    def __init__(self, runner, *, host: str = "127.0.0.1", port: int = 8089) -> None:
        self.runner = runner
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # the runner logs what matters
                pass

            def _send(self, code: int, obj: dict) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.rstrip("/") == "/healthz":
                    h = outer.runner.health()
                    self._send(503 if h["state"] == "fault" else 200, h)
                else:
                    self._send(404, {"detail": "GET /healthz or POST /trigger"})

            def do_POST(self):
                if self.path.rstrip("/") != "/trigger":
                    return self._send(404, {"detail": "GET /healthz or POST /trigger"})
                trig = outer.runner.trigger
                if not isinstance(trig, ApiTrigger):
                    return self._send(409, {"detail": f"this station is triggered by {trig.kind}, not the API"})
                n = int(self.headers.get("Content-Length") or 0)
                serial = parse_payload(self.rfile.read(n)) if n else None
                trig.fire(serial)
                self._send(202, {"accepted": True, "serial": serial})

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                station = getattr(getattr(runner, "cfg", None), "station_id", "?")
                why = "is already in use (another station on this host?)" if exc.errno == errno.EADDRINUSE else "may not be used by this user"
                raise InputError(f"station {station}: port {port} on {host} (health.port: GET /healthz and POST /trigger) {why}; "
                                 "give each station on a host its own health.port") from None
            raise
        self._server.daemon_threads = True
        # a short poll interval: `stop` (shutdown) returns within 0.1 s, part of the station's 2 s stop budget
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="healthz", daemon=True)

    @property
    def url(self) -> str:
        h, p = self._server.server_address[:2]
        return f"http://{h}:{p}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
