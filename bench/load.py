"""A small HTTP/1.1 load generator: N keep-alive connections, each sending its next GET as
soon as the answer before it arrived (closed loop), for a number of seconds. Runs in its
own process so it does not share the server's core; asks in raw bytes so that its own cost
per request stays small next to the server's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


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
            if status != b"200":
                errors.append(f"{status.decode()} {body[:200]!r}")
    finally:
        writer.close()


async def _run(
    host: str, port: int, requests: list[bytes], connections: int, seconds: float
) -> Result:
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(
            _connection(host, port, requests[i:] + requests[:i], until, latencies, errors)
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


def run(host: str, port: int, requests: list[bytes], connections: int, seconds: float) -> Result:
    """In the calling process: use ``multiprocessing`` to put it on the other core."""
    try:
        import uvloop

        return uvloop.run(_run(host, port, requests, connections, seconds))
    except ImportError:  # pragma: no cover — uvicorn[standard] brings uvloop
        return asyncio.run(_run(host, port, requests, connections, seconds))
