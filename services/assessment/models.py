"""Documents of the assessment service (database praxis_assessment).

The repository reads and writes them as plain dicts through pymongo; the classes
name the collections, declare the indexes, and mark which documents carry pending
events (OutboxDocument). Natural keys are the ``_id``: a submission is
``sha256(assessment:student:attempt)``, so a resent attempt (a double click, two
tabs, a retry) meets the first one's ``_id`` and is stored once.
"""
import mongoengine as me

from services.common.events import OutboxDocument

ALIAS = "assessment"
# class names are unique across the services: mongoengine keeps one registry by class
# name, and disconnect() resets only the registered class's cached collection
_META = {"db_alias": ALIAS, "strict": False}


def _meta(collection, *indexes):
    return {**_META, "collection": collection, "indexes": list(indexes)}


# --- projections of enrollment's events ---------------------------------------------

class AssessmentProgramProjection(me.Document):
    """_id: program id. Its school and track keys, from program.created."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    meta = _meta("programs")


class AssessmentStudentProjection(me.Document):
    """_id: f"{program_id}:{student_id}". applied (an open application), admitted,
    rejected or withdrawn, with the track."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField()
    status = me.StringField()
    meta = _meta("students", ("program_id", "status"))


class AssessmentTeamProjection(me.Document):
    """_id: team id. Members, mentor (and its partner) and tutor: who grades whom."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField()
    # no index on members: nx-27017 misses array matches through a multikey index
    meta = _meta("teams", "program_id")


class AssessmentTeachingProjection(me.Document):
    """_id: f"{program_id}:{partner_id}:{module}": a partner runs a scheduled session of
    the module (content's session.scheduled/changed), so it may propose assessments for it."""
    id = me.StringField(primary_key=True)
    meta = _meta("teaching")


# --- the assessment service's own records ---------------------------------------------

class BankQuestionDoc(me.Document):
    """_id: f"{program_id}:{question id}": the programme's question bank (insert-only)."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    program_id = me.StringField()
    meta = _meta("questions", ("school_id", "program_id"))


class AssessmentDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    program_id = me.StringField()
    status = me.StringField()
    missed_scanned = me.BooleanField()
    deadline_ts = me.FloatField()
    meta = _meta("assessments", ("school_id", "program_id"), ("status", "missed_scanned", "deadline_ts"))


class AssessmentSubmissionDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    assessment_id = me.StringField()
    program_id = me.StringField()
    student_id = me.StringField()
    status = me.StringField()
    meta = _meta("submissions", ("assessment_id", "student_id"), ("program_id", "status"))


class MissedDeadlineDoc(OutboxDocument):
    """_id: sha256(assessment:student): deadline.missed once per student and assessment."""
    id = me.StringField(primary_key=True)
    assessment_id = me.StringField()
    meta = _meta("missed", "assessment_id")


class CompetitionEntryDoc(OutboxDocument):
    """_id: sha256(assessment:run id): one entry per platform run, corrections in its history."""
    id = me.StringField(primary_key=True)
    assessment_id = me.StringField()
    program_id = me.StringField()
    meta = _meta("competition_entries", "assessment_id", "program_id")


class GradeOverrideDoc(OutboxDocument):
    """_id: sha256(assessment:student): the current override, earlier ones in its history."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField()
    meta = _meta("overrides", "program_id")


OUTBOX_DOCUMENTS = [AssessmentDoc, AssessmentSubmissionDoc, MissedDeadlineDoc, CompetitionEntryDoc, GradeOverrideDoc]
DOCUMENTS = [AssessmentProgramProjection, AssessmentStudentProjection, AssessmentTeamProjection,
             AssessmentTeachingProjection, BankQuestionDoc,
             *OUTBOX_DOCUMENTS]
