"""Documents of the supervision service (database praxis_supervision).

The repository writes them as plain documents through pymongo (whole-document
replaces under a ``rev`` guard: nx-27017 mangles dotted ``$set``/``$max`` paths and
top-level datetimes, see README "Database notes"); these classes name the
collections, declare the indexes and let the outbox relay find owed events.
Times are epoch seconds.
"""
import mongoengine as me

from services.common.events import OutboxDocument

ALIAS = "supervision"
_LOOSE = {"db_alias": ALIAS, "strict": False}


class ProgramFunnelDoc(me.Document):  # (a unique class name: mongoengine keeps one registry for all)
    """A programme: funnel counters (``counts``, kept with each event), the sessions
    known from content, the partners working with it and the supervision rules."""
    id = me.StringField(primary_key=True)
    school_id = me.StringField(required=True)
    tracks = me.ListField(me.StringField())
    meta = {**_LOOSE, "collection": "programs", "indexes": ["school_id"]}


class StudentDoc(OutboxDocument):
    """One student of one programme (``_id`` = "<program>:<student>"): the stages
    reached (epoch of the first time), attendance, last activity, platform accounts."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField(required=True)
    status = me.StringField(null=True)
    idle_clock = me.FloatField(null=True)  # epoch since which the platform is silent
    meta = {**_LOOSE, "collection": "students",
            "indexes": ["program_id", ("program_id", "status", "idle_clock")]}


class PlatformAccountDoc(me.Document):
    """A platform account of a programme (``_id`` = "<program>:<account>"): its
    activity summary, kept whether or not a student is mapped to it yet."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField(required=True)
    student_key = me.StringField(null=True)
    account_id = me.StringField()
    # (program_id, account_id): the accounts list's pages, sorted and cut by the database
    meta = {**_LOOSE, "collection": "accounts",
            "indexes": ["program_id", "student_key", ("program_id", "account_id")]}


class ActivityDoc(me.Document):
    """One platform record (``_id`` = "<program>:<platform record id>": the dedupe key)."""
    id = me.StringField(primary_key=True)
    batch_id = me.StringField()
    account_id = me.StringField()
    # one secondary index, as before (each costs every insert): by batch, and within a
    # batch by account (what the reads add from batches not folded yet)
    meta = {**_LOOSE, "collection": "activity", "indexes": [("batch_id", "account_id")]}


class UnfoldedBatchDoc(me.Document):
    """A telemetry batch whose records are stored but not yet folded into the accounts'
    and students' summaries (``_id`` = the batch id; what it adds is read from its
    records). The compaction folds it and removes it; reads add it meanwhile."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField(required=True)
    stored_ts = me.FloatField()
    meta = {**_LOOSE, "collection": "unfolded_batches", "indexes": [("program_id", "stored_ts")]}


class ClaimDoc(OutboxDocument):
    """What the idle check did for one spell (``_id`` = "<spell>:idle" or
    "<spell>:reclaim"): inserted once, with its events, by whichever supervision
    process gets there first."""
    id = me.StringField(primary_key=True)
    meta = {**_LOOSE, "collection": "claims"}


class AlertDoc(OutboxDocument):
    """An alert (``_id`` derived from its cause: raised once per cause)."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField(required=True)
    status = me.StringField()
    mentor_id = me.StringField(null=True)
    meta = {**_LOOSE, "collection": "alerts",
            "indexes": [("program_id", "status"), ("program_id", "mentor_id")]}


class StatementDoc(me.Document):
    """An xAPI statement (``_id`` = its id, derived from the event's id); ``pending`` is
    1 until the LRS holds it."""
    id = me.StringField(primary_key=True)
    program_id = me.StringField(required=True)
    pending = me.IntField(null=True)
    meta = {**_LOOSE, "collection": "statements", "indexes": [{"fields": ["pending"], "sparse": True},
                                                              ("program_id", "ts")]}
    ts = me.FloatField()


DOCUMENTS = [ProgramFunnelDoc, StudentDoc, PlatformAccountDoc, ActivityDoc, UnfoldedBatchDoc, ClaimDoc, AlertDoc,
             StatementDoc]
OUTBOX = [StudentDoc, ClaimDoc, AlertDoc]
