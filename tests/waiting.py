"""Waiting for asynchronous effects (events) without blind sleeps."""
import time


def eventually(check, timeout=20, interval=0.05):
    """Poll ``check`` until it returns a truthy value, and return that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")
