"""A grade run twice by one operation (the gateway's retry with the same
Idempotency-Key after the first run's reply was lost: assessment SIGKILLed between
its write and its answer, as tests/chaos/test_domains.py finds) is recorded once."""
from contracts.assessment import SUBMISSION_GRADED
from tests.unit.assessment.test_service import ADMIN, clock, events, homework, service  # noqa: F401  (fixtures)


def test_a_grade_run_again_by_the_same_operation_is_recorded_once(service, clock):  # noqa: F811
    _, submission = homework(service, clock)
    caller = {**ADMIN, "operation_id": "op-grade-1"}
    first = service.grade(caller, submission["id"], {"levels": {"listing": "good", "pricing": "good"}})
    again = service.grade(caller, submission["id"], {"levels": {"listing": "good", "pricing": "good"}})
    assert again == first
    assert len(events(service.store.submissions, SUBMISSION_GRADED)) == 1
