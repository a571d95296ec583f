"""Storage of supervision records (an in-memory fake lives in tests/unit/supervision).

Records are plain dicts with ``id`` (stored as ``_id``) and ``rev``. A changed
record is stored whole, guarded by the ``rev`` it was read at (a concurrent change
makes the save report a conflict and the caller re-reads), with the events it owes
appended to ``pending_events`` in the same write (services.common.events relays them).
"""
import time
import uuid
from collections import defaultdict

from pymongo import ASCENDING, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.common.events import owing
from services.supervision import domain
from services.supervision.models import (PlatformAccountDoc, ActivityDoc, AlertDoc, ClaimDoc, ProgramFunnelDoc,
                                         StatementDoc, StudentDoc, UnfoldedBatchDoc)

_HIDDEN = {"pending_events": 0, "outbox_pending": 0}
# an account mapped to nobody; an explicit $eq, as nx-27017 0.8.1's count_documents counts
# nothing for a bare None (its find matches it)
_UNMAPPED = {"$eq": None}
_TOKENS = 20  # write tokens kept per document (see save_many)
# how long a programme remembers a counter move it made (see count): longer than any
# handler holds a student it read, so that a second holder of the move finds it made
COUNTING_KEPT = 300.0


def _out(doc):
    if doc is None:
        return None
    doc = dict(doc)
    doc["id"] = doc.pop("_id")
    return doc


def _chunks(items, size):
    return [items[n:n + size] for n in range(0, len(items), size)]


def _in(record, events=(), pending=()):
    doc = {k: v for k, v in record.items() if k != "id"}
    doc["_id"] = record["id"]
    doc["pending_events"] = [*pending, *events]
    doc.update(owing(doc["pending_events"]))
    return doc


class _Records:
    """Insert-once and rev-guarded saves for one collection."""

    def __init__(self, document, events=True):
        """``events``: whether records of the collection may owe events (a save keeps
        those still pending); a collection that never does saves without reading them."""
        self.collection = document._get_collection()
        self.events = events

    def get(self, record_id):
        return _out(self.collection.find_one({"_id": record_id}, _HIDDEN))

    def many(self, ids):
        return {doc["_id"]: _out(doc) for doc in self.collection.find({"_id": {"$in": list(ids)}}, _HIDDEN)}

    def insert(self, record, events=()):
        """Store a new record; False if one with its id exists already."""
        try:
            self.collection.insert_one(_in({**record, "rev": 0, "_ws": []}, events))
            return True
        except DuplicateKeyError:
            return False

    def insert_many(self, items, chunk=500):
        """Store new records in bulk: ``items`` are (record, events). Returns the ids
        inserted now (a record whose id exists already is left as it is)."""
        inserted = set()
        for start in range(0, len(items), chunk):
            docs = [_in({**record, "rev": 0, "_ws": []}, events) for record, events in items[start:start + chunk]]
            try:
                self.collection.insert_many(docs, ordered=False)
                inserted.update(d["_id"] for d in docs)
            except BulkWriteError as exc:
                errors = exc.details["writeErrors"]
                if any(e.get("code") != 11000 for e in errors):
                    raise
                refused = {e["index"] for e in errors}
                inserted.update(d["_id"] for n, d in enumerate(docs) if n not in refused)
        return inserted

    def save_many(self, changes):
        """``changes``: [(record read at record["rev"], events)]. Stores each whole at
        rev + 1; a record never stored (no ``_ws``: not read from here) is inserted, and
        loses if another got there first. Returns the ids that lost a race."""
        if not changes:
            return []
        ids = [record["id"] for record, _ in changes]
        owed = {doc["_id"]: doc.get("pending_events") or []
                for doc in self.collection.find({"_id": {"$in": ids}}, {"pending_events": 1})} if self.events else {}
        lost, ops, new = [], [], []
        # which writes won: each stored document keeps the tokens of its latest writes
        # (a later writer builds on the version it read, so it keeps this one's token)
        token = uuid.uuid4().hex
        for record, events in changes:
            tokens = [*(record.get("_ws") or [])[-(_TOKENS - 1):], token]
            if "_ws" not in record:
                new.append(_in({**record, "rev": 0, "_ws": tokens}, events))
                continue
            ops.append(ReplaceOne({"_id": record["id"], "rev": record["rev"]},
                                  _in({**record, "rev": record["rev"] + 1, "_ws": tokens}, events,
                                      owed.get(record["id"], []))))
        if new:
            try:
                self.collection.insert_many(new, ordered=False)
            except BulkWriteError as exc:
                lost += [new[e["index"]]["_id"] for e in exc.details["writeErrors"]]
        if ops and self.collection.bulk_write(ops, ordered=False).modified_count != len(ops):
            ids = [op._filter["_id"] for op in ops]
            won = {doc["_id"] for doc in self.collection.find({"_id": {"$in": ids}, "_ws": token}, {"_id": 1})}
            lost += [i for i in ids if i not in won]
        return lost


class SupervisionRepository:

    def __init__(self):
        self.programs = _Records(ProgramFunnelDoc)
        self.students = _Records(StudentDoc)
        self.accounts = _Records(PlatformAccountDoc, events=False)  # no outbox: one read less per save
        self.alerts = _Records(AlertDoc)
        self.claims = _Records(ClaimDoc)
        self._activity = ActivityDoc._get_collection()

    # --- programmes -------------------------------------------------------------

    def count(self, program_id, moves, now=None):
        """Make the counter moves the students owe: ``moves`` is [(student record id,
        {"id", "stages"})], each stored in the student's ``uncounted`` by the write that
        reached its stages. A move is made once: the programme's ``$inc`` (with its
        ``rev``) notes the move's id in ``counting`` in the same write, so a move made
        before a crash or an outage is not made again when the student's event comes
        back; then the students forget their moves (rev moves: a save read before must
        not write them back), and the programme forgets the moves made long enough ago
        that no process still holds them (COUNTING_KEPT)."""
        programs, now = ProgramFunnelDoc._get_collection(), time.time() if now is None else now

        def make(batch):
            deltas = defaultdict(int)
            for _, move in batch:
                for stage in move["stages"]:
                    deltas[f"counts.{stage}"] += 1
            made = [move["id"] for _, move in batch]
            return programs.update_one(  # rev moves too: a whole-record save read before must not undo it
                {"_id": program_id, **{f"counting.{i}": {"$exists": False} for i in made}},
                {"$inc": {**deltas, "rev": 1}, "$set": {f"counting.{i}": now for i in made}}).matched_count
        if not make(moves):  # some were made already (by a run that died after): one at a time
            for move in moves:
                make([move])
        StudentDoc._get_collection().update_many(
            {"_id": {"$in": list({sid for sid, _ in moves})}},
            {"$pull": {"uncounted": {"id": {"$in": [move["id"] for _, move in moves]}}}, "$inc": {"rev": 1}})
        made = (programs.find_one({"_id": program_id}, {"counting": 1}) or {}).get("counting") or {}
        stale = [i for i, at in made.items() if at < now - COUNTING_KEPT]
        if stale:
            programs.update_one({"_id": program_id}, {"$unset": {f"counting.{i}": "" for i in stale}})

    def running_programs(self, now):
        return [_out(doc) for doc in ProgramFunnelDoc._get_collection().find(
            {"starts_ts": {"$lte": now}, "ends_ts": {"$gte": now}}, {"_id": 1, "rev": 1})]

    # --- students ----------------------------------------------------------------

    def students_in(self, program_id, stage=None, limit=100, offset=0):
        """A page of a programme's students (all, or those who reached ``stage``), by student id."""
        query = {"program_id": program_id}
        if stage:
            query[f"stages.{stage}"] = {"$exists": True}
        cursor = StudentDoc._get_collection().find(query, _HIDDEN).sort("_id", ASCENDING).skip(offset).limit(limit + 1)
        docs = [_out(d) for d in cursor]
        return docs[:limit], len(docs) > limit

    def idle_candidates(self, program_id, silent_before):
        """Admitted students whose platform has been silent since before ``silent_before``."""
        return [_out(d) for d in StudentDoc._get_collection().find(
            {"program_id": program_id, "status": "admitted", "idle_clock": {"$lte": silent_before}}, _HIDDEN)]

    def idle_students(self, program_id):
        return [_out(d) for d in StudentDoc._get_collection().find(
            {"program_id": program_id, "idle.spell_id": {"$exists": True}}, _HIDDEN)]

    def accounts_of_students(self, student_keys):
        return [_out(d) for d in PlatformAccountDoc._get_collection().find({"student_key": {"$in": list(student_keys)}})]

    def account_ids(self, program_id, unmapped=False, skip=0, limit=100):
        """A page of the programme's stored account ids in account id order (only the
        accounts mapped to nobody if ``unmapped``), sorted and cut by the database."""
        query = {"program_id": {"$eq": program_id}}
        if unmapped:
            query["student_id"] = _UNMAPPED
        cursor = self.accounts.collection.find(query, {"account_id": 1}).sort("account_id", ASCENDING)
        return [d["account_id"] for d in cursor.skip(skip).limit(limit)]

    def count_unmapped(self, program_id):
        # a $count stage: 15-20 ms at 10,000 accounts on nx-27017, where count_documents
        # (a $group) takes 0.4-0.5 s
        counted = list(self.accounts.collection.aggregate([
            {"$match": {"program_id": {"$eq": program_id}, "student_id": _UNMAPPED}}, {"$count": "n"}]))
        return counted[0]["n"] if counted else 0

    def accounts_of(self, program_id, account_ids):
        """{account id: stored account} of those of the accounts the programme has."""
        found = self.accounts.many([f"{program_id}:{a}" for a in account_ids])
        return {account["account_id"]: account for account in found.values()}

    def unstored_accounts(self, program_id, batch_ids, chunk=500):
        """The account ids that records of these batches name and that have no stored
        account yet (the compaction makes it): sorted."""
        named = set()
        for batch_id in batch_ids:
            named.update(d["account_id"] for d in self._activity.find({"batch_id": {"$eq": batch_id}},
                                                                     {"account_id": 1}))
        keys = {f"{program_id}:{a}": a for a in named}
        return sorted(keys[k] for k in set(keys) - self._stored_accounts(keys, chunk))

    def _stored_accounts(self, keys, chunk=500):
        """Those of the account keys (``program:account``) that have a stored account."""
        stored = set()
        for part in _chunks(list(keys), chunk):
            stored.update(d["_id"] for d in self.accounts.collection.find({"_id": {"$in": part}}, {"_id": 1}))
        return stored

    # --- activity records ----------------------------------------------------------

    def fold_accounts(self, program_id, school_id, batches, chunk=500):
        """Fold batches of records into their accounts' summaries, each batch once per
        account, without reading the accounts: ``batches`` is [(batch id, {account id:
        delta})] (domain.records_delta). One guarded update per account for all its
        batches ($inc on the counts, $max on the flat latest fields, the batch ids pushed
        in the same write, none of them already there); an account that folded some of
        them already (a crash, a redelivery) gets one guarded update per batch instead.
        The update moves ``rev``, so a whole-record save read before (a mapping) re-reads.
        Returns {account id: student id} of the touched accounts mapped to a student."""
        folds = defaultdict(dict)  # account id -> {batch id: delta}
        for batch_id, deltas in batches:
            for account_id, delta in deltas.items():
                folds[account_id][batch_id] = delta
        if not folds:
            return {}
        collection = self.accounts.collection
        keys = {f"{program_id}:{a}": a for a in folds}
        known = self._stored_accounts(keys, chunk)
        missing = [domain.new_account(program_id, school_id, keys[k]) for k in keys if k not in known]
        if missing:  # new accounts first (an upsert would store the dotted $inc fields as names)
            self.accounts.insert_many([(account, []) for account in missing])

        def update(key, deltas):
            inc, last = {"rev": 1}, {}
            for delta in deltas.values():
                for kind, n in delta["counts"].items():
                    inc[f"counts.{kind}"] = inc.get(f"counts.{kind}", 0) + n
                for day, kinds in delta["days"].items():
                    for kind, n in kinds.items():
                        inc[f"days.{day}.{kind}"] = inc.get(f"days.{day}.{kind}", 0) + n
                for kind, at in delta["last"].items():
                    last[domain.LAST_FIELD + kind] = max(at, last.get(domain.LAST_FIELD + kind, at))
            ids = list(deltas)
            return UpdateOne({"_id": key, "batches": {"$nin": ids}},
                             {"$inc": inc, "$max": last,
                              "$push": {"batches": {"$each": ids, "$slice": -domain.KEEP_BATCHES}}})
        for part in _chunks(list(keys), chunk):
            ops = [update(key, folds[keys[key]]) for key in part]
            if collection.bulk_write(ops, ordered=False).matched_count == len(ops):
                continue
            # some accounts folded some of the batches already: the rest one batch at a time
            # (each still guarded on its own batch id, so a batch folded meanwhile is skipped)
            done = {d["_id"]: set(d.get("batches") or []) for d in collection.find(
                {"_id": {"$in": part}}, {"batches": 1})}
            again = [update(key, {b: delta}) for key in part for b, delta in folds[keys[key]].items()
                     if b not in done.get(key, ())]
            if again:
                collection.bulk_write(again, ordered=False)
        return self.mapped_students(program_id, folds, chunk)

    def insert_records(self, batch_id, docs):
        """Insert platform records once each; return the ids new to this batch
        (inserted now, or by an earlier delivery of the same batch)."""
        if not docs:
            return set()
        try:
            self._activity.insert_many([{"_id": d["id"], "batch_id": batch_id,
                                         **{k: v for k, v in d.items() if k != "id"}} for d in docs],
                                       ordered=False)
            return {d["id"] for d in docs}
        except BulkWriteError as exc:
            duplicate = {docs[e["index"]]["id"] for e in exc.details["writeErrors"] if e.get("code") == 11000}
            others = [e for e in exc.details["writeErrors"] if e.get("code") != 11000]
            if others:
                raise
            mine = {d["_id"] for d in self._activity.find(
                {"_id": {"$in": list(duplicate)}, "batch_id": batch_id}, {"_id": 1})}
            return {d["id"] for d in docs if d["id"] not in duplicate} | mine

    def records_of(self, batch_ids, account_ids, few=8):
        """The records of these accounts in these batches: what reads add from batches
        not folded yet. For a few accounts (a student's) one indexed query per (batch,
        account); for more (a page of the accounts list) one ``$in`` per batch, which
        scans the batch's records but costs less than many point queries (on nx-27017,
        200 of 2,500 accounts in a batch of 5,000: 16-25 ms against 160 ms)."""
        fields = {"kind": 1, "ts": 1, "batch_id": 1, "account_id": 1}
        account_ids = list(account_ids)
        found = []
        for batch_id in batch_ids:
            if len(account_ids) > few:
                found += self._activity.find({"batch_id": {"$eq": batch_id}, "account_id": {"$in": account_ids}},
                                             fields)
                continue
            for account_id in account_ids:
                found += self._activity.find({"batch_id": {"$eq": batch_id}, "account_id": {"$eq": account_id}},
                                             fields)
        return found

    def mapped_students(self, program_id, account_ids, chunk=500):
        """{account id: student id} of those of the accounts mapped to a student."""
        keys = {f"{program_id}:{a}": a for a in account_ids}
        mapped = {}
        for part in _chunks(list(keys), chunk):
            for d in self.accounts.collection.find({"_id": {"$in": part}, "student_id": {"$ne": None}},
                                                   {"student_id": 1}):
                if d.get("student_id"):
                    mapped[keys[d["_id"]]] = d["student_id"]
        return mapped

    def short_of(self, program_id, student_ids, stage, chunk=500):
        """Those of the students who have not reached ``stage``."""
        keys = {domain.student_key(program_id, sid): sid for sid in student_ids}
        short = set()
        for part in _chunks(list(keys), chunk):
            short.update(keys[d["_id"]] for d in StudentDoc._get_collection().find(
                {"_id": {"$in": part}, f"stages.{stage}": {"$exists": False}}, {"_id": 1}))
        return short

    # --- batches stored and not folded yet (see SupervisionService.on_telemetry_ingested) ----

    def add_unfolded(self, batch_id, program_id, school_id, now):
        """Note a stored batch for the compaction, once (a redelivery finds it noted)."""
        try:
            UnfoldedBatchDoc._get_collection().insert_one(
                {"_id": batch_id, "program_id": program_id, "school_id": school_id, "stored_ts": now})
        except DuplicateKeyError:
            pass

    def unfolded(self, program_id, limit=0):
        """The programme's batches not folded yet, oldest first, with what each adds per
        account (from its records: those it stored first): [{"id", "school_id", "deltas":
        {account id: delta}}]."""
        batches = [{"id": d["_id"], "school_id": d.get("school_id")} for d in UnfoldedBatchDoc._get_collection().find(
            {"program_id": {"$eq": program_id}}).sort("stored_ts", ASCENDING).limit(limit)]
        for batch in batches:
            by_account = defaultdict(list)
            for record in self._activity.find({"batch_id": {"$eq": batch["id"]}}, {"account_id": 1, "kind": 1, "ts": 1}):
                by_account[record["account_id"]].append(record)
            batch["deltas"] = {a: domain.records_delta(records) for a, records in by_account.items()}
        return batches

    def unfolded_ids(self, program_id):
        return [d["_id"] for d in UnfoldedBatchDoc._get_collection().find(
            {"program_id": {"$eq": program_id}}, {"_id": 1}).sort("stored_ts", ASCENDING)]

    def unfolded_programs(self):
        return sorted({d["program_id"] for d in UnfoldedBatchDoc._get_collection().find({}, {"program_id": 1})})

    def drop_unfolded(self, batch_ids):
        UnfoldedBatchDoc._get_collection().delete_many({"_id": {"$in": list(batch_ids)}})

    # --- alerts ------------------------------------------------------------------------

    def list_alerts(self, program_id, status=None, mentor_id=None, limit=100, offset=0):
        query = {"program_id": program_id}
        if status:
            query["status"] = status
        if mentor_id:
            query["mentor_id"] = mentor_id
        cursor = AlertDoc._get_collection().find(query, _HIDDEN).sort("raised_ts", ASCENDING).skip(offset).limit(limit + 1)
        docs = [_out(d) for d in cursor]
        return docs[:limit], len(docs) > limit

    def open_alerts_of(self, program_id, student_id):
        return [_out(d) for d in AlertDoc._get_collection().find(
            {"program_id": program_id, "student_id": student_id, "status": {"$in": ["open", "acknowledged"]}},
            _HIDDEN)]

    # --- xAPI statements ------------------------------------------------------------------

    def add_statement(self, program_id, statement, ts):
        """Keep a statement for delivery, once per id."""
        try:
            StatementDoc._get_collection().insert_one({"_id": statement["id"], "program_id": program_id,
                                                       "statement": statement, "ts": ts, "pending": 1})
            return True
        except DuplicateKeyError:
            return False

    def pending_statements(self, limit=500):
        return [d["statement"] for d in StatementDoc._get_collection().find({"pending": 1}).limit(limit)]

    def mark_delivered(self, ids, now):
        if ids:
            StatementDoc._get_collection().update_many({"_id": {"$in": list(ids)}},
                                                       {"$unset": {"pending": ""}, "$set": {"delivered_ts": now}})

    def statements_of(self, program_id, limit=100, offset=0):
        cursor = StatementDoc._get_collection().find({"program_id": program_id}).sort(
            [("ts", ASCENDING), ("_id", ASCENDING)]).skip(offset).limit(limit + 1)
        docs = list(cursor)
        return [{"statement": d["statement"], "delivered": "pending" not in d} for d in docs[:limit]], len(docs) > limit
