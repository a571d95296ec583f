"""Storage of the assessment service behind a small interface (records are plain
dicts with an ``id``; the fake in tests/unit/assessment mirrors it). Writes that
owe events carry them in the same document write; changes are guarded by ``rev``
(services.common.records)."""
import hashlib

from pymongo.errors import DuplicateKeyError

from services.assessment.models import (AssessmentDoc, AssessmentProgramProjection, AssessmentStudentProjection,
                                        AssessmentSubmissionDoc, AssessmentTeachingProjection,
                                        AssessmentTeamProjection, BankQuestionDoc, CompetitionEntryDoc,
                                        GradeOverrideDoc, MissedDeadlineDoc)
from services.common.records import Records, apply_fact, doc_out


def natural_id(*parts):
    """A natural key as an opaque id (student ids may hold any printable character)."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


class AssessmentRepository:

    def __init__(self):
        self.assessments = Records(AssessmentDoc)
        self.submissions = Records(AssessmentSubmissionDoc)
        self.missed = Records(MissedDeadlineDoc)
        self.entries = Records(CompetitionEntryDoc)
        self.overrides = Records(GradeOverrideDoc)

    # --- projections of enrollment's events --------------------------------

    def keep_program(self, program):
        try:
            AssessmentProgramProjection._get_collection().insert_one(
                {**{k: v for k, v in program.items() if k != "id"}, "_id": program["id"]})
        except DuplicateKeyError:
            pass  # a redelivered program.created: the programme is known

    def get_program(self, school_id, program_id):
        return doc_out(AssessmentProgramProjection._get_collection().find_one(
            {"_id": program_id, "school_id": school_id}))

    def keep_student(self, student, at):
        """``student``: school_id, program_id, student_id, track, status."""
        apply_fact(AssessmentStudentProjection._get_collection(), f"{student['program_id']}:{student['student_id']}",
                   "last_event_at", at, student)

    def get_student(self, school_id, program_id, student_id):
        return doc_out(AssessmentStudentProjection._get_collection().find_one(
            {"_id": f"{program_id}:{student_id}", "school_id": school_id}))

    def admitted_students(self, program_id):
        return [doc_out(d) for d in AssessmentStudentProjection._get_collection().find(
            {"program_id": program_id, "status": "admitted"}).sort([("_id", 1)])]

    def keep_team(self, team, at):
        """``team``: school_id, program_id, track, name, members, disbanded."""
        team = dict(team)
        apply_fact(AssessmentTeamProjection._get_collection(), team.pop("id"), "members_at", at, team,
                   on_insert={"mentor_id": None, "mentor_partner_id": None, "tutor_id": None})

    def _keep_staff(self, team_id, school_id, program_id, stamp, at, fields):
        apply_fact(AssessmentTeamProjection._get_collection(), team_id, stamp, at, fields,
                   on_insert={"school_id": school_id, "program_id": program_id, "members": [],
                              "disbanded": False, "mentor_id": None, "mentor_partner_id": None,
                              "tutor_id": None})

    def keep_mentor(self, team_id, school_id, program_id, mentor_id, partner_id, at):
        self._keep_staff(team_id, school_id, program_id, "mentor_at", at,
                         {"mentor_id": mentor_id, "mentor_partner_id": partner_id})

    def keep_tutor(self, team_id, school_id, program_id, tutor_id, at, person_id=None):
        self._keep_staff(team_id, school_id, program_id, "tutor_at", at,
                         {"tutor_id": tutor_id, "tutor_person_id": person_id})

    def teams(self, program_id):
        # a programme has tens of teams: filter here rather than trust an array match
        return [doc_out(t) for t in AssessmentTeamProjection._get_collection().find({"program_id": program_id})
                if not t.get("disbanded")]

    def keep_teaching(self, school_id, program_id, partner_id, module):
        try:
            AssessmentTeachingProjection._get_collection().insert_one({
                "_id": f"{program_id}:{partner_id}:{module}", "school_id": school_id, "program_id": program_id,
                "partner_id": partner_id, "module": module})
        except DuplicateKeyError:
            pass  # known already (a redelivery, another session of the module)

    def teaches(self, school_id, program_id, partner_id, module):
        return AssessmentTeachingProjection._get_collection().find_one(
            {"_id": f"{program_id}:{partner_id}:{module}", "school_id": school_id}) is not None

    def partner_in_program(self, school_id, program_id, partner_id):
        """The partner teaches a module of the programme, mentors one of its teams, or runs
        one of its assessments (otherwise the programme is none of its business)."""
        if AssessmentTeachingProjection._get_collection().find_one(
                {"school_id": school_id, "program_id": program_id, "partner_id": partner_id}, {"_id": 1}):
            return True
        if any(t.get("mentor_partner_id") == partner_id for t in self.teams(program_id)):
            return True
        return bool(self.assessments.collection.find_one(
            {"school_id": school_id, "program_id": program_id, "partner_id": partner_id}, {"_id": 1}))

    # --- the question bank ----------------------------------------------------------

    def add_questions(self, questions):
        """Insert every question or none: return the ids already in the bank."""
        collection = BankQuestionDoc._get_collection()
        ids = [q["id"] for q in questions]
        taken = [doc_out(d)["question_id"] for d in collection.find({"_id": {"$in": ids}}, {"question_id": 1})]
        if taken:
            return taken
        inserted = []
        for question in questions:
            try:
                collection.insert_one({**{k: v for k, v in question.items() if k != "id"}, "_id": question["id"]})
                inserted.append(question["id"])
            except DuplicateKeyError:  # added concurrently: undo this batch
                collection.delete_many({"_id": {"$in": inserted}})
                return [question["question_id"]]
        return []

    def bank(self, school_id, program_id, module=None, limit=0, offset=0, partner_id=None):
        query = {"school_id": school_id, "program_id": program_id}
        if module:
            query["module"] = module
        if partner_id:
            query["partner_id"] = partner_id
        cursor = BankQuestionDoc._get_collection().find(query).sort([("_id", 1)])
        if offset:
            cursor = cursor.skip(offset)
        if limit:
            cursor = cursor.limit(limit)
        return [doc_out(d) for d in cursor]

    # --- assessments and submissions --------------------------------------------------

    def list_assessments(self, school_id, program_id, status=None, kind=None, module=None, partner_id=None,
                         limit=0, offset=0):
        query = {"school_id": school_id, "program_id": program_id}
        for key, value in (("status", status), ("kind", kind), ("module", module), ("partner_id", partner_id)):
            if value:
                query[key] = value
        return self.assessments.find(query, sort=[("deadline_ts", 1), ("_id", 1)], skip=offset, limit=limit)

    def attempts(self, assessment_id, student_id):
        return self.submissions.find({"assessment_id": assessment_id, "student_id": student_id},
                                     sort=[("attempt", 1)])

    def assessment_submissions(self, assessment_id, student_id=None, status=None, limit=0, offset=0):
        query = {"assessment_id": assessment_id}
        if student_id:
            query["student_id"] = student_id
        if status:
            query["status"] = status
        return self.submissions.find(query, sort=[("submitted_ts", 1), ("_id", 1)], skip=offset, limit=limit)

    def program_submissions(self, program_id, status=None):
        query = {"program_id": program_id}
        if status:
            query["status"] = status
        return self.submissions.find(query, sort=[("submitted_ts", 1), ("_id", 1)])

    # --- deadlines ---------------------------------------------------------------------

    def past_deadline_unscanned(self, now, limit=100):
        # range queries on the epoch number: nx-27017 compares datetimes unreliably
        return self.assessments.find({"status": "published", "missed_scanned": False,
                                      "deadline_ts": {"$lt": now.timestamp()}}, limit=limit)

    # --- competition entries and overrides ------------------------------------------------

    def competition_entries(self, assessment_id=None, program_id=None, partner_id=None):
        query = {"assessment_id": assessment_id} if assessment_id else {"program_id": program_id}
        if partner_id:
            query["partner_id"] = partner_id
        return self.entries.find(query, sort=[("created_at", 1), ("_id", 1)])

    def program_overrides(self, program_id):
        return self.overrides.find({"program_id": program_id})
