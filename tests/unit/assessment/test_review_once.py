"""A review of a partner's proposal run twice by one operation (the gateway's retry
with the same Idempotency-Key after the first run's reply was lost) answers as the
first run and publishes once; another operation on the reviewed proposal is a 409."""
import pytest

from contracts.assessment import ASSESSMENT_PUBLISHED
from contracts.errors import Conflict
from tests.unit.assessment.test_service import ADMIN, PARTNER, clock, create, events, service  # noqa: F401


def test_a_review_run_again_by_the_same_operation_answers_the_review(service):  # noqa: F811
    proposal = create(service, PARTNER, kind="homework")
    caller = {**ADMIN, "operation_id": "op-review-1"}
    first = service.review_assessment(caller, proposal["id"], {"decision": "approve"})
    again = service.review_assessment(caller, proposal["id"], {"decision": "approve"})
    assert again == first and first["status"] == "published"
    assert len(events(service.store.assessments, ASSESSMENT_PUBLISHED)) == 1
    with pytest.raises(Conflict):  # another operation: reviewed already
        service.review_assessment({**ADMIN, "operation_id": "op-review-2"}, proposal["id"], {"decision": "approve"})
