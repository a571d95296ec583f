"""Bursts of writes through the gateway, and what must hold after a blow."""
import random
import time
import uuid

from kombu import Connection, Queue

from contracts import topology
from tests.chaos.burst import Burst
from tests.chaos.conftest import wait_ready
from tests.e2e.enrollment_helpers import application, applications, create_programme, select
from tests.waiting import eventually

API = "/api/v1"
STUDENTS = 60


def school_of(client_for):
    name = f"chaos-{uuid.uuid4().hex[:6]}"
    return client_for(name, "admin"), client_for(name, "lms")


def application_burst(lms, program_id, count=STUDENTS, threads=8):
    students = [f"s{n:03d}" for n in range(count)]
    writes = [(f"{API}/programs/{program_id}/applications", application(s), f"apply-{program_id}-{s}", as_student(s))
              for s in students]
    return students, Burst(lms, writes, threads=threads).start()


def as_student(student_id):
    """The headers of a call the LMS makes for this student."""
    return {"X-Acting-User": f"student:{student_id}"}


def funnel(admin, program_id):
    response = admin.get(f"{API}/programs/{program_id}/funnel")
    return response.json()["stages"] if response.status_code == 200 else None


def funnel_reaches(admin, program_id, stage, count, timeout=60):
    """Wait until supervision's funnel counts ``count`` students at ``stage``; the funnel."""
    seen = []

    def check():
        response = admin.get(f"{API}/programs/{program_id}/funnel")
        seen[:] = [response.status_code, response.text[:2000]]
        return response.status_code == 200 and response.json()["stages"].get(stage) == count and response.json()
    try:
        return eventually(check, timeout=timeout, interval=0.2)["stages"]
    except AssertionError:
        raise AssertionError(f"the funnel never counted {count} {stage}: last answer {seen}") from None


def assert_applications_stored_once(system, admin, program_id, students, burst):
    assert burst.final_statuses() == {201: len(students)}, (burst.answers, {
        key: response.text for key, response in burst.final.items() if response.status_code != 201})
    assert 500 not in burst.answers, burst.answers
    wait_ready(system, timeout=60)
    stored = sorted(a["student_id"] for a in read(admin, f"{API}/programs/{program_id}/applications?limit=200",
                                                   "items"))
    assert stored == students  # each acknowledged application once, none twice
    # supervision's funnel equals enrollment's applications
    funnel_reaches(admin, program_id, "registered", len(students))


def applications_under(system, client_for, blow, count=STUDENTS, threads=8):
    """A burst of applications with ``blow(burst, admin, program_id)`` dealt in its
    middle; afterwards each acknowledged application is stored once and the funnel
    counts each once."""
    admin, lms = school_of(client_for)
    program_id = create_programme(admin, capacity_ug=200)
    students, burst = application_burst(lms, program_id, count=count, threads=threads)
    blow(burst, admin, program_id)
    burst.join()
    assert_applications_stored_once(system, admin, program_id, students, burst)
    return burst


def assert_no_process_died(system, before):
    assert system.keeper.restarts() == before, "a process exited and had to be restarted"
    assert all(p.poll() is None for p in system.processes)


def admitted_programme(admin, lms, count):
    """A programme running now whose ``count`` applicants were all admitted by selection."""
    program_id = create_programme(admin, capacity_ug=count)
    students, burst = application_burst(lms, program_id, count=count)
    burst.join()
    for item in applications(admin, program_id):
        assert admin.put(f"{API}/applications/{item['id']}/screening-score", json={"score": 80}).status_code == 200
    result = select(admin, program_id)  # a job: 202, then followed until it has finished
    assert sorted(a["student_id"] for a in applications(admin, program_id, status="admitted")) == students, result
    return program_id, students


def read(client, path, field=None):
    """GET as a client does: a 503 (with Retry-After) is tried again."""
    response = eventually(lambda: (lambda r: r if r.status_code != 503 else None)(client.get(path)),
                          timeout=30, interval=0.5)
    assert response.status_code == 200, response.text
    return response.json()[field] if field else response.json()


class EventTap:
    """Every event of every source published while the tap is open."""

    def __init__(self, amqp_uri):
        self.connection = Connection(amqp_uri)
        channel = self.connection.default_channel
        self.queues = [Queue(f"chaos-tap-{source}-{uuid.uuid4().hex[:6]}", exchange=topology.event_exchange(source),
                             routing_key="#", durable=False, auto_delete=False)
                       for source in ("enrollment", "content", "assessment", "incentives", "supervision")]
        for queue in self.queues:
            queue.bind(channel).declare()
        self.seen = []

    def read(self):
        for queue in self.queues:
            while (message := queue.bind(self.connection.default_channel).get(no_ack=True)) is not None:
                self.seen.append(message.payload)
        return list(self.seen)

    def close(self):
        for queue in self.queues:
            queue.bind(self.connection.default_channel).delete()
        self.connection.release()


def queues_drained(amqp_uri):
    """No consumer queue holds a message, ready or being handled."""
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        for queue in topology.all_queues():
            declared = queue.bind(channel).queue_declare(passive=True)
            if declared.message_count:
                return False
        channel.close()
    time.sleep(1)  # the last messages taken are being applied (each is a duplicate: a few ms)
    return True


def deliver_again(amqp_uri, events, seed):
    """Publish ``events`` again, twice each, in a shuffled order, as a broker's
    redeliveries would; wait until every consumer queue is empty."""
    again = [*events, *events]
    random.Random(seed).shuffle(again)
    with Connection(amqp_uri) as connection:
        producer = connection.Producer()
        for envelope in again:
            producer.publish(envelope, exchange=topology.event_exchange(envelope["source"]),
                             routing_key=envelope["type"], serializer="json")
    eventually(lambda: queues_drained(amqp_uri), timeout=60)
