"""Telemetry through the real broker and database server: the gateway's pika
publisher (publisher confirms) and the supervision service. A batch accepted while
supervision is down waits in its durable queue and is projected when it starts;
records posted again change nothing."""
import os
import subprocess
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kombu import Connection
from mongoengine.connection import get_db
from nameko.amqp.publish import Publisher
from nameko.testing.services import entrypoint_hook

from contracts import topology
from contracts.enrollment import PROGRAM_CREATED, STUDENT_ADMITTED
from contracts.events import make_event
from gateway.telemetry import TelemetryPublisher, batch_event
from services.supervision.service import SupervisionService
from tests.waiting import eventually

SCHOOL = "jufe"
PARTNER = {"school_id": SCHOOL, "role": "partner", "partner_id": "xmall", "key_id": "k9",
           "actor": "partner:k9", "acting": {"kind": None, "id": None}, "correlation_id": "it-tel"}
ADMIN = {**PARTNER, "role": "admin", "partner_id": None, "actor": "admin:k1"}
T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def publish(uri, envelope):
    Publisher(uri).publish(envelope, exchange=topology.event_exchange(envelope["source"]),
                           routing_key=envelope["type"])


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def records(prefix, account, n, kind="login", start=T0):
    return [{"record_id": f"{prefix}-{i}", "account_id": account, "kind": kind,
             "at": (start + timedelta(minutes=i)).isoformat()} for i in range(n)]


@pytest.fixture
def publisher(rabbit_config):
    telemetry = TelemetryPublisher(rabbit_config["AMQP_URI"])
    yield telemetry
    telemetry.close()


def queue_depth(uri):
    queue = topology.consumer_queue("supervision", __import__("contracts.supervision").supervision.TELEMETRY_INGESTED)
    with Connection(uri) as connection:
        return queue.bind(connection.default_channel).queue_declare(passive=True).message_count


def test_batches_accepted_while_supervision_is_down_are_projected_when_it_starts_and_once(
        container_factory, rabbit_config, publisher):
    uri, program_id = rabbit_config["AMQP_URI"], uuid.uuid4().hex
    publish(uri, make_event(PROGRAM_CREATED, {
        "program_id": program_id, "name": "Platinum Cup", "season": "2026", "starts_on": "2026-03-01",
        "ends_on": "2026-06-30", "tracks": [{"key": "ug", "name": "UG", "platform": "X-Mall", "capacity": 9}]},
        school_id=SCHOOL, actor="test"))
    publish(uri, make_event(STUDENT_ADMITTED, {"program_id": program_id, "application_id": "a1",
                                               "student_id": "ann", "track": "ug", "reason": "rank 1"},
                            school_id=SCHOOL, actor="test"))
    # supervision is not running: the gateway still publishes (confirmed) and answers 202
    first = batch_event(PARTNER, program_id, records("r", "acc-ann", 300))
    publisher.publish(first)
    publisher.publish(batch_event(PARTNER, program_id, records("r", "acc-ann", 300)))  # the same records again
    publisher.publish(batch_event(PARTNER, program_id, records("x", "acc-unmapped", 20, kind="order_handled")))
    assert queue_depth(uri) == 3

    supervision = container_factory(SupervisionService, rabbit_config)
    supervision.start()
    db = get_db("supervision")
    eventually(lambda: db.accounts.find_one({"_id": f"{program_id}:acc-unmapped"}), timeout=30)
    eventually(lambda: queue_depth(uri) == 0, timeout=30)
    assert db.activity.count_documents({}) == 320  # each record once, whichever batch brought it
    accounts = {a["account_id"]: a for a in call(supervision, "list_accounts", ADMIN, program_id, {})["items"]}
    assert accounts["acc-ann"]["counts"] == {"login": 300}          # posted twice, counted once
    assert accounts["acc-unmapped"]["counts"] == {"order_handled": 20}

    call(supervision, "map_accounts", ADMIN, program_id, {"accounts": [
        {"account_id": "acc-ann", "student_id": "ann"}, {"account_id": "acc-unmapped", "student_id": "ann"}]})
    activity = call(supervision, "student_activity", ADMIN, program_id, "ann")
    assert activity["platform_counts"]["login"] == 300 and activity["platform_counts"]["order_handled"] == 20
    # a later batch for a mapped account counts for the student at once
    publisher.publish(batch_event(PARTNER, program_id, records("y", "acc-ann", 5, kind="marketing_action")))
    eventually(lambda: call(supervision, "student_activity", ADMIN, program_id, "ann")
               ["platform_counts"]["marketing_action"] == 5, timeout=30)


# --- a broker restart after the 202 (a private RabbitMQ node of this test) ----------------

RABBITMQ = "/usr/lib/rabbitmq/bin"


class PrivateBroker:
    """A rabbitmq-server node of its own (name, ports, data under tmp): restarting it
    touches nothing else on the machine."""

    def __init__(self, base):
        from deploy.local import free_port
        self.port, dist = free_port(), free_port()
        self.node = f"praxis-sup-{uuid.uuid4().hex[:8]}@localhost"
        (base / "plugins").write_text("[].")
        self.env = {**os.environ, "HOME": str(base), "RABBITMQ_NODENAME": self.node,
                    "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(dist),
                    "RABBITMQ_MNESIA_BASE": str(base / "mnesia"), "RABBITMQ_LOG_BASE": str(base / "log"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "plugins"),
                    "RABBITMQ_CONFIG_FILE": str(base / "none"), "RABBITMQ_PID_FILE": str(base / "pid")}
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.process = None

    def start(self):
        self.process = subprocess.Popen([f"{RABBITMQ}/rabbitmq-server"], env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        eventually(lambda: subprocess.run([f"{RABBITMQ}/rabbitmqctl", "-n", self.node, "await_startup"],
                                          env=self.env, capture_output=True, timeout=60).returncode == 0,
                   timeout=90, interval=1)

    def stop(self):
        subprocess.run([f"{RABBITMQ}/rabbitmqctl", "-n", self.node, "stop"], env=self.env,
                       capture_output=True, timeout=60)
        if self.process is not None:
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def private_broker(tmp_path):
    if not os.path.exists(f"{RABBITMQ}/rabbitmq-server"):
        pytest.skip("rabbitmq-server is not installed here")
    broker = PrivateBroker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


def test_batches_confirmed_before_a_broker_restart_are_projected_after_it(
        private_broker, container_factory):  # the broker goes last, after the containers
    uri, program_id = private_broker.uri, uuid.uuid4().hex
    telemetry = TelemetryPublisher(uri)
    try:
        for n in range(3):  # confirmed by the broker: the 202 the partner got
            telemetry.publish(batch_event(PARTNER, program_id, records(f"b{n}", "acc-1", 100)))
        private_broker.stop()
        private_broker.start()
        # the publisher's connection died with the broker: the next publish opens another
        telemetry.publish(batch_event(PARTNER, program_id, records("after", "acc-1", 10)))
    finally:
        telemetry.close()
    config = {"AMQP_URI": uri, "serializer": "json", "max_workers": 10}
    supervision = container_factory(SupervisionService, config)
    supervision.start()
    try:
        eventually(lambda: (get_db("supervision").accounts.find_one({"_id": f"{program_id}:acc-1"}) or {})
                   .get("counts") == {"login": 310}, timeout=60)
    finally:
        supervision.stop()  # while its broker is still up
