"""Per-key rate limit (token bucket, per gateway process): 429 with Retry-After."""
import math
import threading
import time

from gateway.errors import problem


class RateLimiter:
    def __init__(self, per_minute):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, per_minute / 6.0)  # bursts of ten seconds' worth
        self._buckets = {}
        self._lock = threading.Lock()

    def check(self, key):
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return None
            self._buckets[key] = (tokens, now)
        wait = math.ceil((1 - tokens) / self.rate)
        return problem(429, "Too many requests", f"slow down: retry in {wait} s",
                       headers={"Retry-After": str(wait)})
