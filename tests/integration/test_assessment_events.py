"""The assessment service on the real broker and database server: its projection of
enrollment's events (idempotent under redelivery, never rolled back), the events it
publishes (once each, also when a student resends an attempt or a partner resends a
run), and deadline.missed once per student with two service instances scanning."""
import time
import uuid
from datetime import datetime, timedelta, timezone

import eventlet
import pytest
from kombu import Connection, Queue
from mongoengine.connection import get_db
from nameko.amqp.publish import Publisher
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from contracts import topology
from contracts.assessment import (COMPETITION_SCORE_RECORDED, DEADLINE_MISSED, QUIZ_SCORED, SOURCE,
                                  SUBMISSION_GRADED, SUBMISSION_RECEIVED)
from contracts.enrollment import (APPLICATION_SUBMITTED, MENTOR_ASSIGNED, PROGRAM_CREATED, STUDENT_ADMITTED,
                                  STUDENT_WITHDRAWN, TEAM_FORMED)
from contracts.errors import Conflict, Forbidden
from contracts.events import make_event
from services.assessment.repository import AssessmentRepository
from services.assessment.service import AssessmentService
from tests.waiting import eventually

SCHOOL = "jufe"
ADMIN = {"school_id": SCHOOL, "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "it-a",
         "key_id": "k1",
         "acting": {"kind": None, "id": None}}
PARTNER = {**ADMIN, "role": "partner", "partner_id": "xmall", "actor": "partner:k3", "key_id": "k3"}
TRACKS = [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": 40}]


def student_caller(student_id):
    return {**ADMIN, "role": "lms", "actor": f"lms:k2/student:{student_id}", "key_id": "k2",
            "acting": {"kind": "student", "id": student_id}}


def publish(rabbit_config, envelope):
    Publisher(rabbit_config["AMQP_URI"]).publish(
        envelope, exchange=topology.event_exchange(envelope["source"]), routing_key=envelope["type"])


def enrollment_event(event_type, payload, occurred_at=None):
    return make_event(event_type, payload, school_id=SCHOOL, actor="test", occurred_at=occurred_at)


def in_program(program_id, student_id, **extra):
    return {"program_id": program_id, "application_id": f"app-{student_id}", "student_id": student_id,
            "track": "undergraduate", **extra}


def student(program_id, student_id):
    return get_db("assessment").students.find_one({"_id": f"{program_id}:{student_id}"})


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


@pytest.fixture
def assessment(container_factory, rabbit_config):
    container = container_factory(AssessmentService, rabbit_config)
    container.start()
    return container


@pytest.fixture
def published(rabbit_config):
    """Distinct events the assessment service publishes (by event_id, as consumers dedupe)."""
    connection = Connection(rabbit_config["AMQP_URI"])
    queue = Queue(f"test-assessment-events-{uuid.uuid4().hex[:8]}", exchange=topology.event_exchange(SOURCE),
                  routing_key="#", durable=False, auto_delete=False)
    queue.bind(connection.default_channel).declare()
    seen = []

    def read(event_type=None):
        while True:
            message = queue.bind(connection.default_channel).get(no_ack=True)
            if message is None:
                break
            if message.payload["event_id"] not in {e["event_id"] for e in seen}:
                seen.append(message.payload)
        return [e for e in seen if event_type is None or e["type"] == event_type.type]

    yield read
    queue.bind(connection.default_channel).delete()
    connection.release()


@pytest.fixture
def program(assessment, rabbit_config):
    program_id = uuid.uuid4().hex
    publish(rabbit_config, enrollment_event(PROGRAM_CREATED, {
        "program_id": program_id, "name": "Platinum Cup", "season": "2026", "starts_on": "2026-03-01",
        "ends_on": "2026-06-30", "tracks": TRACKS}))
    eventually(lambda: get_db("assessment").programs.find_one({"_id": program_id}))
    return program_id


def admit(rabbit_config, program_id, *students):
    for student_id in students:
        publish(rabbit_config, enrollment_event(STUDENT_ADMITTED, in_program(program_id, student_id, reason="rank 1")))
    eventually(lambda: all((student(program_id, s) or {}).get("status") == "admitted" for s in students))


def add_bank(assessment, program_id):
    call(assessment, "add_questions", ADMIN, program_id, {"questions": [
        {"id": "q1", "kind": "true_false", "text": "Idle accounts are reclaimed", "answer": True},
        {"id": "q2", "kind": "numeric", "text": "Margin?", "value": 10, "tolerance": 1}]})


def quiz(assessment, program_id, kind="quiz", **extra):
    now = datetime.now(timezone.utc)
    return call(assessment, "create_assessment", ADMIN, program_id, {
        "kind": kind, "title": "Rules", "module": "rules", "opens_at": (now - timedelta(hours=1)).isoformat(),
        "deadline": (now + timedelta(days=1)).isoformat(), "max_attempts": 2,
        "quiz": {"question_ids": ["q1", "q2"]}, **extra})


# --- the projection ---------------------------------------------------------------------

def test_a_redelivered_admission_changes_nothing_and_an_old_one_does_not_undo_a_withdrawal(
        assessment, program, rabbit_config):
    t0 = datetime.now(timezone.utc)
    first = enrollment_event(STUDENT_ADMITTED, in_program(program, "stu1", reason="rank 1"), occurred_at=t0)
    publish(rabbit_config, first)
    publish(rabbit_config, first)  # redelivered
    publish(rabbit_config, enrollment_event(STUDENT_WITHDRAWN, in_program(program, "stu1", previous_status="admitted"),
                                            occurred_at=t0 + timedelta(seconds=5)))
    eventually(lambda: (student(program, "stu1") or {}).get("status") == "withdrawn")
    # the application, older than both, arrives last
    publish(rabbit_config, enrollment_event(APPLICATION_SUBMITTED, in_program(program, "stu1", name="S"),
                                            occurred_at=t0 - timedelta(days=1)))
    admit(rabbit_config, program, "marker")
    eventually(lambda: get_db("assessment").inbox.count_documents({}) >= 5)
    assert student(program, "stu1")["status"] == "withdrawn"
    add_bank(assessment, program)
    with pytest.raises(Forbidden):  # a withdrawn student takes no quiz
        call(assessment, "submit", student_caller("stu1"), quiz(assessment, program)["id"], {"answers": {}})


# --- the events it publishes ---------------------------------------------------------------

def test_a_quiz_attempt_publishes_its_events_once_even_when_resent(assessment, program, rabbit_config, published):
    publish(rabbit_config, enrollment_event(APPLICATION_SUBMITTED, in_program(program, "eve", name="Eve")))
    eventually(lambda: student(program, "eve"))
    add_bank(assessment, program)
    rules = quiz(assessment, program, kind="rules_quiz")
    eve = student_caller("eve")
    first = call(assessment, "submit", eve, rules["id"], {"attempt": 1, "answers": {"q1": True, "q2": 30}})
    again = call(assessment, "submit", eve, rules["id"], {"attempt": 1, "answers": {"q1": True, "q2": 10}})
    assert first["created"] is True and again["created"] is False
    assert again["submission"]["id"] == first["submission"]["id"] and again["submission"]["percent"] == 50.0
    eventually(lambda: published(QUIZ_SCORED))
    time.sleep(0.5)  # the relay has run after both calls: nothing more may follow
    [received], [graded], [scored] = published(SUBMISSION_RECEIVED), published(SUBMISSION_GRADED), published(QUIZ_SCORED)
    assert scored["payload"] == {"program_id": program, "student_id": "eve", "quiz_id": rules["id"],
                                 "kind": "rules_understanding", "score": 50.0, "module": "rules", "attempt": 1,
                                 "submission_id": first["submission"]["id"]}
    assert received["payload"]["on_time"] is True and received["payload"]["late"] is False
    assert graded["payload"]["percent"] == 50.0 and graded["payload"]["graded_by"] == "auto"
    assert get_db("assessment").submissions.count_documents({"assessment_id": rules["id"]}) == 1


def test_concurrent_sends_make_one_submission_per_attempt_and_keep_the_limit(assessment, program, rabbit_config):
    admit(rabbit_config, program, "ann")
    add_bank(assessment, program)
    a = quiz(assessment, program)  # two attempts
    ann = student_caller("ann")

    def send(body):
        with ServiceRpcProxy("assessment", rabbit_config, timeout=20) as proxy:
            try:
                return proxy.submit(ann, a["id"], body)
            except Conflict as refused:
                return refused
    bodies = [{"attempt": 1, "answers": {"q1": True}}] * 6 + [{"answers": {"q1": False}}] * 6
    results = list(eventlet.GreenPool(12).imap(send, bodies))
    stored = AssessmentRepository().attempts(a["id"], "ann")
    assert sorted(s["attempt"] for s in stored) == [1, 2]  # never a third
    created = [r for r in results if isinstance(r, dict) and r["created"]]
    assert sorted(r["submission"]["attempt"] for r in created) == [1, 2]  # each stored once
    refused = [r for r in results if isinstance(r, Conflict)]
    assert all("no attempts left" in r.detail for r in refused)
    # every send of attempt 1 got the one stored attempt 1
    ones = {r["submission"]["id"] for r in results[:6]}
    assert ones == {s["id"] for s in stored if s["attempt"] == 1}


def test_a_resent_competition_run_publishes_once_and_a_correction_again(assessment, program, rabbit_config, published):
    admit(rabbit_config, program, "ann", "bob")
    publish(rabbit_config, enrollment_event(TEAM_FORMED, {"team_id": "team-a", "program_id": program,
                                                          "track": "undergraduate", "name": "A",
                                                          "members": ["ann", "bob"]}))
    eventually(lambda: get_db("assessment").teams.find_one({"_id": "team-a"}))
    now = datetime.now(timezone.utc)
    competition = call(assessment, "create_assessment", ADMIN, program, {
        "kind": "competition", "title": "Sales", "module": "sales", "opens_at": now.isoformat(),
        "deadline": (now + timedelta(days=30)).isoformat(), "max_score": 1000, "partner_id": "xmall"})
    run = {"results": [{"run_id": "run-1", "team_id": "team-a", "score": 640}]}
    assert call(assessment, "post_competition_scores", PARTNER, competition["id"], run)["results"][0]["outcome"] \
        == "recorded"
    assert call(assessment, "post_competition_scores", PARTNER, competition["id"], run)["results"][0]["outcome"] \
        == "unchanged"
    corrected = call(assessment, "post_competition_scores", PARTNER, competition["id"],
                     {"results": [{"run_id": "run-1", "team_id": "team-a", "score": 600}]})["results"][0]
    assert corrected["outcome"] == "corrected" and [h["score"] for h in corrected["entry"]["history"]] == [640.0]
    eventually(lambda: len(published(COMPETITION_SCORE_RECORDED)) == 2)
    time.sleep(0.5)
    recorded = published(COMPETITION_SCORE_RECORDED)
    assert [(e["payload"]["revision"], e["payload"]["score"], e["payload"]["previous_score"]) for e in recorded] == [
        (1, 640.0, None), (2, 600.0, 640.0)]
    assert recorded[0]["payload"]["student_ids"] == ["ann", "bob"]


def test_deadline_missed_once_per_student_with_two_instances_scanning(
        container_factory, rabbit_config, assessment, program, published):
    admit(rabbit_config, program, "ann", "bob", "cat")
    add_bank(assessment, program)
    a = quiz(assessment, program)
    call(assessment, "submit", student_caller("ann"), a["id"], {"answers": {"q1": True}})
    assert call(assessment, "scan_deadlines") == 0  # not due yet
    # the deadline passes (moved instead of waited for)
    records = AssessmentRepository().assessments
    records.save({**records.get(a["id"]), "deadline": datetime.now(timezone.utc) - timedelta(seconds=1)})
    second = container_factory(AssessmentService, rabbit_config)
    second.start()
    # one scan on each instance at the same time (entrypoint_hook waits per container)
    raised = sum(eventlet.GreenPool(2).imap(lambda c: call(c, "scan_deadlines"), [assessment, second]))
    assert raised == 2
    assert call(second, "scan_deadlines") == 0
    eventually(lambda: len(published(DEADLINE_MISSED)) == 2)
    time.sleep(0.5)
    missed = published(DEADLINE_MISSED)
    assert sorted(e["payload"]["student_id"] for e in missed) == ["bob", "cat"]
    assert {e["payload"]["assessment_id"] for e in missed} == {a["id"]}


def test_a_mentor_grades_only_after_the_assignment_reaches_the_projection(assessment, program, rabbit_config):
    admit(rabbit_config, program, "ann")
    publish(rabbit_config, enrollment_event(TEAM_FORMED, {"team_id": "team-m", "program_id": program,
                                                          "track": "undergraduate", "name": "M", "members": ["ann"]}))
    publish(rabbit_config, enrollment_event(MENTOR_ASSIGNED, {"team_id": "team-m", "program_id": program,
                                                              "mentor_id": "mentor-1", "partner_id": "xmall"}))
    eventually(lambda: (get_db("assessment").teams.find_one({"_id": "team-m"}) or {}).get("mentor_id")
               and get_db("assessment").teams.find_one({"_id": "team-m"}).get("members"))
    now = datetime.now(timezone.utc)
    hw = call(assessment, "create_assessment", ADMIN, program, {
        "kind": "homework", "title": "Shop", "module": "ops", "opens_at": now.isoformat(),
        "deadline": (now + timedelta(days=3)).isoformat(), "rubric": {"criteria": [
            {"id": "c", "title": "C", "levels": [{"id": "lo", "title": "Lo", "points": 1},
                                                 {"id": "hi", "title": "Hi", "points": 5}]}]}})
    s = call(assessment, "submit", student_caller("ann"), hw["id"], {"links": ["https://shop.example/ann"]})
    mentor = {**PARTNER, "acting": {"kind": "staff", "id": "mentor-1"}}
    queue = call(assessment, "grading_queue", mentor, program)
    assert [q["id"] for q in queue["items"]] == [s["submission"]["id"]]
    graded = call(assessment, "grade", mentor, s["submission"]["id"], {"levels": {"c": "hi"}})
    assert graded["score"] == 5.0 and graded["graded_by"] == "partner:k3"
    assert call(assessment, "grading_queue", mentor, program)["items"] == []
