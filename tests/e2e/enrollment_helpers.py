"""Request bodies and steps shared by the enrollment end-to-end tests."""
import uuid
from datetime import date, timedelta

from kombu import Connection, Queue
from nameko.amqp.publish import Publisher

from contracts import topology
from contracts.assessment import QUIZ_SCORED
from contracts.events import make_event
from contracts.examples import platinum_cup


def cup(capacity_ug=2, capacity_voc=1, lock_in_days=30, started_days_ago=0, **extra):
    """A programme running now (the tests' clock is the real one)."""
    return platinum_cup(
        f"Cup {uuid.uuid4().hex[:6]}", starts_on=date.today() - timedelta(days=started_days_ago),
        days=started_days_ago + 120, lock_after_days=started_days_ago + lock_in_days,
        capacity_ug=capacity_ug, capacity_voc=capacity_voc, team_size={"min": 2, "max": 3},
        credit_rules={}, **extra)


def create_programme(admin, **kwargs):
    response = admin.post("/api/v1/programs", json=cup(**kwargs))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def application(student_id, track="undergraduate", **extra):
    return {"student_id": student_id, "name": f"Student {student_id}", "track": track,
            "major": "E-commerce", "year_of_study": 3, "prior_courses": ["Marketing 101"],
            "motivation": "I want to run a store", **extra}


def apply(lms, program_id, student_id, track="undergraduate", **extra):
    response = lms.post(f"/api/v1/programs/{program_id}/applications", json=application(student_id, track, **extra))
    assert response.status_code == 201, response.text
    return response.json()


def score(admin, application_id, value):
    response = admin.put(f"/api/v1/applications/{application_id}/screening-score", json={"score": value})
    assert response.status_code == 200, response.text
    return response.json()


def applications(client, program_id, **params):
    response = client.get(f"/api/v1/programs/{program_id}/applications", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def publish_quiz_score(amqp_uri, school_id, program_id, student_id, value):
    envelope = make_event(QUIZ_SCORED, {"program_id": program_id, "student_id": student_id,
                                        "quiz_id": "rules-quiz", "score": value},
                          school_id=school_id, actor="assessment:e2e")
    Publisher(amqp_uri).publish(envelope, exchange=topology.event_exchange("assessment"),
                                routing_key=envelope["type"])


class EventTap:
    """Every event of a service (enrollment unless told) published while the tap is
    open (a queue of its own)."""

    def __init__(self, amqp_uri, source="enrollment"):
        self.connection = Connection(amqp_uri)
        self.queue = Queue(f"e2e-tap-{uuid.uuid4().hex[:8]}", exchange=topology.event_exchange(source),
                           routing_key="#", durable=False, auto_delete=False)
        self.queue.bind(self.connection.default_channel).declare()
        self.seen = []

    def read(self, type_=None):
        while True:
            message = self.queue.bind(self.connection.default_channel).get(no_ack=True)
            if message is None:
                break
            self.seen.append(message.payload)
        return [e for e in self.seen if type_ is None or e["type"] == type_]

    def close(self):
        self.queue.bind(self.connection.default_channel).delete()
        self.connection.release()


def finished(client, job_id, timeout=60):
    """Follow /jobs/{id} until the job has succeeded or failed; the job."""
    from tests.waiting import eventually

    def done():
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["state"] in ("succeeded", "failed") else None
    return eventually(done, timeout=timeout)


def select(admin, program_id, body=None, headers=None):
    """Run selection (a job: 202 at once) and wait for it; the job's result."""
    started = admin.post(f"/api/v1/programs/{program_id}/selection", json=body or {}, headers=headers or {})
    assert started.status_code == 202, started.text
    job = finished(admin, started.json()["id"])
    assert job["state"] == "succeeded", job
    return job["result"]
