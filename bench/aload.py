"""A load generator that is not the bottleneck: asyncio, one coroutine per
connection, HTTP/1.1 keep-alive over plain streams (no client library: a request
costs the client a few tens of microseconds of CPU, where ``requests`` costs ~1.5 ms).

``burst(url, requests_, connections)`` sends every request of ``requests_`` (each a
``(method, path, headers, body_bytes)``) exactly once over ``connections`` open
connections and returns a ``bench.load.Result`` (latency per request as the client
sees it; its CPU in ``client_cpu``, so the report shows what the generator cost).
"""
import asyncio
import json
import time
from urllib.parse import urlparse

from bench.load import Meter, Result


class _Connection:

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def request(self, method, path, headers, body):
        if self.writer is None:
            await self.open()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
        self.writer.write("\r\n".join(head).encode("latin-1") + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            payload = b"".join(parts)
        else:
            payload = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, payload


def json_request(method, path, headers=None, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    return (method, path, {"Content-Type": "application/json", **(headers or {})}, data)


async def _run(url, requests_, connections, timeout, result, answers):
    parts = urlparse(url)
    queue = asyncio.Queue()
    for i, item in enumerate(requests_):
        queue.put_nowait((i, item))

    async def worker():
        conn = _Connection(parts.hostname, parts.port)
        try:
            while not queue.empty():
                i, (method, path, headers, body) = queue.get_nowait()
                t0 = time.perf_counter()
                try:
                    status, payload = await asyncio.wait_for(conn.request(method, path, headers, body), timeout)
                except (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                        ValueError, IndexError) as exc:
                    conn.close()
                    result.errors += 1
                    result.sample_error = result.sample_error or f"{exc.__class__.__name__}: {exc}"[:200]
                    answers[i] = (None, b"")
                    continue
                answers[i] = (status, payload)
                if 200 <= status < 300:
                    result.latencies.append(time.perf_counter() - t0)
                    result.ok += 1
                else:
                    result.errors += 1
                    result.sample_error = result.sample_error or f"{status} {payload[:200]!r}"
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


def burst(name, url, requests_, connections=32, timeout=30, components=None):
    """Send each request once over ``connections`` keep-alive connections.
    Returns (Result, answers): answers[i] = (status or None, body bytes)."""
    result, answers = Result(name), [None] * len(requests_)
    with Meter(components) as meter:
        asyncio.run(_run(url, requests_, connections, timeout, result, answers))
    meter.fill(result)
    return result, answers
