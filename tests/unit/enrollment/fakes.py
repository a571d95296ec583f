"""In-memory stand-ins for the enrollment repositories (same methods, same
guards), so service rules run without a broker or a database."""
import copy
from datetime import datetime, timezone

from contracts.errors import Conflict
from services.enrollment.repository import ROSTER_FIELDS


class FakePrograms:
    def __init__(self):
        self.programs, self.outbox = {}, []

    def add(self, program, events=()):
        if program["id"] not in self.programs:
            self.programs[program["id"]] = copy.deepcopy(program)
            self.outbox.extend(events)
        return copy.deepcopy(self.programs[program["id"]])

    def get(self, school_id, program_id):
        program = self.programs.get(program_id)
        return copy.deepcopy(program) if program and program["school_id"] == school_id else None

    def list(self, school_id, season=None, limit=50, offset=0):
        found = [p for p in self.programs.values() if p["school_id"] == school_id]
        return copy.deepcopy(found[offset:offset + limit])


def _rank(app):
    return (-(app["score"] if app["score"] is not None else -1), app["submitted_at"], app["id"])


class FakeStore:
    """Mirrors services.enrollment.repository.EnrollmentRepository."""

    def __init__(self):
        self.apps, self.scores, self.counters = {}, {}, {}
        self.teams, self.memberships, self.staff = {}, {}, {}
        self.outbox = []  # every event owed, in the order the writes happened

    def events(self, type_=None):
        return [e for e in self.outbox if type_ is None or e["type"] == type_]

    # applications
    def insert_application(self, app, events=()):
        if app["id"] in self.apps:
            return copy.deepcopy(self.apps[app["id"]]), False
        if any(a["live_key"] == app["live_key"] for a in self.apps.values()):
            raise Conflict(f"student {app['student_id']} already has a live application")
        self.apps[app["id"]] = copy.deepcopy(app)
        self.outbox.extend(events)
        return copy.deepcopy(app), True

    def get_application(self, school_id, application_id):
        app = self.apps.get(application_id)
        return copy.deepcopy(app) if app and app["school_id"] == school_id else None

    def live_application(self, school_id, program_id, student_id):
        for app in self.apps.values():
            if app["live_key"] == f"{program_id}:{student_id}" and app["school_id"] == school_id:
                return copy.deepcopy(app)
        return None

    def list_applications(self, school_id, program_id, status=None, track=None, student_id=None,
                          limit=50, offset=0):
        found = [a for a in self.apps.values() if a["school_id"] == school_id and a["program_id"] == program_id
                 and status in (None, a["status"]) and track in (None, a["track"])
                 and student_id in (None, a["student_id"])]
        found.sort(key=lambda a: (a["submitted_at"], a["id"]))
        return copy.deepcopy(found[offset:offset + limit])

    def applications_in(self, school_id, program_id, track, statuses):
        found = [a for a in self.apps.values() if a["school_id"] == school_id and a["program_id"] == program_id
                 and track in (None, a["track"]) and a["status"] in statuses]
        return copy.deepcopy(sorted(found, key=_rank))

    def roster_applications(self, school_id, program_id, offset=0, limit=100):
        found = [a for a in self.apps.values() if a["school_id"] == school_id and a["program_id"] == program_id
                 and (a["status"] == "admitted" or a.get("previous_status") == "admitted")]
        found.sort(key=lambda a: (a["track"], a["name"], a["student_id"]))
        # as the repository: only the fields a roster row shows
        return [{k: copy.deepcopy(a[k]) for k in ("id", *ROSTER_FIELDS) if k in a} for a in found[offset:offset + limit]]

    def applications_by_id(self, ids):
        return {i: copy.deepcopy(self.apps[i]) for i in ids if i in self.apps}

    def update_application(self, application_id, statuses, changes, events=None):
        app = self.apps.get(application_id)
        if app is None or app["status"] not in statuses:
            return None
        owed = events(copy.deepcopy(app)) if callable(events) else list(events or ())
        app.update(copy.deepcopy(changes))
        self.outbox.extend(owed)
        return copy.deepcopy(app)

    def insert_applications(self, items):
        outcome = {}
        for app, events in items:
            if app["id"] in self.apps:
                outcome[app["id"]] = "exists"
                continue
            try:
                self.insert_application(app, events)
                outcome[app["id"]] = "created"
            except Conflict:
                outcome[app["id"]] = "duplicate"
        return outcome

    def quiz_scores(self, keys):
        return {k: copy.deepcopy(self.scores[k]) for k in keys if k in self.scores}

    def update_applications(self, writes):
        applied = {}
        for app_id, statuses, changes, events in writes:
            after = self.update_application(app_id, statuses, changes, events)
            if after is not None:
                applied[app_id] = after
        return applied

    # quiz scores
    def record_quiz_score(self, key, score, quiz_id, occurred_at):
        kept = self.scores.get(key)
        if kept and kept["occurred_at"] > occurred_at:
            return False
        self.scores[key] = {"id": key, "score": score, "quiz_id": quiz_id, "occurred_at": occurred_at}
        return True

    def quiz_score(self, key):
        return copy.deepcopy(self.scores.get(key))

    # seats
    def ensure_counter(self, school_id, program_id, track, capacity):
        self.counters.setdefault(f"{program_id}:{track}", {"capacity": capacity, "seats": set()})

    def reserve_seat(self, program_id, track, application_id, capacity):
        counter = self.counters[f"{program_id}:{track}"]
        if application_id in counter["seats"]:
            return "held"
        if len(counter["seats"]) >= capacity:
            return "full"
        counter["seats"].add(application_id)
        return "reserved"

    def reserve_seats(self, program_id, track, application_ids, capacity):
        counter = self.counters[f"{program_id}:{track}"]
        if counter["seats"] & set(application_ids) or len(counter["seats"]) + len(application_ids) > capacity:
            return False
        counter["seats"] |= set(application_ids)
        return True

    def release_seat(self, program_id, track, application_id):
        counter = self.counters.get(f"{program_id}:{track}")
        if counter and application_id in counter["seats"]:
            counter["seats"].discard(application_id)
            return True
        return False

    def seat_counter(self, program_id, track):
        counter = self.counters.get(f"{program_id}:{track}")
        if counter is None:
            return None
        return {"admitted": len(counter["seats"]), "capacity": counter["capacity"],
                "holders": sorted(counter["seats"])}

    # teams
    def insert_team(self, team):
        self.teams.setdefault(team["id"], copy.deepcopy(team))
        return copy.deepcopy(self.teams[team["id"]])

    def get_team(self, school_id, team_id):
        team = self.teams.get(team_id)
        return copy.deepcopy(team) if team and school_id in (None, team["school_id"]) else None

    def list_teams(self, school_id, program_id, track=None, without=None, limit=100, offset=0):
        found = [t for t in self.teams.values() if t["school_id"] == school_id and t["program_id"] == program_id
                 and t["status"] == "active" and track in (None, t["track"])
                 and (without is None or t[f"{without}_id"] is None)]
        found.sort(key=lambda t: (t["created_at"], t["id"]))
        return copy.deepcopy(found[offset:offset + limit])

    def _change_team(self, team_id, ok, change, events):
        team = self.teams.get(team_id)
        if team is None or not ok(team):
            return None
        owed = events(copy.deepcopy(team)) if callable(events) else list(events or ())
        change(team)
        self.outbox.extend(owed)
        return copy.deepcopy(team)

    def activate_team(self, team_id, members, events):
        return self._change_team(team_id, lambda t: t["status"] == "forming",
                                 lambda t: t.update(status="active", members=list(members), size=len(members)),
                                 events)

    def fail_team(self, team_id):
        if self.teams.get(team_id, {}).get("status") == "forming":
            self.teams[team_id]["status"] = "failed"

    def add_member(self, team_id, student_id, max_size, events):
        return self._change_team(
            team_id, lambda t: t["status"] == "active" and t["size"] < max_size and student_id not in t["members"],
            lambda t: t.update(members=[*t["members"], student_id], size=t["size"] + 1), events)

    def remove_member(self, team_id, student_id, events, changes=None):
        return self._change_team(
            team_id, lambda t: t["status"] == "active" and student_id in t["members"],
            lambda t: t.update(members=[m for m in t["members"] if m != student_id], size=t["size"] - 1,
                               **copy.deepcopy(changes or {})), events)

    def disband_team(self, team_id, events, changes=None):
        return self._change_team(team_id, lambda t: t["status"] == "active",
                                 lambda t: t.update(copy.deepcopy(changes or {}), status="disbanded"), events)

    def set_team_staff(self, team_id, kind, expected, staff_id, events):
        return self._change_team(team_id, lambda t: t["status"] == "active" and t[f"{kind}_id"] == expected,
                                 lambda t: t.update({f"{kind}_id": staff_id}), events)

    # memberships
    def claim_membership(self, program_id, student_id, team_id, now):
        key = f"{program_id}:{student_id}"
        if key not in self.memberships:
            self.memberships[key] = team_id
            return None
        held = self.memberships[key]
        return None if held == team_id else held

    def membership(self, program_id, student_id):
        return self.memberships.get(f"{program_id}:{student_id}")

    def take_membership(self, program_id, student_id, stale_team_id, team_id, now):
        key = f"{program_id}:{student_id}"
        if self.memberships.get(key) != stale_team_id:
            return False
        self.memberships[key] = team_id
        return True

    def release_membership(self, program_id, student_id, team_id):
        key = f"{program_id}:{student_id}"
        if self.memberships.get(key) == team_id:
            del self.memberships[key]

    # mentors and tutors
    def insert_staff(self, staff):
        self.staff.setdefault(staff["id"], {**copy.deepcopy(staff), "teams": set()})
        return self._staff(self.staff[staff["id"]])

    @staticmethod
    def _staff(raw):
        return {**copy.deepcopy({k: v for k, v in raw.items() if k != "teams"}), "teams": sorted(raw["teams"]),
                "load": len(raw["teams"])}

    def get_staff(self, school_id, staff_id):
        staff = self.staff.get(staff_id)
        return self._staff(staff) if staff and staff["school_id"] == school_id else None

    def list_staff(self, school_id, program_id, kind):
        return [self._staff(s) for s in self.staff.values()
                if s["school_id"] == school_id and s["program_id"] == program_id and s["kind"] == kind]

    def repair_loads(self, school_id, program_id, kind):
        for staff in self.staff.values():
            if (staff["school_id"], staff["program_id"], staff["kind"]) != (school_id, program_id, kind):
                continue
            for team_id in list(staff["teams"]):
                team = self.teams.get(team_id)
                if team is None or team.get(f"{kind}_id") != staff["id"] or team.get("status") != "active":
                    staff["teams"].discard(team_id)

    def reserve_load(self, staff_id, team_id, max_load):
        staff = self.staff[staff_id]
        if team_id in staff["teams"]:
            return True
        if not staff["active"] or len(staff["teams"]) >= max_load:
            return False
        staff["teams"].add(team_id)
        return True

    def release_load(self, staff_id, team_id):
        self.staff[staff_id]["teams"].discard(team_id)

    def deactivate_staff(self, staff_id):
        self.staff[staff_id]["active"] = False


class FakeJobs:
    """Mirrors services.common.jobs.JobRunner: jobs run at once (``hold`` keeps
    them queued, to see a second start refused while the first runs)."""

    def __init__(self, hold=False):
        self.jobs, self.hold = {}, hold

    def create(self, caller, kind, params, *, program_id=None, lock=None):
        job_id = f"enrollment-{caller.get('operation_id') or len(self.jobs) + 1}"
        if job_id in self.jobs:
            return copy.deepcopy(self.jobs[job_id]), False
        running = [j for j in self.jobs.values() if lock and j["lock"] == lock and j["state"] not in ("succeeded", "failed")]
        if running:
            raise Conflict(f"job {running[0]['_id']} is still running for this", {"job_id": [running[0]["_id"]]})
        self.jobs[job_id] = {"_id": job_id, "school_id": caller["school_id"], "kind": kind, "state": "queued",
                             "program_id": program_id, "params": copy.deepcopy(params), "caller": dict(caller),
                             "lock": lock, "progress": {}, "result": None, "report": [], "error": None,
                             "attempt": 0, "created_at": datetime.now(timezone.utc), "started_at": None,
                             "finished_at": None}
        return copy.deepcopy(self.jobs[job_id]), True

    def get(self, school_id, job_id):
        job = self.jobs.get(job_id)
        return copy.deepcopy(job) if job and job["school_id"] == school_id else None

    def run(self, job, handler):
        if self.hold:
            return
        stored = self.jobs[job["_id"]]
        stored["state"] = "running"
        outcome = handler(copy.deepcopy(stored), lambda **counts: stored.update(progress=counts)) or {}
        stored.update(state="failed" if outcome.get("error") else "succeeded", error=outcome.get("error"),
                      result=outcome.get("result"), report=outcome.get("report") or [],
                      progress=outcome.get("progress") or stored["progress"], finished_at=datetime.now(timezone.utc))
