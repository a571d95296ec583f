"""Enrollment RPCs and the quiz handler with in-memory repositories: applications,
selection, waitlist promotion, teams, mentors and tutors, the roster."""
from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory

from contracts.assessment import QUIZ_SCORED
from contracts.enrollment import (APPLICATION_SUBMITTED, MENTOR_ASSIGNED, MENTOR_UNASSIGNED, STUDENT_ADMITTED,
                                  STUDENT_REJECTED, STUDENT_WAITLISTED, STUDENT_WITHDRAWN, TEAM_CHANGED,
                                  TEAM_FORMED)
from contracts.errors import Conflict, InvalidInput, NotFound
from contracts.events import make_event, parse_event
from contracts.supervision import ACCOUNT_RECLAIM_REQUESTED
from services.enrollment.service import EnrollmentService
from tests.unit.enrollment.fakes import FakePrograms, FakeStore

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
ADMIN = {"school_id": "jufe", "actor": "admin:k1", "correlation_id": "req-1", "role": "admin"}
LMS = {"school_id": "jufe", "actor": "lms:k2", "correlation_id": "req-2", "role": "lms"}


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        self.now += timedelta(seconds=1)  # every step a little later: application order is defined
        return self.now


@pytest.fixture
def service():
    svc = worker_factory(EnrollmentService, programs=FakePrograms(), store=FakeStore())
    svc._now = Clock()
    return svc


def programme(service, ug=2, voc=1, **extra):
    body = {"name": "Platinum Cup 2026", "season": "2026", "starts_on": "2026-03-01",
            "ends_on": "2026-06-30", "team_lock_date": "2026-04-01",
            "team_size": {"min": 2, "max": 3},
            "tracks": [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": ug},
                       {"key": "vocational", "name": "Voc", "platform": "Our Mall", "capacity": voc}],
            "selection_rules": {"min_quiz_score": 60}, **extra}
    return service.create_program(ADMIN, body)["id"]


def apply(service, program_id, student, track="undergraduate", score=None, **extra):
    app = service.submit_application(LMS, program_id, {"student_id": student, "name": f"Student {student}",
                                                       "track": track, "major": "E-commerce",
                                                       "year_of_study": 3, **extra})
    if score is not None:
        app = service.record_screening_score(ADMIN, app["id"], {"score": score})
    return app


def status(service, app):
    return service.get_application(ADMIN, app["id"])["status"]


def events(service, event_type):
    return [parse_event(e, expected=event_type) for e in service.store.events(event_type.type)]


def quiz(program_id, student, score, at, kind="rules_understanding", school="jufe"):
    envelope = make_event(QUIZ_SCORED, {"program_id": program_id, "student_id": student, "quiz_id": "q1",
                                        "kind": kind, "score": score},
                          school_id=school, actor="assessment", occurred_at=at)
    return parse_event(envelope, expected=QUIZ_SCORED)


# --- applications -----------------------------------------------------------

def test_an_application_is_stored_as_submitted_with_its_event(service):
    pid = programme(service)
    app = apply(service, pid, "s1", prior_courses=["Marketing 101"], motivation="I sell online")
    assert app["status"] == "submitted" and app["submitted_by"] == "lms:k2"
    [event] = events(service, APPLICATION_SUBMITTED)
    assert event.payload["application_id"] == app["id"] and event.payload["student_id"] == "s1"


def test_a_second_live_application_of_the_same_student_is_refused_with_409(service):
    pid = programme(service)
    apply(service, pid, "s1")
    with pytest.raises(Conflict):
        apply(service, pid, "s1", track="vocational")
    assert len(service.store.apps) == 1 and len(events(service, APPLICATION_SUBMITTED)) == 1


def test_a_student_who_withdrew_may_apply_again(service):
    pid = programme(service)
    first = apply(service, pid, "s1")
    service.withdraw(LMS, first["id"], {})
    second = apply(service, pid, "s1")
    assert second["id"] != first["id"] and second["status"] == "submitted"


def test_a_retried_submission_creates_one_application(service):
    pid = programme(service)
    caller = {**LMS, "operation_id": "op-7"}
    body = {"student_id": "s1", "name": "Li", "track": "undergraduate"}
    assert service.submit_application(caller, pid, body)["id"] == service.submit_application(caller, pid, body)["id"]
    assert len(service.store.apps) == 1 and len(service.store.outbox) == 1


def test_an_unknown_track_or_a_server_owned_field_is_refused_and_nothing_stored(service):
    pid = programme(service)
    with pytest.raises(InvalidInput) as refused:
        apply(service, pid, "s1", track="postgraduate")
    assert "track" in refused.value.errors
    with pytest.raises(InvalidInput) as refused:
        apply(service, pid, "s1", status="admitted")
    assert "status" in refused.value.errors
    assert service.store.apps == {} and service.store.outbox == []


def test_another_schools_programme_and_application_are_not_found(service):
    pid = programme(service)
    app = apply(service, pid, "s1")
    other = {**ADMIN, "school_id": "other"}
    with pytest.raises(NotFound):
        service.submit_application(other, pid, {"student_id": "s2", "name": "X", "track": "undergraduate"})
    with pytest.raises(NotFound):
        service.get_application(other, app["id"])
    with pytest.raises(NotFound):
        service.withdraw(other, app["id"], {})


def test_applications_are_listed_by_status_and_track_with_paging(service):
    pid = programme(service)
    for i in range(5):
        apply(service, pid, f"u{i}")
    apply(service, pid, "v1", track="vocational", score=80)
    page = service.list_applications(ADMIN, pid, {"track": "undergraduate", "limit": 3})
    assert [a["student_id"] for a in page["items"]] == ["u0", "u1", "u2"] and page["has_more"]
    page = service.list_applications(ADMIN, pid, {"track": "undergraduate", "limit": 3, "offset": 3})
    assert [a["student_id"] for a in page["items"]] == ["u3", "u4"] and not page["has_more"]
    assert [a["student_id"] for a in service.list_applications(ADMIN, pid, {"status": "screened"})["items"]] == ["v1"]


# --- screening scores -------------------------------------------------------

def test_the_rules_quiz_score_screens_the_application(service):
    pid = programme(service)
    app = apply(service, pid, "s1")
    service.on_quiz_scored(quiz(pid, "s1", 72.5, NOW))
    stored = service.get_application(ADMIN, app["id"])
    assert stored["status"] == "screened" and stored["score"] == 72.5 and stored["score_source"] == "quiz"


def test_a_quiz_scored_before_the_application_counts_when_it_arrives(service):
    pid = programme(service)
    service.on_quiz_scored(quiz(pid, "s1", 88, NOW))
    app = apply(service, pid, "s1")
    assert app["status"] == "screened" and app["score"] == 88


def test_the_latest_quiz_score_counts_and_an_older_one_arriving_late_is_ignored(service):
    pid = programme(service)
    app = apply(service, pid, "s1")
    service.on_quiz_scored(quiz(pid, "s1", 50, NOW + timedelta(hours=2)))
    service.on_quiz_scored(quiz(pid, "s1", 90, NOW + timedelta(hours=1)))
    assert service.get_application(ADMIN, app["id"])["score"] == 50


def test_a_module_test_score_does_not_screen(service):
    pid = programme(service)
    app = apply(service, pid, "s1")
    service.on_quiz_scored(quiz(pid, "s1", 90, NOW, kind="module_test"))
    assert status(service, app) == "submitted"


def test_a_score_changes_nothing_once_the_application_was_decided(service):
    pid = programme(service)
    app = apply(service, pid, "s1", score=90)
    service.run_selection(ADMIN, pid, {})
    service.on_quiz_scored(quiz(pid, "s1", 10, NOW + timedelta(days=1)))
    assert service.get_application(ADMIN, app["id"])["score"] == 90
    with pytest.raises(Conflict):
        service.record_screening_score(ADMIN, app["id"], {"score": 5})


# --- selection ---------------------------------------------------------------

def test_selection_admits_waitlists_and_rejects_each_with_its_reason(service):
    pid = programme(service, ug=2)
    a = [apply(service, pid, f"s{i}", score=s) for i, s in enumerate([70, 95, 40, 80, 65])]
    result = service.run_selection(ADMIN, pid, {})
    decided = {d["student_id"]: d for d in result["decisions"]}
    assert {k: v["decision"] for k, v in decided.items()} == {
        "s1": "admitted", "s3": "admitted", "s0": "waitlisted", "s4": "waitlisted", "s2": "rejected"}
    assert decided["s0"]["position"] == 1 and decided["s4"]["position"] == 2
    assert "below the minimum 60" in decided["s2"]["reason"]
    assert all(d["reason"] for d in result["decisions"])
    assert [status(service, x) for x in a] == ["waitlisted", "admitted", "rejected", "admitted", "waitlisted"]
    assert len(events(service, STUDENT_ADMITTED)) == 2 and len(events(service, STUDENT_WAITLISTED)) == 2
    assert events(service, STUDENT_REJECTED)[0].payload["reason"].startswith("screening score 40")


def test_rerunning_selection_changes_nothing_already_decided(service):
    pid = programme(service, ug=1)
    apply(service, pid, "s1", score=70)
    apply(service, pid, "s2", score=80)
    service.run_selection(ADMIN, pid, {})
    before = (dict(service.store.apps), len(service.store.outbox))
    again = service.run_selection(ADMIN, pid, {})
    assert again["decisions"] == [] and again["unchanged"] == 2
    assert len(service.store.outbox) == before[1]
    # a newcomer with a better score is waitlisted; the admitted student keeps the place
    apply(service, pid, "s3", score=99)
    third = service.run_selection(ADMIN, pid, {})
    assert [(d["student_id"], d["decision"], d["position"]) for d in third["decisions"]] == [("s3", "waitlisted", 1)]


def test_applications_without_a_score_wait_and_are_listed_as_pending(service):
    pid = programme(service)
    app = apply(service, pid, "s1")
    result = service.run_selection(ADMIN, pid, {})
    assert result["pending"] == [app["id"]] and result["decisions"] == []
    assert status(service, app) == "submitted"


def test_capacity_zero_waitlists_everyone_eligible(service):
    pid = programme(service, ug=0)
    apply(service, pid, "s1", score=90)
    result = service.run_selection(ADMIN, pid, {"tracks": ["undergraduate"]})
    assert [d["decision"] for d in result["decisions"]] == ["waitlisted"]
    assert service.store.seat_counter(pid, "undergraduate")["admitted"] == 0


def test_selection_of_an_unknown_track_is_refused(service):
    pid = programme(service)
    with pytest.raises(InvalidInput):
        service.run_selection(ADMIN, pid, {"tracks": ["nope"]})


# --- withdrawal and promotion --------------------------------------------

def selected(service, ug=2, scores=(90, 80, 70, 60)):
    pid = programme(service, ug=ug)
    apps = [apply(service, pid, f"s{i}", score=s) for i, s in enumerate(scores)]
    service.run_selection(ADMIN, pid, {})
    return pid, apps


def test_withdrawal_promotes_first_waitlisted_student_of_the_same_track(service):
    pid, apps = selected(service)
    apply(service, pid, "v1", track="vocational", score=99)  # another track: not promoted
    withdrawn = service.withdraw(LMS, apps[0]["id"], {"reason": "moved abroad"})
    assert withdrawn["status"] == "withdrawn" and withdrawn["previous_status"] == "admitted"
    assert status(service, apps[2]) == "admitted" and status(service, apps[3]) == "waitlisted"
    promoted = [e for e in events(service, STUDENT_ADMITTED) if e.payload["promoted"]]
    assert [e.payload["student_id"] for e in promoted] == ["s2"]
    assert "promoted from the waitlist" in promoted[0].payload["reason"]
    [gone] = events(service, STUDENT_WITHDRAWN)
    assert gone.payload["previous_status"] == "admitted"
    assert service.store.seat_counter(pid, "undergraduate")["admitted"] == 2


def test_withdrawal_with_an_empty_waitlist_frees_the_place(service):
    pid, apps = selected(service, scores=(90, 80))
    service.withdraw(LMS, apps[0]["id"], {})
    assert service.store.seat_counter(pid, "undergraduate")["admitted"] == 1
    assert not [e for e in events(service, STUDENT_ADMITTED) if e.payload["promoted"]]
    # the free place goes to the next student selected
    late = apply(service, pid, "late", score=61)
    assert [d["decision"] for d in service.run_selection(ADMIN, pid, {})["decisions"]] == ["admitted"]
    assert status(service, late) == "admitted"


def test_a_waitlisted_students_withdrawal_promotes_nobody(service):
    pid, apps = selected(service)
    service.withdraw(LMS, apps[2]["id"], {})
    assert [status(service, a) for a in apps] == ["admitted", "admitted", "withdrawn", "waitlisted"]
    assert len(events(service, STUDENT_ADMITTED)) == 2


def test_withdrawing_twice_or_after_the_programme_ended_is_refused(service):
    pid, apps = selected(service)
    service.withdraw(LMS, apps[0]["id"], {})
    with pytest.raises(Conflict):
        service.withdraw(LMS, apps[0]["id"], {})
    service._now = lambda: datetime(2026, 7, 1, 8, tzinfo=timezone.utc)
    with pytest.raises(Conflict):
        service.withdraw(LMS, apps[1]["id"], {})
    assert status(service, apps[1]) == "admitted"


def test_a_seat_left_by_an_interrupted_withdrawal_is_given_back_at_the_next_selection(service):
    pid, apps = selected(service, scores=(90, 80, 70))
    # as if the service died after storing the withdrawal, before freeing the seat
    service.store.update_application(apps[0]["id"], ("admitted",), {"status": "withdrawn",
                                                                     "live_key": "gone"})
    service.run_selection(ADMIN, pid, {})
    assert status(service, apps[2]) == "admitted"
    assert service.store.seat_counter(pid, "undergraduate")["holders"] == sorted([apps[1]["id"], apps[2]["id"]])


# --- an idle student's place reclaimed (supervision's account.reclaim_requested) ----------

def reclaim(program_id, student, promote=True, spell="spell-1", school="jufe"):
    envelope = make_event(ACCOUNT_RECLAIM_REQUESTED, {
        "program_id": program_id, "student_id": student, "account_id": f"xmall-{student}",
        "track": "undergraduate", "spell_id": spell, "idle_since": "2026-02-28T09:00:00+00:00",
        "promote_waitlisted": promote}, school_id=school, actor="supervision")
    return parse_event(envelope, expected=ACCOUNT_RECLAIM_REQUESTED)


def test_a_reclaimed_place_goes_to_the_first_waitlisted_student_of_the_same_track(service):
    pid, apps = selected(service)
    apply(service, pid, "v1", track="vocational", score=99)  # another track: not promoted
    service.on_account_reclaim_requested(reclaim(pid, "s0"))
    gone = service.get_application(ADMIN, apps[0]["id"])
    assert gone["status"] == "withdrawn" and gone["previous_status"] == "admitted"
    assert "reclaimed" in gone["withdrawal_reason"] and service.store.apps[gone["id"]]["reclaim_spell"] == "spell-1"
    assert [status(service, a) for a in apps[1:]] == ["admitted", "admitted", "waitlisted"]
    promoted = [e for e in events(service, STUDENT_ADMITTED) if e.payload["promoted"]]
    assert [e.payload["student_id"] for e in promoted] == ["s2"]
    assert promoted[0].actor == "supervision:reclaim"
    assert [e.payload["student_id"] for e in events(service, STUDENT_WITHDRAWN)] == ["s0"]
    assert service.store.seat_counter(pid, "undergraduate")["admitted"] == 2


def test_a_redelivered_reclaim_admits_nobody_else(service):
    pid, apps = selected(service)
    event = reclaim(pid, "s0")
    service.on_account_reclaim_requested(event)
    service.on_account_reclaim_requested(event)  # redelivered (a crash before the inbox mark)
    assert [status(service, a) for a in apps] == ["withdrawn", "admitted", "admitted", "waitlisted"]
    assert len([e for e in events(service, STUDENT_ADMITTED) if e.payload["promoted"]]) == 1
    assert len(events(service, STUDENT_WITHDRAWN)) == 1


def test_a_reclaim_cut_short_after_the_withdrawal_is_finished_by_its_redelivery(service):
    pid, apps = selected(service)
    event = reclaim(pid, "s0")
    fill = service._fill_from_waitlist
    service._fill_from_waitlist = lambda *a, **k: (_ for _ in ()).throw(ConnectionError("died"))
    with pytest.raises(ConnectionError):  # as if the service died before promoting anyone
        service.on_account_reclaim_requested(event)
    service._fill_from_waitlist = fill
    assert status(service, apps[0]) == "withdrawn" and status(service, apps[2]) == "waitlisted"
    service.on_account_reclaim_requested(event)
    service.on_account_reclaim_requested(event)
    assert [status(service, a) for a in apps] == ["withdrawn", "admitted", "admitted", "waitlisted"]
    assert len([e for e in events(service, STUDENT_ADMITTED) if e.payload["promoted"]]) == 1
    assert service.store.seat_counter(pid, "undergraduate")["admitted"] == 2


def test_a_reclaim_changes_nothing_unless_the_programme_asks_to_promote(service):
    pid, apps = selected(service)
    service.on_account_reclaim_requested(reclaim(pid, "s0", promote=False))
    assert [status(service, a) for a in apps] == ["admitted", "admitted", "waitlisted", "waitlisted"]
    assert not events(service, STUDENT_WITHDRAWN)


def test_a_reclaim_of_a_student_not_admitted_or_of_another_school_changes_nothing(service):
    pid, apps = selected(service)
    service.on_account_reclaim_requested(reclaim(pid, "s2"))  # waitlisted
    service.on_account_reclaim_requested(reclaim(pid, "s0", school="other"))
    service.on_account_reclaim_requested(reclaim("nope", "s0"))
    service.withdraw(LMS, apps[1]["id"], {})  # s1 withdrew first: s2 took that place
    service.on_account_reclaim_requested(reclaim(pid, "s1", spell="spell-2"))
    assert [status(service, a) for a in apps] == ["admitted", "withdrawn", "admitted", "waitlisted"]
    assert len(events(service, STUDENT_WITHDRAWN)) == 1


def test_a_reclaim_after_the_programme_ended_keeps_the_place(service):
    pid, apps = selected(service)
    service._now = lambda: datetime(2026, 7, 1, 8, tzinfo=timezone.utc)
    service.on_account_reclaim_requested(reclaim(pid, "s0"))
    assert status(service, apps[0]) == "admitted" and status(service, apps[2]) == "waitlisted"


# --- teams -------------------------------------------------------------------

@pytest.fixture
def admitted(service):
    pid = programme(service, ug=5, voc=2)
    for i in range(5):
        apply(service, pid, f"u{i}", score=90 - i)
    apply(service, pid, "v0", track="vocational", score=90)
    apply(service, pid, "low", score=10)
    service.run_selection(ADMIN, pid, {})
    return pid


def form(service, pid, members, name="Falcons", track="undergraduate", caller=LMS):
    return service.form_team(caller, pid, {"name": name, "track": track, "members": members})


def test_admitted_students_form_a_team_within_their_track(service, admitted):
    team = form(service, admitted, ["u0", "u1"])
    assert team["members"] == ["u0", "u1"] and team["complete"] and team["status"] == "active"
    [event] = events(service, TEAM_FORMED)
    assert event.payload["members"] == ["u0", "u1"] and event.payload["team_id"] == team["id"]


@pytest.mark.parametrize("members, field, error", [
    (["u0"], "members", InvalidInput),                   # below the minimum of 2
    (["u0", "u1", "u2", "u3"], "members", InvalidInput),  # over the maximum of 3
    (["u0", "v0"], "members", Conflict),                  # another track (the student's state)
    (["u0", "low"], "members", Conflict),                 # not admitted (the student's state)
    (["u0", "u0"], "members", InvalidInput),              # twice
])
def test_a_team_that_breaks_the_rules_is_refused_and_nothing_changes(service, admitted, members, field, error):
    with pytest.raises(error) as refused:
        form(service, admitted, members)
    assert field in refused.value.errors
    assert service.store.teams == {} and service.store.memberships == {} and not events(service, TEAM_FORMED)


def test_a_student_is_in_at_most_one_team_per_programme(service, admitted):
    first = form(service, admitted, ["u0", "u1"])
    with pytest.raises(Conflict):
        form(service, admitted, ["u2", "u1"], name="Hawks")
    assert service.store.membership(admitted, "u2") is None  # the claim was given back
    assert service.get_team(ADMIN, first["id"])["members"] == ["u0", "u1"]
    hawks = form(service, admitted, ["u2", "u3"], name="Hawks")
    with pytest.raises(Conflict):
        service.join_team(LMS, hawks["id"], {"student_id": "u1"})
    assert service.get_team(ADMIN, hawks["id"])["members"] == ["u2", "u3"]


def test_joining_a_full_team_is_refused(service, admitted):
    team = form(service, admitted, ["u0", "u1", "u2"])
    with pytest.raises(Conflict):
        service.join_team(LMS, team["id"], {"student_id": "u3"})
    assert service.store.membership(admitted, "u3") is None


def test_students_join_and_leave_until_the_lock_date(service, admitted):
    team = form(service, admitted, ["u0", "u1"])
    joined = service.join_team(LMS, team["id"], {"student_id": "u2"})
    assert joined["members"] == ["u0", "u1", "u2"]
    left = service.leave_team(LMS, team["id"], "u0")
    assert left["members"] == ["u1", "u2"]
    assert [e.payload["change"] for e in events(service, TEAM_CHANGED)] == ["joined", "left"]
    form(service, admitted, ["u0", "u3"], name="Hawks")  # u0 is free again
    service._now = lambda: datetime(2026, 4, 1, 10, tzinfo=timezone.utc)
    with pytest.raises(Conflict):
        service.leave_team(LMS, team["id"], "u1")
    with pytest.raises(Conflict):
        service.disband_team(ADMIN, team["id"])
    assert service.get_team(ADMIN, team["id"])["members"] == ["u1", "u2"]


def test_disbanding_frees_the_members_and_the_mentors_load(service, admitted):
    team = form(service, admitted, ["u0", "u1"])
    mentor = service.register_staff(ADMIN, admitted, "mentor", {"name": "Ms Zhao", "partner_id": "acme", "max_load": 1})
    service.assign_staff(ADMIN, admitted)
    disbanded = service.disband_team(ADMIN, team["id"])
    assert disbanded["status"] == "disbanded"
    last = events(service, TEAM_CHANGED)[-1].payload
    assert last["change"] == "disbanded" and last["members"] == []
    assert service.list_staff(ADMIN, admitted, "mentor")["items"][0]["load"] == 0
    assert form(service, admitted, ["u0", "u1"], name="Again")["members"] == ["u0", "u1"]
    assert mentor["id"] not in [t["mentor_id"] for t in service.list_teams(ADMIN, admitted)["items"]]


def test_a_withdrawing_student_leaves_their_team(service, admitted):
    team = form(service, admitted, ["u0", "u1", "u2"])
    app = service.store.live_application("jufe", admitted, "u0")
    service.withdraw(LMS, app["id"], {})
    assert service.get_team(ADMIN, team["id"])["members"] == ["u1", "u2"]
    assert events(service, TEAM_CHANGED)[-1].payload["change"] == "left"


# --- mentors and tutors -------------------------------------------------------

def mentors(service, pid, *loads):
    return [service.register_staff(ADMIN, pid, "mentor", {"name": f"M{i}", "partner_id": "acme", "max_load": m})
            for i, m in enumerate(loads)]


def test_every_team_gets_a_mentor_and_a_tutor_balancing_load(service, admitted):
    t1, t2 = form(service, admitted, ["u0", "u1"]), form(service, admitted, ["u2", "u3"], name="Hawks")
    m = mentors(service, admitted, 2, 2)
    tutor = service.register_staff(ADMIN, admitted, "tutor", {"name": "Dr Wang", "max_load": 5})
    result = service.assign_staff(ADMIN, admitted)
    assert result["without_mentor"] == [] and result["without_tutor"] == []
    assert {service.get_team(ADMIN, t["id"])["mentor_id"] for t in (t1, t2)} == {m[0]["id"], m[1]["id"]}
    assert service.get_team(ADMIN, t1["id"])["tutor_id"] == tutor["id"]
    assert len(events(service, MENTOR_ASSIGNED)) == 2
    assert events(service, MENTOR_ASSIGNED)[0].payload["partner_id"] == "acme"


def test_automatic_assignment_never_exceeds_a_maximum_and_lists_teams_without_a_mentor(service, admitted):
    t1 = form(service, admitted, ["u0", "u1"])
    t2 = form(service, admitted, ["u2", "u3"], name="Hawks")
    [m] = mentors(service, admitted, 1)
    result = service.assign_staff(ADMIN, admitted)
    assert result["without_mentor"] == [t2["id"]]
    assert [t["id"] for t in service.list_teams(ADMIN, admitted, {"without": "mentor"})["items"]] == [t2["id"]]
    assert service.list_staff(ADMIN, admitted, "mentor")["items"][0]["load"] == 1
    with pytest.raises(Conflict):
        service.assign_by_hand(ADMIN, t2["id"], "mentor", m["id"])
    assert service.get_team(ADMIN, t1["id"])["mentor_id"] == m["id"]


def test_a_mentor_is_assigned_by_hand_and_the_previous_ones_load_is_freed(service, admitted):
    team = form(service, admitted, ["u0", "u1"])
    first, second = mentors(service, admitted, 1, 1)
    service.assign_by_hand(ADMIN, team["id"], "mentor", first["id"])
    moved = service.assign_by_hand(ADMIN, team["id"], "mentor", second["id"])
    assert moved["mentor_id"] == second["id"]
    loads = {s["id"]: s["load"] for s in service.list_staff(ADMIN, admitted, "mentor")["items"]}
    assert loads == {first["id"]: 0, second["id"]: 1}
    assert events(service, MENTOR_ASSIGNED)[-1].payload["previous_mentor_id"] == first["id"]


def test_a_leaving_mentors_teams_are_reassigned_and_the_rest_listed_without(service, admitted):
    t1, t2 = form(service, admitted, ["u0", "u1"]), form(service, admitted, ["u2", "u3"], name="Hawks")
    leaving, staying = mentors(service, admitted, 2, 1)
    service.assign_by_hand(ADMIN, t1["id"], "mentor", leaving["id"])
    service.assign_by_hand(ADMIN, t2["id"], "mentor", leaving["id"])
    result = service.remove_staff(ADMIN, leaving["id"], "mentor")
    assert not result["staff"]["active"] and result["staff"]["load"] == 0
    assert [a["staff_id"] for a in result["reassigned"]] == [staying["id"]]
    assert len(result["unassigned"]) == 1
    assert [t["id"] for t in service.list_teams(ADMIN, admitted, {"without": "mentor"})["items"]] == result["unassigned"]
    [unassigned] = events(service, MENTOR_UNASSIGNED)
    assert unassigned.payload["team_id"] == result["unassigned"][0]
    assert unassigned.payload["mentor_id"] == leaving["id"]


# --- the roster -------------------------------------------------------------

def test_the_roster_lists_admitted_students_with_track_team_mentor_and_tutor(service, admitted):
    team = form(service, admitted, ["u0", "u1"])
    mentors(service, admitted, 3)
    service.assign_staff(ADMIN, admitted)
    app = service.store.live_application("jufe", admitted, "u4")
    service.withdraw(LMS, app["id"], {})
    rows = {r["student_id"]: r for r in service.roster(ADMIN, admitted)["rows"]}
    assert set(rows) == {"u0", "u1", "u2", "u3", "u4", "v0"}
    assert rows["u0"]["team_id"] == team["id"] and rows["u0"]["mentor_name"] == "M0"
    assert rows["v0"]["track"] == "vocational" and rows["v0"]["team_id"] is None
    assert rows["u4"]["status"] == "withdrawn"


def test_the_roster_comes_in_pages_that_hold_every_row_once_in_roster_order(service, admitted):
    whole = service.roster(ADMIN, admitted)
    assert whole["has_more"] is False and len(whole["rows"]) == 6
    pages, offset = [], 0
    while True:
        page = service.roster(ADMIN, admitted, {"limit": 4, "offset": offset})
        pages.append(page)
        if not page["has_more"]:
            break
        offset += 4
    assert [len(p["rows"]) for p in pages] == [4, 2]
    assert [r["student_id"] for p in pages for r in p["rows"]] == [r["student_id"] for r in whole["rows"]]


def test_the_roster_answers_a_page_of_100_unless_asked_and_at_most_1000(service, admitted):
    app = service.store.live_application("jufe", admitted, "u0")
    for n in range(150):  # a large programme (the page, not the programme, bounds the answer)
        service.store.apps[f"bulk-{n}"] = {**app, "id": f"bulk-{n}", "student_id": f"w{n:03d}", "name": f"W {n:03d}"}
    first = service.roster(ADMIN, admitted)
    assert (len(first["rows"]), first["limit"], first["has_more"]) == (100, 100, True)
    assert len(service.roster(ADMIN, admitted, {"limit": 1000})["rows"]) == 156
    with pytest.raises(InvalidInput):
        service.roster(ADMIN, admitted, {"limit": 1001})


def test_a_claim_left_by_an_interrupted_team_formation_does_not_block_the_students(service, admitted):
    # as if a request died after claiming u0 for a team it never stored
    service.store.memberships[f"{admitted}:u0"] = "ghost-team"
    team = form(service, admitted, ["u0", "u1"])
    assert service.store.membership(admitted, "u0") == team["id"]


def test_a_claim_of_a_team_still_being_formed_blocks_the_student(service, admitted):
    service.store.insert_team({"id": "forming-now", "school_id": "jufe", "program_id": admitted,
                               "track": "undergraduate", "name": "Slow", "members": [], "size": 0,
                               "status": "forming", "mentor_id": None, "tutor_id": None,
                               "created_at": service._now(), "created_by": "lms:k2"})
    service.store.memberships[f"{admitted}:u0"] = "forming-now"
    with pytest.raises(Conflict):
        form(service, admitted, ["u0", "u1"])
    assert service.store.membership(admitted, "u1") is None


def test_a_retried_team_formation_forms_one_team(service, admitted):
    caller = {**LMS, "operation_id": "op-team"}
    body = {"name": "Falcons", "track": "undergraduate", "members": ["u0", "u1"]}
    assert service.form_team(caller, admitted, body)["id"] == service.form_team(caller, admitted, body)["id"] == "op-team"
    assert len(events(service, TEAM_FORMED)) == 1


# --- who acts: a student through the LMS ------------------------------------------------------

def as_student(student_id):
    return {**LMS, "key_id": "k2", "acting": {"kind": "student", "id": student_id}}


def test_a_student_applies_reads_and_withdraws_only_in_their_own_name(service):
    from contracts.errors import Forbidden
    program_id = programme(service)
    own = service.submit_application(as_student("ann"), program_id, {
        "student_id": "ann", "name": "Ann", "track": "undergraduate"})
    assert (own["submitted_by"], own["submitted_by_person"]) == ("lms:k2", "student:ann")
    with pytest.raises(Forbidden):
        service.submit_application(as_student("ann"), program_id, {
            "student_id": "bob", "name": "Bob", "track": "undergraduate"})
    bobs = apply(service, program_id, "bob")
    with pytest.raises(NotFound):
        service.get_application(as_student("ann"), bobs["id"])
    with pytest.raises(NotFound):
        service.withdraw(as_student("ann"), bobs["id"], {})
    listed = service.list_applications(as_student("ann"), program_id, {})["items"]
    assert [a["student_id"] for a in listed] == ["ann"]
    assert status(service, bobs) == "submitted"


def test_a_student_sees_and_changes_only_their_own_team_membership(service):
    from contracts.errors import Forbidden
    program_id = programme(service, ug=4)
    for n, student in enumerate(("ann", "bob", "cat", "dan")):
        apply(service, program_id, student, score=90 - n)
    service.run_selection(ADMIN, program_id, {})
    team = service.form_team(as_student("ann"), program_id, {"name": "A", "track": "undergraduate",
                                                            "members": ["ann", "bob"]})
    assert (team["created_by"], team["created_by_person"]) == ("lms:k2", "student:ann")
    with pytest.raises(Forbidden):
        service.form_team(as_student("cat"), program_id, {"name": "B", "track": "undergraduate",
                                                           "members": ["ann", "dan"]})
    with pytest.raises(Forbidden):
        service.leave_team(as_student("cat"), team["id"], "bob")
    with pytest.raises(NotFound):
        service.get_team(as_student("cat"), team["id"])
    assert service.list_teams(as_student("cat"), program_id, {}) == []
    assert [t["id"] for t in service.list_teams(as_student("bob"), program_id, {})] == [team["id"]]
    joined = service.join_team(as_student("cat"), team["id"], {"student_id": "cat"})
    assert joined["members"] == ["ann", "bob", "cat"]


def test_teams_get_a_mentor_of_their_tracks_partner_when_the_programme_asks_for_it(service):
    tracks = [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "partner_id": "xmall", "capacity": 4},
              {"key": "vocational", "name": "Voc", "platform": "Our Mall", "partner_id": "ourmall", "capacity": 4}]
    pid = programme(service, tracks=tracks, assignment_rules={"mentor_from_track_partner": True})
    for i in range(4):
        apply(service, pid, f"u{i}", score=90 - i)
        apply(service, pid, f"v{i}", track="vocational", score=90 - i)
    service.run_selection(ADMIN, pid, {})
    teams = [form(service, pid, ["u0", "u1"]), form(service, pid, ["u2", "u3"], name="Hawks"),
             form(service, pid, ["v0", "v1"], name="Owls", track="vocational")]
    # the least-loaded mentor overall is Our Mall's: without the rule it would take an undergraduate team
    ours = service.register_staff(ADMIN, pid, "mentor", {"name": "Our", "partner_id": "ourmall", "max_load": 5})
    xmall = service.register_staff(ADMIN, pid, "mentor", {"name": "X", "partner_id": "xmall", "max_load": 1})
    result = service.assign_staff(ADMIN, pid)
    mentor_of = {t["id"]: service.get_team(ADMIN, t["id"])["mentor_id"] for t in teams}
    assert mentor_of == {teams[0]["id"]: xmall["id"], teams[1]["id"]: None, teams[2]["id"]: ours["id"]}
    assert result["without_mentor"] == [teams[1]["id"]]  # X-Mall's only mentor is full: nobody else may take it
    with pytest.raises(InvalidInput):
        service.assign_by_hand(ADMIN, teams[1]["id"], "mentor", ours["id"])


def test_a_programme_that_takes_mentors_from_track_partners_names_each_tracks_partner(service):
    with pytest.raises(InvalidInput) as refused:
        programme(service, assignment_rules={"mentor_from_track_partner": True})
    assert "tracks" in refused.value.errors
