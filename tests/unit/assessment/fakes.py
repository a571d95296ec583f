"""An in-memory stand-in for services.assessment.repository.AssessmentRepository,
so the service runs without a database in unit tests."""
from tests.unit.content.fakes import FakeRecords


class FakeAssessmentRepository:
    def __init__(self):
        self.assessments, self.submissions, self.missed = FakeRecords(), FakeRecords(), FakeRecords()
        self.entries, self.overrides = FakeRecords(), FakeRecords()
        self.programs, self.students, self.team_docs, self.questions = {}, {}, {}, {}
        self.teaching = set()

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
        return dict(student) if student and student["school_id"] == school_id else None

    def admitted_students(self, program_id):
        return sorted((dict(s) for s in self.students.values()
                       if s["program_id"] == program_id and s["status"] == "admitted"),
                      key=lambda s: s["student_id"])

    def _team(self, team_id, school_id, program_id):
        return self.team_docs.setdefault(team_id, {
            "id": team_id, "school_id": school_id, "program_id": program_id, "members": [], "disbanded": False,
            "mentor_id": None, "mentor_partner_id": None, "tutor_id": None})

    def keep_team(self, team, at):
        self._team(team["id"], team["school_id"], team["program_id"]).update(team)

    def keep_mentor(self, team_id, school_id, program_id, mentor_id, partner_id, at):
        self._team(team_id, school_id, program_id).update(mentor_id=mentor_id, mentor_partner_id=partner_id)

    def keep_tutor(self, team_id, school_id, program_id, tutor_id, at, person_id=None):
        self._team(team_id, school_id, program_id).update(tutor_id=tutor_id, tutor_person_id=person_id)

    def teams(self, program_id):
        return [dict(t) for t in self.team_docs.values() if t["program_id"] == program_id and not t["disbanded"]]

    def keep_teaching(self, school_id, program_id, partner_id, module):
        self.teaching.add((school_id, program_id, partner_id, module))

    def teaches(self, school_id, program_id, partner_id, module):
        return (school_id, program_id, partner_id, module) in self.teaching

    def partner_in_program(self, school_id, program_id, partner_id):
        return (any(t[:3] == (school_id, program_id, partner_id) for t in self.teaching)
                or any(t.get("mentor_partner_id") == partner_id for t in self.teams(program_id))
                or bool(self.assessments.find({"school_id": school_id, "program_id": program_id,
                                               "partner_id": partner_id})))

    # the bank
    def add_questions(self, questions):
        taken = [q["question_id"] for q in questions if q["id"] in self.questions]
        if taken:
            return taken
        self.questions.update({q["id"]: dict(q) for q in questions})
        return []

    def bank(self, school_id, program_id, module=None, limit=0, offset=0, partner_id=None):
        found = sorted((dict(q) for q in self.questions.values()
                        if q["school_id"] == school_id and q["program_id"] == program_id
                        and (not module or q.get("module") == module)
                        and (not partner_id or q.get("partner_id") == partner_id)), key=lambda q: q["id"])
        return found[offset:offset + limit] if limit else found[offset:]

    # assessments and submissions
    def list_assessments(self, school_id, program_id, status=None, kind=None, module=None, partner_id=None,
                         limit=0, offset=0):
        query = {"school_id": school_id, "program_id": program_id}
        query.update({k: v for k, v in (("status", status), ("kind", kind), ("module", module),
                                        ("partner_id", partner_id)) if v})
        return sorted(self.assessments.find(query), key=lambda a: a["deadline"])

    def attempts(self, assessment_id, student_id):
        return sorted(self.submissions.find({"assessment_id": assessment_id, "student_id": student_id}),
                      key=lambda s: s["attempt"])

    def assessment_submissions(self, assessment_id, student_id=None, status=None, limit=0, offset=0):
        query = {"assessment_id": assessment_id, **({"student_id": student_id} if student_id else {}),
                 **({"status": status} if status else {})}
        return sorted(self.submissions.find(query), key=lambda s: s["submitted_at"])

    def program_submissions(self, program_id, status=None):
        query = {"program_id": program_id, **({"status": status} if status else {})}
        return sorted(self.submissions.find(query), key=lambda s: s["submitted_at"])

    def past_deadline_unscanned(self, now, limit=100):
        return [a for a in self.assessments.find({"status": "published", "missed_scanned": False})
                if a["deadline"] < now]

    def competition_entries(self, assessment_id=None, program_id=None, partner_id=None):
        query = {"assessment_id": assessment_id} if assessment_id else {"program_id": program_id}
        if partner_id:
            query["partner_id"] = partner_id
        return self.entries.find(query)

    def program_overrides(self, program_id):
        return self.overrides.find({"program_id": program_id})
