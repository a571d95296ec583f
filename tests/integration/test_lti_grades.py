"""Grade passback (LTI AGS) from the webhooks service to an LMS played by
lti1p3platform: the line item an assessment's launch names gets the score once
per grading, with a cached client-credentials token, after the platform's
failures; another school's platform never receives this school's grades.

The assessment events (submission.graded, grade.overridden) are not on main yet:
the service's ``queue_grade`` is what their handlers call, and this test calls it
through a small RPC of a test subclass.
"""
import logging

import pytest
from mongoengine.connection import get_db
from nameko.testing.services import entrypoint_hook

from services.common.rpc import rpc
from services.common.logs import JsonFormatter
from services.webhooks.service import WebhooksService
from tests.integration.lti_helpers import app, lms, platforms  # noqa: F401  (fixtures)
from tests.integration.lti_helpers import launch, register
from tests.lti_platform import INSTRUCTOR, LEARNER
from tests.waiting import eventually

ADMIN = {"school_id": "jufe", "role": "admin", "partner_id": None, "actor": "admin:k1", "correlation_id": "it-g",
         "acting": {"kind": None, "id": None}}


class GradingWebhooks(WebhooksService):
    @rpc
    def graded(self, caller, assessment_id, student_id, percent, at, grading_key):
        return self.queue_grade(caller["school_id"], assessment_id, student_id, percent, at, grading_key)


@pytest.fixture
def service(container_factory, rabbit_config, monkeypatch):
    monkeypatch.setenv("PRAXIS_WEBHOOK_FIRST_RETRY_SECONDS", "0.1")
    monkeypatch.setenv("PRAXIS_WEBHOOK_MAX_RETRY_SECONDS", "0.3")
    container = container_factory(GradingWebhooks, rabbit_config)
    container.start()
    return container


def call(container, method, *args, caller=ADMIN):
    with entrypoint_hook(container, method) as hook:
        return hook(caller, *args)


def test_a_grading_reaches_the_linked_line_item_once_with_a_cached_token_after_the_platforms_failures(
        app, lms, service, caplog):
    caplog.set_level(logging.INFO, logger="praxis.lti.grades")
    # the LMS launches the assessment's link (made by deep linking), naming its line item
    response, form = launch(app.test_client(), lms, "stu-1", [LEARNER], custom={"praxis_target": "assessment:a5"},
                            lineitem="li-7")
    assert response.status_code == 302
    lms.fail_scores = 2
    assert call(service, "graded", "a5", "stu-1", 85.0, "2026-04-01T10:00:00+00:00", "sub-1@t1") == 1
    assert call(service, "graded", "a5", "stu-1", 85.0, "2026-04-01T10:00:00+00:00", "sub-1@t1") == 0  # redelivered
    assert call(service, "graded", "a5", "stu-2", 40.0, "2026-04-01T10:05:00+00:00", "sub-2@t1") == 1
    assert call(service, "graded", "a-unlinked", "stu-1", 99.0, "2026-04-01T10:00:00+00:00", "x") == 0

    eventually(lambda: len(lms.scores) == 2, timeout=30)
    by_user = {score["userId"]: (item, score) for item, score in lms.scores}
    assert by_user["stu-1"] == ("li-7", {"userId": "stu-1", "scoreGiven": 85.0, "scoreMaximum": 100,
                                        "activityProgress": "Completed", "gradingProgress": "FullyGraded",
                                        "timestamp": "2026-04-01T10:00:00+00:00"})
    assert lms.token_requests == 1  # one token served every post, retries included
    posts = eventually(lambda: (lambda found: found if len(found) == 2 else None)(
        call(service, "list_grade_posts", {"status": "posted"})), timeout=10)
    assert sum(p["attempts"] for p in posts) == 2 + 2  # the platform's two 503s were retried
    assert call(service, "list_grade_posts", {"status": "pending"}) == []
    logged = [r for r in caplog.records if r.getMessage() == "grade posted"]
    assert {(r.user, r.platform_id, r.outcome) for r in logged} == {
        ("stu-1", lms.registered["id"], "posted"), ("stu-2", lms.registered["id"], "posted")}
    tokens = list(get_db("webhooks").lti_tokens.find())
    assert tokens and not any(t["token"] in JsonFormatter().format(r) for r in caplog.records for t in tokens)


def test_another_schools_platform_never_receives_this_schools_grades(app, lms, platforms, service):
    other = platforms(issuer="https://lms.other.edu", client_id="praxis-b", deployment_id="b-1")
    register(app, other, school="other-school")
    # school B's LMS links the same assessment id; its launch binds it for school B only
    launch(app.test_client(), other, "b-teacher", [INSTRUCTOR], custom={"praxis_target": "assessment:a5"},
           lineitem="b-li")
    launch(app.test_client(), lms, "stu-1", [LEARNER], custom={"praxis_target": "assessment:a5"}, lineitem="li-7")
    assert call(service, "graded", "a5", "stu-1", 70.0, "2026-04-02T09:00:00+00:00", "k1") == 1
    eventually(lambda: len(lms.scores) == 1, timeout=30)
    assert other.scores == [] and call(service, "list_grade_posts", {}, caller=dict(ADMIN, school_id="other-school")) == []


def test_a_platform_that_refuses_for_a_day_leaves_a_failed_post_for_the_operator(app, lms, service, monkeypatch):
    monkeypatch.setenv("PRAXIS_WEBHOOK_GIVE_UP_SECONDS", "1.5")
    launch(app.test_client(), lms, "stu-1", [LEARNER], custom={"praxis_target": "assessment:a5"}, lineitem="li-7")
    lms.fail_scores = 10 ** 6
    call(service, "graded", "a5", "stu-1", 50.0, "2026-04-03T09:00:00+00:00", "k2")
    [failed] = eventually(lambda: call(service, "list_grade_posts", {"status": "failed"}), timeout=30)
    assert failed["last_status_code"] == 503 and failed["attempts"] >= 2 and failed["student_id"] == "stu-1"
