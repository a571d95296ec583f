"""The webhooks service's entrypoints with an in-memory repository and a fake
HTTP transport (no broker, no database, no network): one delivery per endpoint
and event, signed; retries; the endpoint disabled after its retry period, with
the event that tells the school; redelivery by hand."""
import json

import pytest
import requests
from nameko.testing.services import worker_factory

from contracts.enrollment import STUDENT_ADMITTED
from contracts.errors import Conflict, InvalidInput, NotFound
from contracts.events import make_event, parse_event
from services.webhooks import domain, service as webhooks_service
from services.webhooks.service import WebhooksService
from tests.unit.webhooks.fakes import FakeWebhookRepository

ADMIN = {"school_id": "jufe", "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "c1"}
POLICY = {"first_retry": 30, "max_retry": 3600, "give_up_after": 86400, "timeout": 10}


def admitted(student, school="jufe"):
    return parse_event(make_event(STUDENT_ADMITTED, {
        "program_id": "p1", "application_id": f"a-{student}", "student_id": student, "track": "ug",
        "reason": "rank 1"}, school_id=school, actor="test"))


class Transport:
    """Answers ``statuses`` in turn (an exception instance is raised)."""

    def __init__(self, *statuses):
        self.statuses, self.sent = list(statuses), []

    def post(self, url, data, headers, timeout, allow_redirects):
        self.sent.append((url, data, headers))
        answer = self.statuses.pop(0) if self.statuses else 200
        if isinstance(answer, Exception):
            raise answer
        return type("Answer", (), {"status_code": answer})()


class Clock:
    now = 1e10

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(webhooks_service.time, "time", clock)
    return clock


@pytest.fixture
def svc(monkeypatch, clock):
    monkeypatch.setenv("PRAXIS_ALLOW_LOOPBACK_HTTP", "0")
    monkeypatch.setattr(webhooks_service, "private_address", lambda url: None)  # no DNS in unit tests
    monkeypatch.setattr("contracts.urls.private_address", lambda url: None)
    return worker_factory(WebhooksService, store=FakeWebhookRepository())


def endpoint(svc, types=("student.admitted.v1",), url="https://hooks.jufe.edu.cn/praxis"):
    return svc.create_endpoint(ADMIN, {"url": url, "event_types": list(types)})


def deliver(svc, transport, monkeypatch, now):
    monkeypatch.setattr(webhooks_service.requests, "post", transport.post)
    webhooks_service.time.time.now = now
    for due in svc.store.due(now, 100):
        svc._deliver(due["_id"], POLICY)


def test_an_event_is_queued_once_per_subscribed_endpoint_of_its_school(svc):
    chosen = endpoint(svc)
    endpoint(svc, types=["attendance.recorded.v1"])
    event = admitted("s1")
    svc.on_deliverable_event(event)
    svc.on_deliverable_event(event)  # the bus delivers it again
    svc.on_deliverable_event(admitted("s2", school="other-school"))
    assert list(svc.store.deliveries) == [f"{chosen['id']}:{event.event_id}"]


def test_an_endpoint_needs_known_event_types_and_https(svc):
    with pytest.raises(InvalidInput):
        endpoint(svc, types=["student.teleported.v1"])
    with pytest.raises(InvalidInput):
        endpoint(svc, url="http://hooks.jufe.edu.cn/praxis")


def test_a_delivery_is_signed_retried_with_backoff_and_then_delivered(svc, monkeypatch):
    made = endpoint(svc)
    event = admitted("s1")
    svc.on_deliverable_event(event)
    transport = Transport(500, requests.ConnectionError("refused"), 204)
    deliver(svc, transport, monkeypatch, now=1e10)
    [delivery] = svc.store.deliveries.values()
    assert delivery["attempts"] == 1 and delivery["due_ts"] >= 1e10 + 30 and delivery["last_error"] == "HTTP 500"
    deliver(svc, transport, monkeypatch, now=1e10 + 10)  # not due yet: nothing sent
    assert len(transport.sent) == 1
    deliver(svc, transport, monkeypatch, now=1e10 + 40)
    deliver(svc, transport, monkeypatch, now=1e10 + 200)
    assert delivery["_id"] and svc.store.deliveries[delivery["_id"]]["status"] == "delivered"
    for url, body, headers in transport.sent:
        assert json.loads(body)["event_id"] == event.event_id and headers["Praxis-Event-Id"] == event.event_id
        assert domain.verify(made["secret"], headers["Praxis-Signature"], body, now=1e10 + 100, tolerance=10 ** 6)


def test_a_delivery_failing_for_a_day_disables_the_endpoint_tells_the_school_and_pauses_the_rest(svc, monkeypatch):
    made = endpoint(svc)
    svc.on_deliverable_event(admitted("s1"))
    svc.on_deliverable_event(admitted("s2"))
    transport = Transport(*[503] * 100)
    now = 1e10
    while svc.store.endpoints[made["id"]]["status"] == "enabled":
        now += 3600
        deliver(svc, transport, monkeypatch, now)
    stored = svc.store.endpoints[made["id"]]
    assert "failed" in stored["disabled_reason"]
    [told] = stored["pending_events"]
    assert told["type"] == "webhook_endpoint.disabled.v1" and told["payload"]["endpoint_id"] == made["id"]
    statuses = sorted(d["status"] for d in svc.store.deliveries.values())
    assert statuses == ["failed", "paused"]  # the other one waits for the endpoint to come back
    failed = next(d for d in svc.store.deliveries.values() if d["status"] == "failed")
    with pytest.raises(Conflict):
        svc.redeliver(ADMIN, failed["_id"])
    svc.update_endpoint(ADMIN, made["id"], {"status": "enabled"})
    assert svc.redeliver(ADMIN, failed["_id"])["status"] == "pending"
    with pytest.raises(NotFound):
        svc.redeliver(dict(ADMIN, school_id="other-school"), failed["_id"])
