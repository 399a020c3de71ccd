"""A small HTTP/1.1 load generator: N keep-alive connections, each sending its next GET as
soon as the answer before it arrived (closed loop), for a number of seconds. Runs in its
own process so it does not share the server's core; asks in raw bytes so that its own cost
per request stays small next to the server's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

KEY = b"{key}"  # replaced in a request by a new random value each time it is sent


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]  # seconds, every request's
    first_error: str = ""


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    until: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    n = 0
    try:
        while time.perf_counter() < until:
            request = requests[n % len(requests)]
            n += 1
            if KEY in request:  # a fresh Idempotency-Key for each request
                request = request.replace(KEY, uuid.uuid4().hex.encode())
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status not in (b"200", b"201"):
                errors.append(f"{status.decode()} {body[:200]!r}")
    finally:
        writer.close()


async def _run(
    host: str, port: int, requests: list[Any], connections: int, seconds: float
) -> Result:
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    until = started + seconds
    # A list of lists gives each connection its own requests (the i-th list, in turn).
    own = bool(requests) and isinstance(requests[0], list)
    await asyncio.gather(
        *(
            _connection(
                host,
                port,
                requests[i % len(requests)] if own else requests[i:] + requests[:i],
                until,
                latencies,
                errors,
            )
            for i in range(connections)
        )
    )
    return Result(
        len(latencies),
        len(errors),
        time.perf_counter() - started,
        latencies,
        errors[0] if errors else "",
    )


def request_bytes(host: str, path: str, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()


def post_bytes(host: str, path: str, token: str, body: bytes) -> bytes:
    """A POST with a JSON body and an Idempotency-Key that is new at each send (routes
    that take none ignore it)."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Idempotency-Key: {key}\r\n\r\n"
    ).encode() + body


def run(host: str, port: int, requests: list[Any], connections: int, seconds: float) -> Result:
    """In the calling process: use ``multiprocessing`` to put it on the other core."""
    try:
        import uvloop

        return uvloop.run(_run(host, port, requests, connections, seconds))
    except ImportError:  # pragma: no cover — uvicorn[standard] brings uvloop
        return asyncio.run(_run(host, port, requests, connections, seconds))
