"""Storage of the enrollment service behind a small interface (an in-memory
fake with the same methods lives in tests/unit/enrollment/fakes.py).

Rules kept here, because nx-27017 and MongoDB both serve them:
- every update is by ``_id`` and guarded (status, capacity, rev), never a
  read-then-blind-write;
- a document's events go into its own ``pending_events`` in the same write
  (``_write``), relayed later by services.common.events.Outbox.
"""
import copy
import time
from datetime import datetime, timedelta, timezone

from mongoengine import BooleanField, DateTimeField, NotUniqueError
from pymongo import ReplaceOne, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts.errors import Conflict
from services.common.events import owing
from services.enrollment.models import (ApplicationDoc, MembershipDoc, ProgramDoc, QuizScoreDoc,
                                        SeatCounterDoc, StaffDoc, TeamDoc)

PROGRAM_FIELDS = [f for f in ProgramDoc._fields if f not in ("pending_events", "outbox_pending")]
# what a roster row shows of an application (domain.roster_rows)
ROSTER_FIELDS = ["track", "name", "student_id", "major", "year_of_study", "status", "previous_status", "promoted"]
_HIDDEN = ("pending_events", "outbox_pending", "rev", "live_key")


def _eq(**fields):
    """Equality matches as ``$eq``: nx-27017 matches a bare value also inside arrays
    (``x = v OR EXISTS (... json_each ...)``), which no index serves; ``$eq`` is
    a plain ``=`` on the indexed expression (MongoDB treats both alike)."""
    return {k: {"$eq": v} for k, v in fields.items()}


def _as_dict(doc):
    return {f: getattr(doc, f) for f in PROGRAM_FIELDS}


def _plain(raw, document=None):
    """A stored document as the service sees it: ``id`` instead of ``_id``, and
    the fields mongoengine left out (None values) back with their defaults."""
    if raw is None:
        return None
    out = {k: v for k, v in raw.items() if k not in _HIDDEN and k != "_id"}
    out["id"] = raw["_id"]
    for name, field in (document._fields.items() if document else ()):
        if name not in out and name not in _HIDDEN:
            out[name] = field.default() if callable(field.default) else field.default
        elif isinstance(field, DateTimeField) and isinstance(out.get(name), str):
            out[name] = _datetime(out[name])
        elif isinstance(field, BooleanField) and isinstance(out.get(name), int):
            out[name] = bool(out[name])  # nx-27017 stores a $set boolean as 0/1
    return out


def _datetime(text):
    """nx-27017 stores a datetime written with $set as text ('2026-03-01 09:00:00.000000',
    UTC); inserted ones stay datetimes. Read both as aware datetimes."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _instant(value):
    """A datetime as sortable UTC text (kept as text where the database compares it)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _microseconds(value):
    """A datetime as whole microseconds since the epoch: nx-27017 compares datetimes, and
    text that looks like one, to the whole second, so ordering within a second (a quiz
    and its retake) is compared on this number."""
    return (value - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def _write(document, guard, update, events=None, attempts=50):
    """One guarded update by ``_id`` that also appends the events it owes.

    nx-27017 stores dicts added with $push as strings, so ``pending_events`` is
    $set whole, guarded on ``rev`` (bumped by every such write): a concurrent
    writer makes the guard fail and the update is tried again on the fresh
    document. ``events`` is a list or a function of the current document (so
    the events describe the state the update really applies to). Returns the
    document after the update, or None when ``guard`` does not match.
    """
    collection = document._get_collection()
    for _ in range(attempts):
        current = collection.find_one(guard)
        if current is None:
            return None
        change = copy.deepcopy(update)
        change.setdefault("$inc", {})["rev"] = 1
        owed = events(_plain(current, document)) if callable(events) else list(events or ())
        if owed:
            change.setdefault("$set", {}).update(
                {"pending_events": [*current.get("pending_events", []), *owed], **owing(owed)})
        after = collection.find_one_and_update(
            {**guard, "_id": current["_id"], "rev": current.get("rev", 0)}, change,
            return_document=ReturnDocument.AFTER)
        if after is not None:
            return after
    raise Conflict("the record is being changed by many requests at once; try again")


class ProgramRepository:

    def add(self, program, events=()):
        """Store the programme and the events it owes in one write. A second add
        with the same id (a retried operation) returns the stored one unchanged."""
        try:
            ProgramDoc(**program, pending_events=list(events)).save(force_insert=True)
        except NotUniqueError:
            pass
        return self.get(program["school_id"], program["id"])

    def get(self, school_id, program_id):
        doc = ProgramDoc.objects(id=program_id, school_id=school_id).first()
        return _as_dict(doc) if doc else None

    def list(self, school_id, season=None, limit=50, offset=0):
        query = ProgramDoc.objects(school_id=school_id)
        if season:
            query = query.filter(season=season)
        return [_as_dict(d) for d in query.order_by("-created_at").skip(offset).limit(limit)]


class EnrollmentRepository:
    """Programmes, applications, seats, quiz scores, teams, mentors and tutors."""

    # --- applications --------------------------------------------------------

    @property
    def _apps(self):
        return ApplicationDoc._get_collection()

    def insert_application(self, app, events=()):
        """Store a new application with its events; (stored, created). A retried
        operation (same id) gets the stored one; a second live application of
        the student in the programme raises Conflict."""
        try:
            ApplicationDoc(**app, pending_events=list(events)).save(force_insert=True)
            return self.get_application(app["school_id"], app["id"]), True
        except NotUniqueError:
            existing = self.get_application(app["school_id"], app["id"])
            if existing is not None:
                return existing, False
            raise Conflict(f"student {app['student_id']} already has a live application "
                           f"to programme {app['program_id']}")

    def insert_applications(self, items):
        """Bulk ``insert_application``: ``items`` are (application, events); returns
        {id: "created" | "exists" (stored before: the same operation) | "duplicate"
        (the student has another live application to the programme)}."""
        docs = []
        for app, events in items:
            doc = ApplicationDoc(**app, pending_events=list(events))
            doc.validate()  # and clean(): the events it owes mark it for the relay
            docs.append(doc.to_mongo().to_dict())
        ids = [d["_id"] for d in docs]
        outcome = {d["_id"]: "exists" for d in self._apps.find({"_id": {"$in": ids}}, {"_id": 1})}
        fresh = [d for d in docs if d["_id"] not in outcome]
        refused = set()
        if fresh:
            try:
                self._apps.insert_many(fresh, ordered=False)
            except BulkWriteError as exc:
                refused = {fresh[e["index"]]["_id"] for e in exc.details.get("writeErrors", [])}
        stored_now = {d["_id"] for d in self._apps.find({"_id": {"$in": list(refused)}}, {"_id": 1})} if refused else set()
        for doc in fresh:
            if doc["_id"] not in refused:
                outcome[doc["_id"]] = "created"
            else:
                outcome[doc["_id"]] = "exists" if doc["_id"] in stored_now else "duplicate"
        return outcome

    def get_application(self, school_id, application_id):
        return _plain(self._apps.find_one({"_id": application_id, "school_id": school_id}), ApplicationDoc)

    def live_application(self, school_id, program_id, student_id):
        return _plain(self._apps.find_one({"live_key": f"{program_id}:{student_id}",
                                           "school_id": school_id}), ApplicationDoc)

    def list_applications(self, school_id, program_id, status=None, track=None, student_id=None,
                          limit=50, offset=0):
        query = {"school_id": school_id, "program_id": program_id}
        if student_id is not None:
            query["student_id"] = student_id
        if status:
            query["status"] = status
        if track:
            query["track"] = track
        cursor = self._apps.find(_eq(**query)).sort([("submitted_at", 1), ("_id", 1)]).skip(offset).limit(limit)
        return [_plain(d, ApplicationDoc) for d in cursor]

    def applications_in(self, school_id, program_id, track, statuses):
        """Applications of a track with one of ``statuses``, best rank first."""
        query = {"school_id": school_id, "program_id": program_id, "status": {"$in": list(statuses)}}
        if track is not None:
            query["track"] = track
        cursor = self._apps.find(query).sort([("score", -1), ("submitted_at", 1), ("_id", 1)])
        return [_plain(d, ApplicationDoc) for d in cursor]

    def roster_applications(self, school_id, program_id, offset=0, limit=100):
        """A page of the roster in roster order (track, name, student id): the admitted
        applications and those withdrawn after admission, only the fields a row shows.

        Each status is one equality match sorted by the index that starts with it
        (nx-27017 sorts a ``$in`` of statuses in full; ``_eq``). The
        withdrawn-after-admission rows (few) are read whole, the admitted ones from
        ``offset - len(withdrawn)``; merged, a row's place in the roster is that start
        plus its place in the merge, exact for every row that can fall in the page."""
        def match(status, **more):
            return _eq(school_id=school_id, program_id=program_id, status=status, **more)
        order = [("track", 1), ("name", 1), ("student_id", 1)]
        withdrawn = list(self._apps.find(match("withdrawn", previous_status="admitted"), ROSTER_FIELDS).sort(order))
        start = max(0, offset - len(withdrawn))
        admitted = list(self._apps.find(match("admitted"), ROSTER_FIELDS).sort(order)
                        .skip(start).limit(offset + limit - start))
        merged = sorted(admitted + withdrawn, key=lambda d: (d["track"], d["name"], d["student_id"], d["status"]))
        return [_plain(d) for n, d in enumerate(merged, start) if offset <= n < offset + limit]

    def applications_by_id(self, ids):
        return {d["_id"]: _plain(d, ApplicationDoc) for d in self._apps.find({"_id": {"$in": list(ids)}})}

    def update_application(self, application_id, statuses, changes, events=None):
        """Set ``changes`` if the application's status is one of ``statuses``;
        the updated application, or None if it was not in such a status."""
        after = _write(ApplicationDoc, {"_id": application_id, "status": {"$in": list(statuses)}},
                       {"$set": dict(changes)}, events)
        return _plain(after, ApplicationDoc)

    def update_applications(self, writes, chunk=500):
        """Bulk ``update_application``: ``writes`` are (id, statuses, changes, events).
        Each application is still one guarded write (status and ``rev``) carrying its
        own events, sent in bulk; returns {id: application after} for the writes that
        applied (the others found the application changed, and are left to the caller).

        Each write replaces the whole document read just before (``$set`` of the events,
        a list of documents, costs nx-27017 about three times a whole replace; a replace
        also keeps datetimes and booleans as they are)."""
        applied = {}
        for start in range(0, len(writes), chunk):
            part = writes[start:start + chunk]
            ids = [w[0] for w in part]
            current = {d["_id"]: d for d in self._apps.find({"_id": {"$in": ids}})}
            ops = []
            for app_id, statuses, changes, events in part:
                doc = current.get(app_id)
                if doc is None or doc["status"] not in statuses:
                    continue
                owed = list(events or ())
                new = {**doc, **changes, "rev": doc.get("rev", 0) + 1,
                       "pending_events": [*doc.get("pending_events", []), *owed], **owing(owed)}
                # the guard names the status read (an equality: nx-27017 matches it faster than a $in)
                ops.append(ReplaceOne({"_id": app_id, "rev": doc.get("rev", 0), "status": doc["status"]}, new))
            if ops:
                self._apps.bulk_write(ops, ordered=False)
            wanted = {w[0]: w[2].get("status") for w in part}
            for doc in self._apps.find({"_id": {"$in": ids}}):
                after = _plain(doc, ApplicationDoc)
                if after["status"] == wanted[doc["_id"]] and doc.get("rev", 0) != current.get(doc["_id"], {}).get("rev", 0):
                    applied[doc["_id"]] = after
        return applied

    # --- quiz scores ---------------------------------------------------------

    def record_quiz_score(self, key, score, quiz_id, occurred_at):
        """Keep the score if it is newer than the one kept (latest counts)."""
        collection = QuizScoreDoc._get_collection()
        fields = {"score": score, "quiz_id": quiz_id, "occurred_at": _instant(occurred_at),
                  "occurred_us": _microseconds(occurred_at)}
        try:
            collection.insert_one({"_id": key, **fields})
            return True
        except DuplicateKeyError:
            # a score kept before occurred_us existed is replaced by any later one
            older = {"$or": [{"occurred_us": {"$lte": fields["occurred_us"]}}, {"occurred_us": {"$exists": False}}]}
            result = collection.update_one({"_id": key, **older}, {"$set": fields})
            return result.matched_count == 1

    def quiz_scores(self, keys):
        """{key: kept score} for those of ``keys`` that have one."""
        found = {}
        for raw in QuizScoreDoc._get_collection().find({"_id": {"$in": list(keys)}}):
            kept = _plain(raw)
            kept["occurred_at"] = datetime.strptime(kept["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=timezone.utc)
            found[raw["_id"]] = kept
        return found

    def quiz_score(self, key):
        kept = _plain(QuizScoreDoc._get_collection().find_one({"_id": key}))
        if kept is not None:
            kept["occurred_at"] = datetime.strptime(kept["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=timezone.utc)
        return kept

    # --- seats ---------------------------------------------------------------

    @property
    def _seats(self):
        return SeatCounterDoc._get_collection()

    def ensure_counter(self, school_id, program_id, track, capacity):
        self._seats.update_one(
            {"_id": f"{program_id}:{track}"},
            {"$setOnInsert": {"school_id": school_id, "program_id": program_id, "track": track,
                              "capacity": capacity, "admitted": 0, "seats": {}}},
            upsert=True)

    def reserve_seat(self, program_id, track, application_id, capacity):
        """'reserved' (a place taken for the application), 'held' (it had one)
        or 'full'. One guarded update: never more than ``capacity``."""
        key = f"{program_id}:{track}"
        taken = self._seats.find_one_and_update(
            {"_id": key, "admitted": {"$lt": capacity}, f"seats.{application_id}": {"$exists": False}},
            {"$inc": {"admitted": 1}, "$set": {f"seats.{application_id}": 1}})
        if taken is not None:
            return "reserved"
        held = self._seats.find_one({"_id": key, f"seats.{application_id}": {"$exists": True}}, {"_id": 1})
        return "held" if held else "full"

    def reserve_seats(self, program_id, track, application_ids, capacity, chunk=200):
        """Places for all ``application_ids``, or none (False: not enough places
        left, or one of them holds one already). One guarded update per ``chunk``
        ids (nx-27017 matches no document past about a thousand conditions); a
        chunk refused gives back the chunks taken before it."""
        key, taken = f"{program_id}:{track}", []
        for start in range(0, len(application_ids), chunk):
            part = application_ids[start:start + chunk]
            guard = {"_id": key, "admitted": {"$lte": capacity - len(part)},
                     **{f"seats.{i}": {"$exists": False} for i in part}}
            if self._seats.find_one_and_update(guard, {"$inc": {"admitted": len(part)},
                                                       "$set": {f"seats.{i}": 1 for i in part}}) is None:
                for application_id in taken:
                    self.release_seat(program_id, track, application_id)
                return False
            taken += part
        return True

    def release_seat(self, program_id, track, application_id):
        released = self._seats.find_one_and_update(
            {"_id": f"{program_id}:{track}", f"seats.{application_id}": {"$exists": True}},
            {"$inc": {"admitted": -1}, "$unset": {f"seats.{application_id}": ""}})
        return released is not None

    def seat_counter(self, program_id, track):
        raw = self._seats.find_one({"_id": f"{program_id}:{track}"})
        if raw is None:
            return None
        return {"admitted": raw["admitted"], "capacity": raw["capacity"],
                "holders": sorted((raw.get("seats") or {}).keys())}

    # --- teams ---------------------------------------------------------------

    @property
    def _teams(self):
        return TeamDoc._get_collection()

    def insert_team(self, team):
        """Store a forming team; a retried operation returns the stored one."""
        try:
            TeamDoc(**team).save(force_insert=True)
        except NotUniqueError:
            pass
        return self.get_team(team["school_id"], team["id"])

    def get_team(self, school_id, team_id):
        query = {"_id": team_id}
        if school_id is not None:
            query["school_id"] = school_id
        return _plain(self._teams.find_one(query), TeamDoc)

    def list_teams(self, school_id, program_id, track=None, without=None, limit=100, offset=0):
        query = {"school_id": school_id, "program_id": program_id, "status": "active"}
        if track:
            query["track"] = track
        if without:
            query[f"{without}_id"] = None
        cursor = self._teams.find(query).sort([("created_at", 1), ("_id", 1)]).skip(offset).limit(limit)
        return [_plain(d, TeamDoc) for d in cursor]

    def activate_team(self, team_id, members, events):
        return _plain(_write(TeamDoc, {"_id": team_id, "status": "forming"},
                             {"$set": {"status": "active", "members": list(members),
                                       "size": len(members)}}, events), TeamDoc)

    def fail_team(self, team_id):
        self._teams.update_one({"_id": team_id, "status": "forming"}, {"$set": {"status": "failed"}})

    def add_member(self, team_id, student_id, max_size, events):
        return _plain(_write(
            TeamDoc,
            {"_id": team_id, "status": "active", "size": {"$lt": max_size},
             "members": {"$nin": [student_id]}},
            {"$push": {"members": student_id}, "$inc": {"size": 1}}, events), TeamDoc)

    def remove_member(self, team_id, student_id, events, changes=None):
        """Take the student out of the active team; ``changes`` are set in the same write."""
        update = {"$pull": {"members": student_id}, "$inc": {"size": -1}}
        if changes:
            update["$set"] = dict(changes)
        return _plain(_write(TeamDoc, {"_id": team_id, "status": "active", "members": student_id},
                             update, events), TeamDoc)

    def disband_team(self, team_id, events, changes=None):
        return _plain(_write(TeamDoc, {"_id": team_id, "status": "active"},
                             {"$set": {**(changes or {}), "status": "disbanded"}}, events), TeamDoc)

    def set_team_staff(self, team_id, kind, expected, staff_id, events):
        """Point the team's mentor (or tutor) at ``staff_id`` if it still is ``expected``."""
        field = f"{kind}_id"
        return _plain(_write(TeamDoc, {"_id": team_id, "status": "active", field: expected},
                             {"$set": {field: staff_id}}, events), TeamDoc)

    # --- memberships ---------------------------------------------------------

    def claim_membership(self, program_id, student_id, team_id, now):
        """Claim the student for ``team_id``; None if claimed, else the team id
        that already holds the claim."""
        key = f"{program_id}:{student_id}"
        collection = MembershipDoc._get_collection()
        try:
            collection.insert_one({"_id": key, "team_id": team_id, "claimed_at": now})
            return None
        except DuplicateKeyError:
            held = collection.find_one({"_id": key})
            if held is None:  # released meanwhile: try once more
                return self.claim_membership(program_id, student_id, team_id, now)
            return None if held["team_id"] == team_id else held["team_id"]

    def membership(self, program_id, student_id):
        """The team id the student is claimed for, or None."""
        held = MembershipDoc._get_collection().find_one({"_id": f"{program_id}:{student_id}"})
        return held["team_id"] if held else None

    def take_membership(self, program_id, student_id, stale_team_id, team_id, now):
        """Take over a claim left by an interrupted request (guarded on its team)."""
        result = MembershipDoc._get_collection().update_one(
            {"_id": f"{program_id}:{student_id}", "team_id": stale_team_id},
            {"$set": {"team_id": team_id, "claimed_at": now}})
        return result.modified_count == 1

    def release_membership(self, program_id, student_id, team_id):
        MembershipDoc._get_collection().delete_one(
            {"_id": f"{program_id}:{student_id}", "team_id": team_id})

    # --- mentors and tutors --------------------------------------------------

    @property
    def _staff(self):
        return StaffDoc._get_collection()

    def insert_staff(self, staff):
        try:
            StaffDoc(**staff).save(force_insert=True)
        except NotUniqueError:
            pass
        return self.get_staff(staff["school_id"], staff["id"])

    def get_staff(self, school_id, staff_id):
        return self._staff_dict(self._staff.find_one({"_id": staff_id, "school_id": school_id}))

    def list_staff(self, school_id, program_id, kind):
        cursor = self._staff.find({"school_id": school_id, "program_id": program_id, "kind": kind})
        return [self._staff_dict(d) for d in cursor.sort([("created_at", 1), ("_id", 1)])]

    @staticmethod
    def _staff_dict(raw):
        staff = _plain(raw, StaffDoc)
        if staff is not None:
            staff["teams"] = sorted((staff.get("teams") or {}).keys())
        return staff

    def reserve_load(self, staff_id, team_id, max_load, now=None):
        """Count one more team for an active mentor/tutor below ``max_load``
        (the entry keeps when, in epoch seconds, for repair_loads)."""
        taken = self._staff.find_one_and_update(
            {"_id": staff_id, "active": True, "load": {"$lt": max_load},
             f"teams.{team_id}": {"$exists": False}},
            {"$inc": {"load": 1}, "$set": {f"teams.{team_id}": (now or time.time())}})
        if taken is not None:
            return True
        return self._staff.find_one({"_id": staff_id, f"teams.{team_id}": {"$exists": True}},
                                    {"_id": 1}) is not None

    def release_load(self, staff_id, team_id):
        self._staff.update_one({"_id": staff_id, f"teams.{team_id}": {"$exists": True}},
                               {"$inc": {"load": -1}, "$unset": {f"teams.{team_id}": ""}})

    def repair_loads(self, school_id, program_id, kind, now=None, grace=60):
        """Free the load a crash left behind: a team counted for a mentor/tutor
        (reserved over ``grace`` seconds ago, so not an assignment in flight)
        that does not point at them. Returns how many were freed."""
        cutoff = (now or time.time()) - grace
        freed = 0
        for staff in self._staff.find({"school_id": school_id, "program_id": program_id, "kind": kind}):
            for team_id, reserved_at in (staff.get("teams") or {}).items():
                if reserved_at > cutoff:
                    continue
                team = self._teams.find_one({"_id": team_id}, {f"{kind}_id": 1, "status": 1})
                if team is None or team.get(f"{kind}_id") != staff["_id"] or team.get("status") != "active":
                    self.release_load(staff["_id"], team_id)
                    freed += 1
        return freed

    def deactivate_staff(self, staff_id):
        self._staff.update_one({"_id": staff_id}, {"$set": {"active": False}})
