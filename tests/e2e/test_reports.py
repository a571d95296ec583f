"""The attendance matrix and a student's history over HTTP, against the records
the sessions produced (sign-ins, roll call, a replay), also as CSV."""
import csv
import io
from datetime import timedelta

import pytest

from tests.e2e.test_content import API, admit, create_session, iso, make_school, now, open_window, sign_in


@pytest.fixture(scope="module")
def school(client_for, system):
    return make_school(client_for, system)


def test_the_attendance_matrix_follows_the_records_and_counts_a_replay(school):
    admit(school, ["ma", "mb", "mc"])
    lecture = create_session(school, school.admin, title="Lecture")
    open_window(school, lecture["id"])
    assert sign_in(school, lecture["id"], "ma").status_code == 201
    earlier = now() - timedelta(hours=3)
    replay = create_session(school, school.admin, title="Replay", form="recorded", place=None,
                            replay_url="https://video.example.com/r", starts_at=iso(earlier),
                            ends_at=iso(earlier + timedelta(hours=1)))
    watched = school.lms.post(f"{API}/sessions/{replay['id']}/replay-progress",
                              json={"student_id": "mb", "watched_share": 0.95})
    assert watched.status_code == 200, watched.text

    response = school.admin.get(f"{API}/programs/{school.program_id}/attendance")
    assert response.status_code == 200, response.text
    report = response.json()
    order = [s["session_id"] for s in report["sessions"]]
    assert order.index(replay["id"]) < order.index(lecture["id"])  # by start
    cells = {row["student_id"]: dict(zip(order, row["cells"])) for row in report["students"]}
    assert cells["ma"][lecture["id"]] == "present" and cells["mb"][replay["id"]] == "watched_replay"
    assert cells["mc"][lecture["id"]] == "not_yet" and cells["mc"][replay["id"]] == "not_yet"
    # the cells say what the per-session records say
    records = school.admin.get(f"{API}/sessions/{lecture['id']}/attendance", params={"limit": 200}).json()["items"]
    assert {r["student_id"]: r["status"] for r in records} == {
        s: c[lecture["id"]] for s, c in cells.items() if c[lecture["id"]] != "not_yet"}
    totals = {s["session_id"]: s["totals"] for s in report["sessions"]}
    assert totals[lecture["id"]]["present"] == 1 and totals[replay["id"]]["watched_replay"] == 1

    status = school.admin.get(f"{API}/sessions/{replay['id']}/checkin-status").json()
    assert "mb" in status["watched_replay"] and "mb" not in status["not_signed_in"]

    history = school.lms.get(f"{API}/programs/{school.program_id}/students/mb/attendance").json()
    assert {s["session_id"]: s["status"] for s in history["sessions"]}[replay["id"]] == "watched_replay"

    exported = school.admin.get(f"{API}/programs/{school.program_id}/attendance.csv")
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:2] == ["student_id", "track"] and rows[0][-6:] == report["statuses"]
    assert {r[0] for r in rows[1:]} >= {"ma", "mb", "mc", "total present"}
    assert school.lms.get(f"{API}/programs/{school.program_id}/attendance").status_code == 403
