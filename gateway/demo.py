"""``praxis demo``: seed a running Praxis with a Platinum Cup through its own API,
the way a school, its LMS and a partner would, and print where to look.

It creates a school admin key and an LMS key, a programme with two tracks,
applications (with a running count), quiz scores, selection, teams, mentors and
tutors, a session with its check-in window, where part of the students sign
in with the rotating code, and a quiz from the question bank and a homework with a
rubric, with attempts, submissions and a few graded ones in the gradebook; the
incentives side: a credit exchange catalogue, a badge for the first credits, the
credits the sign-ins earn (the default rules), a redemption and the leaderboard; and
the partner's platform telemetry, with two students idle on the platform (alerts to
their mentor and tutor, one account reclaimed), and a signed link to the staff dashboard.
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
    def __init__(self, base_url, key, acting=None):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        if acting:  # the LMS says who acts: a student, or a member of staff
            self.session.headers["X-Acting-User"] = acting

    def call(self, method, path, wait_for_events=0, **kwargs):
        """``wait_for_events``: seconds to retry a 403/404 while a service still
        learns of the programme or its students from another service's events."""
        give_up = time.monotonic() + wait_for_events
        response = self.session.request(method, f"{self.base_url}/api/v1{path}", timeout=30, **kwargs)
        while response.status_code in (403, 404) and time.monotonic() < give_up:
            time.sleep(0.2)
            response = self.session.request(method, f"{self.base_url}/api/v1{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            sys.exit(f"praxis demo: {method} {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def finish(self, job, poll=0.2):
        """Follow a job (202 answers: selection, imports) until it has finished."""
        while job["state"] not in ("succeeded", "failed"):
            time.sleep(poll)
            job = self.call("GET", f"/jobs/{job['id']}")
        if job["state"] == "failed":
            sys.exit(f"praxis demo: job {job['id']} failed: {job['error']}")
        return job


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
    admin.finish(admin.call("POST", f"/programs/{pid}/selection", json={}))
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

    # (wait_for_events: incentives learns of the programme from enrollment's event)
    catalogue = [admin.call("POST", f"/programs/{pid}/catalogue", json=item, wait_for_events=30) for item in (
        {"name": "1 academic credit hour", "description": "Recorded by the academic office", "price": 100,
         "stock": 20, "per_student_limit": 2},
        {"name": "Company visit to X-Mall", "description": "A day at the partner's operations centre",
         "price": 5, "stock": 10, "per_student_limit": 1})]
    admin.call("POST", f"/programs/{pid}/badges", wait_for_events=30, json={
        "key": "first-credits", "name": "First credits", "description": "Took part in a training session",
        "criteria": "Earn 5 lifetime credits (e.g. attend a session)",
        "condition": {"kind": "lifetime_at_least", "at_least": 5}})

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

    work = assessments(admin, lms, pid, [a["student_id"] for a in admitted], rng, now)
    credits = _incentives(admin, lms, pid, admitted[0]["student_id"] if signed else None, catalogue[1]["id"])
    idle = platform_activity(base_url, school, pid, admin, [a["student_id"] for a in admitted], rng, db)

    out(f"seeded programme {pid}: {students} applications, {len(admitted)} admitted, "
        f"{teams} teams, {signed} signed in to session {session['id']}, "
        f"{work['quiz_attempts']} quiz attempts, {work['graded']} homework graded")
    if credits["badge_url"]:
        out(f"credits: {credits['leader']} leads; a badge (Open Badges 2.0): {credits['badge_url']}")
    out(f"platform telemetry from x-mall; idle on the platform: {', '.join(idle) or 'nobody'}")
    link = admin.call("POST", f"/programs/{pid}/dashboard-link")["url"]
    out(f"staff dashboard: {base_url}{link}")
    out(f"admin key: {admin_key}")
    out(f"LMS key:   {lms_key}")
    out(f"try: curl -s {base_url}/api/v1/programs/{pid}/funnel -H 'Authorization: Bearer {admin_key}'")
    out(f"     curl -s {base_url}/api/v1/programs/{pid}/leaderboard -H 'Authorization: Bearer {admin_key}'")
    return {"program_id": pid, "session_id": session["id"], "admitted": len(admitted), "teams": teams,
            "signed_in": signed, "admin_key": admin_key, "idle": idle, **work, **credits}


DEMO_QUESTIONS = [
    {"id": "platform", "kind": "single_choice", "text": "Where does the undergraduate track sell?", "points": 2,
     "options": [{"id": "xmall", "text": "X-Mall", "correct": True}, {"id": "ourmall", "text": "Our Mall"},
                 {"id": "amazon", "text": "Amazon (the simulation only)"}]},
    {"id": "allowed", "kind": "multiple_choice", "text": "Which promotions are allowed?", "points": 2,
     "options": [{"id": "ads", "text": "Paid ads", "correct": True},
                 {"id": "coupons", "text": "Store coupons", "correct": True},
                 {"id": "reviews", "text": "Buying reviews"}]},
    {"id": "idle", "kind": "true_false", "text": "An account idle for two weeks is reclaimed", "answer": True},
    {"id": "margin", "kind": "numeric", "text": "The target gross margin, in percent", "value": 25, "tolerance": 1},
    {"id": "currency", "kind": "short_text", "text": "The settlement currency", "accepted": ["US dollar", "USD"]},
]
DEMO_RUBRIC = {"criteria": [
    {"id": "listing", "title": "Product listing", "levels": [
        {"id": "weak", "title": "Weak", "points": 0}, {"id": "fair", "title": "Fair", "points": 3},
        {"id": "strong", "title": "Strong", "points": 6}]},
    {"id": "pricing", "title": "Pricing and margin", "levels": [
        {"id": "weak", "title": "Weak", "points": 1}, {"id": "strong", "title": "Strong", "points": 4}]}]}


def _answer(question, rng):
    """A student's answer: right four times out of five."""
    right = rng.random() < 0.8
    options = [o["id"] for o in question["options"]]
    key = next(q for q in DEMO_QUESTIONS if q["id"] == question["id"])
    if question["kind"] == "single_choice":
        correct = next(o["id"] for o in key["options"] if o.get("correct"))
        return correct if right else rng.choice(options)
    if question["kind"] == "multiple_choice":
        return [o["id"] for o in key["options"] if o.get("correct")] if right else options[:1]
    if question["kind"] == "true_false":
        return key["answer"] if right else not key["answer"]
    if question["kind"] == "numeric":
        return key["value"] if right else key["value"] + 10
    return key["accepted"][-1] if right else "RMB"


def assessments(admin, lms, pid, students, rng, now):
    """A quiz from the question bank that most students take, a homework with a
    rubric that half hand in, and a few of those graded by staff."""
    admin.call("POST", f"/programs/{pid}/question-bank", json={"questions": DEMO_QUESTIONS}, wait_for_events=30)
    opens, deadline = (now - timedelta(hours=1)).isoformat(), (now + timedelta(days=14)).isoformat()
    quiz = admin.call("POST", f"/programs/{pid}/assessments", json={
        "kind": "quiz", "title": "Platform operations quiz", "module": "store-operations", "opens_at": opens,
        "deadline": deadline, "max_attempts": 2, "scoring": "best", "weight": 1,
        "quiz": {"question_ids": [q["id"] for q in DEMO_QUESTIONS], "draw": 4}})
    homework = admin.call("POST", f"/programs/{pid}/assessments", json={
        "kind": "homework", "title": "Open your X-Mall store", "module": "store-operations", "opens_at": opens,
        "deadline": deadline, "weight": 3, "rubric": DEMO_RUBRIC,
        "late_policy": {"accept": True, "penalty_per_day": 10, "penalty_cap": 50}})
    attempts = graded = 0
    for n, student in enumerate(tqdm(students, desc="assessments", unit="student")):
        acting = {"X-Acting-User": f"student:{student}"}
        if n % 5 != 4:
            paper = lms.call("GET", f"/assessments/{quiz['id']}/paper", headers=acting, wait_for_events=30)
            lms.call("POST", f"/assessments/{quiz['id']}/submissions", headers=acting, json={
                "attempt": paper["attempt"], "answers": {q["id"]: _answer(q, rng) for q in paper["questions"]}})
            attempts += 1
        if n % 2 == 0:
            handed_in = lms.call("POST", f"/assessments/{homework['id']}/submissions", headers=acting, json={
                "text": f"Store of {student}: 12 products listed, prices set for a 25% margin.",
                "links": [f"https://x-mall.example/stores/{student}"]})
            if n % 4 == 0:
                admin.call("POST", f"/submissions/{handed_in['submission']['id']}/grade", json={
                    "levels": {"listing": rng.choice(["fair", "strong"]), "pricing": rng.choice(["weak", "strong"])},
                    "comment": "Good start; check your shipping costs."})
                graded += 1
    return {"quiz_id": quiz["id"], "homework_id": homework["id"], "quiz_attempts": attempts, "graded": graded}


def _incentives(admin, lms, pid, student, item_id, wait_s=60):
    """Wait for the sign-ins' credits (events reach incentives asynchronously), then the
    first student who signed in exchanges 5 of them for the company visit."""
    found = {"badge_url": None, "leader": None, "redemption_id": None}
    if student is None:
        return found
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not found["badge_url"]:
        response = admin.session.get(f"{admin.base_url}/api/v1/students/{student}/badges", timeout=30)
        if response.status_code == 200 and response.json()["items"]:
            found["badge_url"] = response.json()["items"][0]["assertion_url"]
        else:
            time.sleep(0.5)
    if not found["badge_url"]:
        return found
    found["redemption_id"] = lms.call("POST", "/redemptions", json={"item_id": item_id, "student_id": student},
                                      headers={"X-Acting-User": f"student:{student}"})["id"]
    rows = admin.call("GET", f"/programs/{pid}/leaderboard")["rows"]
    found["leader"] = f"{rows[0]['name']} ({rows[0]['score']:g})" if rows else None
    return found


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
