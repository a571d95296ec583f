"""Records as plain dicts over pymongo, shared by the services' repositories.

A record has an ``id`` (the document's ``_id``). Writes that owe events carry them
in ``pending_events`` of the same document write (the Outbox relays them). Changes
to a stored record are guarded by its ``rev``: two concurrent changes cannot both
win; the loser gets Conflict and may retry.

nx-27017 traps met here: ``$set`` stores a top-level datetime as a string and a
boolean as 0/1, and ``$push`` turns array elements into JSON strings. So a changed
record is written whole (``replace_one``, which keeps types, guarded by ``rev``).
Datetimes that range queries need are mirrored as epoch numbers (``STAMPS``):
nx-27017 compares datetimes unreliably. A replace re-writes the pending events it
read; one the relay published in the meantime may be published again (consumers
dedupe by event_id).
"""
from datetime import datetime

from pymongo.errors import DuplicateKeyError

from contracts.errors import Conflict
from services.common.events import outbox_written, owing

# datetime field -> the epoch-seconds field kept beside it for range queries
STAMPS = {"due_at": "due_ts", "ends_at": "ends_ts", "closes_at": "closes_ts", "deadline": "deadline_ts",
          "submitted_at": "submitted_ts"}


def doc_out(doc):
    if doc is None:
        return None
    doc = dict(doc)
    doc["id"] = doc.pop("_id")
    doc.pop("pending_events", None)
    doc.pop("outbox_pending", None)
    for stamp in STAMPS.values():
        doc.pop(stamp, None)
    doc.pop("flagged", None)
    return doc


def doc_in(record, events=()):
    doc = {k: v for k, v in record.items() if k != "id"}
    doc["_id"] = record["id"]
    doc["pending_events"] = list(events)
    doc.pop("outbox_pending", None)
    doc.update(owing(events))
    doc.setdefault("rev", 0)
    doc.pop("flagged", None)
    if doc.get("flags"):
        doc["flagged"] = 1  # an indexed scalar beside the list: flagged records are found and counted
    for field, stamp in STAMPS.items():
        if isinstance(doc.get(field), datetime):
            doc[stamp] = doc[field].timestamp()
    return doc


class Records:
    """Insert-once, rev-guarded save and guarded replace for one collection of records.

    A subclass that keeps something derived from the records (e.g. counts) names
    the fields it needs in ``watch`` and gets ``written(old, new)`` after each
    successful write: ``old`` is None for an insert, else the stored document as
    the guarded write replaced it (its ``watch`` fields only); ``new`` the document written."""

    watch = ()

    def __init__(self, document):
        self.document = document

    def written(self, old, new):
        """Called after each successful insert, save or replace (see the class)."""

    @property
    def collection(self):
        return self.document._get_collection()

    def insert(self, record, events=()):
        """True if stored; False if a record with this id exists (a retry or a duplicate)."""
        doc = doc_in(record, events)
        try:
            self.collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        if events:
            outbox_written(self.document)
        self.written(None, doc)
        return True

    def get(self, record_id, **match):
        return doc_out(self.collection.find_one({"_id": record_id, **match}))

    def save(self, record, events=()):
        """Store a changed record read at ``record["rev"]``; Conflict if it changed meanwhile."""
        saved = {**record, "rev": record["rev"] + 1}
        if self.replace(saved, {"rev": record["rev"]}, events):
            return saved
        raise Conflict("the record changed meanwhile; retry")

    def replace(self, record, guard, events=()):
        """Store ``record`` whole if the stored one still matches ``guard`` (its
        pending events kept, ``events`` added); True if it did."""
        current = self.collection.find_one({"_id": record["id"], **guard},
                                           {"pending_events": 1, **{field: 1 for field in self.watch}})
        if current is None:
            return False
        doc = doc_in(record, [*current.get("pending_events", []), *events])
        if not self.collection.replace_one({"_id": record["id"], **guard}, doc).matched_count:
            return False
        if doc["pending_events"]:
            outbox_written(self.document)
        self.written(current, doc)
        return True

    def find(self, query, sort=None, skip=0, limit=0):
        cursor = self.collection.find(query)
        if sort:
            cursor = cursor.sort(sort)
        if skip:
            cursor = cursor.skip(skip)
        if limit:
            cursor = cursor.limit(limit)
        return [doc_out(d) for d in cursor]


def count(document, match):
    """A $count stage (count_documents is slow on nx-27017)."""
    rows = list(document._get_collection().aggregate([{"$match": match}, {"$count": "n"}]))
    return rows[0]["n"] if rows else 0


def apply_fact(collection, _id, stamp, at, fields, on_insert=None):
    """Apply ``fields`` unless the document already holds a newer fact (its
    ``stamp``, epoch seconds, is later than ``at``): redelivered or out-of-order
    events never roll a projection back. Whole-document writes guarded by ``v``."""
    at = at.timestamp()
    for _ in range(10):
        doc = collection.find_one({"_id": _id})
        if doc is not None and (doc.get(stamp) or 0) > at:
            return False
        new = {**(doc or {"_id": _id, **(on_insert or {})}), **fields, stamp: at,
               "v": (doc or {}).get("v", 0) + 1}
        try:
            if doc is None:
                collection.insert_one(new)
                return True
            if collection.replace_one({"_id": _id, "v": doc.get("v", 0)}, new).matched_count:
                return True
        except DuplicateKeyError:
            pass  # a concurrent first write: compare again
    raise Conflict(f"projection {_id} keeps changing; retry")
