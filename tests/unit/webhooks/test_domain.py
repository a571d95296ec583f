"""Webhook rules: the signature a receiver checks, the retry schedule over a day,
and which endpoints hear an event."""
from services.webhooks import domain

POLICY = {"first_retry": 30, "max_retry": 3600, "give_up_after": 86400, "timeout": 10}
SECRET = "whsec_test"


def test_a_signature_verifies_with_the_secret_and_fails_for_another_body_secret_or_an_old_timestamp():
    body = b'{"event_id":"e1"}'
    header = domain.signature(SECRET, 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert domain.verify(SECRET, header, body, now=1_700_000_100)
    assert not domain.verify(SECRET, header, body + b" ", now=1_700_000_100)
    assert not domain.verify("whsec_other", header, body, now=1_700_000_100)
    assert not domain.verify(SECRET, header, body, now=1_700_000_000 + 301)  # a replay, later
    assert not domain.verify(SECRET, "v1=abc", body, now=1_700_000_000)


def test_retries_back_off_exponentially_up_to_an_hour_apart():
    delays = [domain.retry_delay(n, POLICY, rand=lambda: 0) for n in range(1, 10)]
    assert delays[:4] == [30, 60, 120, 240]
    assert max(delays) == 3600 and delays == sorted(delays)
    assert domain.retry_delay(1, POLICY, rand=lambda: 1) == 33  # at most 10% jitter


def test_a_delivery_retries_for_a_day_and_then_gives_up():
    delivery = {"first_ts": 1000.0, "attempts": 3}
    assert domain.after_failure(delivery, 1000.0 + 500, POLICY, rand=lambda: 0) == ("retry", 1000.0 + 500 + 120)
    action, due = domain.after_failure(delivery | {"attempts": 30}, 1000.0 + 86000, POLICY, rand=lambda: 0)
    assert action == "retry" and due == 1000.0 + 86400  # the last retry lands at the day's end
    assert domain.after_failure(delivery, 1000.0 + 86400, POLICY) == ("give_up", None)


def test_an_event_goes_to_the_endpoints_that_chose_its_type_a_disabled_one_keeping_it_paused():
    endpoints = [{"_id": "a", "status": "enabled", "event_types": ["student.admitted.v1"]},
                 {"_id": "b", "status": "disabled", "event_types": ["student.admitted.v1"]},
                 {"_id": "c", "status": "enabled", "event_types": ["attendance.recorded.v1"]}]
    chosen = domain.subscribers(endpoints, "student.admitted.v1")
    assert [e["_id"] for e in chosen] == ["a", "b"]
    assert [domain.first_status(e) for e in chosen] == ["pending", "paused"]


def test_the_body_is_stable_compact_json_so_every_retry_sends_the_same_bytes():
    envelope = {"payload": {"b": 1, "a": 2}, "event_id": "e1"}
    assert domain.body_of(envelope) == b'{"event_id":"e1","payload":{"a":2,"b":1}}'
    assert domain.succeeded(204) and not domain.succeeded(301) and not domain.succeeded(None)


def test_urls_that_resolve_to_private_or_loopback_addresses_are_refused_unless_the_settings_allow(monkeypatch):
    from contracts.urls import private_address
    monkeypatch.delenv("PRAXIS_ALLOW_PRIVATE_URLS", raising=False)
    monkeypatch.setenv("PRAXIS_ALLOW_LOOPBACK_HTTP", "0")
    assert private_address("https://127.0.0.1/hook") == "127.0.0.1"
    assert private_address("https://10.1.2.3/hook") == "10.1.2.3"
    assert private_address("https://169.254.169.254/latest/meta-data") == "169.254.169.254"
    assert private_address("https://[::1]/hook") == "::1"
    assert private_address("https://93.184.215.14/hook") is None
    monkeypatch.setenv("PRAXIS_ALLOW_LOOPBACK_HTTP", "1")
    assert private_address("https://127.0.0.1/hook") is None and private_address("https://10.1.2.3/") == "10.1.2.3"
    monkeypatch.setenv("PRAXIS_ALLOW_PRIVATE_URLS", "1")
    assert private_address("https://10.1.2.3/hook") is None
