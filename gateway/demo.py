"""``praxis demo``: seed a running Praxis with a Platinum Cup through its own API,
the way a school, its LMS and a partner would, and print where to look.

It creates a school admin key and an LMS key, a programme with two tracks,
applications (with a running count), quiz scores, selection, teams, mentors and
tutors, and a session with its check-in window, where part of the students sign
in with the rotating code.
"""
import random
import sys
from datetime import date, datetime, timedelta, timezone

import requests
from tqdm import tqdm

from contracts.examples import platinum_cup
from gateway.auth import create_key

MAJORS = ["E-commerce", "International Trade", "Marketing", "Logistics", "English"]


class Api:
    def __init__(self, base_url, key, acting=None):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        if acting:  # the LMS says who acts: a student, or a member of staff
            self.session.headers["X-Acting-User"] = acting

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
    admin, lms = Api(base_url, admin_key), Api(base_url, lms_key, acting="staff:registrar")
    today = date.today()
    program = admin.call("POST", "/programs", json=programme(today))
    pid = program["id"]

    applications = []
    for n in tqdm(range(students), desc="applications", unit="student"):
        track = "undergraduate" if n % 3 else "vocational"
        applications.append(lms.call("POST", f"/programs/{pid}/applications", headers={
            "X-Acting-User": f"student:s{n:04d}"}, json={
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
        lms.call("POST", f"/sessions/{session['id']}/sign-ins", headers={
            "X-Acting-User": f"student:{application['student_id']}"}, json={
            "student_id": application["student_id"], "code": code,
            "device_id": f"phone-{application['student_id']}"})
        signed += 1

    out(f"seeded programme {pid}: {students} applications, {len(admitted)} admitted, "
        f"{teams} teams, {signed} signed in to session {session['id']}")
    out(f"admin key: {admin_key}")
    out(f"LMS key:   {lms_key}")
    out(f"try: curl -s {base_url}/api/v1/programs/{pid}/funnel -H 'Authorization: Bearer {admin_key}'")
    return {"program_id": pid, "session_id": session["id"], "admitted": len(admitted), "teams": teams,
            "signed_in": signed, "admin_key": admin_key}
