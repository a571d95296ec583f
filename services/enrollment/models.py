"""Documents of the enrollment service (database praxis_enrollment).

nx-27017 stores dicts added with ``$push`` as strings, so documents that owe
events carry a ``rev`` counter: the repository appends to ``pending_events`` by
``$set``-ting the whole list in an update guarded on ``rev`` (see repository._write).
"""
import mongoengine as me

from services.common.events import OutboxDocument

ALIAS = "enrollment"


class ProgramDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    school_id = me.StringField(required=True)
    name = me.StringField(required=True)
    season = me.StringField(required=True)
    description = me.StringField(default="")
    starts_on = me.DateField(required=True)
    ends_on = me.DateField(required=True)
    team_lock_date = me.DateField(null=True)
    tracks = me.ListField(me.DictField(), required=True)
    team_size = me.DictField()
    selection_rules = me.DictField()
    attendance_rules = me.DictField()
    credit_rules = me.DictField()
    assignment_rules = me.DictField()
    created_by = me.StringField(required=True)
    created_by_person = me.StringField(null=True)
    created_at = me.DateTimeField(required=True)

    meta = {
        "db_alias": ALIAS,
        "collection": "programs",
        "indexes": [("school_id", "season"), ("school_id", "created_at")],
    }


class ApplicationDoc(OutboxDocument):
    """One application. ``live_key`` is ``"<program>:<student>"`` while the
    application is live and ``"<program>:<student>:withdrawn:<id>"`` after, so the
    unique index allows one live application per student and programme."""
    id = me.StringField(primary_key=True)
    live_key = me.StringField(required=True, unique=True)
    school_id = me.StringField(required=True)
    program_id = me.StringField(required=True)
    track = me.StringField(required=True)
    student_id = me.StringField(required=True)
    name = me.StringField(required=True)
    major = me.StringField(default="")
    year_of_study = me.IntField(null=True)
    prior_courses = me.ListField(me.StringField())
    motivation = me.StringField(default="")
    status = me.StringField(required=True)
    score = me.FloatField(null=True)
    score_source = me.StringField(null=True)
    score_note = me.StringField(null=True)
    scored_at = me.DateTimeField(null=True)
    decision_reason = me.StringField(null=True)
    waitlist_position = me.IntField(null=True)
    promoted = me.BooleanField(default=False)
    previous_status = me.StringField(null=True)
    withdrawal_reason = me.StringField(null=True)
    reclaim_spell = me.StringField(null=True)  # the idle spell whose reclaim released the place
    operations = me.ListField(me.StringField())  # the latest operation ids that changed it
    submitted_at = me.DateTimeField(required=True)
    decided_at = me.DateTimeField(null=True)
    withdrawn_at = me.DateTimeField(null=True)
    submitted_by = me.StringField(required=True)
    submitted_by_person = me.StringField(null=True)
    rev = me.IntField(default=0)

    meta = {
        "db_alias": ALIAS,
        "collection": "applications",
        # the first also gives the roster its order (track, name, student id) within a status
        "indexes": [("school_id", "program_id", "status", "track", "name", "student_id"),
                    ("program_id", "track", "status"),
                    ("school_id", "program_id", "submitted_at")],  # the applications list's order
    }


class SeatCounterDoc(me.Document):
    """Admitted students of one track: ``_id`` is ``"<program>:<track>"``; ``seats``
    maps application id -> 1 and ``admitted`` counts them. A seat is taken with one
    guarded update ({admitted: {$lt: capacity}, seats.<id>: absent} + $inc), so
    capacity holds under any concurrency."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField(required=True)
    program_id = me.StringField(required=True)
    track = me.StringField(required=True)
    capacity = me.IntField(required=True)
    admitted = me.IntField(default=0)
    seats = me.DictField()

    meta = {"db_alias": ALIAS, "collection": "seat_counters"}


class QuizScoreDoc(me.Document):
    """The latest rules-understanding quiz score of a student in a programme
    (kept even when it arrives before the application): ``_id`` is
    ``"<school>:<program>:<student>"``."""
    id = me.StringField(primary_key=True)
    score = me.FloatField(required=True)
    quiz_id = me.StringField(required=True)
    occurred_at = me.StringField(required=True)  # UTC text
    # the guard "only a newer score" compares this in the database (microseconds since
    # the epoch: nx-27017 compares datetimes and date-like text to the whole second)
    occurred_us = me.IntField(required=True)

    meta = {"db_alias": ALIAS, "collection": "quiz_scores"}


class TeamDoc(OutboxDocument):
    id = me.StringField(primary_key=True)
    school_id = me.StringField(required=True)
    program_id = me.StringField(required=True)
    track = me.StringField(required=True)
    name = me.StringField(required=True)
    members = me.ListField(me.StringField())
    size = me.IntField(default=0)
    # forming -> active -> disbanded; "failed" when its members could not be claimed
    status = me.StringField(required=True)
    mentor_id = me.StringField(null=True)
    tutor_id = me.StringField(null=True)
    created_at = me.DateTimeField(required=True)
    created_by = me.StringField(required=True)
    created_by_person = me.StringField(null=True)
    operations = me.ListField(me.StringField())  # the latest operation ids that changed it
    rev = me.IntField(default=0)

    meta = {"db_alias": ALIAS, "collection": "teams",
            "indexes": [("school_id", "program_id", "status")]}


class MembershipDoc(me.Document):
    """A student's team in a programme: ``_id`` is ``"<program>:<student>"``, so a
    student is in at most one team per programme (claimed before joining)."""
    id = me.StringField(primary_key=True)
    team_id = me.StringField(required=True)
    claimed_at = me.DateTimeField(required=True)

    meta = {"db_alias": ALIAS, "collection": "memberships"}


class StaffDoc(me.Document):
    """A mentor (with partner) or a tutor of a programme; ``teams`` maps team id -> when it was reserved (epoch s)
    and ``load`` counts them, kept under ``max_load`` by a guarded update."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField(required=True)
    program_id = me.StringField(required=True)
    kind = me.StringField(required=True, choices=("mentor", "tutor"))
    name = me.StringField(required=True)
    email = me.StringField(null=True)
    partner_id = me.StringField(null=True)
    max_load = me.IntField(required=True)
    load = me.IntField(default=0)
    teams = me.DictField()
    active = me.BooleanField(default=True)
    created_at = me.DateTimeField(required=True)
    person_id = me.StringField(null=True)  # the Praxis person (roster sync), the staff id stays per programme

    meta = {"db_alias": ALIAS, "collection": "staff",
            "indexes": [("school_id", "program_id", "kind")]}


DOCUMENTS = [ProgramDoc, ApplicationDoc, SeatCounterDoc, QuizScoreDoc, TeamDoc, MembershipDoc, StaffDoc]
OUTBOX_DOCUMENTS = [ProgramDoc, ApplicationDoc, TeamDoc]
