"""Grade passback (LTI AGS) from the webhooks service to an LMS played by
lti1p3platform: the line item an assessment's launch names gets the score once
per grading, with a cached client-credentials token, after the platform's
failures; another school's platform never receives this school's grades.

Gradings arrive as the assessment service publishes them (submission.graded,
grade.overridden) on the real broker.
"""
import logging

import pytest
from mongoengine.connection import get_db
from nameko.testing.services import entrypoint_hook


from contracts.assessment import GRADE_OVERRIDDEN, SUBMISSION_GRADED
from contracts.errors import NotFound
from contracts.events import make_event
from services.common.logs import JsonFormatter
from tests.integration.lti_helpers import app, lms, platforms, webhooks  # noqa: F401  (fixtures)
from tests.integration.lti_helpers import launch, register, whoami
from tests.lti_platform import INSTRUCTOR, LEARNER
from tests.integration.bus import publish
from tests.waiting import eventually

ADMIN = {"school_id": "jufe", "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "it-g",
         "acting": {"kind": None, "id": None}}


def _work(assessment_id, student_id):
    return {"program_id": "p1", "assessment_id": assessment_id, "assessment_kind": "homework", "module": "m1",
            "student_id": student_id, "deadline": "2026-04-01T00:00:00+00:00"}


def graded(assessment_id, student_id, percent, at, submission_id="sub-1", school="jufe"):
    return make_event(SUBMISSION_GRADED, {
        **_work(assessment_id, student_id), "submission_id": submission_id, "attempt": 1,
        "submitted_at": at, "late": False, "days_late": 0, "on_time": True, "score": percent / 5,
        "raw_score": percent / 5, "max_score": 20, "percent": percent, "late_penalty": 0, "graded_at": at,
        "graded_by": "mentor-1", "counted_percent": percent}, school_id=school, actor="test")


def overridden(assessment_id, student_id, percent, at, school="jufe"):
    return make_event(GRADE_OVERRIDDEN, {
        "program_id": "p1", "assessment_id": assessment_id, "assessment_kind": "homework", "module": "m1",
        "student_id": student_id, "override_percent": percent, "reason": "appeal upheld",
        "overridden_by": "staff:t1", "overridden_at": at}, school_id=school, actor="test")


@pytest.fixture
def service(webhooks, monkeypatch):
    monkeypatch.setenv("PRAXIS_WEBHOOK_FIRST_RETRY_SECONDS", "0.1")  # read at each run of the timer
    monkeypatch.setenv("PRAXIS_WEBHOOK_MAX_RETRY_SECONDS", "0.3")
    return webhooks


def call(container, method, *args, caller=ADMIN):
    with entrypoint_hook(container, method) as hook:
        return hook(caller, *args)


def test_a_grading_reaches_the_linked_line_item_once_with_a_cached_token_after_the_platforms_failures(
        app, lms, service, rabbit_config, caplog):
    caplog.set_level(logging.INFO, logger="praxis.lti.grades")
    # the LMS launches the assessment's link (made by deep linking), naming its line item
    browser = app.test_client()
    response, form = launch(browser, lms, "stu-1", [LEARNER], custom={"praxis_target": "assessment:a5"},
                            lineitem="li-7")
    assert response.status_code == 302
    stu1 = whoami(browser)["acting"]["id"]  # the Praxis student the LMS user "stu-1" is
    other_browser = app.test_client()
    launch(other_browser, lms, "stu-2", [LEARNER])
    stu2 = whoami(other_browser)["acting"]["id"]
    lms.fail_scores = 2
    first = graded("a5", stu1, 85.0, "2026-04-01T10:00:00+00:00")
    for event in (first, first, graded("a5", stu2, 40.0, "2026-04-01T10:05:00+00:00", submission_id="sub-2"),
                  graded("a-unlinked", stu1, 99.0, "2026-04-01T10:00:00+00:00", submission_id="sub-9"),
                  # a student the LMS does not know (no launch, no roster) has no score to send there
                  graded("a5", "praxis-only", 10.0, "2026-04-01T10:06:00+00:00", submission_id="sub-3")):
        publish(rabbit_config, event)  # the first one twice: the bus redelivers

    eventually(lambda: len(lms.scores) == 2, timeout=30)
    by_user = {score["userId"]: (item, score) for item, score in lms.scores}
    assert by_user["stu-1"] == ("li-7", {"userId": "stu-1", "scoreGiven": 85.0, "scoreMaximum": 100,
                                        "activityProgress": "Completed", "gradingProgress": "FullyGraded",
                                        "timestamp": "2026-04-01T10:00:00+00:00"})
    assert lms.token_requests == 1  # one token served every post, retries included
    posts = eventually(lambda: (lambda found: found if len(found) == 2 else None)(
        call(service, "list_grade_posts", {"status": "posted"})["items"]), timeout=10)
    assert sum(p["attempts"] for p in posts) == 2 + 2  # the platform's two 503s were retried
    assert call(service, "list_grade_posts", {"status": "pending"})["items"] == []
    # staff override the grade: the LMS gets the override, newer than the grading
    publish(rabbit_config, overridden("a5", stu1, 95.0, "2026-04-02T08:00:00+00:00"))
    eventually(lambda: len(lms.scores) == 3, timeout=30)
    assert lms.scores[-1][1]["scoreGiven"] == 95.0 and lms.scores[-1][1]["timestamp"] == "2026-04-02T08:00:00+00:00"
    logged = [r for r in caplog.records if r.getMessage() == "grade posted"]
    assert {(r.user, r.platform_id, r.outcome) for r in logged} == {
        (stu1, lms.registered["id"], "posted"), (stu2, lms.registered["id"], "posted")}
    assert lms.scores[-1][1]["userId"] == "stu-1"
    assert len(call(service, "list_grade_posts", {})["items"]) == 3  # nothing queued for "praxis-only"
    tokens = list(get_db("webhooks").lti_tokens.find())
    assert tokens and not any(t["token"] in JsonFormatter().format(r) for r in caplog.records for t in tokens)


def test_another_schools_platform_never_receives_this_schools_grades(app, lms, platforms, service, rabbit_config):
    other = platforms(issuer="https://lms.other.edu", client_id="praxis-b", deployment_id="b-1")
    register(app, other, school="other-school")
    # school B's LMS links the same assessment id; its launch binds it for school B only
    launch(app.test_client(), other, "b-teacher", [INSTRUCTOR], custom={"praxis_target": "assessment:a5"},
           lineitem="b-li")
    browser = app.test_client()
    launch(browser, lms, "stu-1", [LEARNER], custom={"praxis_target": "assessment:a5"}, lineitem="li-7")
    publish(rabbit_config, graded("a5", whoami(browser)["acting"]["id"], 70.0, "2026-04-02T09:00:00+00:00"))
    eventually(lambda: len(lms.scores) == 1, timeout=30)
    assert other.scores == [] and call(service, "list_grade_posts", {}, caller=dict(ADMIN, school_id="other-school"))["items"] == []


def test_a_platform_that_refuses_for_a_day_leaves_a_failed_post_for_the_operator(
        app, lms, service, rabbit_config, monkeypatch):
    monkeypatch.setenv("PRAXIS_WEBHOOK_GIVE_UP_SECONDS", "1.5")
    browser = app.test_client()
    launch(browser, lms, "stu-1", [LEARNER], custom={"praxis_target": "assessment:a5"}, lineitem="li-7")
    student = whoami(browser)["acting"]["id"]
    lms.fail_scores = 10 ** 6
    publish(rabbit_config, graded("a5", student, 50.0, "2026-04-03T09:00:00+00:00"))
    [failed] = eventually(lambda: call(service, "list_grade_posts", {"status": "failed"})["items"], timeout=30)
    assert failed["last_status_code"] == 503 and failed["attempts"] >= 2 and failed["student_id"] == student
    # the LMS is fixed: the operator posts it again
    lms.fail_scores = 0
    assert call(service, "retry_grade_post", failed["id"])["status"] == "pending"
    eventually(lambda: len(lms.scores) == 1, timeout=30)
    assert lms.scores[0][1]["scoreGiven"] == 50.0
    with pytest.raises(NotFound):
        call(service, "retry_grade_post", failed["id"], caller=dict(ADMIN, school_id="other-school"))
