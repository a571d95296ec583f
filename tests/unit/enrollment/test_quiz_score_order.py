"""Two rules-quiz scores of one student handled at the same time (a retake scored
while the first attempt's score is still being applied): the later one is the
application's score, whatever the order the handlers write in."""
from datetime import timedelta

from tests.unit.enrollment.test_enrollment_service import (ADMIN, NOW, apply, programme, quiz,  # noqa: F401
                                                           service)


def test_a_retake_handled_while_the_first_attempt_is_applied_is_the_score_that_counts(service):
    pid = programme(service)
    app = apply(service, pid, "bo")
    first, retake = quiz(pid, "bo", 42.86, NOW), quiz(pid, "bo", 100.0, NOW + timedelta(seconds=5))
    store, read = service.store, service.store.live_application

    def read_then_the_retake_runs(*args):
        found = read(*args)  # the first attempt's handler has read the application...
        store.live_application = read
        service.on_quiz_scored(retake)  # ...when the retake's handler runs from start to end
        return found
    store.live_application = read_then_the_retake_runs
    service.on_quiz_scored(first)
    stored = service.get_application(ADMIN, app["id"])
    assert (stored["status"], stored["score"], stored["score_source"]) == ("screened", 100.0, "quiz")


def test_a_later_score_by_hand_still_wins_over_the_quiz(service):
    pid = programme(service)
    app = apply(service, pid, "bo")
    service.on_quiz_scored(quiz(pid, "bo", 70.0, NOW))
    service.record_screening_score(ADMIN, app["id"], {"score": 55})  # the clock is past NOW
    service.on_quiz_scored(quiz(pid, "bo", 90.0, NOW + timedelta(seconds=1)))
    assert service.get_application(ADMIN, app["id"])["score"] == 55
