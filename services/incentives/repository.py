"""Storage of the incentives service (a fake for unit tests lives in tests/unit/incentives).

The ledger and its projection without multi-document transactions:

- An account (one student in one programme) changes only by a whole-document
  ``replace_one`` guarded by its ``rev``: two concurrent changes cannot both win;
  the loser reads again and decides again (caps, floor and guard are exact).
- The same write carries the new entries (``pending_entries``) and the events
  they owe (``pending_events``, relayed by the Outbox). ``flush`` then copies the
  entries into the append-only ``entries`` collection (insert by ``_id``: a copy
  made twice is one entry) and takes them off the account. A crash in between
  leaves them on the account, where the next write, the start-up sweep or the
  timer finds them; reconciliation counts an entry once whether it is still on
  the account, already copied, or both.
- Whether an entry exists is answered from both places, so a retried manual
  entry (same id) is a no-op.

nx-27017 traps avoided: only ``replace_one`` and inserts write dicts, datetimes
and booleans; ``$addToSet``/``$pull`` only touch lists of strings; updates go by ``_id``.
"""
import random

import eventlet
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts.errors import Conflict
from services.common.events import outbox_written
from services.common.records import Records, doc_in, doc_out
from services.incentives.models import (AccountDoc, AppealDoc, BadgeAwardDoc, BadgeClassDoc, EntryDoc,
                                        FactDoc, ItemDoc, IncentivesProgram, RedemptionDoc, RewardDoc,
                                        RuleSetDoc, SigningKeyDoc, IncentivesTeam)


def _out(doc):
    """A stored document as a record, without the ledger's bookkeeping (which
    accounts have entries to copy out, the epoch seconds entries and teams sort by)."""
    record = doc_out(doc)
    if record is not None:
        record.pop("entries_pending", None)
        record.pop("at_ts", None)
    return record


def _entry_doc(entry):
    """An entry as the ledger stores it: its time mirrored as epoch seconds for the sort."""
    doc = {k: v for k, v in entry.items() if k != "id"}
    return {**doc, "_id": entry["id"], "at_ts": entry["at"].timestamp()}


class IncentivesRepository:

    def __init__(self):
        self.appeals = Records(AppealDoc)
        self.redemptions = Records(RedemptionDoc)
        self.rewards = Records(RewardDoc)
        self.badge_classes = Records(BadgeClassDoc)
        self.badge_awards = Records(BadgeAwardDoc)
        self.items = Records(ItemDoc)

    # --- projections of other services' events ---------------------------------------

    def keep_program(self, program):
        fields = {k: v for k, v in program.items() if k != "id"}
        IncentivesProgram._get_collection().update_one(
            {"_id": program["id"]},
            {"$setOnInsert": {**fields, "partners": [], "sessions": [], "leaderboard": None}}, upsert=True)

    def get_program(self, school_id, program_id):
        return _out(IncentivesProgram._get_collection().find_one({"_id": program_id, "school_id": school_id}))

    def add_to_program(self, school_id, program_id, field, value):
        """Remember a partner or a session of the programme (a set of strings)."""
        IncentivesProgram._get_collection().update_one(
            {"_id": program_id},
            {"$addToSet": {field: value}, "$setOnInsert": {"school_id": school_id}}, upsert=True)

    def remove_from_program(self, program_id, field, value):
        IncentivesProgram._get_collection().update_one({"_id": program_id}, {"$pull": {field: {"$in": [value]}}})

    def set_leaderboard(self, program_id, settings):
        # one field set by _id (the whole stored document as a filter failed on nx-27017: a 500
        # found by Schemathesis); the settings are a small dict of strings and numbers
        IncentivesProgram._get_collection().update_one({"_id": program_id}, {"$set": {"leaderboard": settings}})

    def keep_team(self, team, at):
        """Members of a team; an older fact never replaces a newer one."""
        collection = IncentivesTeam._get_collection()
        for _ in range(20):
            doc = collection.find_one({"_id": team["id"]})
            if doc is not None and doc.get("at_ts", 0) > at:
                return
            new = {**{k: v for k, v in team.items() if k != "id"}, "_id": team["id"], "at_ts": at}
            try:
                if doc is None:
                    collection.insert_one(new)
                    return
                if collection.replace_one(doc, new).matched_count:
                    return
            except DuplicateKeyError:
                pass
        raise Conflict(f"team {team['id']} keeps changing; retry")

    def get_team(self, school_id, team_id):
        return _out(IncentivesTeam._get_collection().find_one({"_id": team_id, "school_id": school_id}))

    # --- rules and facts -----------------------------------------------------------

    def rulesets(self, program_id):
        docs = RuleSetDoc._get_collection().find({"program_id": program_id})
        return sorted((_out(d) for d in docs), key=lambda r: r["version"])

    def add_ruleset(self, ruleset):
        try:
            RuleSetDoc._get_collection().insert_one(
                {**ruleset, "_id": f"{ruleset['program_id']}:{ruleset['version']}"})
        except DuplicateKeyError:
            raise Conflict("another version was stored meanwhile; read the rules and retry")

    def keep_fact(self, fact):
        try:
            FactDoc._get_collection().insert_one({**fact, "_id": fact["event_id"]})
        except DuplicateKeyError:
            pass

    def facts(self, program_id):
        return [{k: v for k, v in d.items() if k != "_id"}
                for d in FactDoc._get_collection().find({"program_id": program_id})]

    # --- accounts and the ledger -----------------------------------------------------

    def get_account(self, program_id, student_id):
        doc = AccountDoc._get_collection().find_one({"_id": f"{program_id}:{student_id}"})
        if doc is None:
            return None
        account = _out(doc)
        account["pending_entries"] = doc.get("pending_entries") or []
        return account

    def write_account(self, account, entries, events=()):
        """Store ``account`` (read at ``account["rev"]``) with its new entries and
        events; Conflict when another change won meanwhile."""
        collection = AccountDoc._get_collection()
        rev = account.get("rev", 0)
        record = {k: v for k, v in account.items() if k != "pending_entries"}
        if rev == 0:  # not stored when read (every stored account has rev 1 or more)
            doc = doc_in({**record, "rev": 1}, events)
            doc["pending_entries"] = list(entries)
            doc["entries_pending"] = 1 if entries else None
            try:
                collection.insert_one(doc)
            except DuplicateKeyError:
                raise Conflict("the account was opened meanwhile; retry")
            if events:
                outbox_written(AccountDoc)
            return {**account, "rev": 1, "pending_entries": doc["pending_entries"]}
        current = collection.find_one({"_id": account["id"], "rev": rev}, {"pending_events": 1, "pending_entries": 1})
        if current is not None:
            pending = [*current.get("pending_entries", []), *entries]
            doc = doc_in({**record, "rev": rev + 1}, [*current.get("pending_events", []), *events])
            doc["pending_entries"] = pending
            doc["entries_pending"] = 1 if pending else None
            if collection.replace_one({"_id": account["id"], "rev": rev}, doc).matched_count:
                if doc["pending_events"]:
                    outbox_written(AccountDoc)
                return {**account, "rev": rev + 1, "pending_entries": pending}
        raise Conflict("the account changed meanwhile; retry")

    def flush(self, account_id, written=None):
        """Copy the account's pending entries into the ledger and take them off it.
        ``written``: the account as ``write_account`` just stored it (its rev and
        pending entries), which saves reading it back when nobody changed it since."""
        collection = AccountDoc._get_collection()
        if written is not None and self._flush_written(collection, written):
            return len(written["pending_entries"])
        for _ in range(50):
            doc = collection.find_one({"_id": account_id})
            entries = (doc or {}).get("pending_entries") or []
            if not entries:
                return 0
            self._insert_entries(entries)
            done = {e["id"] for e in entries}
            left = [e for e in doc.get("pending_entries", []) if e["id"] not in done]
            new = {**doc, "pending_entries": left, "entries_pending": 1 if left else None, "rev": doc["rev"] + 1}
            if collection.replace_one({"_id": account_id, "rev": doc["rev"]}, new).matched_count:
                return len(entries)
            eventlet.sleep(random.random() * 0.01)
        return 0

    def _flush_written(self, collection, written):
        # only the entries' fields change (no whole-document replace), so the outbox
        # relay's concurrent pull of published events is never undone
        self._insert_entries(written["pending_entries"])
        return collection.update_one(
            {"_id": written["id"], "rev": written["rev"]},
            {"$set": {"pending_entries": [], "rev": written["rev"] + 1}, "$unset": {"entries_pending": ""}},
        ).matched_count == 1

    @staticmethod
    def _insert_entries(entries):
        try:
            EntryDoc._get_collection().insert_many([_entry_doc(e) for e in entries], ordered=False)
        except BulkWriteError as exc:  # copied by an earlier flush that died before taking them off
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    def accounts_with_pending_entries(self, limit=200):
        return [d["_id"] for d in AccountDoc._get_collection().find({"entries_pending": 1}, {"_id": 1}).limit(limit)]

    def entry_exists(self, entry_id, account):
        if any(e["id"] == entry_id for e in account.get("pending_entries") or []):
            return True
        return EntryDoc._get_collection().find_one({"_id": entry_id}, {"_id": 1}) is not None

    def get_entry(self, school_id, entry_id):
        entry = _out(EntryDoc._get_collection().find_one({"_id": entry_id, "school_id": school_id}))
        if entry is not None:
            return entry
        # not copied out yet: still on its account
        for doc in AccountDoc._get_collection().find({"entries_pending": 1, "school_id": school_id}):
            for pending in doc.get("pending_entries") or []:
                if pending["id"] == entry_id:
                    return pending
        return None

    def student_accounts(self, school_id, student_id, program_id=None):
        query = {"school_id": school_id, "student_id": student_id, **({"program_id": program_id} if program_id else {})}
        return [_out(d) for d in AccountDoc._get_collection().find(query)]

    def student_entries(self, school_id, student_id, program_id=None, skip=0, limit=200):
        query = {"school_id": school_id, "student_id": student_id, **({"program_id": program_id} if program_id else {})}
        # entries still on their account first: one copied out meanwhile is then in the ledger
        on_accounts = AccountDoc._get_collection().find({**query, "entries_pending": 1}, {"pending_entries": 1})
        pending = [e for doc in on_accounts for e in doc.get("pending_entries") or []]
        cursor = EntryDoc._get_collection().find(query).sort([("at_ts", 1), ("seq", 1)]).skip(skip).limit(limit)
        found = [_out(d) for d in cursor]
        if len(found) < limit and pending:
            known = {e["id"] for e in found}
            found += [e for e in pending if e["id"] not in known]
            found.sort(key=lambda e: (e["at"].timestamp(), e.get("seq", 0)))
        return found[:limit]

    def program_accounts(self, program_id, fields=None):
        projection = None if fields is None else {f: 1 for f in fields}
        return [_out(d) for d in AccountDoc._get_collection().find({"program_id": program_id}, projection)]

    def reconcile(self, program_id=None):
        """Every account whose balances differ from the sums of its entries. An entry
        counts once, from the ledger or, not copied out yet, from its account; an
        account that changed while it was read is checked again on its own."""
        match = {"program_id": program_id} if program_id else {}
        accounts = list(AccountDoc._get_collection().find(match))
        sums, seen = {}, set()
        for row in EntryDoc._get_collection().find(
                match, {"program_id": 1, "student_id": 1, "amount": 1, "lifetime_delta": 1}):
            total = sums.setdefault((row["program_id"], row["student_id"]), [0, 0])
            total[0] += row["amount"]
            total[1] += row["lifetime_delta"]
            seen.add(row["_id"])
        differences = []
        for doc in accounts:
            key = (doc["program_id"], doc["student_id"])
            now = AccountDoc._get_collection().find_one({"_id": doc["_id"]}, {"rev": 1})
            if now["rev"] != doc["rev"]:
                doc, total = self._account_snapshot(doc["_id"])
                sums.pop(key, None)
            else:
                total = _with_pending(sums.pop(key, [0, 0]), doc, seen)
            if tuple(total) != (doc.get("spendable", 0), doc.get("lifetime", 0)):
                differences.append({"program_id": key[0], "student_id": key[1],
                                    "spendable": doc.get("spendable", 0), "spendable_by_entries": total[0],
                                    "lifetime": doc.get("lifetime", 0), "lifetime_by_entries": total[1]})
        for (program, student), (spendable, lifetime) in sums.items():
            differences.append({"program_id": program, "student_id": student, "spendable": None,
                                "spendable_by_entries": spendable, "lifetime": None,
                                "lifetime_by_entries": lifetime})
        return differences

    def rebuild(self, account_id):
        """Set an account's balances to the sums of its entries (a guarded write:
        a change meanwhile makes it read again)."""
        collection = AccountDoc._get_collection()
        for _ in range(100):
            doc, (spendable, lifetime) = self._account_snapshot(account_id)
            by_rules = sum(e["amount"] for e in self._entries_of(doc) if e.get("by_rules"))
            fixed = {**doc, "spendable": spendable, "lifetime": lifetime, "by_rules": by_rules, "rev": doc["rev"] + 1}
            if collection.replace_one({"_id": account_id, "rev": doc["rev"]}, fixed).matched_count:
                return {"spendable": spendable, "lifetime": lifetime}
        raise Conflict(f"account {account_id} keeps changing; rebuild it later")

    def _entries_of(self, doc):
        found = {d["_id"]: d for d in EntryDoc._get_collection().find(
            {"program_id": doc["program_id"], "student_id": doc["student_id"]}, {"amount": 1, "by_rules": 1})}
        for entry in doc.get("pending_entries") or []:
            found.setdefault(entry["id"], entry)
        return list(found.values())

    def _account_snapshot(self, account_id):
        """One account and the sums of its entries, read while it did not change."""
        collection = AccountDoc._get_collection()
        for _ in range(100):
            doc = collection.find_one({"_id": account_id})
            total, seen = [0, 0], set()
            for row in EntryDoc._get_collection().find(
                    {"program_id": doc["program_id"], "student_id": doc["student_id"]},
                    {"amount": 1, "lifetime_delta": 1}):
                total[0] += row["amount"]
                total[1] += row["lifetime_delta"]
                seen.add(row["_id"])
            if collection.find_one({"_id": account_id}, {"rev": 1})["rev"] == doc["rev"]:
                return doc, _with_pending(total, doc, seen)
            eventlet.sleep(0.01)
        raise Conflict(f"account {account_id} keeps changing; reconcile it later")

    # --- the catalogue ----------------------------------------------------------------

    def hold(self, item_id, hold):
        """Take one unit of stock for a redemption (never below 0); True if taken."""
        result = ItemDoc._get_collection().update_one(
            {"_id": item_id, "stock": {"$gte": 1}, "holds": {"$nin": [hold]}},
            {"$inc": {"stock": -1, "holding": 1}, "$addToSet": {"holds": hold}})
        return result.modified_count == 1

    def release(self, item_id, hold):
        """Give a held unit back (the redemption was refused)."""
        ItemDoc._get_collection().update_one(
            {"_id": item_id, "holds": {"$in": [hold]}},
            {"$inc": {"stock": 1, "holding": -1}, "$pull": {"holds": {"$in": [hold]}}})

    def sell(self, item_id, hold):
        """The redemption is charged: the held unit is sold."""
        ItemDoc._get_collection().update_one(
            {"_id": item_id, "holds": {"$in": [hold]}},
            {"$inc": {"sold": 1, "holding": -1}, "$pull": {"holds": {"$in": [hold]}}})

    def restock(self, item_id, redemption_id):
        """A cancelled redemption's unit goes back (once)."""
        ItemDoc._get_collection().update_one(
            {"_id": item_id, "returned": {"$nin": [redemption_id]}},
            {"$inc": {"stock": 1, "sold": -1}, "$addToSet": {"returned": redemption_id}})

    def items_with_holds(self):
        return self.items.find({"holding": {"$gt": 0}})

    # --- badges -----------------------------------------------------------------------

    def signing_key(self, school_id, make):
        collection = SigningKeyDoc._get_collection()
        doc = collection.find_one({"_id": school_id})
        if doc is None:
            try:
                collection.insert_one({"_id": school_id, **make()})
            except DuplicateKeyError:
                pass
            doc = collection.find_one({"_id": school_id})
        return _out(doc)


def _with_pending(total, doc, seen):
    total = list(total)
    for entry in doc.get("pending_entries") or []:
        if entry["id"] not in seen:
            total[0] += entry["amount"]
            total[1] += entry["lifetime_delta"]
    return total


def retrying(step, attempts=60):
    """Run a read-decide-write step again while concurrent changes win (Conflict)."""
    for attempt in range(attempts):
        try:
            return step()
        except Conflict:
            if attempt == attempts - 1:
                raise
            eventlet.sleep(random.random() * min(0.2, 0.005 * (attempt + 1)))
    return None

