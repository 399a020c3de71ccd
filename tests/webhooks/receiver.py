"""A real HTTP receiver on loopback for webhook tests (a thread, so the event loop of the
worker under test never waits on it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    # Status codes to answer, in order; once used up, ``default_status``.
    statuses: list[int] = field(default_factory=list)
    default_status: int = 204
    # A fixed answer for some paths, ahead of ``statuses`` (an endpoint that always fails).
    path_status: dict[str, int] = field(default_factory=dict)
    # When set, the next request waits until ``release`` is set (a delivery in flight).
    hold_next: bool = False
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]

    def types(self) -> list[str]:
        import json

        return [json.loads(r.body)["type"] for r in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                hold, receiver.hold_next = receiver.hold_next, False
            if hold:
                receiver.held.set()
                receiver.release.wait(30)
            with receiver.lock:
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                if self.path in receiver.path_status:
                    status = receiver.path_status[self.path]
                elif receiver.statuses:
                    status = receiver.statuses.pop(0)
                else:
                    status = receiver.default_status
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
