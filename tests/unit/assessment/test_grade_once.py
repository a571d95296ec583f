"""A grade run twice by one operation (the gateway's retry with the same
Idempotency-Key after the first run's reply was lost: assessment SIGKILLed between
its write and its answer, as tests/chaos/test_domains.py finds) is recorded once; so
are the other changes that publish (a hand-in numbered by the server, a return for
revision, an override, a change of a published assessment)."""
from contracts.assessment import (ASSESSMENT_PUBLISHED, GRADE_OVERRIDDEN, SUBMISSION_GRADED, SUBMISSION_RECEIVED,
                                  SUBMISSION_RETURNED)
from tests.unit.assessment.test_service import (ADMIN, clock, create, events, homework, lms,  # noqa: F401  (fixtures)
                                                mentor, service)


def test_a_grade_run_again_by_the_same_operation_is_recorded_once(service, clock):  # noqa: F811
    _, submission = homework(service, clock)
    caller = {**ADMIN, "operation_id": "op-grade-1"}
    first = service.grade(caller, submission["id"], {"levels": {"listing": "good", "pricing": "good"}})
    again = service.grade(caller, submission["id"], {"levels": {"listing": "good", "pricing": "good"}})
    assert again == first
    assert len(events(service.store.submissions, SUBMISSION_GRADED)) == 1


def test_a_hand_in_run_again_by_the_same_operation_is_not_the_next_attempt(service, clock):  # noqa: F811
    a = create(service, kind="homework")  # two attempts allowed; the attempt is numbered by the server
    ann = {**lms("student", "ann"), "operation_id": "op-submit-1"}
    first = service.submit(ann, a["id"], {"text": "my shop"})
    again = service.submit(ann, a["id"], {"text": "my shop"})
    assert again["submission"]["id"] == first["submission"]["id"] and again["created"] is False
    assert len(service.store.attempts(a["id"], "ann")) == 1
    assert len(events(service.store.submissions, SUBMISSION_RECEIVED)) == 1


def test_a_return_run_again_by_the_same_operation_answers_the_return(service, clock):  # noqa: F811
    _, submission = homework(service, clock)
    caller = {**mentor("m1"), "operation_id": "op-return-1"}
    first = service.return_submission(caller, submission["id"], {"comment": "add prices"})
    assert service.return_submission(caller, submission["id"], {"comment": "add prices"}) == first
    assert len(events(service.store.submissions, SUBMISSION_RETURNED)) == 1


def test_an_override_run_again_by_the_same_operation_is_recorded_once(service, clock):  # noqa: F811
    quiz = create(service)
    caller = {**ADMIN, "operation_id": "op-override-1"}
    body = {"student_id": "bob", "assessment_id": quiz["id"], "percent": 50, "reason": "sick on the day"}
    first = service.override_grade(caller, "p1", body)
    again = service.override_grade(caller, "p1", body)
    assert again == first and again["history"] == []
    assert len(events(service.store.overrides, GRADE_OVERRIDDEN)) == 1
    service.override_grade({**ADMIN, "operation_id": "op-override-2"}, "p1", {**body, "percent": 60})
    assert len(events(service.store.overrides, GRADE_OVERRIDDEN)) == 2  # another operation: another override


def test_a_change_of_an_assessment_run_again_by_the_same_operation_is_announced_once(service, clock):  # noqa: F811
    a = create(service)
    caller = {**ADMIN, "operation_id": "op-update-1"}
    first = service.update_assessment(caller, a["id"], {"title": "Rules, again"})
    again = service.update_assessment(caller, a["id"], {"title": "Rules, again"})
    assert again == first and first["title"] == "Rules, again"
    assert len(events(service.store.assessments, ASSESSMENT_PUBLISHED)) == 2  # the creation's and the change's
