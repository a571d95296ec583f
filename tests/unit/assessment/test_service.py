"""The assessment service's entrypoints with an in-memory repository (no broker, no
database): who may do what, papers and immediate scoring, attempts stored once,
answer keys after the deadline only, homework graded by its team's mentor and
returned once, competition runs, the gradebook with overrides, and deadline.missed once."""
from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory

from contracts.assessment import (ASSESSMENT_PUBLISHED, COMPETITION_SCORE_RECORDED, DEADLINE_MISSED,
                                  GRADE_OVERRIDDEN, QUIZ_SCORED, SUBMISSION_GRADED, SUBMISSION_RECEIVED,
                                  SUBMISSION_RETURNED)
from contracts.content import SESSION_SCHEDULED
from contracts.enrollment import (APPLICATION_SUBMITTED, MENTOR_ASSIGNED, PROGRAM_CREATED, STUDENT_ADMITTED,
                                  TEAM_FORMED, TUTOR_ASSIGNED)
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import make_event, parse_event
from services.assessment import service as service_module
from services.assessment.service import AssessmentService
from tests.unit.assessment.fakes import FakeAssessmentRepository

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)
ADMIN = {"school_id": "jufe", "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "c1",
         "key_id": "k1",
         "acting": {"kind": None, "id": None}}
OTHER_SCHOOL = {**ADMIN, "school_id": "elsewhere"}
PARTNER = {**ADMIN, "role": "partner", "partner_id": "xmall", "actor": "partner:k3", "key_id": "k3"}
OTHER_PARTNER = {**PARTNER, "partner_id": "ourmall"}


def lms(kind, person):
    return {**ADMIN, "role": "lms", "actor": f"lms:k2/{kind}:{person}", "key_id": "k2",
            "acting": {"kind": kind, "id": person}}


def mentor(person, partner=PARTNER):
    return {**partner, "acting": {"kind": "staff", "id": person}}


def event(event_type, payload, at=None):
    return parse_event(make_event(event_type, payload, school_id="jufe", actor="test", occurred_at=at))


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(service_module, "_now", c)
    return c


@pytest.fixture
def service(clock):
    svc = worker_factory(AssessmentService, store=FakeAssessmentRepository())
    svc.on_program_created(event(PROGRAM_CREATED, {
        "program_id": "p1", "name": "Cup", "season": "2026", "starts_on": "2026-03-01", "ends_on": "2026-06-30",
        "tracks": [{"key": "ug", "name": "UG", "platform": "X-Mall", "capacity": 40},
                   {"key": "voc", "name": "Voc", "platform": "Our Mall", "capacity": 30}]}))
    for student, track in (("ann", "ug"), ("bob", "ug"), ("cat", "ug"), ("dan", "voc")):
        svc.on_student_admitted(event(STUDENT_ADMITTED, {
            "program_id": "p1", "application_id": f"a-{student}", "student_id": student, "track": track,
            "reason": "rank 1"}))
    svc.on_application_submitted(event(APPLICATION_SUBMITTED, {
        "program_id": "p1", "application_id": "a-eve", "student_id": "eve", "track": "ug", "name": "Eve"}))
    for team, members, mentor_id in (("t1", ["ann", "bob"], "m1"), ("t2", ["cat"], "m2")):
        svc.on_team_formed(event(TEAM_FORMED, {"team_id": team, "program_id": "p1", "track": "ug",
                                               "name": team, "members": members}))
        svc.on_mentor_assigned(event(MENTOR_ASSIGNED, {"team_id": team, "program_id": "p1", "mentor_id": mentor_id,
                                                       "partner_id": "xmall"}))
    svc.on_tutor_assigned(event(TUTOR_ASSIGNED, {"team_id": "t2", "program_id": "p1", "tutor_id": "tut"}))
    svc.add_questions(ADMIN, "p1", {"questions": QUESTIONS})
    svc.on_session_scheduled(event(SESSION_SCHEDULED, {  # xmall teaches the module "ops"
        "session_id": "s1", "program_id": "p1", "title": "Ops", "module": "ops", "form": "corporate_training",
        "starts_at": NOW.isoformat(), "ends_at": (NOW + timedelta(hours=2)).isoformat(), "instructor_id": "m1",
        "tracks": [], "partner_id": "xmall"}))
    return svc


QUESTIONS = [
    {"id": "q1", "kind": "single_choice", "text": "Which platform?", "points": 2, "options": [
        {"id": "a", "text": "X-Mall", "correct": True}, {"id": "b", "text": "Our Mall"}, {"id": "c", "text": "None"}]},
    {"id": "q2", "kind": "multiple_choice", "text": "Allowed?", "points": 2, "options": [
        {"id": "a", "text": "A", "correct": True}, {"id": "b", "text": "B", "correct": True},
        {"id": "c", "text": "C"}]},
    {"id": "q3", "kind": "true_false", "text": "Idle accounts are reclaimed", "answer": True},
    {"id": "q4", "kind": "numeric", "text": "Margin %?", "value": 12.5, "tolerance": 0.5},
    {"id": "q5", "kind": "short_text", "text": "Currency?", "accepted": ["US dollar", "USD"]},
]
RIGHT = {"q1": "a", "q2": ["a", "b"], "q3": True, "q4": 12.4, "q5": "usd"}
RUBRIC = {"criteria": [
    {"id": "listing", "title": "Listing", "levels": [{"id": "weak", "title": "Weak", "points": 0},
                                                      {"id": "good", "title": "Good", "points": 6}]},
    {"id": "pricing", "title": "Pricing", "levels": [{"id": "weak", "title": "Weak", "points": 1},
                                                      {"id": "good", "title": "Good", "points": 4}]}]}


def create(service, caller=ADMIN, **over):
    data = {"kind": "quiz", "title": "Rules", "module": "ops", "opens_at": (NOW - timedelta(hours=1)).isoformat(),
            "deadline": (NOW + timedelta(days=2)).isoformat(), "max_attempts": 2,
            "quiz": {"question_ids": ["q1", "q2", "q3", "q4", "q5"]}, **over}
    if data["kind"] == "homework":
        data = {**data, "quiz": None, "rubric": RUBRIC}
    return service.create_assessment(caller, "p1", data)


def events(records, event_type=None):
    found = records.all_events()
    return [e for e in found if event_type is None or e["type"] == event_type.type]


def test_the_schools_assessment_is_published_at_once_with_its_event(service):
    a = create(service)
    assert a["status"] == "published" and a["max_score"] == 7.0
    [published] = events(service.store.assessments, ASSESSMENT_PUBLISHED)
    assert published["payload"]["assessment_id"] == a["id"] and published["payload"]["assessment_kind"] == "quiz"


def test_a_partner_proposes_for_a_module_it_teaches_and_the_school_approves(service):
    with pytest.raises(InvalidInput) as refused:  # xmall works here, but teaches no "sales"
        create(service, PARTNER, kind="homework", module="sales")
    assert "module" in refused.value.errors
    with pytest.raises(NotFound):  # ourmall does nothing in this programme
        create(service, OTHER_PARTNER, kind="homework")
    proposal = create(service, PARTNER, kind="homework")
    assert proposal["status"] == "proposed" and proposal["partner_id"] == "xmall"
    assert events(service.store.assessments) == []
    with pytest.raises(NotFound):  # another partner, and the students, do not see a proposal
        service.get_assessment(OTHER_PARTNER, proposal["id"])
    with pytest.raises(NotFound):
        service.get_assessment(lms("student", "ann"), proposal["id"])
    with pytest.raises(Forbidden):
        service.review_assessment(PARTNER, proposal["id"], {"decision": "approve"})
    with pytest.raises(NotFound):  # a mentor is not the school's staff
        service.review_assessment(lms("staff", "m1"), proposal["id"], {"decision": "approve"})
    approved = service.review_assessment(lms("staff", "dean"), proposal["id"], {"decision": "approve"})
    assert approved["status"] == "published"
    assert len(events(service.store.assessments, ASSESSMENT_PUBLISHED)) == 1
    with pytest.raises(Conflict):
        service.review_assessment(ADMIN, proposal["id"], {"decision": "reject", "reason": "late"})


def test_a_quiz_naming_questions_outside_the_bank_is_refused(service):
    with pytest.raises(InvalidInput) as refused:
        create(service, quiz={"question_ids": ["q1", "nope"]})
    assert "nope" in refused.value.errors["quiz"]["question_ids"][0]
    with pytest.raises(InvalidInput) as taken:
        service.add_questions(ADMIN, "p1", {"questions": [QUESTIONS[2]]})
    assert "q3" in taken.value.errors["questions"][0]


def test_a_partner_adds_questions_for_its_quizzes_and_sees_only_its_own(service):
    service.add_questions(PARTNER, "p1", {"questions": [
        {"id": "xm1", "kind": "true_false", "text": "Ship in 48 h?", "answer": True, "module": "ops"}]})
    assert [q["id"] for q in service.list_questions(PARTNER, "p1")["items"]] == ["xm1"]
    assert len(service.list_questions(ADMIN, "p1")["items"]) == len(QUESTIONS) + 1
    proposal = create(service, PARTNER, quiz={"question_ids": ["xm1", "q3"]})
    assert proposal["status"] == "proposed" and proposal["max_score"] == 2.0
    with pytest.raises(Forbidden):
        service.list_questions(lms("staff", "m1"), "p1")  # a mentor is not the school's staff


def test_another_schools_anything_answers_404(service):
    a = create(service)
    for call in (lambda: service.get_assessment(OTHER_SCHOOL, a["id"]),
                 lambda: service.list_assessments(OTHER_SCHOOL, "p1"),
                 lambda: service.gradebook(OTHER_SCHOOL, "p1"),
                 lambda: service.list_questions(OTHER_SCHOOL, "p1")):
        with pytest.raises(NotFound):
            call()


def test_the_students_paper_has_no_keys_and_the_same_order_on_reload(service):
    a = create(service, quiz={"question_ids": ["q1", "q2", "q3", "q4", "q5"], "draw": 3})
    ann = lms("student", "ann")
    first = service.paper(ann, a["id"])
    assert first == service.paper(ann, a["id"]) and first["attempt"] == 1 and len(first["questions"]) == 3
    assert all(set(o) == {"id", "text"} for q in first["questions"] for o in q["options"])
    assert "quiz" not in service.get_assessment(ann, a["id"]) or service.get_assessment(ann, a["id"])["quiz"] is None


def test_a_quiz_is_scored_at_once_and_the_same_attempt_is_stored_once(service):
    a = create(service)
    ann = lms("student", "ann")
    result = service.submit(ann, a["id"], {"attempt": 1, "answers": {**RIGHT, "q2": ["a"]}})
    assert result["created"] is True
    s = result["submission"]
    assert (s["status"], s["score"], s["max_score"], s["percent"]) == ("graded", 6.0, 7.0, 85.71)
    again = service.submit(ann, a["id"], {"attempt": 1, "answers": RIGHT})
    assert again["created"] is False and again["submission"]["score"] == 6.0
    types = [e["type"] for e in events(service.store.submissions)]
    assert types == [SUBMISSION_RECEIVED.type, SUBMISSION_GRADED.type, QUIZ_SCORED.type]


def test_the_attempt_limit_holds_and_best_attempt_counts(service):
    a = create(service)
    ann = lms("student", "ann")
    service.submit(ann, a["id"], {"answers": RIGHT})
    second = service.submit(ann, a["id"], {"answers": {"q1": "b"}})["submission"]
    assert second["attempt"] == 2 and second["score"] == 0.0
    with pytest.raises(Conflict) as refused:
        service.submit(ann, a["id"], {"answers": RIGHT})
    assert "no attempts left" in refused.value.detail
    with pytest.raises(Conflict):
        service.paper(ann, a["id"])
    scored = [e["payload"]["score"] for e in events(service.store.submissions, QUIZ_SCORED)]
    assert scored == [100.0, 100.0]  # the best attempt still counts


def test_answer_keys_reach_the_student_only_after_the_deadline(service, clock):
    a = create(service)
    ann = lms("student", "ann")
    s = service.submit(ann, a["id"], {"answers": RIGHT})["submission"]
    assert s["results"] is None and service.get_submission(ann, s["id"])["results"] is None
    assert service.get_submission(ADMIN, s["id"])["results"][0]["correct"] == "a"  # staff see them
    clock.now = NOW + timedelta(days=3)
    results = service.get_submission(ann, s["id"])["results"]
    assert [r["question_id"] for r in results] == ["q1", "q2", "q3", "q4", "q5"]
    assert results[0]["correct"] == "a" and results[3]["points"] == 1.0


def test_opening_time_deadline_and_eligibility_are_enforced(service, clock):
    a = create(service, opens_at=(NOW + timedelta(hours=1)).isoformat())
    with pytest.raises(Conflict):
        service.submit(lms("student", "ann"), a["id"], {"answers": RIGHT})
    clock.now = NOW + timedelta(days=5)
    with pytest.raises(Conflict) as late:
        service.submit(lms("student", "ann"), a["id"], {"answers": RIGHT})
    assert "deadline" in late.value.detail
    with pytest.raises(Forbidden):  # applied, not admitted: only the rules quiz
        service.submit(lms("student", "eve"), create(service)["id"], {"answers": RIGHT})
    ug_only = create(service, tracks=["ug"], deadline=(NOW + timedelta(days=9)).isoformat())
    with pytest.raises(NotFound):
        service.paper(lms("student", "dan"), ug_only["id"])


def test_the_rules_quiz_is_open_to_applicants_and_publishes_the_selection_score(service):
    a = create(service, kind="rules_quiz")
    service.submit(lms("student", "eve"), a["id"], {"answers": {"q1": "a", "q3": True}})
    [scored] = events(service.store.submissions, QUIZ_SCORED)
    assert scored["payload"]["kind"] == "rules_understanding" and scored["payload"]["quiz_id"] == a["id"]
    assert scored["payload"]["score"] == pytest.approx(42.86)


def homework(service, clock, **over):
    a = create(service, kind="homework", **over)
    s = service.submit(lms("student", "ann"), a["id"], {"text": "my shop", "links": ["https://x.example/shop"]})
    return a, s["submission"]


def test_homework_is_graded_by_its_teams_mentor_with_the_rubric(service, clock):
    a, s = homework(service, clock)
    assert s["status"] == "submitted" and s["score"] is None and s["max_score"] == 10.0
    with pytest.raises(NotFound):  # the other team's mentor
        service.grade(mentor("m2"), s["id"], {"levels": {"listing": "good", "pricing": "good"}})
    with pytest.raises(NotFound):  # a partner key that names nobody
        service.get_submission(PARTNER, s["id"])
    with pytest.raises(InvalidInput):
        service.grade(mentor("m1"), s["id"], {"levels": {"listing": "good"}})
    graded = service.grade(mentor("m1"), s["id"], {"levels": {"listing": "good", "pricing": "weak"},
                                                   "comments": {"pricing": "too cheap"}})
    assert (graded["status"], graded["score"], graded["percent"]) == ("graded", 7.0, 70.0)
    assert graded["comments"] == {"pricing": "too cheap"}
    assert (graded["graded_by"], graded["graded_by_person"]) == ("partner:k3", "staff:m1")
    [event_] = events(service.store.submissions, SUBMISSION_GRADED)
    assert event_["payload"]["counted_percent"] == 70.0 and event_["payload"]["on_time"] is True


def test_a_late_homework_loses_its_penalty(service, clock):
    a = create(service, kind="homework", late_policy={"accept": True, "penalty_per_day": 10, "penalty_cap": 25})
    clock.now = NOW + timedelta(days=5)  # 3 days started after the deadline
    s = service.submit(lms("student", "ann"), a["id"], {"text": "late"})["submission"]
    assert (s["late"], s["days_late"], s["late_penalty"]) == (True, 3, 25.0)
    graded = service.grade(ADMIN, s["id"], {"levels": {"listing": "good", "pricing": "good"}})
    assert (graded["raw_score"], graded["score"]) == (10.0, 7.5)


def test_a_submission_is_returned_for_revision_once(service, clock):
    a, s = homework(service, clock)
    with pytest.raises(Forbidden):
        service.return_submission(lms("student", "ann"), s["id"], {"comment": "no"})
    returned = service.return_submission(mentor("m1"), s["id"], {"comment": "add prices"})
    assert returned["status"] == "returned" and returned["return_comment"] == "add prices"
    assert len(events(service.store.submissions, SUBMISSION_RETURNED)) == 1
    with pytest.raises(Conflict):
        service.grade(mentor("m1"), s["id"], {"levels": {"listing": "good", "pricing": "good"}})
    with pytest.raises(NotFound):  # another student's work
        service.revise(lms("student", "bob"), s["id"], {"text": "mine"})
    revised = service.revise(lms("student", "ann"), s["id"], {"text": "with prices"})
    assert (revised["status"], revised["revision"]) == ("submitted", 2)
    with pytest.raises(Conflict):
        service.return_submission(mentor("m1"), s["id"], {"comment": "again"})


def test_the_grading_queue_lists_the_graders_own_teams_oldest_first(service, clock):
    a = create(service, kind="homework")
    for who in ("bob", "cat", "ann"):
        service.submit(lms("student", who), a["id"], {"text": f"by {who}"})
        clock.now += timedelta(minutes=10)
    queue = service.grading_queue(mentor("m1"), "p1")["items"]
    assert [q["student_id"] for q in queue] == ["bob", "ann"]
    assert queue[0]["waited_seconds"] == 30 * 60 and queue[0]["assessment_title"] == "Rules"
    assert [q["student_id"] for q in service.grading_queue(lms("staff", "tut"), "p1")["items"]] == ["cat"]
    assert [q["student_id"] for q in service.grading_queue(ADMIN, "p1")["items"]] == ["bob", "cat", "ann"]
    assert service.grading_queue(PARTNER, "p1")["items"] == []



def test_a_roster_synced_tutor_grades_as_the_person_their_launch_acts_for(service, clock):
    """Roster sync registers an LMS instructor as a tutor with a per-programme staff id and
    their Praxis person id; the teacher's launch acts as ``staff:<person id>``, and their
    queue is their own team's (before: no team matched that id, so they saw every team's)."""
    service.on_tutor_assigned(event(TUTOR_ASSIGNED, {"team_id": "t1", "program_id": "p1", "tutor_id": "staff-rec",
                                                     "tutor_person_id": "lti-teacher"}))
    a = create(service, kind="homework")
    for who in ("bob", "cat"):
        service.submit(lms("student", who), a["id"], {"text": f"by {who}"})
    assert [q["student_id"] for q in service.grading_queue(lms("staff", "lti-teacher"), "p1")["items"]] == ["bob"]
    assert [q["student_id"] for q in service.grading_queue(lms("staff", "staff-rec"), "p1")["items"]] == ["bob"]

def test_students_see_only_their_own_submissions(service, clock):
    a, s = homework(service, clock)
    service.submit(lms("student", "bob"), a["id"], {"text": "bob's"})
    assert [x["student_id"] for x in service.list_submissions(lms("student", "ann"), a["id"])["items"]] == ["ann"]
    assert [x["student_id"] for x in service.list_submissions(lms("student", "bob"), a["id"],
                                                              {"student_id": "ann"})["items"]] == ["bob"]
    with pytest.raises(NotFound):
        service.get_submission(lms("student", "bob"), s["id"])
    assert len(service.list_submissions(mentor("m1"), a["id"])["items"]) == 2
    assert service.list_submissions(mentor("m2"), a["id"])["items"] == []


def test_competition_runs_are_deduplicated_and_corrections_keep_history(service):
    a = create(service, PARTNER, kind="competition", quiz=None, max_score=200)
    service.review_assessment(ADMIN, a["id"], {"decision": "approve"})
    first = service.post_competition_scores(PARTNER, a["id"], {"results": [
        {"run_id": "r1", "team_id": "t1", "score": 150}, {"run_id": "r2", "student_id": "cat", "score": 100}]})
    assert [r["outcome"] for r in first["results"]] == ["recorded", "recorded"]
    again = service.post_competition_scores(PARTNER, a["id"], {"results": [
        {"run_id": "r1", "team_id": "t1", "score": 150}]})
    assert again["results"][0]["outcome"] == "unchanged"
    fixed = service.post_competition_scores(PARTNER, a["id"], {"results": [
        {"run_id": "r1", "team_id": "t1", "score": 120}]})["results"][0]
    assert fixed["outcome"] == "corrected" and fixed["entry"]["revision"] == 2
    assert [h["score"] for h in fixed["entry"]["history"]] == [150.0]
    recorded = events(service.store.entries, COMPETITION_SCORE_RECORDED)
    assert sorted((e["payload"]["run_id"], e["payload"]["revision"], e["payload"]["corrected"])
                  for e in recorded) == [("r1", 1, False), ("r1", 2, True), ("r2", 1, False)]
    assert recorded[0]["payload"]["student_ids"] == ["ann", "bob"]
    with pytest.raises(InvalidInput):
        service.post_competition_scores(PARTNER, a["id"], {"results": [{"run_id": "r9", "team_id": "zz", "score": 1}]})
    with pytest.raises(NotFound):  # another partner posts nothing to it
        service.post_competition_scores(OTHER_PARTNER, a["id"], {"results": [
            {"run_id": "r9", "team_id": "t1", "score": 1}]})
    with pytest.raises(NotFound):  # a partner with no part in the programme
        service.list_competition_scores(OTHER_PARTNER, a["id"])
    assert len(service.list_competition_scores(PARTNER, a["id"])["items"]) == 2
    assert [e["run_id"] for e in service.list_competition_scores(lms("student", "bob"), a["id"])["items"]] == ["r1"]
    book = {r["student_id"]: r for r in service.gradebook(ADMIN, "p1")["rows"]}
    assert book["ann"]["items"][0]["percent"] == 60.0 and book["cat"]["items"][0]["percent"] == 50.0


def test_the_gradebook_has_states_weighted_totals_and_overrides(service, clock):
    quiz = create(service, weight=1, deadline=(NOW + timedelta(days=1)).isoformat())
    hw = create(service, kind="homework", weight=3, deadline=(NOW + timedelta(days=1)).isoformat())
    create(service, kind="rules_quiz")  # not a column
    service.submit(lms("student", "ann"), quiz["id"], {"answers": RIGHT})
    sub = service.submit(lms("student", "ann"), hw["id"], {"text": "shop"})["submission"]
    service.submit(lms("student", "bob"), hw["id"], {"text": "shop"})
    service.grade(ADMIN, sub["id"], {"levels": {"listing": "good", "pricing": "weak"}})
    clock.now = NOW + timedelta(days=2)
    book = service.gradebook(ADMIN, "p1")
    assert [c["assessment_id"] for c in book["columns"]] == [quiz["id"], hw["id"]]
    rows = {r["student_id"]: r for r in book["rows"]}
    assert list(rows) == ["ann", "bob", "cat", "dan"] and book["total_rows"] == 4
    assert [i["state"] for i in rows["ann"]["items"]] == ["graded", "graded"]
    assert rows["ann"]["total"] == pytest.approx((100 * 1 + 70 * 3) / 4)
    assert [i["state"] for i in rows["bob"]["items"]] == ["missing", "ungraded"]
    assert rows["bob"]["total"] == 0.0 and rows["cat"]["total"] == 0.0
    override = service.override_grade(ADMIN, "p1", {"student_id": "bob", "assessment_id": quiz["id"],
                                                      "percent": 50, "reason": "sick on the day"})
    assert override["computed_percent"] == 0.0 and override["history"] == []
    again = service.override_grade(ADMIN, "p1", {"student_id": "bob", "assessment_id": quiz["id"],
                                                 "percent": 60, "reason": "re-sat orally"})
    assert [h["percent"] for h in again["history"]] == [50.0]
    assert len(events(service.store.overrides, GRADE_OVERRIDDEN)) == 2
    bob = service.gradebook(ADMIN, "p1", {"limit": 1, "offset": 1})["rows"]
    assert bob[0]["student_id"] == "bob" and bob[0]["items"][0]["state"] == "overridden"
    assert bob[0]["items"][0]["percent"] == 60.0 and bob[0]["total"] == 60.0
    assert [r["student_id"] for r in service.gradebook(lms("student", "cat"), "p1")["rows"]] == ["cat"]
    assert [r["student_id"] for r in service.gradebook(mentor("m1"), "p1")["rows"]] == ["ann", "bob"]
    with pytest.raises(Forbidden):
        service.override_grade(mentor("m1"), "p1", {"student_id": "bob", "assessment_id": quiz["id"],
                                                    "percent": 100, "reason": "mine"})


def test_deadline_missed_is_raised_once_per_student_without_work(service, clock):
    a = create(service, kind="homework", tracks=["ug"], deadline=(NOW + timedelta(days=1)).isoformat())
    service.submit(lms("student", "ann"), a["id"], {"text": "done"})
    service.scan_deadlines()
    assert events(service.store.missed) == []  # not yet due
    clock.now = NOW + timedelta(days=1, seconds=1)
    service.scan_deadlines()
    missed = events(service.store.missed, DEADLINE_MISSED)
    assert sorted(e["payload"]["student_id"] for e in missed) == ["bob", "cat"]  # dan is voc, ann handed in
    assert {e["payload"]["team_id"] for e in missed} == {"t1", "t2"}
    service.store.assessments.docs[a["id"]]["missed_scanned"] = False  # a second process scanning the same
    service.scan_deadlines()
    assert len(events(service.store.missed, DEADLINE_MISSED)) == 2
