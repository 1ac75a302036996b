"""A small local JSON HTTP server for trying pipelines (and for the http_call tests).

Run it: `python examples/echo_server.py [--port 8765]` (or the port as the only argument).
Endpoints:
  /echo                      any method: the method, path, query, headers and body it got
  /status/<code>             answers <code>
  /text?body=...             a text/plain answer
  /flaky/<key>?fail=N&code=503&retry_after=S
                             the first N calls for <key> answer <code> (with Retry-After: S),
                             later ones 200 {"ok": true, "attempts": k}
  /orders/<id>               a fake order: {"id", "amount", "status"}
Request counts per path (without the query) are kept in `server.request_counts`.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_PORT = 8765
_ORDER_STATUSES = ("pending", "paid", "shipped")


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, *, quiet: bool = False) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.quiet = quiet
        self.request_counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, path: str) -> int:
        with self._lock:
            self.request_counts[path] += 1
            return self.request_counts[path]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def fake_order(order_id: str) -> dict[str, Any]:
    """The same order for the same id, so example pipelines give repeatable results."""
    seed = sum(ord(char) for char in order_id)
    return {
        "id": order_id,
        "amount": round(seed * 7 % 500 + 0.99, 2),
        "status": _ORDER_STATUSES[seed % len(_ORDER_STATUSES)],
    }


class _Handler(BaseHTTPRequestHandler):
    server: EchoServer

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        attempt = self.server.count(parts.path)
        segments = parts.path.strip("/").split("/")
        route, argument = segments[0], "/".join(segments[1:])
        if route == "echo":
            self._json(HTTPStatus.OK, self._echo(parts.path, parse_qs(parts.query), raw))
        elif route == "status" and argument.isdigit():
            self._json(int(argument), {"status": int(argument)})
        elif route == "text":
            self._send(HTTPStatus.OK, query.get("body", "hello").encode(), "text/plain")
        elif route == "flaky" and argument:
            self._flaky(attempt, query)
        elif route == "orders" and argument:
            self._json(HTTPStatus.OK, fake_order(argument))
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no route for {parts.path}"})

    def _echo(self, path: str, query: dict[str, list[str]], raw: bytes) -> dict[str, Any]:
        text = raw.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return {
            "method": self.command,
            "path": path,
            # A repeated parameter comes back as a list, a single one as its value.
            "query": {key: vals[0] if len(vals) == 1 else vals for key, vals in query.items()},
            "headers": {key.lower(): value for key, value in self.headers.items()},
            "json": parsed,
            "body": text,
        }

    def _flaky(self, attempt: int, query: dict[str, str]) -> None:
        if attempt <= int(query.get("fail", "1")):
            code = int(query.get("code", "503"))
            headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
            self._json(code, {"ok": False, "attempts": attempt}, headers)
        else:
            self._json(HTTPStatus.OK, {"ok": True, "attempts": attempt})

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


def start_in_thread(port: int = 0) -> tuple[str, EchoServer]:
    """Serve on 127.0.0.1 (port 0: any free port) in a daemon thread; stop with `server.stop()`."""
    server = EchoServer(port, quiet=True)
    # A short poll interval so `stop()` returns at once in tests.
    serve = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="echo-server", daemon=True
    )
    serve.start()
    return server.url, server


def main() -> None:
    parser = argparse.ArgumentParser(description="A local JSON HTTP server for trying pipelines.")
    parser.add_argument("port", type=int, nargs="?", help=f"default {DEFAULT_PORT}")
    parser.add_argument("--port", type=int, dest="port_flag")
    args = parser.parse_args()
    server = EchoServer(args.port_flag or args.port or DEFAULT_PORT)
    print(f"echo server on {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
