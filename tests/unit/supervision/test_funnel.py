"""The supervision service keeps each programme's funnel as counters moved by the
other services' events (never by reading every student on a request)."""
import copy
from datetime import timedelta

import pytest
from nameko.testing.services import worker_factory
from pymongo.errors import ConnectionFailure

from contracts.errors import NotFound
from contracts.incentives import CREDITS_AWARDED, CREDITS_DEDUCTED, CREDITS_REVERSED
from contracts.supervision import STAGE_REACHED
from services.supervision.reports import report_csv
from services.supervision.service import SupervisionService
from tests.unit.supervision.fakes import FakeSupervisionRepository
from tests.unit.supervision.helpers import (ADMIN, START, admitted, assessment, attended, competition, event, missed,
                                            program_created, registered, session, submission, telemetry)


@pytest.fixture
def store():
    return FakeSupervisionRepository()


@pytest.fixture
def service(store):
    svc = worker_factory(SupervisionService, store=store)
    svc.on_program_created(program_created())
    return svc


def test_a_new_programme_has_an_empty_funnel_and_says_which_stages_are_not_tracked_yet(service):
    funnel = service.get_funnel(ADMIN, "p1")
    assert funnel["tracks"] == ["undergraduate"]
    assert funnel["stages"] == {"registered": 0, "admitted": 0, "trained": 0, "active": None,
                                "submitting": None, "finished": None}
    assert funnel["notes"] == {"active": "not tracked yet", "submitting": "not tracked yet",
                               "finished": "not tracked yet"}
    assert funnel["started_at"].startswith("2026-02-01")


def test_the_funnel_counts_who_registered_was_admitted_and_took_part(service):
    for student in ("ann", "bob", "cat", "dan"):
        service.on_application_submitted(registered(student))
    for student in ("ann", "bob"):
        service.on_student_admitted(admitted(student))
    service.on_attendance_recorded(attended("ann", "s1"))
    service.on_attendance_recorded(attended("ann", "s2"))
    service.on_attendance_recorded(attended("bob", "s1", status="absent"))
    stages = service.get_funnel(ADMIN, "p1")["stages"]
    assert (stages["registered"], stages["admitted"], stages["trained"]) == (4, 2, 1)


def test_a_redelivered_event_or_a_lost_race_counts_once_and_says_stage_reached_once(service, store):
    service.on_application_submitted(registered("ann"))
    service.on_application_submitted(registered("ann"))
    store.students.lose_next.add("p1:bob")  # a concurrent writer wins bob's first save
    service.on_application_submitted(registered("bob"))
    assert service.get_funnel(ADMIN, "p1")["stages"]["registered"] == 2
    reached = [(e["payload"]["student_id"], e["payload"]["stage"]) for e in store.events(STAGE_REACHED)]
    assert sorted(reached) == [("ann", "registered"), ("bob", "registered")]


@pytest.mark.parametrize("dies", ["before the counter moved", "after the counter moved"])
def test_a_crash_between_the_students_write_and_the_counter_counts_once_when_the_event_comes_back(
        service, store, monkeypatch, dies):
    """Killed (or the database gone) between storing the students' stages and moving
    the counters: the event comes back, finds the stages reached, and the counters
    still move once per student."""
    count = store.count

    def crash(*args):
        if dies == "after the counter moved":
            students = copy.deepcopy(store.students.docs)
            count(*args)
            store.students.docs = students  # ... and nothing after it was written
        raise ConnectionFailure("killed between the two writes")
    monkeypatch.setattr(store, "count", crash)
    with pytest.raises(ConnectionFailure):
        service.on_application_submitted(registered("ann"))
    monkeypatch.setattr(store, "count", count)
    service.on_application_submitted(registered("ann"))  # redelivered
    service.on_application_submitted(registered("bob"))
    assert service.get_funnel(ADMIN, "p1")["stages"]["registered"] == 2


def test_trained_needs_the_programmes_minimum_share_of_the_sessions(service):
    service.set_rules(ADMIN, "p1", {"min_attendance_share": 0.5})
    for n in range(4):
        service.on_session_scheduled(session(f"s{n}", START + timedelta(days=7 * n)))
    service.on_student_admitted(admitted("ann"))
    service.on_attendance_recorded(attended("ann", "s0"))
    assert service.get_funnel(ADMIN, "p1")["stages"]["trained"] == 0
    service.on_attendance_recorded(attended("ann", "s1", status="watched_replay"))
    assert service.get_funnel(ADMIN, "p1")["stages"]["trained"] == 1


def test_active_means_a_platform_login_after_the_first_session(service):
    service.on_session_scheduled(session("s0", START + timedelta(days=3)))
    for student in ("ann", "bob"):
        service.on_student_admitted(admitted(student))
    service.map_accounts(ADMIN, "p1", {"accounts": [{"account_id": "acc-ann", "student_id": "ann"},
                                                    {"account_id": "acc-bob", "student_id": "bob"}]})
    service.on_telemetry_ingested(telemetry([
        ("r1", "acc-ann", "login", START + timedelta(days=1)),     # before the first session
        ("r2", "acc-bob", "login", START + timedelta(days=4))]))   # after it
    assert service.get_funnel(ADMIN, "p1")["stages"]["active"] == 1
    page = service.stage_students(ADMIN, "p1", "active", {})
    assert [s["student_id"] for s in page["items"]] == ["bob"]


def test_stage_lists_are_paged_by_student_id(service):
    for student in ("s3", "s1", "s2"):
        service.on_application_submitted(registered(student))
    first = service.stage_students(ADMIN, "p1", "registered", {"limit": 2})
    second = service.stage_students(ADMIN, "p1", "registered", {"limit": 2, "offset": 2})
    assert [s["student_id"] for s in first["items"]] == ["s1", "s2"] and first["has_more"]
    assert [s["student_id"] for s in second["items"]] == ["s3"] and not second["has_more"]


def test_the_funnel_of_another_school_is_not_found_and_a_just_created_programme_is_empty(service):
    with pytest.raises(NotFound):
        service.get_funnel({**ADMIN, "school_id": "other"}, "p1")
    known = {"id": "p2", "school_id": "jufe", "name": "New", "season": "2026",
             "tracks": [{"key": "ug", "name": "UG", "platform": "X", "capacity": 1}]}
    funnel = service.get_funnel(ADMIN, "p2", known)
    assert funnel["stages"]["registered"] == 0 and funnel["started_at"] is None
    with pytest.raises(NotFound):  # enrollment's programme of another school does not help
        service.get_funnel({**ADMIN, "school_id": "other"}, "p2", known)


def test_submitting_and_finished_follow_assessment_once_it_has_work_for_the_programme(service):
    for student in ("ann", "bob", "cat"):
        service.on_student_admitted(admitted(student))
    service.on_assessment_published(assessment("hw1"))
    service.on_assessment_published(assessment("hw2"))
    assert service.get_funnel(ADMIN, "p1")["stages"]["finished"] == 0
    service.on_submission_received(submission("hw1", "ann"))
    service.on_submission_received(submission("hw1", "bob"))
    service.on_submission_received(submission("hw2", "ann"))
    service.on_competition_score_recorded(competition(["cat"]))
    stages = service.get_funnel(ADMIN, "p1")["stages"]
    assert (stages["submitting"], stages["finished"]) == (2, 2)   # ann handed in all, cat has a score
    service.on_deadline_missed(missed("hw2", "bob"))
    alerts = service.list_alerts(ADMIN, "p1", {})["items"]
    assert [(a["kind"], a["student_id"], a["subject_id"]) for a in alerts] == [("deadline_missed", "bob", "hw2")]
    report = service.report(ADMIN, "p1")
    assert {r["student_id"]: (r["submissions"], r["missing_work"]) for r in report["students"]} == {
        "ann": (2, 0), "bob": (1, 1), "cat": (0, 0)}


def test_events_that_arrive_before_program_created_are_counted_once_it_comes(store):
    svc = worker_factory(SupervisionService, store=store)
    svc.on_application_submitted(registered("ann"))     # program.created is still on its way
    svc.on_student_admitted(admitted("ann"))
    with pytest.raises(NotFound):
        svc.get_funnel(ADMIN, "p1")                     # the gateway then asks enrollment
    known = {"id": "p1", "school_id": "jufe", "name": "Platinum Cup 2026", "season": "2026",
             "tracks": [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": 40}]}
    assert svc.get_funnel(ADMIN, "p1", known)["stages"]["admitted"] == 1
    svc.on_program_created(program_created())
    funnel = svc.get_funnel(ADMIN, "p1")
    assert funnel["name"] == "Platinum Cup 2026" and funnel["started_at"] is not None
    assert (funnel["stages"]["registered"], funnel["stages"]["admitted"]) == (1, 1)


def test_a_change_to_the_programme_read_before_a_count_does_not_write_the_old_count_back(service, store):
    stale = store.programs.get("p1")                     # e.g. a team.formed read the programme ...
    service.on_application_submitted(registered("ann"))  # ... then a count moved ...
    stale["teams"] = {"t1": {"members": ["ann"]}}
    assert store.programs.save_many([(stale, [])]) == ["p1"]   # ... so its save loses and re-reads
    assert service.get_funnel(ADMIN, "p1")["stages"]["registered"] == 1


# --- credits from incentives' ledger ------------------------------------------------------

def credit(event_type, entry_id, student_id, amount, kind="reward", program_id="p1", **extra):
    return event(event_type, {"entry_id": entry_id, "program_id": program_id, "student_id": student_id,
                              "kind": kind, "amount": amount, "not_applied": 0, "reason": "test",
                              "spendable": 0, **extra})


def test_the_report_shows_each_students_credits_from_incentives_entries_each_counted_once(service):
    for student in ("ann", "bob", "cat"):
        service.on_student_admitted(admitted(student))
    present = credit(CREDITS_AWARDED, "e1", "ann", 5, rule="present")
    service.on_credits_awarded(present)
    service.on_credits_awarded(present)  # redelivered: counted once
    service.on_credits_awarded(credit(CREDITS_AWARDED, "e2", "ann", 10))
    service.on_credits_deducted(credit(CREDITS_DEDUCTED, "e3", "bob", -3, kind="penalty"))
    service.on_credits_reversed(credit(CREDITS_REVERSED, "reversal:e2", "ann", -10, kind="reversal",
                                       reverses="e2"))
    service.on_credits_deducted(credit(CREDITS_DEDUCTED, "e3", "bob", -3, kind="penalty"))  # again: once
    report = service.report(ADMIN, "p1")
    assert {r["student_id"]: r["credits"] for r in report["students"]} == {"ann": 5, "bob": -3, "cat": None}
    rows = report_csv(report).splitlines()
    header = rows[0].split(",")
    credits = {row.split(",")[0]: row.split(",")[header.index("credits")] for row in rows[1:]}
    assert credits == {"ann": "5", "bob": "-3", "cat": ""}
    assert service.get_funnel(ADMIN, "p1")["stages"]["admitted"] == 3  # credits move no stage


def test_credits_that_arrive_before_the_admission_are_kept(service):
    service.on_credits_awarded(credit(CREDITS_AWARDED, "e1", "dan", 2))
    service.on_student_admitted(admitted("dan"))
    [row] = service.report(ADMIN, "p1")["students"]
    assert (row["student_id"], row["stage"], row["credits"]) == ("dan", "admitted", 2)
