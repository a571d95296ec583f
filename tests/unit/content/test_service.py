"""The content service's entrypoints with an in-memory repository (no broker,
no database): sign-ins, refusals kept for supervision, device flags, events
stored with the records they describe, and polls that propose one follow-up."""
from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory

from contracts.content import (ATTENDANCE_RECORDED, FOLLOWUP_PROPOSED, POLL_THRESHOLD_REACHED,
                               SESSION_SCHEDULED)
from contracts.errors import Conflict, InvalidInput, NotFound
from contracts.enrollment import PROGRAM_CREATED, STUDENT_ADMITTED
from contracts.events import make_event, parse_event
from services.content.service import ContentService
from tests.unit.content.fakes import FakeContentRepository

ADMIN = {"school_id": "jufe", "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "c1"}
LMS = {**ADMIN, "role": "lms", "actor": "lms:k2"}
PARTNER = {**ADMIN, "role": "partner", "partner_id": "xmall", "actor": "partner:k3"}
TRACKS = [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": 40}]


def event(event_type, payload):
    return parse_event(make_event(event_type, payload, school_id="jufe", actor="test"))


@pytest.fixture
def service():
    svc = worker_factory(ContentService, store=FakeContentRepository())
    svc.on_program_created(event(PROGRAM_CREATED, {
        "program_id": "p1", "name": "Cup", "season": "2026", "starts_on": "2026-03-01",
        "ends_on": "2026-06-30", "tracks": TRACKS}))
    for student in ("ann", "bob", "cat"):
        svc.on_student_admitted(event(STUDENT_ADMITTED, {
            "program_id": "p1", "application_id": f"a-{student}", "student_id": student,
            "track": "undergraduate", "reason": "rank 1"}))
    return svc


def scheduled_session(service, caller=ADMIN):
    start = datetime.now(timezone.utc)
    return service.create_session(caller, "p1", {
        "title": "Ops", "module": "ops", "form": "offline_lecture", "place": "Room 1",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(),
        "instructor": {"id": "t1", "kind": "teacher"}})


def open_session(service):
    session = scheduled_session(service)
    service.open_checkin(ADMIN, session["id"], {"minutes": 10, "period_seconds": 60})
    return session, service.checkin_code(ADMIN, session["id"])["code"]


def event_types(records):
    return [e["type"] for e in records.all_events()]


def test_the_schools_session_is_scheduled_with_its_event_in_the_same_record(service):
    session = scheduled_session(service)
    assert session["status"] == "scheduled" and session["checkin_open"] is False
    assert service.store.sessions.events[session["id"]][0]["type"] == SESSION_SCHEDULED.type


def test_a_session_for_an_unknown_programme_answers_404(service):
    with pytest.raises(NotFound):
        service.create_session(ADMIN, "nope", {})


def test_a_valid_sign_in_is_stored_once_with_its_attendance_event(service):
    session, code = open_session(service)
    first = service.sign_in(LMS, session["id"], {"student_id": "ann", "code": code})
    second = service.sign_in(LMS, session["id"], {"student_id": "ann", "code": code})
    assert first["created"] is True and second["created"] is False
    assert second["record"] == first["record"] and first["record"]["status"] == "present"
    recorded = [e for e in service.store.attendance.all_events() if e["type"] == ATTENDANCE_RECORDED.type]
    assert [e["payload"]["student_id"] for e in recorded] == ["ann"]


def test_a_refused_sign_in_is_recorded_with_its_reason_and_stores_no_record(service):
    session, code = open_session(service)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(InvalidInput) as refused:
        service.sign_in(LMS, session["id"], {"student_id": "bob", "code": wrong, "device_id": "d1"})
    assert refused.value.errors == {"sign_in": ["wrong_code"]}
    with pytest.raises(Conflict):  # the student's state refuses, not the input
        service.sign_in(LMS, session["id"], {"student_id": "zed", "code": code})
    assert [(r["student_id"], r["reason"], r["device_id"]) for r in service.store.refused] == [
        ("bob", "wrong_code", "d1"), ("zed", "not_admitted", None)]
    assert service.store.attendance.docs == {}


def test_a_student_marked_absent_by_roll_call_who_then_signs_in_is_present_and_staffs_word_stays_final(service):
    session, code = open_session(service)
    service.roll_call(ADMIN, session["id"], {"present": ["ann"], "mark_others_absent": True})
    signed = service.sign_in(LMS, session["id"], {"student_id": "bob", "code": code})
    assert signed["created"] is True and signed["record"]["status"] == "present"
    assert signed["record"] == service.sign_in(LMS, session["id"], {"student_id": "bob", "code": code})["record"]
    recorded = [e["payload"] for e in service.store.attendance.all_events() if e["type"] == ATTENDANCE_RECORDED.type]
    assert [(p["previous_status"], p["status"]) for p in recorded if p["student_id"] == "bob"] == [
        (None, "absent"), ("absent", "present")]
    service.correct_attendance(ADMIN, session["id"], "cat", {"status": "absent", "reason": "left early"})
    kept = service.sign_in(LMS, session["id"], {"student_id": "cat", "code": code})
    assert kept["created"] is False and kept["record"]["status"] == "absent"


def test_one_address_signing_in_two_students_flags_both(service):
    session, code = open_session(service)
    service.sign_in(LMS, session["id"], {"student_id": "ann", "code": code, "address": "10.1.1.1"})
    second = service.sign_in(LMS, session["id"], {"student_id": "bob", "code": code, "address": "10.1.1.1"})
    third = service.sign_in(LMS, session["id"], {"student_id": "cat", "code": code, "address": "10.1.1.2"})
    assert second["record"]["flags"] == ["shared_address"] and third["record"]["flags"] == []
    assert service.store.attendance.docs[f"{session['id']}:ann"]["flags"] == ["shared_address"]


def test_a_partners_session_is_invisible_to_another_partner_and_to_students_until_approved(service):
    proposed = scheduled_session(service, caller=PARTNER)
    assert proposed["status"] == "proposed"
    with pytest.raises(NotFound):
        service.get_session({**PARTNER, "partner_id": "ourmall"}, proposed["id"])
    with pytest.raises(NotFound):
        service.get_session(LMS, proposed["id"])
    service.review_session(ADMIN, proposed["id"], {"decision": "approve"})
    assert service.get_session(LMS, proposed["id"])["status"] == "scheduled"


def poll_closing_in(service, minutes, **extra):
    return service.create_poll(ADMIN, "p1", {
        "question": "Again?", "threshold": 0.5, "quorum": 0.6,
        "closes_at": (datetime.now(timezone.utc) + timedelta(minutes=minutes)).isoformat(),
        "followup": {"title": "Ops II", "module": "ops", "instructor": {"id": "m1", "kind": "mentor"}}, **extra})


def after(monkeypatch, minutes):
    later = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    monkeypatch.setattr("services.content.service._now", lambda: later)


def test_a_poll_decides_on_its_final_tally_not_on_a_running_tally_that_crossed(service, monkeypatch):
    poll = poll_closing_in(service, 60)
    service.vote(LMS, poll["id"], {"student_id": "ann", "answer": "yes"})
    service.vote(LMS, poll["id"], {"student_id": "bob", "answer": "yes"})
    open_poll = service.get_poll(ADMIN, poll["id"])  # 2 of 3 voted, all yes: the running tally crossed
    assert (open_poll["state"], open_poll["reached"]) == ("open", False)
    service.vote(LMS, poll["id"], {"student_id": "cat", "answer": "no"})
    service.vote(LMS, poll["id"], {"student_id": "bob", "answer": "no"})  # changed until the close
    after(monkeypatch, 61)
    with pytest.raises(Conflict):
        service.vote(LMS, poll["id"], {"student_id": "bob", "answer": "yes"})  # closed
    decided = service.get_poll(ADMIN, poll["id"])
    assert (decided["state"], decided["reached"], decided["yes"], decided["no"]) == ("decided", False, 1, 2)
    assert event_types(service.store.polls) == [] and event_types(service.store.sessions) == []


def test_a_poll_whose_final_tally_crosses_proposes_one_follow_up(service, monkeypatch):
    poll = poll_closing_in(service, 60)
    assert poll["closes_at"] and poll["state"] == "open"
    for student, answer in (("ann", "yes"), ("bob", "no"), ("cat", "yes"), ("cat", "yes")):  # a retried vote
        service.vote(LMS, poll["id"], {"student_id": student, "answer": answer})
    after(monkeypatch, 61)
    assert service.decide_closed_polls() == 1 and service.decide_closed_polls() == 0
    assert service.get_poll(ADMIN, poll["id"])["reached"] is True
    assert event_types(service.store.polls) == [POLL_THRESHOLD_REACHED.type]
    drafts = [s for s in service.store.sessions.docs.values() if s["status"] == "draft"]
    assert [d["poll_id"] for d in drafts] == [poll["id"]]
    assert event_types(service.store.sessions) == [FOLLOWUP_PROPOSED.type]


def test_every_poll_has_a_closing_time_in_the_future(service):
    assert service.create_poll(ADMIN, "p1", {
        "question": "Again?", "followup": {"title": "Ops II", "module": "ops",
                                           "instructor": {"id": "m1", "kind": "mentor"}}})["closes_at"]
    with pytest.raises(InvalidInput):
        poll_closing_in(service, -1)


def test_many_students_behind_one_address_are_all_flagged(service):
    for n in range(6):
        service.on_student_admitted(event(STUDENT_ADMITTED, {
            "program_id": "p1", "application_id": f"a-s{n}", "student_id": f"s{n}",
            "track": "undergraduate", "reason": "rank 1"}))
    session, code = open_session(service)
    for n in range(6):
        service.sign_in(LMS, session["id"], {"student_id": f"s{n}", "code": code, "address": "10.0.0.1"})
    service.sign_in(LMS, session["id"], {"student_id": "ann", "code": code, "address": "10.0.0.2"})
    flagged = sorted(r["student_id"] for r in service.store.attendance.docs.values() if r["flags"])
    assert flagged == [f"s{n}" for n in range(6)]


def test_the_late_limit_the_school_set_on_the_programme_applies_to_sign_ins():
    strict = worker_factory(ContentService, store=FakeContentRepository())
    strict.on_program_created(event(PROGRAM_CREATED, {
        "program_id": "p1", "name": "Cup", "season": "2026", "starts_on": "2026-03-01",
        "ends_on": "2026-06-30", "tracks": TRACKS,
        "attendance_rules": {"late_after_minutes": 0}}))
    strict.on_student_admitted(event(STUDENT_ADMITTED, {
        "program_id": "p1", "application_id": "a-ann", "student_id": "ann",
        "track": "undergraduate", "reason": "rank 1"}))
    start = datetime.now(timezone.utc) - timedelta(minutes=2)
    session = strict.create_session(ADMIN, "p1", {
        "title": "Ops", "module": "ops", "form": "offline_lecture", "place": "Room 1",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(),
        "instructor": {"id": "t1", "kind": "teacher"}})
    strict.open_checkin(ADMIN, session["id"], {"minutes": 10, "period_seconds": 60})
    code = strict.checkin_code(ADMIN, session["id"])["code"]
    signed = strict.sign_in(LMS, session["id"], {"student_id": "ann", "code": code})
    assert signed["record"]["status"] == "late"  # two minutes in; the default limit is ten
