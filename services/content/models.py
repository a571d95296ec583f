"""Documents of the content service (database praxis_content).

The repository reads and writes them as plain dicts through pymongo; the classes
name the collections, declare the indexes, and mark which documents carry
pending events (OutboxDocument). Natural keys are the ``_id`` (nx-27017 updates
by ``_id`` stay fast; a duplicate insert raises), e.g. an attendance record is
``f"{session_id}:{student_id}"``.
"""
import mongoengine as me

from services.common.events import OutboxDocument

ALIAS = "content"
_META = {"db_alias": ALIAS, "strict": False}


def _meta(collection, *indexes):
    return {**_META, "collection": collection, "indexes": list(indexes)}


# --- projections of enrollment's events ---------------------------------------------

class ProgramProjection(me.Document):
    """_id: program id. Tracks and attendance rules, from program.created."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    meta = _meta("programs")


class StudentProjection(me.Document):
    """_id: f"{program_id}:{student_id}". Who may sign in (status admitted)."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField()
    status = me.StringField()
    track = me.StringField()
    meta = _meta("students", ("program_id", "status"), ("program_id", "status", "track"))


class TeamProjection(me.Document):
    """_id: team id. Members and the team's mentor (who answers its questions)."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField()
    members = me.ListField(me.StringField())
    # no index on members: nx-27017 misses array matches through a multikey index
    meta = _meta("teams", "program_id")


# --- the content service's own records ---------------------------------------------

class SessionDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    program_id = me.StringField()
    starts_at = me.DateTimeField()
    meta = _meta("sessions", ("school_id", "program_id", "starts_at"))


class MaterialDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    program_id = me.StringField()
    partner_id = me.StringField()
    meta = _meta("materials", ("school_id", "program_id"), ("school_id", "partner_id"))


class AttendanceDoc(OutboxDocument):
    """_id: f"{session_id}:{student_id}": one record per student and session."""
    id = me.StringField(primary_key=True)
    session_id = me.StringField()
    status = me.StringField()
    flagged = me.IntField(null=True)  # 1 while ``flags`` holds any (set by the repository's writes)
    meta = _meta("attendance", "session_id", ("session_id", "status"), ("session_id", "flagged"))


class AttendanceTallyDoc(me.Document):
    """_id: the session id -> how many of its records hold each status, and how many
    are flagged (fields named after the statuses, ``flagged``), kept by every write of
    an attendance record (``$inc``, with ``v``); ``checked_ts``: when last recounted."""
    id = me.StringField(primary_key=True)
    meta = _meta("attendance_tallies")


class RefusalDoc(me.Document):
    """A refused sign-in, kept for supervision."""
    id = me.StringField(primary_key=True)
    session_id = me.StringField()
    student_id = me.StringField()
    meta = _meta("checkin_refusals", ("session_id", "student_id"))


class DeviceClaimDoc(me.Document):
    """_id: f"{session_id}:{kind}:{value}" -> the students one device or address signed in."""
    id = me.StringField(primary_key=True)
    meta = _meta("checkin_claims")


class QuestionDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    program_id = me.StringField()
    session_id = me.StringField()
    status = me.StringField()
    overdue = me.BooleanField()
    due_at = me.DateTimeField()
    meta = _meta("questions", "session_id", ("overdue", "status", "due_at"), ("school_id", "program_id", "status"))


class FeedbackDoc(OutboxDocument):
    """_id: f"{session_id}:{student_id}": one feedback per student and session."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    session_id = me.StringField()
    instructor_id = me.StringField()
    meta = _meta("feedback", "session_id", ("school_id", "instructor_id"))


class PollDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    school_id = me.StringField()
    program_id = me.StringField()
    meta = _meta("polls", ("school_id", "program_id"))


class VoteDoc(me.Document):
    """_id: f"{poll_id}:{student_id}": one vote per student and poll."""
    id = me.StringField(primary_key=True)
    poll_id = me.StringField()
    meta = _meta("votes", "poll_id")


OUTBOX_DOCUMENTS = [SessionDoc, MaterialDoc, AttendanceDoc, QuestionDoc, FeedbackDoc, PollDoc]
DOCUMENTS = [ProgramProjection, StudentProjection, TeamProjection, RefusalDoc, DeviceClaimDoc,
             VoteDoc, AttendanceTallyDoc, *OUTBOX_DOCUMENTS]
