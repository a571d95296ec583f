"""The enrollment service on the real broker and database server: its events
reach a consumer (through the reliable @on_event path, once each, as valid
envelopes), the quiz score arrives as an event, and capacity holds when
admissions and withdrawals race inside the service."""
import time
import uuid
from datetime import date, datetime, timedelta, timezone

import eventlet
import pytest
from mongoengine.connection import get_db
from nameko.amqp.publish import Publisher
from nameko.testing.services import entrypoint_hook

from tests.waiting import eventually
from contracts import topology
from contracts.assessment import QUIZ_SCORED
from contracts.enrollment import (APPLICATION_SUBMITTED, MENTOR_ASSIGNED, STUDENT_ADMITTED, STUDENT_REJECTED,
                                  STUDENT_WAITLISTED, STUDENT_WITHDRAWN, TEAM_CHANGED, TEAM_FORMED,
                                  TUTOR_ASSIGNED)
from contracts.events import make_event
from services.common.events import on_event
from services.common.storage import Storage
from services.enrollment.service import EnrollmentService

ADMIN = {"school_id": "jufe", "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "it-e"}
LMS = {**ADMIN, "role": "lms", "actor": "lms:k2"}
ENROLLMENT_EVENTS = [APPLICATION_SUBMITTED, STUDENT_ADMITTED, STUDENT_WAITLISTED, STUDENT_REJECTED,
                     STUDENT_WITHDRAWN, TEAM_FORMED, TEAM_CHANGED, MENTOR_ASSIGNED, TUTOR_ASSIGNED]


class ProbeService:
    """A consumer of every enrollment event, through the same reliable handler
    as the real consumers; it keeps what it received by event id."""
    name = "enrollment_probe"
    db = Storage()

    def _keep(self, event):
        self.db.received.update_one({"_id": event.event_id}, {"$setOnInsert": {
            "type": event.type, "payload": event.payload, "correlation_id": event.correlation_id}}, upsert=True)


for _event_type in ENROLLMENT_EVENTS:
    def _handler(self, event):
        self._keep(event)
    _handler.__name__ = f"on_{_event_type.name.replace('.', '_')}"
    setattr(ProbeService, _handler.__name__, on_event(_event_type)(_handler))


def received(program_id, event_type=None):
    """What the probe received about this programme (its durable queues may
    still hold events of an earlier test's programme)."""
    query = {"payload.program_id": program_id}
    if event_type is not None:
        query["type"] = event_type.type
    return list(get_db("enrollment_probe").received.find(query))


@pytest.fixture
def enrollment(container_factory, rabbit_config):
    probe = container_factory(ProbeService, rabbit_config)
    probe.start()  # its queues exist before anything is published
    container = container_factory(EnrollmentService, rabbit_config)
    container.start()
    return container


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def programme(container, capacity=1, **extra):
    today = date.today()
    body = {"name": "Platinum Cup", "season": "2026", "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=120)).isoformat(),
            "team_lock_date": (today + timedelta(days=30)).isoformat(),
            "team_size": {"min": 1, "max": 3},
            "tracks": [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": capacity}],
            "selection_rules": {"min_quiz_score": 60}, **extra}
    return call(container, "create_program", ADMIN, body)["id"]


def apply(container, program_id, student):
    return call(container, "submit_application", LMS, program_id,
                {"student_id": student, "name": f"Student {student}", "track": "undergraduate"})


def publish_quiz_score(rabbit_config, program_id, student, score):
    envelope = make_event(QUIZ_SCORED, {"program_id": program_id, "student_id": student, "quiz_id": "rules-1",
                                        "score": score}, school_id="jufe", actor="assessment:test")
    Publisher(rabbit_config["AMQP_URI"]).publish(envelope, exchange=topology.event_exchange("assessment"),
                                                 routing_key=envelope["type"])


def test_quiz_scores_published_on_the_broker_screen_the_applications(enrollment, rabbit_config):
    program_id = programme(enrollment)
    app = apply(enrollment, program_id, "s1")
    publish_quiz_score(rabbit_config, program_id, "s1", 77)
    stored = eventually(lambda: (lambda a: a if a["status"] == "screened" else None)(
        call(enrollment, "get_application", ADMIN, app["id"])))
    assert stored["score"] == 77 and stored["score_source"] == "quiz"


def test_applications_decisions_and_a_promotion_reach_a_consumer_once_each(enrollment, rabbit_config):
    program_id = programme(enrollment, capacity=1)
    apps = {s: apply(enrollment, program_id, s) for s in ("best", "second", "third", "weak")}
    for student, score in {"best": 95, "second": 80, "third": 70, "weak": 30}.items():
        publish_quiz_score(rabbit_config, program_id, student, score)
    eventually(lambda: all(call(enrollment, "get_application", ADMIN, a["id"])["status"] == "screened"
                           for a in apps.values()))
    call(enrollment, "run_selection", ADMIN, program_id, {})
    call(enrollment, "run_selection", ADMIN, program_id, {})  # changes nothing, publishes nothing
    call(enrollment, "withdraw", LMS, apps["best"]["id"], {})

    eventually(lambda: len(received(program_id)) >= 4 + 1 + 2 + 1 + 1 + 1)
    time.sleep(0.3)  # nothing more may come (a duplicate would show here)
    assert len(received(program_id)) == 10
    admitted = {e["payload"]["student_id"]: e["payload"] for e in received(program_id, STUDENT_ADMITTED)}
    assert set(admitted) == {"best", "second"}
    assert admitted["second"]["promoted"] is True and not admitted["best"]["promoted"]
    assert [e["payload"]["position"] for e in sorted(received(program_id, STUDENT_WAITLISTED),
                                                     key=lambda e: e["payload"]["position"])] == [1, 2]
    [rejected] = received(program_id, STUDENT_REJECTED)
    assert rejected["payload"]["student_id"] == "weak" and "below the minimum" in rejected["payload"]["reason"]
    [withdrawn] = received(program_id, STUDENT_WITHDRAWN)
    assert withdrawn["payload"]["previous_status"] == "admitted"
    assert all(e["correlation_id"] == "it-e" for e in received(program_id))


def test_team_mentor_and_tutor_events_reach_a_consumer(enrollment, rabbit_config):
    program_id = programme(enrollment, capacity=3)
    for student in ("a", "b", "c"):
        app = apply(enrollment, program_id, student)
        call(enrollment, "record_screening_score", ADMIN, app["id"], {"score": 90})
    call(enrollment, "run_selection", ADMIN, program_id, {})
    team = call(enrollment, "form_team", LMS, program_id, {"name": "Falcons", "track": "undergraduate",
                                                          "members": ["a", "b"]})
    call(enrollment, "join_team", LMS, team["id"], {"student_id": "c"})
    mentor = call(enrollment, "register_staff", ADMIN, program_id, "mentor",
                  {"name": "Ms Zhao", "partner_id": "acme", "max_load": 2})
    tutor = call(enrollment, "register_staff", ADMIN, program_id, "tutor", {"name": "Dr Wang", "max_load": 2})
    call(enrollment, "assign_staff", ADMIN, program_id)

    eventually(lambda: all(received(program_id, t) for t in (TUTOR_ASSIGNED, MENTOR_ASSIGNED, TEAM_CHANGED)))
    [formed] = received(program_id, TEAM_FORMED)
    assert formed["payload"]["members"] == ["a", "b"]
    [joined] = received(program_id, TEAM_CHANGED)
    assert joined["payload"]["change"] == "joined" and joined["payload"]["members"] == ["a", "b", "c"]
    assert received(program_id, MENTOR_ASSIGNED)[0]["payload"] == {
        "team_id": team["id"], "program_id": program_id, "mentor_id": mentor["id"], "partner_id": "acme",
        "previous_mentor_id": None}
    assert received(program_id, TUTOR_ASSIGNED)[0]["payload"]["tutor_id"] == tutor["id"]


def test_capacity_holds_when_admissions_withdrawals_and_promotions_race(enrollment):
    program_id = programme(enrollment, capacity=3)
    apps = []
    for i in range(10):
        app = apply(enrollment, program_id, f"s{i}")
        call(enrollment, "record_screening_score", ADMIN, app["id"], {"score": 90 - i})
        apps.append(app)
    # selection runs four times at once while admitted and waitlisted students withdraw
    pool = eventlet.GreenPool()
    for _ in range(4):
        pool.spawn(call, enrollment, "run_selection", ADMIN, program_id, {})
    pool.waitall()
    for app in apps[:2] + apps[5:6]:
        pool.spawn(call, enrollment, "withdraw", LMS, app["id"], {})
        pool.spawn(call, enrollment, "run_selection", ADMIN, program_id, {})
    pool.waitall()

    statuses = {a["id"]: call(enrollment, "get_application", ADMIN, a["id"])["status"] for a in apps}
    assert list(statuses.values()).count("admitted") == 3
    assert list(statuses.values()).count("withdrawn") == 3
    assert list(statuses.values()).count("waitlisted") == 4
    counter = get_db("enrollment").seat_counters.find_one({"_id": f"{program_id}:undergraduate"})
    assert counter["admitted"] == 3
    assert sorted(counter["seats"]) == sorted(i for i, s in statuses.items() if s == "admitted")
    # the best remaining students hold the places
    assert [statuses[a["id"]] for a in apps[2:5]] == ["admitted"] * 3
