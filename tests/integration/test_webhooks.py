"""The webhooks service on the real broker and database server, delivering to a
local HTTP receiver that fails its first answers: every event arrives once,
signed (checked with the README's own snippet), after the retries; an endpoint
that keeps failing is disabled and the school is told."""
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kombu import Connection, Queue
from mongoengine.connection import get_db
from nameko.testing.services import entrypoint_hook

from contracts import topology
from contracts.content import ATTENDANCE_RECORDED
from contracts.enrollment import STUDENT_ADMITTED
from contracts.errors import Conflict, InvalidInput, NotFound
from contracts.events import make_event
from contracts.webhooks import SOURCE as WEBHOOKS
from services.webhooks.service import WebhooksService
from tests.integration.bus import publish
from tests.waiting import eventually

SCHOOL = "jufe"
ADMIN = {"school_id": SCHOOL, "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "it-w",
         "acting": {"kind": None, "id": None}}
OTHER = dict(ADMIN, school_id="other-school")


def readme_verifier():
    """The verification snippet of README "Webhooks", run as a receiver would."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = re.search(r"```python\n(.*?def verify_praxis_signature.*?)```", readme, re.S).group(1)
    namespace = {}
    exec(code, namespace)
    return namespace["verify_praxis_signature"]


class Receiver:
    """An HTTP endpoint that answers 500 to its first ``fail_first`` requests."""

    def __init__(self, fail_first=0):
        self.fail_first = fail_first
        self.requests = []  # (headers, body, status answered)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    status = 500 if len(receiver.requests) < receiver.fail_first else 200
                    receiver.requests.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/praxis-hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self):
        with self.lock:
            return [json.loads(body)["event_id"] for _, body, status in self.requests if status == 200]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(**kwargs):
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def webhooks(container_factory, rabbit_config, monkeypatch):
    monkeypatch.setenv("PRAXIS_ALLOW_LOOPBACK_HTTP", "1")
    monkeypatch.setenv("PRAXIS_WEBHOOK_FIRST_RETRY_SECONDS", "0.1")
    monkeypatch.setenv("PRAXIS_WEBHOOK_MAX_RETRY_SECONDS", "0.5")
    container = container_factory(WebhooksService, rabbit_config)
    container.start()
    return container


def rpc(container, method, *args, caller=ADMIN):
    with entrypoint_hook(container, method) as call:
        return call(caller, *args)


def webhooks_db():
    return get_db("webhooks")


def admitted(student_id, school=SCHOOL):
    return make_event(STUDENT_ADMITTED, {"program_id": "p1", "application_id": f"app-{student_id}",
                                         "student_id": student_id, "track": "undergraduate", "reason": "rank 1"},
                      school_id=school, actor="test")


def test_every_event_arrives_once_and_signed_after_the_receivers_first_failures(webhooks, rabbit_config, receivers):
    receiver = receivers(fail_first=3)
    endpoint = rpc(webhooks, "create_endpoint", {"url": receiver.url, "event_types": ["student.admitted.v1"]})
    assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "enabled"
    events = [admitted(f"s{i}") for i in range(3)]
    for event in events:
        publish(rabbit_config, event)
    publish(rabbit_config, events[0])  # the bus delivers an event twice
    publish(rabbit_config, admitted("s9", school="other-school"))  # another school's
    publish(rabbit_config, make_event(ATTENDANCE_RECORDED, {
        "session_id": "x1", "program_id": "p1", "student_id": "s0", "status": "present", "source": "code"},
        school_id=SCHOOL, actor="test"))  # a type the endpoint did not choose

    eventually(lambda: sorted(receiver.accepted()) == sorted(e["event_id"] for e in events), timeout=30)
    time.sleep(1.5)  # a further tick: nothing more arrives
    assert sorted(receiver.accepted()) == sorted(e["event_id"] for e in events)
    verify = readme_verifier()
    for headers, body, _ in receiver.requests:
        assert verify(endpoint["secret"], headers["Praxis-Signature"], body)
        assert headers["Praxis-Event-Id"] == json.loads(body)["event_id"]
        assert not verify("whsec_wrong", headers["Praxis-Signature"], body)
        assert not verify(endpoint["secret"], headers["Praxis-Signature"], body + b" ")
    deliveries = rpc(webhooks, "list_deliveries", endpoint["id"], {})["items"]
    assert {d["status"] for d in deliveries} == {"delivered"} and len(deliveries) == 3
    assert sum(d["attempts"] for d in deliveries) == 3 + 3  # three failed answers were retried
    assert rpc(webhooks, "list_deliveries", endpoint["id"], {"status": "pending"})["items"] == []
    # the twice-delivered event was kept out by the delivery's id, not by an inbox
    assert webhooks_db().inbox.count_documents({}) == 0


def test_an_endpoint_failing_for_its_whole_retry_period_is_disabled_the_school_told_and_redelivery_works(
        webhooks, rabbit_config, receivers, monkeypatch):
    monkeypatch.setenv("PRAXIS_WEBHOOK_GIVE_UP_SECONDS", "2")
    told = Queue(f"test-webhooks-{uuid.uuid4().hex[:8]}", exchange=topology.event_exchange(WEBHOOKS),
                 routing_key="#", durable=False, auto_delete=True)
    connection = Connection(rabbit_config["AMQP_URI"])
    told.bind(connection.default_channel).declare()
    receiver = receivers(fail_first=10 ** 6)
    endpoint = rpc(webhooks, "create_endpoint", {"url": receiver.url, "event_types": ["student.admitted.v1"]})
    first, second = admitted("s1"), admitted("s2")
    publish(rabbit_config, first)

    eventually(lambda: rpc(webhooks, "get_endpoint", endpoint["id"])["status"] == "disabled", timeout=30)
    assert "failed" in rpc(webhooks, "get_endpoint", endpoint["id"])["disabled_reason"]
    [failed] = rpc(webhooks, "list_deliveries", endpoint["id"], {})["items"]
    assert failed["status"] == "failed" and failed["attempts"] >= 2
    message = eventually(lambda: told.bind(connection.default_channel).get(no_ack=True), timeout=15)
    assert message.payload["type"] == "webhook_endpoint.disabled.v1"
    assert message.payload["payload"]["endpoint_id"] == endpoint["id"] and message.payload["school_id"] == SCHOOL

    # a disabled endpoint: new events wait, paused; redelivery by hand needs it enabled
    publish(rabbit_config, second)
    eventually(lambda: len(rpc(webhooks, "list_deliveries", endpoint["id"], {"status": "paused"})["items"]) == 1, timeout=15)
    with pytest.raises(Conflict):
        rpc(webhooks, "redeliver", failed["id"])
    receiver.fail_first = 0  # the school fixed its receiver
    assert rpc(webhooks, "update_endpoint", endpoint["id"], {"status": "enabled"})["status"] == "enabled"
    eventually(lambda: receiver.accepted() == [second["event_id"]], timeout=15)
    again = rpc(webhooks, "redeliver", failed["id"])
    assert again["status"] == "pending"
    eventually(lambda: sorted(receiver.accepted()) == sorted([first["event_id"], second["event_id"]]), timeout=15)
    connection.release()


def test_another_schools_endpoints_and_deliveries_are_not_found(webhooks, receivers):
    receiver = receivers()
    endpoint = rpc(webhooks, "create_endpoint", {"url": receiver.url, "event_types": ["student.admitted.v1"]})
    with pytest.raises(NotFound):
        rpc(webhooks, "get_endpoint", endpoint["id"], caller=OTHER)
    with pytest.raises(NotFound):
        rpc(webhooks, "list_deliveries", endpoint["id"], {}, caller=OTHER)["items"]
    with pytest.raises(NotFound):
        rpc(webhooks, "redeliver", f"{endpoint['id']}:e1", caller=OTHER)
    assert rpc(webhooks, "list_endpoints", caller=OTHER) == []


def test_an_endpoint_must_be_https_at_a_public_address(webhooks, monkeypatch):
    for url in ("https://10.0.0.5/hook", "https://169.254.169.254/latest/meta-data", "ftp://example.org/x"):
        with pytest.raises(InvalidInput) as refused:
            rpc(webhooks, "create_endpoint", {"url": url, "event_types": ["student.admitted.v1"]})
        assert "url" in refused.value.errors
    monkeypatch.setenv("PRAXIS_ALLOW_LOOPBACK_HTTP", "0")
    with pytest.raises(InvalidInput):
        rpc(webhooks, "create_endpoint", {"url": "http://127.0.0.1:9/hook", "event_types": ["student.admitted.v1"]})
