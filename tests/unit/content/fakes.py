"""An in-memory stand-in for services.content.repository.ContentRepository
(the parts the unit tests drive), so the service runs without a database."""
import copy

from contracts.content import ATTENDANCE_STATUSES
from contracts.errors import Conflict


class FakeRecords:
    def __init__(self):
        self.docs = {}     # id -> record (with rev)
        self.events = {}   # id -> pending events, as the outbox would see them

    def insert(self, record, events=()):
        if record["id"] in self.docs:
            return False
        self.docs[record["id"]] = {**copy.deepcopy(record), "rev": 0}
        self.events[record["id"]] = list(events)
        return True

    def get(self, record_id, **match):
        doc = self.docs.get(record_id)
        if doc is None or any(doc.get(k) != v for k, v in match.items()):
            return None
        return copy.deepcopy(doc)

    def save(self, record, events=()):
        stored = self.docs.get(record["id"])
        if stored is None or stored["rev"] != record["rev"]:
            raise Conflict("changed meanwhile")
        self.docs[record["id"]] = {**copy.deepcopy(record), "rev": record["rev"] + 1}
        self.events[record["id"]] += list(events)
        return {**record, "rev": record["rev"] + 1}

    def find(self, query, sort=None, skip=0, limit=0):
        found = [copy.deepcopy(d) for d in self.docs.values() if all(d.get(k) == v for k, v in query.items())]
        return found[skip:skip + limit if limit else None]

    def all_events(self):
        return [e for events in self.events.values() for e in events]


class FakeContentRepository:
    def __init__(self):
        self.sessions, self.materials, self.attendance = FakeRecords(), FakeRecords(), FakeRecords()
        self.questions, self.feedback, self.polls = FakeRecords(), FakeRecords(), FakeRecords()
        self.programs, self.students, self.refused, self.claims, self.votes = {}, {}, [], {}, {}

    # projections
    def keep_program(self, program):
        self.programs.setdefault(program["id"], program)

    def get_program(self, school_id, program_id):
        program = self.programs.get(program_id)
        return program if program and program["school_id"] == school_id else None

    def keep_student(self, student, at):
        self.students[f"{student['program_id']}:{student['student_id']}"] = dict(student)

    def get_student(self, school_id, program_id, student_id):
        student = self.students.get(f"{program_id}:{student_id}")
        return student if student and student["school_id"] == school_id else None

    def admitted_students(self, program_id):
        return [s for s in self.students.values() if s["program_id"] == program_id and s["status"] == "admitted"]

    def count_admitted(self, program_id, tracks=None):
        return len([s for s in self.admitted_students(program_id) if not tracks or s["track"] in tracks])

    def _records_of(self, session_id):
        return sorted(self.attendance.find({"session_id": session_id}), key=lambda r: r["student_id"])

    def session_students(self, session_id, statuses, offset=0, limit=100):
        return [r["student_id"] for r in self._records_of(session_id) if r["status"] in statuses][offset:offset + limit]

    def flagged_students(self, session_id, offset=0, limit=100):
        return [r["student_id"] for r in self._records_of(session_id) if r["flags"]][offset:offset + limit]

    def count_flagged(self, session_id):
        return len(self.flagged_students(session_id, limit=10 ** 9))

    def open_tally(self, session_id):
        pass

    def session_tally(self, session_id):
        records = self._records_of(session_id)
        tally = {status: sum(1 for r in records if r["status"] == status) for status in ATTENDANCE_STATUSES}
        return {**tally, "flagged": sum(1 for r in records if r["flags"])}

    def count_attending(self, session_ids, attending):
        return sum(1 for s in session_ids for r in self._records_of(s) if r["status"] in attending)

    def not_signed_in(self, session_id, program_id, tracks, statuses, offset=0, limit=100, signed_share=0.0):
        signed = set(self.session_students(session_id, statuses, limit=10 ** 9))
        return sorted(s["student_id"] for s in self.admitted_students(program_id)
                      if (not tracks or s["track"] in tracks) and s["student_id"] not in signed)[offset:offset + limit]

    def team_of(self, program_id, student_id):
        return None

    def partner_mentors(self, program_id, partner_id):
        return set()

    # attendance
    def session_records(self, session_id):
        return self.attendance.find({"session_id": session_id})

    def records_of_sessions(self, session_ids, student_id=None):
        return [r for r in self.attendance.find({}) if r["session_id"] in session_ids
                and student_id in (None, r["student_id"])]

    def scheduled_sessions(self, school_id, program_id):
        found = self.sessions.find({"school_id": school_id, "program_id": program_id, "status": "scheduled"})
        return sorted(found, key=lambda s: (s["starts_at"], s["id"]))

    def add_refusal(self, refusal):
        self.refused.append(refusal)

    def claim(self, session_id, kind, value, student_id):
        students = self.claims.setdefault((session_id, kind, value), [])
        if student_id not in students:
            students.append(student_id)
        return list(students)

    def claim_all(self, session_id, claims, student_id):
        return {kind: self.claim(session_id, kind, value, student_id) for kind, value in claims}

    def flag(self, session_id, student_ids, flag):
        for student_id in student_ids:
            record = self.attendance.docs.get(f"{session_id}:{student_id}")
            if record is not None and flag not in record["flags"]:
                record["flags"].append(flag)

    # polls
    def add_vote(self, vote):
        if vote["id"] in self.votes:
            return False
        self.votes[vote["id"]] = dict(vote)
        return True

    def get_vote(self, vote_id):
        return self.votes.get(vote_id)

    def tally(self, poll_id):
        answers = [v["answer"] for v in self.votes.values() if v["poll_id"] == poll_id]
        return answers.count("yes"), answers.count("no")

    def change_vote(self, vote):
        self.votes[vote["id"]] = dict(vote)

    def closed_open_polls(self, now, limit=500):
        return [dict(p) for p in self.polls.docs.values()
                if p.get("state") == "open" and p["closes_at"] <= now][:limit]

    def decide_poll(self, poll, fields, events):
        if self.polls.docs[poll["id"]].get("state") == "decided":
            return None
        return self.polls.save({**poll, **fields, "state": "decided"}, events)
