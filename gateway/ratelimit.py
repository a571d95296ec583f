"""Per-key rate limit (token bucket, per gateway process): 429 with Retry-After."""
import math
import threading
import time

from gateway.errors import problem


class RateLimiter:
    def __init__(self, per_minute, max_keys=10_000):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, per_minute / 6.0)  # bursts of ten seconds' worth
        self.max_keys = max_keys
        self._buckets = {}
        self._lock = threading.Lock()

    def _forget_full_buckets(self, now):
        """Bounded memory: a bucket that has refilled is the same as no bucket."""
        self._buckets = {k: (t, last) for k, (t, last) in self._buckets.items()
                         if t + (now - last) * self.rate < self.capacity}
        if len(self._buckets) >= self.max_keys:  # still full: keep the most recent half
            recent = sorted(self._buckets.items(), key=lambda item: item[1][1])[self.max_keys // 2:]
            self._buckets = dict(recent)

    def check(self, key):
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) >= self.max_keys:
                self._forget_full_buckets(now)
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return None
            self._buckets[key] = (tokens, now)
        wait = math.ceil((1 - tokens) / self.rate)
        return problem(429, "Too many requests", f"slow down: retry in {wait} s",
                       headers={"Retry-After": str(wait)})
