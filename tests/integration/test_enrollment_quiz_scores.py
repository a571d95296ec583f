"""The latest rules-quiz score is the one kept, on the real database: nx-27017 compares
datetimes (and text that looks like one) to the whole second, so a first attempt and
its retake handed in within the same second must still be told apart."""
from datetime import datetime, timedelta, timezone

from services.common.storage import connect
from services.enrollment.models import QuizScoreDoc
from services.enrollment.repository import EnrollmentRepository

FIRST = datetime(2026, 12, 2, 5, 7, 55, 500000, tzinfo=timezone.utc)


def test_an_earlier_attempt_of_the_same_second_does_not_replace_the_retake():
    connect("enrollment")
    repo = EnrollmentRepository()
    retake = FIRST + timedelta(milliseconds=300)
    assert repo.record_quiz_score("jufe:p1:bo", 100.0, "q1", retake)
    assert not repo.record_quiz_score("jufe:p1:bo", 42.86, "q1", FIRST)  # arrives late
    kept = repo.quiz_score("jufe:p1:bo")
    assert (kept["score"], kept["occurred_at"]) == (100.0, retake)


def test_a_retake_of_the_same_second_replaces_the_first_attempt():
    connect("enrollment")
    repo = EnrollmentRepository()
    assert repo.record_quiz_score("jufe:p1:ana", 42.86, "q1", FIRST)
    assert repo.record_quiz_score("jufe:p1:ana", 100.0, "q1", FIRST + timedelta(microseconds=1))
    assert repo.quiz_score("jufe:p1:ana")["score"] == 100.0


def test_a_score_kept_before_the_microsecond_key_is_replaced_by_a_later_one():
    connect("enrollment")
    repo = EnrollmentRepository()
    QuizScoreDoc._get_collection().insert_one(
        {"_id": "jufe:p1:cai", "score": 14.29, "quiz_id": "q1", "occurred_at": "2026-12-02T05:07:50.000000Z"})
    assert repo.record_quiz_score("jufe:p1:cai", 71.43, "q1", FIRST)
    assert repo.quiz_score("jufe:p1:cai")["score"] == 71.43
