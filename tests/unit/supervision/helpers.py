"""Events as the other services publish them, for supervision's unit tests."""
from datetime import datetime, timedelta, timezone

from contracts.assessment import (ASSESSMENT_PUBLISHED, COMPETITION_SCORE_RECORDED, DEADLINE_MISSED,
                                  SUBMISSION_RECEIVED)
from contracts.content import ATTENDANCE_RECORDED, SESSION_SCHEDULED
from contracts.enrollment import (APPLICATION_SUBMITTED, MENTOR_ASSIGNED, PROGRAM_CREATED, STUDENT_ADMITTED,
                                  TEAM_FORMED, TUTOR_ASSIGNED)
from contracts.events import make_event, parse_event
from contracts.supervision import TELEMETRY_INGESTED

START = datetime(2026, 3, 1, tzinfo=timezone.utc)
ADMIN = {"school_id": "jufe", "role": "admin", "key_id": "k1", "actor": "admin:k1",
         "acting": {"kind": None, "id": None}}


def event(event_type, payload, school_id="jufe", at=START):
    return parse_event(make_event(event_type, payload, school_id=school_id, actor="test", occurred_at=at))


def program_created(program_id="p1", school_id="jufe"):
    return event(PROGRAM_CREATED, {
        "program_id": program_id, "name": "Platinum Cup 2026", "season": "2026",
        "starts_on": "2026-03-01", "ends_on": "2026-06-30",
        "tracks": [{"key": "undergraduate", "name": "UG", "platform": "X-Mall", "capacity": 40}],
    }, school_id, at=datetime(2026, 2, 1, tzinfo=timezone.utc))


def registered(student_id, program_id="p1"):
    return event(APPLICATION_SUBMITTED, {"program_id": program_id, "student_id": student_id,
                                         "application_id": f"a-{student_id}", "track": "undergraduate",
                                         "name": student_id})


def admitted(student_id, program_id="p1", at=START):
    return event(STUDENT_ADMITTED, {"program_id": program_id, "student_id": student_id,
                                    "application_id": f"a-{student_id}", "track": "undergraduate",
                                    "reason": "rank 1"}, at=at)


def attended(student_id, session_id="s1", status="present", program_id="p1"):
    return event(ATTENDANCE_RECORDED, {"program_id": program_id, "student_id": student_id,
                                       "session_id": session_id, "status": status, "source": "checkin"})


def session(session_id, starts_at, program_id="p1", hours=2):
    return event(SESSION_SCHEDULED, {
        "session_id": session_id, "program_id": program_id, "title": f"Session {session_id}", "module": "m1",
        "form": "live_online", "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timedelta(hours=hours)).isoformat(), "instructor_id": "i1", "tracks": []})


def team(team_id, members, mentor="m1", tutor="t1", program_id="p1"):
    return [event(TEAM_FORMED, {"team_id": team_id, "program_id": program_id, "track": "undergraduate",
                                "name": team_id, "members": members}),
            event(MENTOR_ASSIGNED, {"team_id": team_id, "program_id": program_id, "mentor_id": mentor,
                                    "partner_id": "xmall"}),
            event(TUTOR_ASSIGNED, {"team_id": team_id, "program_id": program_id, "tutor_id": tutor})]


def telemetry(records, batch_id="b1", program_id="p1"):
    """``records``: (record_id, account_id, kind, at)."""
    return event(TELEMETRY_INGESTED, {"batch_id": batch_id, "program_id": program_id, "partner_id": "xmall",
                                      "records": [{"record_id": r, "account_id": a, "kind": k, "at": t.isoformat()}
                                                  for r, a, k, t in records]})


def assessment(assessment_id, kind="homework", program_id="p1"):
    deadline = START + timedelta(days=14)
    return event(ASSESSMENT_PUBLISHED, {
        "program_id": program_id, "assessment_id": assessment_id, "assessment_kind": kind, "module": "m1",
        "title": f"Homework {assessment_id}", "tracks": [], "opens_at": START.isoformat(),
        "deadline": deadline.isoformat(), "max_attempts": 1, "weight": 1.0, "max_score": 100.0,
        "late_accepted": False, "late_penalty_per_day": 0.0, "late_penalty_cap": 0.0})


def _work(assessment_id, student_id, program_id="p1"):
    return {"program_id": program_id, "assessment_id": assessment_id, "assessment_kind": "homework",
            "module": "m1", "student_id": student_id, "deadline": (START + timedelta(days=14)).isoformat()}


def submission(assessment_id, student_id, program_id="p1"):
    return event(SUBMISSION_RECEIVED, {**_work(assessment_id, student_id, program_id),
                                       "submission_id": f"{assessment_id}-{student_id}", "attempt": 1,
                                       "submitted_at": (START + timedelta(days=3)).isoformat(), "late": False,
                                       "days_late": 0, "on_time": True})


def missed(assessment_id, student_id, program_id="p1"):
    return event(DEADLINE_MISSED, {**_work(assessment_id, student_id, program_id), "max_score": 100.0,
                                   "weight": 1.0})


def competition(student_ids, program_id="p1"):
    return event(COMPETITION_SCORE_RECORDED, {
        "program_id": program_id, "assessment_id": "cup", "module": "final", "run_id": "run-1",
        "entry_id": "e1", "student_ids": student_ids, "score": 80.0, "max_score": 100.0, "percent": 80.0,
        "revision": 1, "corrected": False, "recorded_at": (START + timedelta(days=20)).isoformat()})


def account_pages(service, unmapped=False, size=2):
    """Every page of the accounts list, ``size`` at a time: (account, student, counts) rows."""
    seen, offset = [], 0
    while True:
        page = service.list_accounts(ADMIN, "p1", {"limit": size, "offset": offset, "unmapped": unmapped})
        seen += [(a["account_id"], a["student_id"], a["counts"]) for a in page["items"]]
        if not page["has_more"]:
            return seen
        offset += size
