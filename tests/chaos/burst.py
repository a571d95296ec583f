"""Writes as a careful client makes them: each with its own Idempotency-Key,
retried with the same key after a 503, a 409 saying the key's first request is
still running (it has Retry-After) or a broken connection, until a final answer
comes. Every answer is recorded, to count afterwards."""
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

RETRY = {409, 429, 502, 503, 504}


class Burst:

    def __init__(self, client, writes, threads=8, pace=0.1, give_up_after=150):
        """``writes``: (path, body, idempotency key) triples, or with a 4th element, the
        write's own headers (e.g. who acts, ``X-Acting-User``), each POSTed once with retries;
        each thread waits ``pace`` seconds between writes (the burst lasts, faults land in it)."""
        self.client, self.writes, self.threads, self.give_up_after = client, writes, threads, give_up_after
        self.pace = pace
        self.answers = Counter()      # every status seen, retries included
        self.final = {}               # key -> final response
        self.retry_spans = []         # seconds from a write's first 409 to its final answer
        self.slowest = 0.0            # the longest single request (the deadline must hold)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=threads)
        self._futures = []

    def start(self):
        self._futures = [self._pool.submit(self._write, *write) for write in self.writes]
        return self

    @property
    def acked(self):
        with self._lock:
            return len(self.final)

    def wait_acked(self, count, timeout=120):
        deadline = time.monotonic() + timeout
        while self.acked < count:
            assert time.monotonic() < deadline, f"only {self.acked} of {count} writes answered"
            time.sleep(0.05)

    def join(self):
        for future in self._futures:
            future.result()
        self._pool.shutdown()
        return self

    def _write(self, path, body, key, headers=None):
        time.sleep(self.pace)
        started, first_conflict = time.monotonic(), None
        while True:
            assert time.monotonic() - started < self.give_up_after, f"{key}: no final answer ({self.answers})"
            sent = time.monotonic()
            try:
                response = self.client.post(path, json=body, headers={**(headers or {}), "Idempotency-Key": key},
                                            timeout=60)
            except requests.RequestException as exc:
                self._seen(type(exc).__name__, time.monotonic() - sent)
                time.sleep(0.5)
                continue
            self._seen(response.status_code, time.monotonic() - sent)
            in_flight = response.status_code == 409 and "Retry-After" in response.headers
            if in_flight and first_conflict is None:  # the key's first request is still running
                first_conflict = time.monotonic()
            if response.status_code in RETRY - {409} or in_flight:
                time.sleep(min(float(response.headers.get("Retry-After") or 1), 1.0))
                continue
            with self._lock:
                self.final[key] = response
                if first_conflict is not None:
                    self.retry_spans.append(time.monotonic() - first_conflict)
            return response

    def _seen(self, what, seconds):
        with self._lock:
            self.answers[what] += 1
            self.slowest = max(self.slowest, seconds)

    def final_statuses(self):
        return Counter(r.status_code for r in self.final.values())
