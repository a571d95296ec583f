"""The content service on the real broker and database server: its projection
of enrollment's events (idempotent, never rolled back, catching up after a
stop) and the events it publishes (once each)."""
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kombu import Connection, Queue
from mongoengine.connection import get_db
from nameko.amqp.publish import Publisher
from nameko.testing.services import entrypoint_hook

from tests.waiting import eventually
from contracts import topology
from contracts.content import SOURCE as CONTENT
from contracts.enrollment import (MENTOR_ASSIGNED, MENTOR_UNASSIGNED, PROGRAM_CREATED, STUDENT_ADMITTED,
                                  STUDENT_WITHDRAWN, TEAM_FORMED)
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import make_event
from services.content.repository import ContentRepository
from services.content.service import ContentService

SCHOOL = "jufe"
ADMIN = {"school_id": SCHOOL, "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "it-c"}
LMS = {**ADMIN, "role": "lms", "actor": "lms:k2"}
TRACKS = [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": 40},
          {"key": "vocational", "name": "Voc", "platform": "Our Mall", "capacity": 30}]


def publish(rabbit_config, envelope):
    Publisher(rabbit_config["AMQP_URI"]).publish(
        envelope, exchange=topology.event_exchange(envelope["source"]), routing_key=envelope["type"])


def program_created(program_id):
    return make_event(PROGRAM_CREATED, {"program_id": program_id, "name": "Platinum Cup", "season": "2026",
                                        "starts_on": "2026-03-01", "ends_on": "2026-06-30", "tracks": TRACKS},
                      school_id=SCHOOL, actor="test")


def admitted(program_id, student_id, track="undergraduate", occurred_at=None):
    return make_event(STUDENT_ADMITTED, {"program_id": program_id, "application_id": f"app-{student_id}",
                                         "student_id": student_id, "track": track, "reason": "rank 1"},
                      school_id=SCHOOL, actor="test", occurred_at=occurred_at)


def withdrawn(program_id, student_id, occurred_at=None):
    return make_event(STUDENT_WITHDRAWN, {"program_id": program_id, "application_id": f"app-{student_id}",
                                          "student_id": student_id, "track": "undergraduate",
                                          "previous_status": "admitted"},
                      school_id=SCHOOL, actor="test", occurred_at=occurred_at)


def student(student_id, program_id):
    return get_db("content").students.find_one({"_id": f"{program_id}:{student_id}"})


@pytest.fixture
def content(container_factory, rabbit_config):
    container = container_factory(ContentService, rabbit_config)
    container.start()
    return container


@pytest.fixture
def published(rabbit_config):
    """Every event the content service publishes, read from a queue of the test's own."""
    queue_name = f"test-content-events-{uuid.uuid4().hex[:8]}"
    connection = Connection(rabbit_config["AMQP_URI"])
    queue = Queue(queue_name, exchange=topology.event_exchange(CONTENT), routing_key="#",
                  durable=False, auto_delete=False)
    queue.bind(connection.default_channel).declare()
    seen = []

    def read(event_type=None):
        """Distinct events (by event_id, as consumers dedupe: delivery is at least once)."""
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


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


@pytest.fixture
def program(content, rabbit_config):
    program_id = uuid.uuid4().hex
    publish(rabbit_config, program_created(program_id))
    eventually(lambda: get_db("content").programs.find_one({"_id": program_id}))
    return program_id


def open_session(content, program_id, **extra):
    now = datetime.now(timezone.utc)
    body = {"title": "Store operations", "module": "ops", "form": "offline_lecture",
            "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
            "place": "Room 101", "instructor": {"id": "t1", "kind": "teacher"}, **extra}
    session = call(content, "create_session", ADMIN, program_id, body)
    call(content, "open_checkin", ADMIN, session["id"], {"minutes": 10, "period_seconds": 60})
    return session


def sign_in(content, session_id, student_id):
    code = call(content, "checkin_code", ADMIN, session_id)["code"]
    return call(content, "sign_in", LMS, session_id, {"student_id": student_id, "code": code})


# --- the projection ---------------------------------------------------------------------

def test_an_admitted_student_may_sign_in_and_a_withdrawn_one_may_not(content, program, rabbit_config):
    publish(rabbit_config, admitted(program, "stu1"))
    eventually(lambda: student("stu1", program))
    session = open_session(content, program)
    assert sign_in(content, session["id"], "stu1")["record"]["status"] == "present"

    publish(rabbit_config, withdrawn(program, "stu1"))
    eventually(lambda: student("stu1", program)["status"] == "withdrawn")
    other = open_session(content, program)
    with pytest.raises(Conflict) as refused:
        sign_in(content, other["id"], "stu1")
    assert refused.value.errors == {"sign_in": ["not_admitted"]}


def test_a_redelivered_admission_changes_nothing_and_an_old_one_does_not_undo_a_withdrawal(
        content, program, rabbit_config):
    t0 = datetime.now(timezone.utc)
    first = admitted(program, "stu2", occurred_at=t0)
    publish(rabbit_config, first)
    publish(rabbit_config, first)
    publish(rabbit_config, withdrawn(program, "stu2", occurred_at=t0 + timedelta(seconds=5)))
    eventually(lambda: (student("stu2", program) or {}).get("status") == "withdrawn")
    # an admission that happened before the withdrawal arrives late (another event id)
    publish(rabbit_config, admitted(program, "stu2", occurred_at=t0 + timedelta(seconds=1)))
    marker = admitted(program, "marker")
    publish(rabbit_config, marker)
    eventually(lambda: student("marker", program))
    eventually(lambda: get_db("content").inbox.count_documents({}) >= 5)
    assert student("stu2", program)["status"] == "withdrawn"
    assert get_db("content").students.count_documents({"program_id": program}) == 2


def test_the_projection_catches_up_with_events_sent_while_the_service_was_down(
        container_factory, rabbit_config):
    container = container_factory(ContentService, rabbit_config)
    container.start()  # declares its queues
    container.stop()
    program_id = uuid.uuid4().hex
    publish(rabbit_config, program_created(program_id))
    for n in range(5):
        publish(rabbit_config, admitted(program_id, f"late{n}"))
    restarted = container_factory(ContentService, rabbit_config)
    restarted.start()
    eventually(lambda: get_db("content").students.count_documents({"program_id": program_id}) == 5)
    assert get_db("content").programs.find_one({"_id": program_id})["tracks"] == ["undergraduate", "vocational"]


def test_a_question_goes_to_the_mentor_of_the_askers_team(content, program, rabbit_config):
    publish(rabbit_config, admitted(program, "stu3"))
    publish(rabbit_config, make_event(TEAM_FORMED, {
        "team_id": "team-a", "program_id": program, "track": "undergraduate", "name": "A",
        "members": ["stu3", "stu4"]}, school_id=SCHOOL, actor="test"))
    publish(rabbit_config, make_event(MENTOR_ASSIGNED, {
        "team_id": "team-a", "program_id": program, "mentor_id": "mentor-7", "partner_id": "xmall"},
        school_id=SCHOOL, actor="test"))
    eventually(lambda: (get_db("content").teams.find_one({"_id": "team-a"}) or {}).get("mentor_id")
               and get_db("content").teams.find_one({"_id": "team-a"}).get("members") and student("stu3", program))
    session = open_session(content, program)
    question = call(content, "ask_question", LMS, session["id"], {"student_id": "stu3", "text": "How?"})
    assert (question["team_id"], question["mentor_id"]) == ("team-a", "mentor-7")
    mentors_partner = {**LMS, "role": "partner", "partner_id": "xmall", "actor": "partner:k3"}  # the mentor's own
    answered = call(content, "answer_question", mentors_partner, question["id"], {"author_id": "mentor-7", "text": "Like so"})
    assert answered["status"] == "answered" and answered["answers"][0]["role"] == "mentor"


def test_a_mentor_who_left_no_longer_answers_for_the_team(content, program, rabbit_config):
    publish(rabbit_config, admitted(program, "stu5"))
    publish(rabbit_config, make_event(TEAM_FORMED, {
        "team_id": "team-b", "program_id": program, "track": "undergraduate", "name": "B",
        "members": ["stu5", "stu6"]}, school_id=SCHOOL, actor="test"))
    assigned_at = datetime.now(timezone.utc) - timedelta(minutes=5)
    publish(rabbit_config, make_event(MENTOR_ASSIGNED, {
        "team_id": "team-b", "program_id": program, "mentor_id": "mentor-8", "partner_id": "xmall"},
        school_id=SCHOOL, actor="test", occurred_at=assigned_at))
    publish(rabbit_config, make_event(MENTOR_UNASSIGNED, {
        "team_id": "team-b", "program_id": program, "mentor_id": "mentor-8", "partner_id": "xmall",
        "reason": "the mentor left the programme"}, school_id=SCHOOL, actor="test"))
    eventually(lambda: student("stu5", program) and (get_db("content").teams.find_one({"_id": "team-b"}) or {})
               .get("members") and get_db("content").teams.find_one({"_id": "team-b"}).get("mentor_at", 0)
               > assigned_at.timestamp())
    session = open_session(content, program)
    question = call(content, "ask_question", LMS, session["id"], {"student_id": "stu5", "text": "Who now?"})
    assert question["team_id"] == "team-b" and question["mentor_id"] is None
    mentors_partner = {**LMS, "role": "partner", "partner_id": "xmall", "actor": "partner:k3"}
    with pytest.raises(NotFound):  # the team is no longer the partner's: its question is not either
        call(content, "answer_question", mentors_partner, question["id"], {"author_id": "mentor-8", "text": "Still me"})


# --- the events it publishes ---------------------------------------------------------------

def test_a_sign_in_publishes_attendance_recorded_once_even_when_repeated(content, program, rabbit_config, published):
    from contracts.content import ATTENDANCE_RECORDED, CHECKIN_OPENED, SESSION_SCHEDULED
    publish(rabbit_config, admitted(program, "stu5"))
    eventually(lambda: student("stu5", program))
    session = open_session(content, program)
    assert sign_in(content, session["id"], "stu5")["created"] is True
    assert sign_in(content, session["id"], "stu5")["created"] is False
    recorded = eventually(lambda: published(ATTENDANCE_RECORDED))
    time.sleep(0.5)  # nothing more may follow; the relay has run after both calls
    recorded = published(ATTENDANCE_RECORDED)
    assert [(e["payload"]["student_id"], e["payload"]["status"]) for e in recorded] == [("stu5", "present")]
    assert len(published(SESSION_SCHEDULED)) == 1 and len(published(CHECKIN_OPENED)) == 1


def test_an_overdue_question_raises_question_overdue_once(content, program, rabbit_config, published):
    from contracts.content import QUESTION_ASKED, QUESTION_OVERDUE
    publish(rabbit_config, admitted(program, "stu6"))
    eventually(lambda: student("stu6", program))
    session = open_session(content, program)
    question = call(content, "ask_question", LMS, session["id"], {"student_id": "stu6", "text": "Anyone?"})
    assert call(content, "scan_overdue_questions") == 0  # not due yet
    # the SLA passes (the deadline is moved instead of waiting a day)
    questions = ContentRepository().questions
    stored = questions.get(question["id"])
    questions.save({**stored, "due_at": datetime.now(timezone.utc) - timedelta(minutes=1)})
    assert call(content, "scan_overdue_questions") == 1
    assert call(content, "scan_overdue_questions") == 0
    overdue = eventually(lambda: published(QUESTION_OVERDUE))
    time.sleep(0.5)
    assert len(published(QUESTION_OVERDUE)) == 1
    assert overdue[0]["payload"]["question_id"] == question["id"]
    assert len(published(QUESTION_ASKED)) == 1
    listed = call(content, "overdue_questions", ADMIN, program)["items"]
    assert [q["id"] for q in listed] == [question["id"]] and listed[0]["overdue"] is True


def closing_in(seconds):
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def test_a_poll_crossing_its_threshold_proposes_one_follow_up_and_says_so_once(
        content, program, rabbit_config, published):
    from contracts.content import FOLLOWUP_PROPOSED, POLL_THRESHOLD_REACHED
    for n in range(4):
        publish(rabbit_config, admitted(program, f"voter{n}"))
    eventually(lambda: get_db("content").students.count_documents({"program_id": program}) == 4)
    poll = call(content, "create_poll", ADMIN, program, {
        "question": "A second training on store operations?", "threshold": 0.6, "quorum": 0.5,
        "closes_at": closing_in(seconds=4), "followup": {"title": "Store operations II", "module": "ops",
                     "instructor": {"id": "m1", "kind": "mentor"}}})
    call(content, "vote", LMS, poll["id"], {"student_id": "voter0", "answer": "yes"})
    assert call(content, "get_poll", ADMIN, poll["id"])["reached"] is False  # below the quorum
    call(content, "vote", LMS, poll["id"], {"student_id": "voter1", "answer": "yes"})
    call(content, "vote", LMS, poll["id"], {"student_id": "voter2", "answer": "yes"})
    assert call(content, "get_poll", ADMIN, poll["id"])["reached"] is False  # open: decided at the close
    settled = eventually(lambda: (lambda p: p if p["state"] == "decided" else None)(
        call(content, "get_poll", ADMIN, poll["id"])))
    assert settled["reached"] is True and settled["yes"] == 3 and settled["eligible"] == 4
    draft = call(content, "get_session", ADMIN, settled["followup_session_id"])
    assert draft["status"] == "draft" and draft["poll_id"] == poll["id"]
    eventually(lambda: published(POLL_THRESHOLD_REACHED) and published(FOLLOWUP_PROPOSED))
    time.sleep(0.5)
    assert len(published(POLL_THRESHOLD_REACHED)) == 1 and len(published(FOLLOWUP_PROPOSED)) == 1


def test_the_system_opens_one_demand_poll_after_each_session_ends(content, program, rabbit_config):
    now = datetime.now(timezone.utc)
    ended = call(content, "create_session", ADMIN, program, {
        "title": "Store operations", "module": "ops", "form": "live_online",
        "starts_at": (now - timedelta(hours=2)).isoformat(), "ends_at": (now - timedelta(hours=1)).isoformat(),
        "stream_url": "https://meet.example.org/ops", "instructor": {"id": "t1", "kind": "teacher"}})
    upcoming = open_session(content, program)
    assert call(content, "open_demand_polls") == 1
    assert call(content, "open_demand_polls") == 0  # once per session
    [poll] = call(content, "list_polls", ADMIN, program)["items"]
    assert poll["session_id"] == ended["id"] and poll["opened_by"] == "content:after-session"
    assert "Store operations" in poll["question"] and poll["followup"]["module"] == "ops"
    assert poll["session_id"] != upcoming["id"]


def test_withdrawals_before_the_close_count_in_the_final_quorum(content, program, rabbit_config):
    for n in range(5):
        publish(rabbit_config, admitted(program, f"member{n}"))
    eventually(lambda: get_db("content").students.count_documents({"program_id": program}) == 5)
    poll = call(content, "create_poll", ADMIN, program, {
        "question": "A second training on listings?", "threshold": 0.6, "quorum": 0.6,
        "closes_at": closing_in(seconds=6), "followup": {"title": "Listings II", "module": "listings",
                     "instructor": {"id": "m1", "kind": "mentor"}}})
    for n in (0, 1):
        call(content, "vote", LMS, poll["id"], {"student_id": f"member{n}", "answer": "yes"})
    assert call(content, "get_poll", ADMIN, poll["id"])["reached"] is False  # 2 of 5 voted
    for n in (3, 4):
        publish(rabbit_config, withdrawn(program, f"member{n}"))
    eventually(lambda: get_db("content").students.count_documents({"program_id": program, "status": "admitted"}) == 3)
    settled = eventually(lambda: (lambda p: p if p["reached"] else None)(call(content, "get_poll", ADMIN, poll["id"])))
    assert settled["eligible"] == 3 and settled["followup_session_id"]


# --- the session's tally (check-in status counts) ------------------------------------------

def _status_counts(content, session_id):
    status = call(content, "checkin_status", ADMIN, session_id, {"limit": 100})
    return {k: status[k] for k in ("expected", "signed_in_count", "attended", "flagged_count")}


def test_check_in_counts_follow_every_kind_of_attendance_write(content, program, rabbit_config):
    """Sign-ins, a shared device's flags, a correction and a roll call each keep the
    session's tally; a read gives what counting the records gives."""
    for s in ("ann", "bob", "cat", "dan"):
        publish(rabbit_config, admitted(program, s))
    eventually(lambda: student("dan", program))
    session = open_session(content, program)
    sid = session["id"]
    code = call(content, "checkin_code", ADMIN, sid)["code"]
    for s in ("ann", "bob"):  # one phone for two students: both flagged
        call(content, "sign_in", LMS, sid, {"student_id": s, "code": code, "device_id": "phone-1"})
    assert _status_counts(content, sid) == {"expected": 4, "signed_in_count": 2, "attended": 2, "flagged_count": 2}
    call(content, "correct_attendance", ADMIN, sid, "bob", {"status": "excused", "reason": "ill"})
    call(content, "roll_call", ADMIN, sid, {"present": ["cat"], "mark_others_absent": True})
    assert _status_counts(content, sid) == {"expected": 4, "signed_in_count": 2, "attended": 2, "flagged_count": 2}
    tally = get_db("content").attendance_tallies.find_one({"_id": sid})
    assert {k: tally[k] for k in ("present", "late", "excused", "absent", "flagged")} == {
        "present": 2, "late": 0, "excused": 1, "absent": 1, "flagged": 2}


def test_a_tally_that_missed_a_write_is_recounted_from_the_records(content, program, rabbit_config, monkeypatch):
    """A crash between a record's write and its tally's $inc leaves the tally short;
    a read after TALLY_CHECK_SECONDS counts the records again (they are the truth)."""
    from services.content import repository
    for s in ("ann", "bob"):
        publish(rabbit_config, admitted(program, s))
    eventually(lambda: student("bob", program))
    session = open_session(content, program)
    sign_in(content, session["id"], "ann")
    assert _status_counts(content, session["id"])["signed_in_count"] == 1
    # bob's record written as a sign-in writes it, but its $inc lost (the process died)
    ann = get_db("content").attendance.find_one({"_id": f"{session['id']}:ann"})
    get_db("content").attendance.insert_one({**ann, "_id": f"{session['id']}:bob", "student_id": "bob"})
    assert _status_counts(content, session["id"])["signed_in_count"] == 1  # within the check interval
    monkeypatch.setattr(repository, "TALLY_CHECK_SECONDS", 0.0)
    assert _status_counts(content, session["id"])["signed_in_count"] == 2
    monkeypatch.setattr(repository, "TALLY_CHECK_SECONDS", 30.0)
    sign_in(content, session["id"], "bob")  # signed in already: nothing changes
    assert _status_counts(content, session["id"])["signed_in_count"] == 2
