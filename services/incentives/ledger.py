"""Steps that change a student's account: read it, let a domain function decide
the entries, store account, entries and events in one guarded write, then copy
the entries out to the ledger. A concurrent change makes the step decide again
on fresh data, so caps, floors, stock and limits hold under concurrency."""
import hashlib

from contracts.events import make_event
from contracts.incentives import CREDITS_AWARDED, CREDITS_DEDUCTED, CREDITS_REVERSED
from services.incentives import domain
from services.incentives.repository import retrying

# the events a kind of entry owes (exchange and refund: the redemption's own events)
NOTICE = {"reversal": CREDITS_REVERSED}


def entry_event(entry, account, actor, correlation_id):
    if entry["kind"] in ("exchange", "refund"):
        return None
    event_type = NOTICE.get(entry["kind"]) or (CREDITS_DEDUCTED if entry["requested"] < 0 else CREDITS_AWARDED)
    payload = {"entry_id": entry["id"], "program_id": entry["program_id"], "student_id": entry["student_id"],
               "kind": entry["kind"], "amount": entry["amount"], "not_applied": entry["not_applied"],
               "reason": entry["reason"], "rule": entry.get("rule"), "spendable": account["spendable"]}
    if entry["kind"] == "reversal":
        payload["reverses"] = entry["reverses"]
    return make_event(event_type, payload, school_id=entry["school_id"], actor=actor,
                      correlation_id=correlation_id, event_id=_event_id(entry["id"]))


def _event_id(entry_id):
    # one entry, one notice: a re-decided write publishes the same event id
    return hashlib.sha256(entry_id.encode()).hexdigest()[:32]


class Ledger:

    def __init__(self, repo, actor="incentives", correlation_id=None):
        self.repo = repo
        self.actor = actor
        self.correlation_id = correlation_id

    def change(self, school_id, program_id, student_id, decide, extra_events=()):
        """``decide(account) -> (entries, account)``; returns (account, entries)
        as stored. ``extra_events(account, entries)`` adds events to the same write."""
        def step():
            account = self.repo.get_account(program_id, student_id) or domain.new_account(
                school_id, program_id, student_id)
            entries, changed = decide(account)
            if not entries and changed == account:
                return account, []
            # the order of entries made at the same moment (a reversal before its replacement)
            entries = [{**e, "seq": (changed.get("rev", 0) + 1) * 1000 + i} for i, e in enumerate(entries)]
            events = [e for e in (entry_event(x, changed, self.actor, self.correlation_id) for x in entries) if e]
            if callable(extra_events):
                events += extra_events(changed, entries)
            stored = self.repo.write_account(changed, entries, events)
            return stored, entries
        account, entries = retrying(step)
        if entries:
            self.repo.flush(account["id"], written=account)
        return account, entries

    def add(self, school_id, program_id, student_id, kind, amount, reason, *, entry_id, at, lifetime=True,
            limit_by_floor=True, caused_by=None, request_id=None, check=None, update=None, extra_events=(),
            by_rules=False):
        """One manual entry, once: a retry with the same ``entry_id`` returns the stored one."""
        def decide(account):
            if self.repo.entry_exists(entry_id, account):
                return [], account
            if check is not None:
                check(account)
            floor = self.floor(program_id)
            entry, changed = domain.make_entry(
                account, kind, amount, reason, entry_id=entry_id, at=at, floor=floor, lifetime=lifetime,
                caused_by=caused_by, request_id=request_id, limit_by_floor=limit_by_floor, by_rules=by_rules)
            if update is not None:
                changed = update(changed)
            return [entry], changed

        account, entries = self.change(school_id, program_id, student_id, decide, extra_events)
        if entries:
            return entries[0], account, True
        return self.repo.get_entry(school_id, entry_id), account, False

    def floor(self, program_id):
        return domain.current_ruleset(self.repo.rulesets(program_id), program_id).get("floor", 0)
