"""A review of a session or a material, and a student's feedback, run twice by one
operation (the gateway's retry with the same Idempotency-Key after the first run's
reply was lost: content killed between its write and its answer) answer as the first
run and are applied once; another operation on the changed record still answers 409."""
from datetime import datetime, timedelta, timezone

import pytest

from contracts.content import FEEDBACK_SUBMITTED, MATERIAL_PUBLISHED, SESSION_SCHEDULED
from contracts.errors import Conflict
from services.content import service as service_module
from tests.unit.content.test_once import once
from tests.unit.content.test_service import ADMIN, LMS, PARTNER, event_types, scheduled_session, service  # noqa: F401


def test_a_session_review_run_again_by_the_same_operation_answers_the_review(service):  # noqa: F811
    proposed = scheduled_session(service, caller=PARTNER)
    caller = once(ADMIN, "op-review-session-1")
    first = service.review_session(caller, proposed["id"], {"decision": "approve"})
    again = service.review_session(caller, proposed["id"], {"decision": "approve"})
    assert again == first and first["status"] == "scheduled"
    assert event_types(service.store.sessions).count(SESSION_SCHEDULED.type) == 1
    with pytest.raises(Conflict):  # another operation: reviewed already
        service.review_session(once(ADMIN, "op-review-session-2"), proposed["id"], {"decision": "approve"})


def test_a_material_review_run_again_by_the_same_operation_answers_the_review(service):  # noqa: F811
    material = service.create_material(PARTNER, {"program_id": "p1", "module": "ops", "title": "Slides",
                                                 "kind": "slides", "body": "v1"})
    caller = once(ADMIN, "op-review-material-1")
    first = service.review_material(caller, material["id"], {"decision": "approve", "version": 1})
    again = service.review_material(caller, material["id"], {"decision": "approve", "version": 1})
    assert again == first and first["published_version"] == 1
    assert event_types(service.store.materials).count(MATERIAL_PUBLISHED.type) == 1
    with pytest.raises(Conflict):  # another operation: reviewed already
        service.review_material(once(ADMIN, "op-review-material-2"), material["id"],
                                {"decision": "approve", "version": 1})


def test_feedback_run_again_by_the_same_operation_answers_the_feedback(service, monkeypatch):  # noqa: F811
    session = scheduled_session(service)
    service.correct_attendance(ADMIN, session["id"], "ann", {"status": "present", "reason": "roll call"})
    later = datetime.now(timezone.utc) + timedelta(hours=2)  # the session has ended
    monkeypatch.setattr(service_module, "_now", lambda: later)
    body = {"student_id": "ann", "clarity": 5, "practical_value": 4, "pace": 3}
    caller = once(LMS, "op-feedback-1")
    first = service.submit_feedback(caller, session["id"], body)
    again = service.submit_feedback(caller, session["id"], body)
    assert again == first
    assert event_types(service.store.feedback) == [FEEDBACK_SUBMITTED.type]
    with pytest.raises(Conflict):  # another operation: given already
        service.submit_feedback(once(LMS, "op-feedback-2"), session["id"], body)
