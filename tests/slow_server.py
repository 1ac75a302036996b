"""A loopback HTTP server whose answers take time, for concurrency and cancellation tests.

  /delay?ms=N     answers {"path": ...} after N ms; `max_in_flight` counts the overlap
  /hang           answers after 30 s unless the client goes away first (`aborted` counts it)
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class SlowServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.aborted = 0
        self.hang_started = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: SlowServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        if parts.path == "/hang":
            self._hang()
            return
        with self.server.lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            time.sleep(int(query.get("ms", "0")) / 1000)
        finally:
            with self.server.lock:
                self.server.in_flight -= 1
        self._answer({"path": self.path})

    def _hang(self) -> None:
        self.server.hang_started.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.1)
            # Readable with nothing to read: the client closed the connection.
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                with self.server.lock:
                    self.server.aborted += 1
                return
        self._answer({"hung": True})

    def _answer(self, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
