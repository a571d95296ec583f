"""What a supervisor reads: the attendance matrix and a student's history follow
the records (a replay counts, a coming or recorded session is not_yet), and the
check-in status of a recorded session counts its replay watchers."""
from datetime import datetime, timedelta, timezone

import pytest

from contracts.errors import NotFound
from tests.unit.content.test_service import ADMIN, LMS, open_session, service  # noqa: F401  (fixture)


def recorded_session(service, *, ended=True):
    end = datetime.now(timezone.utc) - timedelta(hours=1 if ended else -1)
    return service.create_session(ADMIN, "p1", {
        "title": "Replay: listings", "module": "ops", "form": "recorded",
        "replay_url": "https://video.example.com/1",
        "starts_at": (end - timedelta(hours=1)).isoformat(), "ends_at": end.isoformat(),
        "instructor": {"id": "t1", "kind": "teacher"}})


def test_the_matrix_has_a_cell_per_student_and_session_with_totals(service):
    live, code = open_session(service)  # under way: the students without a record are not_yet
    service.sign_in(LMS, live["id"], {"student_id": "ann", "code": code})
    replay = recorded_session(service)
    service.replay_progress(LMS, replay["id"], {"student_id": "bob", "watched_share": 0.9})
    report = service.attendance_matrix(ADMIN, "p1")
    assert [s["session_id"] for s in report["sessions"]] == [replay["id"], live["id"]]  # by start
    cells = {row["student_id"]: row["cells"] for row in report["students"]}
    assert cells == {"ann": ["not_yet", "present"], "bob": ["watched_replay", "not_yet"],
                     "cat": ["not_yet", "not_yet"]}
    by_session = {s["session_id"]: s["totals"] for s in report["sessions"]}
    assert by_session[live["id"]]["present"] == 1 and by_session[live["id"]]["not_yet"] == 2
    assert by_session[replay["id"]]["watched_replay"] == 1
    ann = next(r for r in report["students"] if r["student_id"] == "ann")
    assert ann["totals"]["present"] == 1 and ann["totals"]["not_yet"] == 1
    assert report["totals"]["present"] == 1 and sum(report["totals"].values()) == 6


def test_a_students_history_lists_each_session_of_their_track(service):
    replay = recorded_session(service)
    service.replay_progress(LMS, replay["id"], {"student_id": "bob", "watched_share": 0.9})
    history = service.student_attendance(ADMIN, "p1", "bob")
    assert [(s["session_id"], s["status"]) for s in history["sessions"]] == [(replay["id"], "watched_replay")]
    assert history["totals"]["watched_replay"] == 1
    with pytest.raises(NotFound):
        service.student_attendance(ADMIN, "p1", "nobody")
    with pytest.raises(NotFound):
        service.attendance_matrix({**ADMIN, "school_id": "other"}, "p1")


def test_the_check_in_status_of_a_recorded_session_counts_the_replay_watchers(service):
    replay = recorded_session(service)
    service.replay_progress(LMS, replay["id"], {"student_id": "bob", "watched_share": 0.9})
    status = service.checkin_status(ADMIN, replay["id"])
    assert status["watched_replay"] == ["bob"] and status["attended"] == 1
    assert status["not_signed_in"] == ["ann", "cat"] and status["expected"] == 3
