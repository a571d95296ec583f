"""Supervision through the gateway: a scripted programme (applications, selection,
a mentor of the partner, a session) with platform telemetry posted by the partner,
the funnel, the students of a stage, platform accounts and who may read what."""
import uuid
from datetime import datetime, timedelta, timezone

from tests.e2e.enrollment_helpers import apply, create_programme, score, select
from tests.waiting import eventually

API = "/api/v1"


def now():
    return datetime.now(timezone.utc)


def records(prefix, account, n, kind="login", start=None):
    start = start or now()
    return [{"record_id": f"{prefix}-{i}", "account_id": account, "kind": kind,
             "at": (start + timedelta(seconds=i)).isoformat()} for i in range(n)]


def test_a_scripted_programme_with_telemetry_fills_the_funnel(client_for):
    school, partner_id = f"sup-{uuid.uuid4().hex[:6]}", f"xmall-{uuid.uuid4().hex[:4]}"
    admin, lms = client_for(school, "admin"), client_for(school, "lms", acting="staff:registrar")
    partner, stranger = client_for(school, "partner", partner_id), client_for(school, "partner", "other-co")
    program_id = create_programme(admin, capacity_ug=3)
    # asked for at once: the programme exists, so its funnel is empty, not 404
    funnel = admin.get(f"{API}/programs/{program_id}/funnel")
    assert funnel.status_code == 200, funnel.text
    assert funnel.json()["stages"]["submitting"] is None
    assert funnel.json()["notes"]["finished"] == "not tracked yet"

    for student, quiz in (("s1", 90), ("s2", 80), ("s3", 70), ("s4", 60)):
        score(admin, apply(lms, program_id, student)["id"], quiz)
    select(admin, program_id)
    mentor = admin.post(f"{API}/programs/{program_id}/mentors",
                        json={"name": "Mentor Wang", "partner_id": partner_id, "max_load": 3})
    assert mentor.status_code == 201, mentor.text
    start = now() - timedelta(hours=1)
    session = admin.post(f"{API}/programs/{program_id}/sessions", json={
        "title": "Opening a store", "module": "store", "form": "offline_lecture", "place": "Room 1",
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        "instructor": {"id": "teacher-li", "kind": "teacher"}})
    assert session.status_code == 201, session.text

    # a partner that does not work with the programme cannot post its telemetry
    refused = stranger.post(f"{API}/programs/{program_id}/telemetry", json={"records": records("z", "a", 1)})
    assert refused.status_code == 404
    batch = records("r", "acc-s1", 3) + records("q", "acc-s2", 2) + [
        {"record_id": "bad-1", "account_id": "acc-s1", "kind": "teleport", "at": now().isoformat()},
        {"record_id": "bad-2", "account_id": "acc-s1", "kind": "login"}]
    posted = partner.post(f"{API}/programs/{program_id}/telemetry", json={"records": batch})
    assert posted.status_code == 202, posted.text
    body = posted.json()
    assert body["accepted"] == 5 and body["batch_id"]
    assert [(b["index"], b["reason"].split(":")[0]) for b in body["rejected"]] == [(5, "kind"), (6, "at")]
    again = partner.post(f"{API}/programs/{program_id}/telemetry", json={"records": batch[:5]})
    assert again.status_code == 202

    def account_counts():
        response = partner.get(f"{API}/programs/{program_id}/platform-accounts")
        items = {a["account_id"]: a for a in response.json()["items"]}
        return items if len(items) == 2 else None
    accounts = eventually(account_counts, timeout=30)
    assert accounts["acc-s1"]["counts"] == {"login": 3} and accounts["acc-s1"]["student_id"] is None

    mapped = partner.post(f"{API}/programs/{program_id}/platform-accounts", json={"accounts": [
        {"account_id": "acc-s1", "student_id": "s1"}, {"account_id": "acc-s2", "student_id": "s2"}]})
    assert mapped.status_code == 200, mapped.text
    assert mapped.json() == {"mapped": 2, "unmapped": 0}

    def stages():
        response = admin.get(f"{API}/programs/{program_id}/funnel")
        return response.json()["stages"] if response.json()["stages"]["active"] == 2 else None
    reached = eventually(stages, timeout=30)
    assert (reached["registered"], reached["admitted"], reached["active"]) == (4, 3, 2)
    active = admin.get(f"{API}/programs/{program_id}/funnel/active/students").json()
    assert [s["student_id"] for s in active["items"]] == ["s1", "s2"]

    # who may read what: the LMS acting for s1 reads s1 only; partners read no reports
    own = lms.get(f"{API}/programs/{program_id}/students/s1/activity", headers={"X-Acting-User": "student:s1"})
    assert own.status_code == 200 and own.json()["platform_counts"]["login"] == 3
    other = lms.get(f"{API}/programs/{program_id}/students/s2/activity", headers={"X-Acting-User": "student:s1"})
    assert other.status_code == 403
    assert partner.get(f"{API}/programs/{program_id}/report").status_code == 403
    elsewhere = client_for(f"other-{school}", "admin")
    assert elsewhere.get(f"{API}/programs/{program_id}/funnel").status_code == 404
    assert elsewhere.get(f"{API}/programs/{program_id}/report").status_code == 404

    report = admin.get(f"{API}/programs/{program_id}/report").json()
    rows = {r["student_id"]: r for r in report["students"]}
    assert rows["s1"]["stage"] == "active" and rows["s1"]["platform_activity"] == 3
    csv = admin.get(f"{API}/programs/{program_id}/report.csv")
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("student_id,track,team_id,stage")
    assert len(csv.text.splitlines()) == 1 + len(rows)


def test_a_batch_without_a_good_record_or_over_the_limit_is_refused(client_for):
    admin = client_for(f"sup-{uuid.uuid4().hex[:6]}", "admin")
    program_id = create_programme(admin)
    bad = admin.post(f"{API}/programs/{program_id}/telemetry",
                     json={"records": [{"record_id": "x", "account_id": "a", "kind": "login", "at": "yesterday"}]})
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"
    too_many = admin.post(f"{API}/programs/{program_id}/telemetry", json={"records": [{}] * 5001})
    assert too_many.status_code == 422
    assert admin.post(f"{API}/programs/{uuid.uuid4().hex}/telemetry",
                      json={"records": records("r", "a", 1)}).status_code == 404
