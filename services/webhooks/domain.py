"""Webhook rules as plain functions: signing, the retry schedule, which endpoints
an event goes to, and when a delivery gives up.

Signature (header ``Praxis-Signature: t=<unix seconds>,v1=<hex>``): HMAC-SHA256
with the endpoint's secret over ``f"{t}.{body}"``, the body being the exact bytes
sent. A receiver recomputes it, compares in constant time, and refuses a ``t``
older than a few minutes (a replay). See README "Webhooks".
"""
import hashlib
import hmac
import json
import os
import random

SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept


def settings():
    """Retry policy from the environment (tests shorten it)."""
    return {
        "first_retry": float(os.environ.get("PRAXIS_WEBHOOK_FIRST_RETRY_SECONDS", "30")),
        "max_retry": float(os.environ.get("PRAXIS_WEBHOOK_MAX_RETRY_SECONDS", "3600")),
        "give_up_after": float(os.environ.get("PRAXIS_WEBHOOK_GIVE_UP_SECONDS", str(24 * 3600))),
        "timeout": float(os.environ.get("PRAXIS_WEBHOOK_TIMEOUT_SECONDS", "10")),
    }


def body_of(envelope):
    """The bytes sent (and signed): the event's envelope as compact JSON."""
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()


def signature(secret, timestamp, body):
    mac = hmac.new(secret.encode(), f"{int(timestamp)}.".encode() + body, hashlib.sha256)
    return f"t={int(timestamp)},v1={mac.hexdigest()}"


def verify(secret, header, body, now, tolerance=SIGNATURE_TOLERANCE):
    """What a receiver does (the README's snippet, kept here so tests run it)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def retry_delay(attempts, policy, rand=random.random):
    """Exponential backoff after ``attempts`` failed attempts (1, 2, ...), capped,
    with up to 10% jitter so that many endpoints do not retry in step."""
    delay = min(policy["first_retry"] * (2 ** (attempts - 1)), policy["max_retry"])
    return delay * (1 + 0.1 * rand())


def after_failure(delivery, now, policy, rand=random.random):
    """``("retry", due_ts)`` or ``("give_up", None)`` once a day of retries has passed."""
    if now - delivery["first_ts"] >= policy["give_up_after"]:
        return "give_up", None
    due = now + retry_delay(delivery["attempts"], policy, rand)
    # the last retry lands at the end of the day rather than after it
    return "retry", min(due, delivery["first_ts"] + policy["give_up_after"])


def subscribers(endpoints, event_type):
    """The endpoints that chose this event type (a disabled one keeps its events,
    paused, until staff enable it again or delete it)."""
    return [e for e in endpoints if event_type in e["event_types"]]


def first_status(endpoint):
    return "pending" if endpoint["status"] == "enabled" else "paused"


def succeeded(status_code):
    return status_code is not None and 200 <= status_code < 300
