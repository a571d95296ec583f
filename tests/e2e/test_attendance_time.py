"""Attendance is bound to the session's time (issue 7, point 2): a check-in window opens
only from the programme's lead time before the start to the end and closes by itself at
the end; sign-ins and roll calls after the end are refused with the reason; only staff
corrections change a past session's records."""
from datetime import timedelta

import pytest

from tests.e2e.test_content import API, admit, code_of, create_session, iso, make_school, now, sign_in, student
from tests.waiting import eventually


@pytest.fixture(scope="module")
def school(client_for, system):
    school = make_school(client_for, system)
    admit(school, ["ada", "ben"])
    return school


def window(school, session_id):
    return school.admin.post(f"{API}/sessions/{session_id}/checkin-window", json={"minutes": 240, "period_seconds": 60})


def test_no_window_opens_for_a_session_days_ahead_or_one_that_ended(school):
    ahead = create_session(school, school.admin, starts_at=iso(now() + timedelta(days=2)),
                           ends_at=iso(now() + timedelta(days=2, hours=2)))
    refused = window(school, ahead["id"])
    assert refused.status_code == 422 and refused.json()["errors"] == {"window": ["too_early"]}
    assert "30 minutes before" in refused.json()["detail"]  # the programme's default lead time
    ended = create_session(school, school.admin, starts_at=iso(now() - timedelta(days=1, hours=2)),
                           ends_at=iso(now() - timedelta(days=1)))
    refused = window(school, ended["id"])
    assert refused.status_code == 422 and refused.json()["errors"] == {"window": ["session_ended"]}
    for session in (ahead, ended):
        assert school.admin.get(f"{API}/sessions/{session['id']}/attendance").json() == []


def test_a_window_opens_within_the_lead_time_and_closes_at_the_sessions_end(school):
    soon = create_session(school, school.admin, starts_at=iso(now() + timedelta(minutes=20)),
                          ends_at=iso(now() + timedelta(minutes=80)))
    opened = window(school, soon["id"])  # 240 minutes asked: cut at the end
    assert opened.status_code == 201, opened.text
    assert opened.json()["closes_at"] == soon["ends_at"]
    assert sign_in(school, soon["id"], "ada").json()["status"] == "present"


def test_sign_ins_and_roll_calls_after_the_end_are_refused_and_staff_correct_instead(school):
    ending = create_session(school, school.admin, starts_at=iso(now() - timedelta(hours=1)),
                            ends_at=iso(now() + timedelta(seconds=4)))
    assert window(school, ending["id"]).status_code == 201
    code = code_of(school, ending["id"])

    # the window closes by itself at the end
    eventually(lambda: not school.admin.get(f"{API}/sessions/{ending['id']}/checkin-status").json()["window_open"],
               timeout=30)
    late = sign_in(school, ending["id"], "ben", code=code)
    assert late.status_code == 422 and late.json()["errors"] == {"sign_in": ["session_ended"]}
    assert "ended" in late.json()["detail"]
    roll_call = school.lms.post(f"{API}/sessions/{ending['id']}/roll-call", json={"present": ["ben"]})
    assert roll_call.status_code == 422 and roll_call.json()["errors"] == {"session": ["session_ended"]}
    assert school.admin.get(f"{API}/sessions/{ending['id']}/attendance").json() == []
    corrected = school.admin.patch(f"{API}/sessions/{ending['id']}/attendance/ben",
                                   json={"status": "present", "reason": "paper sheet"})
    assert corrected.status_code == 200 and corrected.json()["history"][0]["reason"] == "paper sheet"
    # a late record no longer makes feedback possible by itself: only what staff recorded counts
    rating = {"student_id": "ada", "clarity": 4, "practical_value": 4, "pace": 4}
    assert student(school, "ada").post(f"{API}/sessions/{ending['id']}/feedback", json=rating).status_code == 422
