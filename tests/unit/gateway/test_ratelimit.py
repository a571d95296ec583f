"""The per-key rate limit: bursts up to a bucket, then 429 with Retry-After."""
from flask import Flask

from gateway.ratelimit import RateLimiter


def test_a_key_over_its_limit_gets_429_with_retry_after_and_other_keys_are_untouched():
    app = Flask(__name__)
    limiter = RateLimiter(per_minute=60)  # a burst of 10, then one a second
    with app.test_request_context():
        assert all(limiter.check("busy-key") is None for _ in range(10))
        refused = limiter.check("busy-key")
        assert refused.status_code == 429
        assert refused.mimetype == "application/problem+json"
        assert int(refused.headers["Retry-After"]) >= 1
        assert limiter.check("quiet-key") is None
