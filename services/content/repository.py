"""Storage of the content service behind a small interface (records are plain
dicts with an ``id``; the fakes in tests/unit/content mirror it).

Writes that owe events carry them in ``pending_events`` of the same document
write (the Outbox relays them). Changes to a stored record are guarded by its
``rev``: two concurrent changes cannot both win; the loser gets Conflict and
may retry.

nx-27017 traps met here (services.common.records explains them): a changed record
is written whole, and only strings and lists of strings are ever ``$set``/``$addToSet``.
"""
import copy
import time
from collections import Counter

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts.content import ATTENDANCE_STATUSES
from contracts.errors import Conflict
from services.common.records import Records as _Records
from services.common.records import apply_fact as _apply_fact
from services.common.records import count as _count
from services.common.records import doc_out as _out
from services.content.models import (AttendanceDoc, AttendanceTallyDoc, DeviceClaimDoc, FeedbackDoc, MaterialDoc,
                                     PollDoc, ProgramProjection, QuestionDoc, RefusalDoc, SessionDoc,
                                     StudentProjection, TeamProjection, VoteDoc)

_HIDDEN = {"_id": 0, "pending_events": 0}
# programmes' projections, per process: (school_id, program_id) -> (when read, projection)
_PROGRAMS = {}
PROGRAM_CACHE_SECONDS = 60.0
PROGRAM_CACHE_SIZE = 1024
# a session's tally is recounted from the records when read this long after its last
# count: what a crash between a record's write and its $inc left behind heals by then
TALLY_CHECK_SECONDS = 30.0
TALLIED = (*ATTENDANCE_STATUSES, "flagged")


def _tally_keys(doc):
    """What one attendance record adds to its session's tally."""
    if doc is None:
        return []
    return [doc["status"]] + (["flagged"] if doc.get("flags") else [])


class AttendanceRecords(_Records):
    """Attendance records; every write keeps its session's tally (``AttendanceTallyDoc``):
    one ``$inc`` by ``_id`` of what the write changed, after the guarded record write.
    A crash between the two leaves the tally one off until it is recounted (reads
    recount a tally older than ``TALLY_CHECK_SECONDS``); the records are the truth."""

    watch = ("status", "flags")

    def written(self, old, new):
        delta = Counter(_tally_keys(new))
        delta.subtract(_tally_keys(old))
        changes = {key: n for key, n in delta.items() if n}
        if changes:
            # no upsert (nx-27017 mishandles $inc upserts): a missing tally is counted when read
            AttendanceTallyDoc._get_collection().update_one({"_id": new["session_id"]},
                                                            {"$inc": {**changes, "v": 1}})


class ContentRepository:

    def __init__(self):
        self.sessions = _Records(SessionDoc)
        self.materials = _Records(MaterialDoc)
        self.attendance = AttendanceRecords(AttendanceDoc)
        self.questions = _Records(QuestionDoc)
        self.feedback = _Records(FeedbackDoc)
        self.polls = _Records(PollDoc)

    # --- projections of enrollment's events --------------------------------

    def keep_program(self, program):
        try:
            ProgramProjection._get_collection().insert_one(
                {**{k: v for k, v in program.items() if k != "id"}, "_id": program["id"]})
        except DuplicateKeyError:
            pass  # a redelivered program.created: the programme is known

    def get_program(self, school_id, program_id):
        """The programme's projection. It is written once (program.created) and never
        changed, so a found one is remembered for a while (every sign-in needs its rules)."""
        key, now = (school_id, program_id), time.monotonic()
        cached = _PROGRAMS.get(key)
        if cached is not None and now - cached[0] < PROGRAM_CACHE_SECONDS:
            return copy.deepcopy(cached[1])
        program = _out(ProgramProjection._get_collection().find_one({"_id": program_id, "school_id": school_id}))
        if program is not None:
            if len(_PROGRAMS) >= PROGRAM_CACHE_SIZE:
                _PROGRAMS.clear()
            _PROGRAMS[key] = (now, copy.deepcopy(program))
        return program

    def keep_student(self, student, at):
        """``student``: school_id, program_id, student_id, track, status."""
        _apply_fact(StudentProjection._get_collection(),
                        f"{student['program_id']}:{student['student_id']}", "last_event_at", at, student)

    def get_student(self, school_id, program_id, student_id):
        return _out(StudentProjection._get_collection().find_one(
            {"_id": f"{program_id}:{student_id}", "school_id": school_id}))

    def admitted_students(self, program_id):
        return [_out(d) for d in StudentProjection._get_collection().find(
            {"program_id": program_id, "status": "admitted"})]

    def count_admitted(self, program_id, tracks=None):
        # $count stages over the index, not count_documents (slow on nx-27017); one
        # equality match per track (nx-27017 counts a $in match several times slower)
        match = {"program_id": program_id, "status": "admitted"}
        if not tracks:
            return _count(StudentProjection, match)
        return sum(_count(StudentProjection, {**match, "track": track}) for track in set(tracks))

    def keep_team(self, team, at):
        """``team``: school_id, program_id, track, name, members, disbanded."""
        team = dict(team)
        _apply_fact(TeamProjection._get_collection(), team.pop("id"), "members_at", at, team,
                        on_insert={"mentor_id": None, "mentor_partner_id": None})

    def keep_mentor(self, team_id, school_id, program_id, mentor_id, partner_id, at):
        _apply_fact(TeamProjection._get_collection(), team_id, "mentor_at", at,
                        {"mentor_id": mentor_id, "mentor_partner_id": partner_id},
                        on_insert={"school_id": school_id, "program_id": program_id, "members": [],
                                   "disbanded": False})

    def team_of(self, program_id, student_id):
        # a programme has tens of teams: filter here rather than trust an array match
        for team in TeamProjection._get_collection().find({"program_id": program_id}):
            if not team.get("disbanded") and student_id in (team.get("members") or []):
                return _out(team)
        return None

    def get_team(self, team_id):
        return _out(TeamProjection._get_collection().find_one({"_id": team_id}))

    def partner_mentors(self, program_id, partner_id):
        """Ids of the partner's mentors assigned to teams of the programme."""
        return {t["mentor_id"] for t in TeamProjection._get_collection().find({"program_id": program_id})
                if t.get("mentor_id") and t.get("mentor_partner_id") == partner_id and not t.get("disbanded")}

    # --- sessions -----------------------------------------------------------

    def list_sessions(self, school_id, program_id, status=None, module=None, partner_id=None,
                      limit=100, offset=0):
        query = {"school_id": school_id, "program_id": program_id}
        if status:
            query["status"] = status
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

    def records_of_sessions(self, session_ids, student_id=None):
        """Attendance records of these sessions (of one student: by ``_id``)."""
        if student_id is not None:
            return self.attendance.find({"_id": {"$in": [f"{s}:{student_id}" for s in session_ids]}})
        return self.attendance.find({"session_id": {"$in": list(session_ids)}})

    def scheduled_sessions(self, school_id, program_id):
        """The programme's scheduled sessions (past and coming), by start."""
        return self.sessions.find({"school_id": school_id, "program_id": program_id, "status": "scheduled"},
                                  sort=[("starts_at", 1), ("_id", 1)])

    def session_students(self, session_id, statuses, offset=0, limit=100):
        """Students of a page of the session's records with one of ``statuses`` (those
        of the first status first). One equality match per status: nx-27017 serves it
        from the index, while a ``$in`` reads every record of the session when few match."""
        records, found, skip = AttendanceDoc._get_collection(), [], offset
        for status in statuses:
            match = {"session_id": session_id, "status": status}
            got = [d["student_id"] for d in records.find(match, {"student_id": 1}).skip(skip).limit(limit - len(found))]
            found += got
            if len(found) >= limit:
                break
            # this status ran out: the page goes on with the next, past what it skipped of it
            skip = 0 if got or not skip else max(0, skip - _count(AttendanceDoc, match))
        return found

    def flagged_students(self, session_id, offset=0, limit=100):
        return [d["student_id"] for d in AttendanceDoc._get_collection().find(
            {"session_id": session_id, "flagged": 1}, {"student_id": 1}).skip(offset).limit(limit)]

    def count_flagged(self, session_id):
        return _count(AttendanceDoc, {"session_id": session_id, "flagged": 1})

    def open_tally(self, session_id):
        """Make the session's tally before its first sign-in (so no write's $inc misses
        it); ``checked_ts`` 0: the first read counts what records exist already."""
        try:
            AttendanceTallyDoc._get_collection().insert_one(
                {"_id": session_id, **{key: 0 for key in TALLIED}, "v": 0, "checked_ts": 0.0})
        except DuplicateKeyError:
            pass

    def session_tally(self, session_id):
        """{status: records of the session with it, ..., "flagged": flagged records}: one
        read by ``_id``; recounted from the records (and stored, unless a write came
        in between) when missing or older than ``TALLY_CHECK_SECONDS``."""
        tallies = AttendanceTallyDoc._get_collection()
        doc = tallies.find_one({"_id": session_id})
        if doc is not None and time.time() - (doc.get("checked_ts") or 0) < TALLY_CHECK_SECONDS:
            return {key: doc.get(key) or 0 for key in TALLIED}
        counted = {key: 0 for key in TALLIED}
        for row in AttendanceDoc._get_collection().aggregate([
                {"$match": {"session_id": session_id}}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
            counted[row["_id"]] = row["n"]
        counted["flagged"] = self.count_flagged(session_id)
        fresh = {"_id": session_id, **counted, "checked_ts": time.time()}
        try:
            if doc is None:
                tallies.insert_one({**fresh, "v": 0})
            else:  # only if no write's $inc came in since it was read (v unchanged)
                tallies.replace_one({"_id": session_id, "v": doc.get("v", 0)}, {**fresh, "v": doc.get("v", 0)})
        except DuplicateKeyError:
            pass  # made meanwhile (the window opened): the next read sees it
        return counted

    def not_signed_in(self, session_id, program_id, tracks, statuses, offset=0, limit=100, chunk=None,
                      max_chunk=2000, signed_share=0.0):
        """A page of the admitted students (of ``tracks``) without a record in ``statuses``:
        admitted students are read a chunk at a time, each chunk checked by record ids,
        until the page is full (a first page reads about ``limit`` students while few
        have signed in)."""
        match = {"program_id": program_id, "status": "admitted"}
        if tracks:
            tracks = sorted(set(tracks))
            match["track"] = tracks[0] if len(tracks) == 1 else {"$in": tracks}
        found, skipped = [], 0
        records = AttendanceDoc._get_collection()

        def check(students):
            nonlocal skipped
            # by _id only, the status read here (a $in on status makes nx-27017 slower)
            signed = {d["student_id"] for d in records.find(
                {"_id": {"$in": [f"{session_id}:{s}" for s in students]}}, {"student_id": 1, "status": 1})
                if d["status"] in statuses}
            for student_id in students:
                if student_id in signed:
                    continue
                if skipped < offset:
                    skipped += 1
                else:
                    found.append(student_id)
            return len(found) >= limit

        students, start = StudentProjection._get_collection(), 0
        # a first chunk that likely fills the page (``signed_share``: the share of the
        # students with such a record, from the tally; every student read costs the
        # database a document), then doubling while the page stays short
        if chunk is None:
            chunk = min(max_chunk, max(100, int(1.25 * (offset + limit) / max(0.05, 1.0 - signed_share))))
        while True:
            # pages with a limit: nx-27017 computes a whole unlimited query before its first batch
            batch = [d["student_id"] for d in students.find(match, {"student_id": 1}).skip(start).limit(chunk)]
            if not batch or check(batch) or len(batch) < chunk:
                return found[:limit]
            start += chunk
            chunk = min(max_chunk, chunk * 2)

    def add_refusal(self, refusal):
        RefusalDoc._get_collection().insert_one({**{k: v for k, v in refusal.items() if k != "id"},
                                                 "_id": refusal["id"]})

    def refusals(self, session_id, limit=500):
        return [_out(d) for d in RefusalDoc._get_collection().find({"session_id": session_id})
                .sort([("at", -1)]).limit(limit)]

    def refusal_counts(self, session_id):
        """(student_id, reason, count) of a session's refusals (counted here: nx-27017
        does not group by a compound key)."""
        counts = {}
        for doc in RefusalDoc._get_collection().find({"session_id": session_id}, {"student_id": 1, "reason": 1}):
            key = (doc["student_id"], doc["reason"])
            counts[key] = counts.get(key, 0) + 1
        return [(student_id, reason, n) for (student_id, reason), n in counts.items()]

    def claim(self, session_id, kind, value, student_id):
        """Record that ``value`` (a device id or an address) signed in ``student_id``;
        return every student it signed in for this session."""
        return self.claim_all(session_id, [(kind, value)], student_id)[kind]

    def claim_all(self, session_id, claims, student_id):
        """``claims``: (kind, value) pairs (a device id, an address) that signed in
        ``student_id``; return {kind: every student the value signed in for this
        session, first first}. One bulk insert when every value is new (the common
        case); a value claimed before costs one more update that returns its list."""
        collection = DeviceClaimDoc._get_collection()
        ids = {kind: f"{session_id}:{kind}:{value}" for kind, value in claims}
        if not ids:
            return {}
        taken = set()
        try:
            collection.insert_many([{"_id": _id, "students": [student_id]} for _id in ids.values()],
                                   ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            taken = {list(ids.values())[e["index"]] for e in errors}
        found = {}
        for kind, _id in ids.items():
            if _id not in taken:
                found[kind] = [student_id]
                continue
            # no upsert: nx-27017 drops the $addToSet of an upserted document (it exists here)
            doc = collection.find_one_and_update({"_id": _id}, {"$addToSet": {"students": student_id}},
                                                 return_document=ReturnDocument.AFTER)
            found[kind] = doc["students"] if doc else collection.find_one({"_id": _id})["students"]
        return found

    def flag(self, session_id, student_ids, flag):
        for student_id in student_ids:
            for _ in range(10):  # concurrent sign-ins may flag the same record
                record = self.attendance.get(f"{session_id}:{student_id}")
                if record is None or flag in record["flags"]:
                    break
                try:
                    self.attendance.save({**record, "flags": record["flags"] + [flag]})
                    break
                except Conflict:
                    continue

    def count_attending(self, session_ids, attending):
        if not session_ids:
            return 0
        session_ids = list(session_ids)
        if len(session_ids) == 1:
            # one $count per status: an equality match counts from the index
            # (nx-27017 counts an $in match several times slower)
            return sum(_count(AttendanceDoc, {"session_id": session_ids[0], "status": status})
                       for status in attending)
        return _count(AttendanceDoc, {"session_id": {"$in": list(session_ids)}, "status": {"$in": list(attending)}})

    # --- questions ----------------------------------------------------------------

    def session_questions(self, session_id):
        return self.questions.find({"session_id": session_id}, sort=[("asked_at", 1)])

    def overdue_questions(self, school_id, program_id, now):
        # range queries on the epoch number: nx-27017 compares datetimes unreliably
        return self.questions.find({"school_id": school_id, "program_id": program_id,
                                    "status": "open", "due_ts": {"$lt": now.timestamp()}},
                                   sort=[("due_ts", 1)])

    def ended_sessions_without_poll(self, now, limit=500):
        """Scheduled sessions that are over and have no demand poll yet."""
        ended = self.sessions.find({"status": "scheduled", "ends_ts": {"$lt": now.timestamp()}})
        return [s for s in ended if not s.get("demand_poll_id")][:limit]

    def mark_demand_poll(self, session, poll_id):
        try:
            self.sessions.save({**session, "demand_poll_id": poll_id})
        except Conflict:
            pass  # changed meanwhile: the next scan sees it again; the poll insert is idempotent

    def due_unflagged_questions(self, now, limit=500):
        return self.questions.find({"overdue": False, "status": "open", "due_ts": {"$lt": now.timestamp()}},
                                   limit=limit)

    def flag_overdue(self, question, event):
        """Mark once: only the write that flips ``overdue`` carries the event
        (a concurrent scan or change loses the rev race and emits nothing)."""
        if question["overdue"] or question["status"] != "open":
            return False
        try:
            self.questions.save({**question, "overdue": True}, [event])
            return True
        except Conflict:
            return False

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

    def change_vote(self, vote):
        """A student's changed answer (until the poll closes)."""
        VoteDoc._get_collection().replace_one(
            {"_id": vote["id"]}, {**{k: v for k, v in vote.items() if k != "id"}, "_id": vote["id"]})

    def closed_open_polls(self, now, limit=500):
        """Polls past their closing time that have not decided yet."""
        return self.polls.find({"state": "open", "closes_ts": {"$lte": now.timestamp()}}, limit=limit)

    def decide_poll(self, poll, fields, events):
        """Decide once: only the write that moves the poll to ``decided`` carries the events."""
        try:
            return self.polls.save({**poll, **fields, "state": "decided"}, events)
        except Conflict:
            return None
