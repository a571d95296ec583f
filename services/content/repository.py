"""Storage of the content service behind a small interface (records are plain
dicts with an ``id``; the fakes in tests/unit/content mirror it).

Writes that owe events carry them in ``pending_events`` of the same document
write (the Outbox relays them). Changes to a stored record are guarded by its
``rev``: two concurrent changes cannot both win; the loser gets Conflict and
may retry.
"""
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.errors import Conflict
from services.content.models import (AttendanceDoc, DeviceClaimDoc, FeedbackDoc, MaterialDoc,
                                     PollDoc, ProgramProjection, QuestionDoc, RefusalDoc, SessionDoc,
                                     StudentProjection, TeamProjection, VoteDoc)

_HIDDEN = {"_id": 0, "pending_events": 0}


def _out(doc):
    if doc is None:
        return None
    doc = dict(doc)
    doc["id"] = doc.pop("_id")
    doc.pop("pending_events", None)
    return doc


def _in(record, events=()):
    doc = {k: v for k, v in record.items() if k != "id"}
    doc["_id"] = record["id"]
    doc["pending_events"] = list(events)
    doc.setdefault("rev", 0)
    return doc


class _Records:
    """Insert-once and rev-guarded save for one collection of records."""

    def __init__(self, document):
        self.document = document

    @property
    def collection(self):
        return self.document._get_collection()

    def insert(self, record, events=()):
        """True if stored; False if a record with this id exists (a retry or a duplicate)."""
        try:
            self.collection.insert_one(_in(record, events))
            return True
        except DuplicateKeyError:
            return False

    def get(self, record_id, **match):
        return _out(self.collection.find_one({"_id": record_id, **match}))

    def save(self, record, events=()):
        """Store a changed record read at ``record["rev"]``; Conflict if it changed meanwhile."""
        fields = {k: v for k, v in record.items() if k not in ("id", "rev")}
        result = self.collection.update_one(
            {"_id": record["id"], "rev": record["rev"]},
            {"$set": {**fields, "rev": record["rev"] + 1},
             "$push": {"pending_events": {"$each": list(events)}}})
        if result.matched_count == 0:
            raise Conflict("the record changed meanwhile; retry")
        return {**record, "rev": record["rev"] + 1}

    def find(self, query, sort=None, skip=0, limit=0):
        cursor = self.collection.find(query)
        if sort:
            cursor = cursor.sort(sort)
        if skip:
            cursor = cursor.skip(skip)
        if limit:
            cursor = cursor.limit(limit)
        return [_out(d) for d in cursor]


def _guarded_upsert(collection, _id, stamp, at, fields, on_insert=None):
    """Apply ``fields`` unless the document already holds a newer fact (its
    ``stamp`` field is later than ``at``): redelivered or out-of-order events
    never roll a projection back."""
    for _ in range(2):
        update = {"$set": {**fields, stamp: at}}
        if collection.update_one({"_id": _id, stamp: {"$lte": at}}, update).matched_count:
            return True
        if collection.update_one({"_id": _id, stamp: None}, update).matched_count:
            return True
        if collection.find_one({"_id": _id}, {"_id": 1}) is not None:
            return False  # it holds a newer fact
        try:
            collection.insert_one({"_id": _id, **(on_insert or {}), **fields, stamp: at})
            return True
        except DuplicateKeyError:
            continue  # a concurrent insert: compare again
    return False


class ContentRepository:

    def __init__(self):
        self.sessions = _Records(SessionDoc)
        self.materials = _Records(MaterialDoc)
        self.attendance = _Records(AttendanceDoc)
        self.questions = _Records(QuestionDoc)
        self.feedback = _Records(FeedbackDoc)
        self.polls = _Records(PollDoc)

    # --- projections of enrollment's events --------------------------------

    def keep_program(self, program):
        fields = {k: v for k, v in program.items() if k != "id"}
        ProgramProjection._get_collection().update_one(
            {"_id": program["id"]}, {"$setOnInsert": fields}, upsert=True)

    def get_program(self, school_id, program_id):
        return _out(ProgramProjection._get_collection().find_one({"_id": program_id, "school_id": school_id}))

    def keep_student(self, student, at):
        """``student``: school_id, program_id, student_id, track, status."""
        _guarded_upsert(StudentProjection._get_collection(),
                        f"{student['program_id']}:{student['student_id']}", "last_event_at", at, student)

    def get_student(self, school_id, program_id, student_id):
        return _out(StudentProjection._get_collection().find_one(
            {"_id": f"{program_id}:{student_id}", "school_id": school_id}))

    def admitted_students(self, program_id):
        return [_out(d) for d in StudentProjection._get_collection().find(
            {"program_id": program_id, "status": "admitted"})]

    def count_admitted(self, program_id):
        # a $count stage, not count_documents (slow on nx-27017)
        rows = list(StudentProjection._get_collection().aggregate([
            {"$match": {"program_id": program_id, "status": "admitted"}}, {"$count": "n"}]))
        return rows[0]["n"] if rows else 0

    def keep_team(self, team, at):
        """``team``: school_id, program_id, track, name, members, disbanded."""
        team = dict(team)
        _guarded_upsert(TeamProjection._get_collection(), team.pop("id"), "members_at", at, team,
                        on_insert={"mentor_id": None, "mentor_partner_id": None})

    def keep_mentor(self, team_id, school_id, program_id, mentor_id, partner_id, at):
        _guarded_upsert(TeamProjection._get_collection(), team_id, "mentor_at", at,
                        {"mentor_id": mentor_id, "mentor_partner_id": partner_id},
                        on_insert={"school_id": school_id, "program_id": program_id, "members": [],
                                   "disbanded": False})

    def team_of(self, program_id, student_id):
        return _out(TeamProjection._get_collection().find_one(
            {"program_id": program_id, "members": student_id, "disbanded": {"$ne": True}}))

    def get_team(self, team_id):
        return _out(TeamProjection._get_collection().find_one({"_id": team_id}))

    # --- sessions -----------------------------------------------------------

    def list_sessions(self, school_id, program_id, status=None, module=None, partner_id=None,
                      statuses=None, limit=100, offset=0):
        query = {"school_id": school_id, "program_id": program_id}
        if status:
            query["status"] = status
        if statuses:
            query.setdefault("status", {"$in": list(statuses)})
        if module:
            query["module"] = module
        if partner_id:
            query["partner_id"] = partner_id
        return self.sessions.find(query, sort=[("starts_at", 1)], skip=offset, limit=limit)

    def sessions_of_instructor(self, school_id, instructor_id):
        return self.sessions.find({"school_id": school_id, "instructor.id": instructor_id})

    # --- materials ------------------------------------------------------------

    def list_materials(self, school_id, program_id=None, module=None, partner_id=None,
                       published_only=False, pending_review=None, limit=100, offset=0):
        query = {"school_id": school_id}
        if program_id:
            query["program_id"] = program_id
        if module:
            query["module"] = module
        if partner_id:
            query["partner_id"] = partner_id
        if published_only:
            query["published_version"] = {"$ne": None}
        if pending_review:
            query["versions"] = {"$elemMatch": {"status": "pending"}}
        return self.materials.find(query, sort=[("created_at", 1)], skip=offset, limit=limit)

    # --- attendance -------------------------------------------------------------

    def session_records(self, session_id):
        return self.attendance.find({"session_id": session_id})

    def add_refusal(self, refusal):
        RefusalDoc._get_collection().insert_one({**{k: v for k, v in refusal.items() if k != "id"},
                                                 "_id": refusal["id"]})

    def refusals(self, session_id, limit=500):
        return [_out(d) for d in RefusalDoc._get_collection().find({"session_id": session_id})
                .sort([("at", -1)]).limit(limit)]

    def refusal_counts(self, session_id):
        rows = RefusalDoc._get_collection().aggregate([
            {"$match": {"session_id": session_id}},
            {"$group": {"_id": {"student_id": "$student_id", "reason": "$reason"}, "n": {"$sum": 1}}}])
        return [(r["_id"]["student_id"], r["_id"]["reason"], r["n"]) for r in rows]

    def claim(self, session_id, kind, value, student_id):
        """Record that ``value`` (a device id or an address) signed in ``student_id``;
        return every student it signed in for this session."""
        doc = DeviceClaimDoc._get_collection().find_one_and_update(
            {"_id": f"{session_id}:{kind}:{value}"}, {"$addToSet": {"students": student_id}},
            upsert=True, return_document=ReturnDocument.AFTER)
        return doc["students"]

    def flag(self, session_id, student_ids, flag):
        collection = AttendanceDoc._get_collection()
        for student_id in student_ids:  # by _id: stays fast on nx-27017
            collection.update_one({"_id": f"{session_id}:{student_id}"}, {"$addToSet": {"flags": flag}})

    def count_attending(self, session_ids, attending):
        if not session_ids:
            return 0
        rows = list(AttendanceDoc._get_collection().aggregate([
            {"$match": {"session_id": {"$in": list(session_ids)}, "status": {"$in": list(attending)}}},
            {"$count": "n"}]))
        return rows[0]["n"] if rows else 0

    # --- questions ----------------------------------------------------------------

    def session_questions(self, session_id):
        return self.questions.find({"session_id": session_id}, sort=[("asked_at", 1)])

    def overdue_questions(self, school_id, program_id, now):
        return self.questions.find({"school_id": school_id, "program_id": program_id,
                                    "status": "open", "due_at": {"$lt": now}}, sort=[("due_at", 1)])

    def due_unflagged_questions(self, now, limit=500):
        return self.questions.find({"overdue": False, "status": "open", "due_at": {"$lt": now}},
                                   limit=limit)

    def flag_overdue(self, question_id, event):
        """Mark once: only the write that flips ``overdue`` carries the event."""
        return QuestionDoc._get_collection().update_one(
            {"_id": question_id, "overdue": False, "status": "open"},
            {"$set": {"overdue": True}, "$inc": {"rev": 1}, "$push": {"pending_events": event}},
        ).modified_count == 1

    # --- feedback --------------------------------------------------------------------

    def feedback_totals(self, query):
        rows = list(FeedbackDoc._get_collection().aggregate([
            {"$match": query},
            {"$group": {"_id": None, "count": {"$sum": 1}, "clarity": {"$sum": "$clarity"},
                        "practical_value": {"$sum": "$practical_value"}, "pace": {"$sum": "$pace"}}}]))
        return rows[0] if rows else {"count": 0, "clarity": 0, "practical_value": 0, "pace": 0}

    def feedback_comments(self, session_id):
        return [d["comment"] for d in FeedbackDoc._get_collection().find(
            {"session_id": session_id}, {"comment": 1}) if d.get("comment")]

    # --- polls -------------------------------------------------------------------------

    def add_vote(self, vote):
        """True if this is the student's first vote in the poll."""
        try:
            VoteDoc._get_collection().insert_one({**{k: v for k, v in vote.items() if k != "id"},
                                                  "_id": vote["id"]})
            return True
        except DuplicateKeyError:
            return False

    def get_vote(self, vote_id):
        return _out(VoteDoc._get_collection().find_one({"_id": vote_id}))

    def tally(self, poll_id):
        """Yes and no votes, counted from the votes themselves (exact after a crash)."""
        rows = VoteDoc._get_collection().aggregate([
            {"$match": {"poll_id": poll_id}}, {"$group": {"_id": "$answer", "n": {"$sum": 1}}}])
        counts = {r["_id"]: r["n"] for r in rows}
        return counts.get("yes", 0), counts.get("no", 0)

    def mark_poll_reached(self, poll_id, fields, events):
        """Flip ``reached`` once; only that write carries the events."""
        return PollDoc._get_collection().update_one(
            {"_id": poll_id, "reached": False},
            {"$set": {**fields, "reached": True}, "$inc": {"rev": 1},
             "$push": {"pending_events": {"$each": list(events)}}}).modified_count == 1
