"""An idle student's place goes to the waitlist, end to end: telemetry shows a student
silent past the grace period, the idle check asks for the platform account back
(account.reclaim_requested), enrollment releases the place and admits the first
waitlisted student of the track, once; incentives' idle penalty and a staff
adjustment reach the programme report's credits column."""
import csv
import io
import uuid
from datetime import datetime, timedelta, timezone

from tests.e2e.enrollment_helpers import applications, apply, create_programme, score, select
from tests.waiting import eventually

API = "/api/v1"


def login(record_id, account, days_ago):
    return {"record_id": record_id, "account_id": account, "kind": "login",
            "at": (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat()}


def test_an_idle_students_reclaimed_place_goes_to_the_first_waitlisted_student_once(client_for):
    school = f"reclaim-{uuid.uuid4().hex[:6]}"
    admin, lms = client_for(school, "admin"), client_for(school, "lms", acting="staff:registrar")
    program_id = create_programme(admin, capacity_ug=2, started_days_ago=30)
    apps = {s: apply(lms, program_id, s)["id"] for s in ("s0", "s1", "s2", "s3")}
    for student, value in zip(apps, (90, 80, 70, 65)):
        score(admin, apps[student], value)
    select(admin, program_id)
    status = {a["student_id"]: a["status"] for a in applications(admin, program_id)}
    assert status == {"s0": "admitted", "s1": "admitted", "s2": "waitlisted", "s3": "waitlisted"}

    rules = {"idle_days": 3, "grace_days": 2, "promote_waitlisted": True}
    eventually(lambda: admin.put(f"{API}/programs/{program_id}/supervision-rules", json=rules).status_code == 200,
               timeout=30)
    eventually(lambda: admin.get(f"{API}/programs/{program_id}/funnel").json()["stages"]["admitted"] == 2,
               timeout=30)
    mapped = admin.post(f"{API}/programs/{program_id}/platform-accounts", json={"accounts": [
        {"account_id": "acc-s0", "student_id": "s0"}, {"account_id": "acc-s1", "student_id": "s1"}]})
    assert mapped.status_code == 200, mapped.text
    # s0 was last on the platform 10 days ago (idle after 3, reclaimed after 3 + 2); s1 today
    posted = admin.post(f"{API}/programs/{program_id}/telemetry",
                        json={"records": [login("old-1", "acc-s0", 10), login("new-1", "acc-s1", 0)]})
    assert posted.status_code == 202, posted.text
    eventually(lambda: admin.get(f"{API}/programs/{program_id}/students/s0/activity").json()
               .get("platform_counts", {}).get("login") == 1, timeout=30)
    for student, amount in (("s0", 10), ("s1", 7)):
        adjusted = admin.post(f"{API}/credits/adjustments", json={
            "program_id": program_id, "student_id": student, "amount": amount, "reason": "helped a team"})
        assert adjusted.status_code == 201, adjusted.text

    checked = admin.post(f"{API}/programs/{program_id}/checks")
    assert checked.status_code == 200, checked.text
    # 1 and 1, unless the service's own timer claimed the spell a moment before
    assert checked.json()["idle"] <= 1 and checked.json()["reclaimed"] <= 1

    def promoted():
        now = {a["student_id"]: a for a in applications(admin, program_id)}
        return now if now["s2"]["status"] == "admitted" else None
    after = eventually(promoted, timeout=30)
    assert after["s0"]["status"] == "withdrawn" and "reclaimed" in after["s0"]["withdrawal_reason"]
    assert (after["s1"]["status"], after["s3"]["status"]) == ("admitted", "waitlisted")
    assert after["s2"]["promoted"] is True
    idle = admin.get(f"{API}/programs/{program_id}/idle-accounts").json()["items"]
    assert [(i["student_id"], i["reclaim_requested"]) for i in idle] == [("s0", True)]

    # the idle check again: the spell is handled; still one promotion, two admitted
    assert admin.post(f"{API}/programs/{program_id}/checks").json() == {"idle": 0, "reclaimed": 0}
    eventually(lambda: admin.get(f"{API}/programs/{program_id}/funnel").json()["stages"]["admitted"] == 3,
               timeout=30)
    admitted = applications(admin, program_id, status="admitted")
    assert sorted(a["student_id"] for a in admitted) == ["s1", "s2"]

    # credits: s0's +10 less the idle penalty (-5), s1's +7; nobody else has entries
    def credits():
        rows = {r["student_id"]: r["credits"] for r in admin.get(f"{API}/programs/{program_id}/report")
                .json()["students"]}
        return rows if rows.get("s0") == 5 and rows.get("s1") == 7 else None
    rows = eventually(credits, timeout=30)
    assert rows["s2"] is None and rows["s3"] is None
    table = admin.get(f"{API}/programs/{program_id}/report.csv")
    assert table.status_code == 200
    by_student = {r["student_id"]: r["credits"] for r in csv.DictReader(io.StringIO(table.text))}
    assert (by_student["s0"], by_student["s1"], by_student["s3"]) == ("5", "7", "")
