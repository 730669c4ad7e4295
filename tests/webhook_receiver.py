"""A real HTTP webhook receiver on loopback, for the watch tests and bench/bench_watch_latency.py.

It answers each POST with the statuses given, in turn (200 once they run out), and keeps
every request: when it came (time.monotonic, so a bench can compare it with the moment an
image landed), its path, headers and body.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the body had been read
    path: str
    headers: dict
    body: bytes

    def __iter__(self):  # (path, headers, body), as the tests unpack it
        return iter((self.path, self.headers, self.body))


class Receiver:
    def __init__(self, statuses=(), extra_headers=None):
        self.statuses, self.extra, self.requests = list(statuses), extra_headers or {}, []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver.lock:
                    receiver.requests.append(Received(time.monotonic(), self.path, dict(self.headers), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                for k, v in receiver.extra.get(status, {}).items():
                    self.send_header(k, v)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> list[str]:
        """The webhook-id of every request, in the order they came."""
        with self.lock:
            return [r.headers["webhook-id"] for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
