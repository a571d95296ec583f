"""``praxis demo``: seed a running Praxis with a Platinum Cup through its own API,
the way a school, its LMS and a partner would, and print where to look.

It creates a school admin key and an LMS key, a programme with two tracks,
applications (with a running count), quiz scores, selection, teams, mentors and
tutors, and a session with its check-in window, where part of the students sign
in with the rotating code; then the partner's platform telemetry, with two students
idle on the platform (alerts to their mentor and tutor, one account reclaimed), and
a signed link to the staff dashboard.
"""
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone

import requests
from tqdm import tqdm

from contracts.examples import platinum_cup
from gateway.auth import create_key

MAJORS = ["E-commerce", "International Trade", "Marketing", "Logistics", "English"]


class Api:
    def __init__(self, base_url, key):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def call(self, method, path, **kwargs):
        response = self.session.request(method, f"{self.base_url}/api/v1{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            sys.exit(f"praxis demo: {method} {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()


def programme(today):
    return platinum_cup(f"Platinum Cup {today.year} (demo)", starts_on=today, days=90, lock_after_days=30,
                        description="Cross-border e-commerce competition training, run with enterprise partners.",
                        team_size={"min": 3, "max": 5},
                        credit_rules={"attendance": 2, "homework": 5, "idle_penalty": -5})


def seed(base_url, school, students, seed_value=2020, db=None, out=print):
    rng = random.Random(seed_value)
    admin_key = create_key(school, "admin", name="demo admin", db=db)
    lms_key = create_key(school, "lms", name="demo LMS", db=db)
    admin, lms = Api(base_url, admin_key), Api(base_url, lms_key)
    today = date.today()
    program = admin.call("POST", "/programs", json=programme(today))
    pid = program["id"]

    applications = []
    for n in tqdm(range(students), desc="applications", unit="student"):
        track = "undergraduate" if n % 3 else "vocational"
        applications.append(lms.call("POST", f"/programs/{pid}/applications", json={
            "student_id": f"s{n:04d}", "name": f"Student {n:04d}", "track": track,
            "major": rng.choice(MAJORS), "year_of_study": rng.randint(1, 4),
            "prior_courses": ["Introduction to e-commerce"], "motivation": "I want to run a store"}))
    for application in tqdm(applications, desc="quiz scores", unit="student"):
        admin.call("PUT", f"/applications/{application['id']}/screening-score",
                   json={"score": round(rng.uniform(40, 100), 1), "note": "rules quiz"})
    admin.call("POST", f"/programs/{pid}/selection", json={})
    admitted = [a for a in lms.call("GET", f"/programs/{pid}/applications",
                                    params={"status": "admitted", "limit": 200})["items"]]
    by_track = {}
    for application in admitted:
        by_track.setdefault(application["track"], []).append(application["student_id"])
    teams = 0
    for track, members in by_track.items():
        for start in range(0, len(members) - 2, 4):
            group = members[start:start + 4]
            if len(group) >= 3:
                lms.call("POST", f"/programs/{pid}/teams", json={
                    "name": f"{track[:3].title()} team {teams + 1}", "track": track, "members": group})
                teams += 1
    for n in range(max(1, teams // 3 + 1)):
        admin.call("POST", f"/programs/{pid}/mentors", json={
            "name": f"Mentor {n + 1}", "partner_id": "x-mall", "max_load": 4})
        admin.call("POST", f"/programs/{pid}/tutors", json={"name": f"Tutor {n + 1}", "max_load": 4})
    admin.call("POST", f"/programs/{pid}/assignments", json={})

    now = datetime.now(timezone.utc)
    session = admin.call("POST", f"/programs/{pid}/sessions", json={
        "title": "Store operations on X-Mall", "module": "store-operations", "form": "offline_lecture",
        "place": "Teaching building A, room 101", "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "instructor": {"id": "teacher-1", "kind": "teacher"}})
    admin.call("POST", f"/sessions/{session['id']}/checkin-window", json={"minutes": 30, "period_seconds": 30})
    signed = 0
    for application in tqdm(admitted[: len(admitted) * 3 // 4], desc="sign-ins", unit="student"):
        code = admin.call("GET", f"/sessions/{session['id']}/checkin-code")["code"]
        lms.call("POST", f"/sessions/{session['id']}/sign-ins", json={
            "student_id": application["student_id"], "code": code,
            "device_id": f"phone-{application['student_id']}"})
        signed += 1

    idle = platform_activity(base_url, school, pid, admin, [a["student_id"] for a in admitted], rng, db)

    out(f"seeded programme {pid}: {students} applications, {len(admitted)} admitted, "
        f"{teams} teams, {signed} signed in to session {session['id']}")
    out(f"platform telemetry from x-mall; idle on the platform: {', '.join(idle) or 'nobody'}")
    link = admin.call("POST", f"/programs/{pid}/dashboard-link")["url"]
    out(f"staff dashboard: {base_url}{link}")
    out(f"admin key: {admin_key}")
    out(f"LMS key:   {lms_key}")
    out(f"try: curl -s {base_url}/api/v1/programs/{pid}/funnel -H 'Authorization: Bearer {admin_key}'")
    return {"program_id": pid, "session_id": session["id"], "admitted": len(admitted), "teams": teams,
            "signed_in": signed, "admin_key": admin_key, "idle": idle}


KINDS = ["login", "product_listed", "order_handled", "marketing_action", "after_sales_action"]


def platform_activity(base_url, school, pid, admin, students, rng, db=None):
    """The partner (x-mall, whose mentors work with the programme) maps its platform
    accounts and posts a batch of activity; two students were last active long ago, so
    the idle check (run at once here) finds them, alerts their mentor and tutor, and asks
    for one account back. Returns the idle students."""
    partner = Api(base_url, create_key(school, "partner", partner_id="x-mall", name="demo partner", db=db))
    admin.call("PUT", f"/programs/{pid}/supervision-rules", json={"idle_days": 3, "grace_days": 2})
    partner.call("POST", f"/programs/{pid}/platform-accounts", json={"accounts": [
        {"account_id": f"xm-{s}", "student_id": s} for s in students]})
    now = datetime.now(timezone.utc)
    idle = students[-2:] if len(students) > 3 else []
    records = []
    for s in students:
        if s in idle:  # last seen 4 and 8 days ago: idle, the second past its grace period too
            ago = [timedelta(days=4), timedelta(days=8)][idle.index(s)]
            records.append({"record_id": f"{s}-old", "account_id": f"xm-{s}", "kind": "login",
                            "at": (now - ago).isoformat()})
            continue
        for n in range(rng.randint(2, 8)):
            records.append({"record_id": f"{s}-{n}", "account_id": f"xm-{s}", "kind": rng.choice(KINDS),
                            "at": (now - timedelta(minutes=rng.randint(1, 600))).isoformat()})
    partner.call("POST", f"/programs/{pid}/telemetry", json={"records": records})
    for _ in range(100):  # until supervision has projected the batch
        mapped = partner.call("GET", f"/programs/{pid}/platform-accounts")["items"]
        if sum(sum(a["counts"].values()) for a in mapped) >= len(records):
            break
        time.sleep(0.2)
    admin.call("POST", f"/programs/{pid}/checks")
    return idle
