"""The incentives service: thin nameko entrypoints over services.incentives.domain.

An append-only credit ledger per student and programme, fed by other services'
events through programme rules (versioned data), by staff (adjustments,
reversals, appeals), the credit exchange (redemptions and cancellations) and
partners (enterprise rewards); leaderboards read the balances, badges are
served as Open Badges 2.0 assertions and 3.0 credentials (services.incentives.badges).
"""
import secrets
import uuid
from datetime import datetime, timezone

from nameko.timer import timer

from contracts.assessment import (COMPETITION_SCORE_RECORDED, DEADLINE_MISSED, GRADE_OVERRIDDEN, QUIZ_SCORED,
                                  SUBMISSION_GRADED)
from contracts.base import PageQuerySchema, dump, load, page, page_of
from contracts.content import (ATTENDANCE_RECORDED, FEEDBACK_SUBMITTED, QUESTION_ANSWERED, REPLAY_WATCHED,
                               SESSION_CANCELLED, SESSION_SCHEDULED)
from contracts.enrollment import (MENTOR_ASSIGNED, PROGRAM_CREATED, STUDENT_ADMITTED, STUDENT_WITHDRAWN,
                                  TEAM_CHANGED, TEAM_FORMED)
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import make_event
from contracts.incentives import (
    APPEAL_DECIDED, BADGE_AWARDED, ENTERPRISE_REWARD_GRANTED, REDEMPTION_CANCELLED, REDEMPTION_MADE,
    AdjustmentCreateSchema, AppealCreateSchema, AppealDecisionSchema, AppealSchema, BadgeAwardSchema,
    BadgeClassCreateSchema, BadgeClassSchema, CatalogueItemCreateSchema, CatalogueItemSchema,
    EnterpriseRewardCreateSchema, EnterpriseRewardSchema, EntrySchema, LeaderboardPreferenceSchema,
    LeaderboardQuerySchema, LeaderboardSchema, LeaderboardSettingsSchema, LedgerQuerySchema, LedgerSchema,
    RecomputeSchema, RedemptionCancelSchema, RedemptionCreateSchema, RedemptionSchema, ReversalCreateSchema,
    RuleSetCreateSchema, RuleSetSchema)
from contracts.supervision import STUDENT_IDLE
from services.common.acting import acting_student, audit, ensure_self, is_staff
from services.common.events import Outbox, on_event
from services.common.operations import by_operation, repeated
from services.common.rpc import rpc
from services.common.service import PraxisService
from services.common.storage import Storage
from services.incentives import badges, domain, exchange
from services.incentives.ledger import Ledger
from services.incentives.models import DOCUMENTS, OUTBOX_DOCUMENTS
from services.incentives.repository import IncentivesRepository

BADGE_LIVE = ("lifetime_at_least", "first_answered_question", "all_sessions_attended")


def _now():
    return datetime.now(timezone.utc)


def _new_id(caller):
    # the Idempotency-Key's operation id: a retried call has the same effect once
    return caller.get("operation_id") or uuid.uuid4().hex


def _person(caller):
    return audit(caller)["person"] or caller.get("actor")


def _staff_only(caller):
    if not is_staff(caller):
        raise Forbidden("only school staff may do this")


class IncentivesService(PraxisService):
    name = "incentives"

    store = Storage(IncentivesRepository, documents=DOCUMENTS)
    outbox = Outbox(*OUTBOX_DOCUMENTS, hinted=True)  # writes with events hint: Records and write_account

    # --- helpers --------------------------------------------------------------------

    def _ledger(self, caller=None, event=None):
        if event is not None:
            return Ledger(self.store, actor=f"incentives:{event.source}", correlation_id=event.correlation_id)
        return Ledger(self.store, actor=caller["actor"], correlation_id=caller.get("correlation_id"))

    def _event(self, caller, event_type, payload, event_id=None):
        return make_event(event_type, payload, school_id=caller["school_id"], actor=caller["actor"],
                          correlation_id=caller.get("correlation_id"), event_id=event_id)

    def _program(self, caller, program_id):
        program = self.store.get_program(caller["school_id"], program_id)
        if program is None:
            raise NotFound(f"no programme {program_id}")
        return program

    def _entry(self, caller, entry_id):
        entry = self.store.get_entry(caller["school_id"], entry_id)
        if entry is None or (acting_student(caller) is not None and entry["student_id"] != acting_student(caller)):
            raise NotFound(f"no entry {entry_id}")
        return entry

    # --- projections of other services' events ----------------------------------------

    @on_event(PROGRAM_CREATED)
    def on_program_created(self, event):
        p = event.payload
        self.store.keep_program({"id": p["program_id"], "school_id": event.school_id, "name": p["name"],
                                 "tracks": [t["key"] for t in p["tracks"]]})

    @on_event(MENTOR_ASSIGNED)
    def on_mentor_assigned(self, event):
        self.store.add_to_program(event.school_id, event.payload["program_id"], "partners", event.payload["partner_id"])

    @on_event(SESSION_SCHEDULED)
    def on_session_scheduled(self, event):
        p = event.payload
        self.store.add_to_program(event.school_id, p["program_id"], "sessions", p["session_id"])
        if p.get("partner_id"):
            self.store.add_to_program(event.school_id, p["program_id"], "partners", p["partner_id"])

    @on_event(SESSION_CANCELLED)
    def on_session_cancelled(self, event):
        # "all sessions attended" counts the sessions that took place
        self.store.remove_from_program(event.payload["program_id"], "sessions", event.payload["session_id"])

    # --- event-driven awards --------------------------------------------------------------

    def _award(self, event, update=None):
        f = domain.facts_of(event)
        self.store.keep_fact(f)
        ruleset = domain.ruleset_for(self.store.rulesets(f["program_id"]), f["program_id"], f["at"])
        ledger = self._ledger(event=event)
        for student in f["students"]:
            def decide(account, student=student):
                entries, changed = domain.apply_fact(account, f, ruleset)
                if update is not None:
                    changed = update(changed, student)
                return entries, changed
            ledger.change(event.school_id, f["program_id"], student, decide)
            self._check_badges(event.school_id, f["program_id"], student)

    @on_event(ATTENDANCE_RECORDED)
    def on_attendance_recorded(self, event):
        self._award(event)

    @on_event(REPLAY_WATCHED)
    def on_replay_watched(self, event):
        self._award(event)

    @on_event(FEEDBACK_SUBMITTED)
    def on_feedback_submitted(self, event):
        self._award(event)

    @on_event(QUESTION_ANSWERED)
    def on_question_answered(self, event):
        self._award(event)

    @on_event(QUIZ_SCORED)
    def on_quiz_scored(self, event):
        self._award(event)

    @on_event(SUBMISSION_GRADED)
    def on_submission_graded(self, event):
        self._award(event)

    @on_event(DEADLINE_MISSED)
    def on_deadline_missed(self, event):
        self._award(event)

    @on_event(COMPETITION_SCORE_RECORDED)
    def on_competition_score_recorded(self, event):
        self._award(event)

    @on_event(GRADE_OVERRIDDEN)
    def on_grade_overridden(self, event):
        self._award(event)

    @on_event(STUDENT_IDLE)
    def on_student_idle(self, event):
        self._award(event)

    def _status(self, event, status):
        at = event.occurred_at.timestamp()

        def update(account, student):
            if (account.get("status_at") or 0) > at:
                return account  # a newer admission or withdrawal stands
            return {**account, "status": status, "status_at": at, "track": event.payload["track"]}
        return update

    @on_event(STUDENT_ADMITTED)
    def on_student_admitted(self, event):
        self._award(event, update=self._status(event, "admitted"))

    @on_event(STUDENT_WITHDRAWN)
    def on_student_withdrawn(self, event):
        self._award(event, update=self._status(event, "withdrawn"))

    def _keep_team(self, event, members):
        p = event.payload
        at = event.occurred_at.timestamp()
        before = self.store.get_team(event.school_id, p["team_id"])
        self.store.keep_team({"id": p["team_id"], "school_id": event.school_id, "program_id": p["program_id"],
                              "track": p["track"], "name": p["name"], "members": members}, at)
        return before, at

    def _team_of(self, team_id, at, member):
        def update(account, student=None):
            if (account.get("team_at") or 0) > at:
                return account
            if member:
                return {**account, "team_id": team_id, "team_at": at}
            if account.get("team_id") == team_id:
                return {**account, "team_id": None, "team_at": at}
            return account
        return update

    @on_event(TEAM_FORMED)
    def on_team_formed(self, event):
        _, at = self._keep_team(event, event.payload["members"])
        self._award(event, update=self._team_of(event.payload["team_id"], at, member=True))

    @on_event(TEAM_CHANGED)
    def on_team_changed(self, event):
        p = event.payload
        members = [] if p["change"] == "disbanded" else p["members"]
        before, at = self._keep_team(event, members)
        ledger = self._ledger(event=event)
        former = set((before or {}).get("members", [])) | ({p["student_id"]} if p.get("student_id") else set())
        for student in sorted(set(members) | former):
            update = self._team_of(p["team_id"], at, member=student in members)
            ledger.change(event.school_id, p["program_id"], student, lambda a, u=update: ([], u(a)))

    # --- the ledger -----------------------------------------------------------------------

    @rpc
    def get_ledger(self, caller, student_id, query=None):
        query = load(LedgerQuerySchema, query)
        ensure_self(caller, student_id)
        if caller["role"] == "partner":
            raise Forbidden("partners do not read students' ledgers")
        accounts = self.store.student_accounts(caller["school_id"], student_id, query.get("program_id"))
        if not accounts:
            raise NotFound(f"no credits for student {student_id}")
        entries = self.store.student_entries(caller["school_id"], student_id, query.get("program_id"),
                                             skip=query["offset"], limit=query["limit"])
        return dump(LedgerSchema, {"balances": accounts, "entries": entries})

    @rpc
    def adjust(self, caller, data):
        _staff_only(caller)
        data = load(AdjustmentCreateSchema, data)
        self._program(caller, data["program_id"])
        op = _new_id(caller)
        entry, _, _ = self._ledger(caller).add(
            caller["school_id"], data["program_id"], data["student_id"], "adjustment", data["amount"], data["reason"],
            entry_id=f"adjustment:{op}", at=_now(), caused_by=_person(caller), request_id=op)
        self._check_badges(caller["school_id"], data["program_id"], data["student_id"])
        return dump(EntrySchema, entry)

    def _reverse(self, caller, original, reason):
        ledger = self._ledger(caller)
        floor = ledger.floor(original["program_id"])
        reversal_id = f"reversal:{original['id']}"
        found = {}

        def decide(account):
            if self.store.entry_exists(reversal_id, account):
                found["reversal"] = True
                return [], account
            entry, changed = domain.reversal_of(account, original, reason, _person(caller), _now(), floor,
                                                request_id=caller.get("operation_id"))
            return [entry], changed

        _, entries = ledger.change(caller["school_id"], original["program_id"], original["student_id"], decide)
        return entries[0] if entries else None, bool(found)

    @rpc
    def reverse(self, caller, entry_id, data):
        _staff_only(caller)
        data = load(ReversalCreateSchema, data)
        original = self._entry(caller, entry_id)
        reversal, already = self._reverse(caller, original, data["reason"])
        if already:
            done = self.store.get_entry(caller["school_id"], f"reversal:{original['id']}")
            if done is not None and caller.get("operation_id") and done.get("request_id") == caller["operation_id"]:
                return dump(EntrySchema, done)  # a retry of this reversal after its reply was lost
            raise Conflict(f"entry {entry_id} was reversed already")
        return dump(EntrySchema, reversal)

    # --- rules ----------------------------------------------------------------------------

    @rpc
    def get_rules(self, caller, program_id):
        self._program(caller, program_id)
        return dump(RuleSetSchema, domain.current_ruleset(self.store.rulesets(program_id), program_id))

    @rpc
    def set_rules(self, caller, program_id, data):
        _staff_only(caller)
        self._program(caller, program_id)
        data = load(RuleSetCreateSchema, data)
        ruleset = domain.new_ruleset(program_id, data, self.store.rulesets(program_id), _person(caller), _now())
        self.store.add_ruleset(ruleset)
        return dump(RuleSetSchema, ruleset)

    @rpc
    def preview_rules(self, caller, program_id, data):
        """What each balance would be had these (not yet stored) rules applied from the start."""
        _staff_only(caller)
        self._program(caller, program_id)
        candidate = domain.new_ruleset(program_id, {**load(RuleSetCreateSchema, data), "effective_from": None},
                                       [], _person(caller), _now())
        candidate["version"] = domain.current_ruleset(self.store.rulesets(program_id), program_id)["version"] + 1
        return self._recompute(program_id, candidate)

    def _recompute(self, program_id, ruleset):
        accounts = self.store.program_accounts(program_id)
        would_be = domain.simulate(self.store.facts(program_id), ruleset, [a["student_id"] for a in accounts])
        return {"program_id": program_id, "version": ruleset["version"], "applied": False,
                "lines": domain.recompute_lines(accounts, would_be)}

    @rpc
    def recompute(self, caller, program_id, apply=False):
        """What the balances would be had the current rules applied from the start;
        ``apply`` writes the differences as adjustment entries (once per version)."""
        _staff_only(caller)
        self._program(caller, program_id)
        ruleset = domain.current_ruleset(self.store.rulesets(program_id), program_id)
        lines = self._recompute(program_id, ruleset)["lines"]
        if apply:
            ledger = self._ledger(caller)
            for line in lines:
                if line["difference"]:
                    ledger.add(caller["school_id"], program_id, line["student_id"], "adjustment", line["difference"],
                               f"recompute under rules version {ruleset['version']}",
                               entry_id=f"recompute:{program_id}:{ruleset['version']}:{line['student_id']}",
                               at=_now(), caused_by=_person(caller), by_rules=True)
        return dump(RecomputeSchema, {"program_id": program_id, "version": ruleset["version"], "applied": bool(apply),
                                      "lines": lines})

    # --- appeals --------------------------------------------------------------------------

    @rpc
    def appeal(self, caller, entry_id, data):
        student = acting_student(caller)
        if student is None:
            raise Forbidden("a student appeals (the LMS acting for them)")
        data = load(AppealCreateSchema, data)
        entry = self._entry(caller, entry_id)
        if entry["kind"] in ("reversal", "exchange", "refund"):
            raise InvalidInput(f"an {entry['kind']} entry cannot be appealed", {"entry_id": [entry["kind"]]})
        record = {"id": entry_id, "school_id": caller["school_id"], "program_id": entry["program_id"],
                  "student_id": student, "entry_id": entry_id, "reason": data["reason"], "status": "open",
                  "decided_by": None, "decision_reason": None, "reversal_id": None, "created_at": _now(),
                  "decided_at": None}
        if not self.store.appeals.insert(by_operation(record, caller)):
            made = self.store.appeals.get(entry_id, school_id=caller["school_id"])
            if made is not None and repeated(made, caller):
                return dump(AppealSchema, made)  # a retry of this appeal after its reply was lost
            raise Conflict("this entry was appealed already (an entry may be appealed once)")
        return dump(AppealSchema, record)

    @rpc
    def list_appeals(self, caller, program_id, query=None):
        _staff_only(caller)
        query = load(PageQuerySchema, query)
        self._program(caller, program_id)
        found = self.store.appeals.find({"school_id": caller["school_id"], "program_id": program_id},
                                        sort=[("created_at", 1)], skip=query["offset"], limit=query["limit"] + 1)
        return page(dump(AppealSchema, found, many=True), query)

    @rpc
    def decide_appeal(self, caller, appeal_id, data):
        _staff_only(caller)
        data = load(AppealDecisionSchema, data)
        appeal = self.store.appeals.get(appeal_id, school_id=caller["school_id"])
        if appeal is None:
            raise NotFound(f"no appeal {appeal_id}")
        if appeal["status"] == "open":
            decision = "accepted" if data["decision"] == "accept" else "rejected"
            reason = data["reason"] or "the appeal was accepted"
            decided = {**appeal, "status": decision, "decided_by": _person(caller), "decision_reason": reason,
                       "decided_at": _now(),
                       "reversal_id": f"reversal:{appeal['entry_id']}" if decision == "accepted" else None}
            event = self._event(caller, APPEAL_DECIDED, {
                "appeal_id": appeal_id, "entry_id": appeal["entry_id"], "program_id": appeal["program_id"],
                "student_id": appeal["student_id"], "decision": decision, "reason": reason})
            if not self.store.appeals.replace(decided, {"status": "open"}, [event]):
                raise Conflict("the appeal was decided meanwhile")
            appeal = decided
        elif data["decision"] != {"accepted": "accept", "rejected": "reject"}[appeal["status"]]:
            raise Conflict(f"the appeal was {appeal['status']} already")
        if appeal["status"] == "accepted":  # (again after a crash: the reversal happens once)
            self._reverse(caller, self._entry(caller, appeal["entry_id"]),
                          f"appeal accepted: {appeal['decision_reason']}")
        return dump(AppealSchema, appeal)

    # --- the credit exchange --------------------------------------------------------------

    @rpc
    def add_item(self, caller, program_id, data):
        _staff_only(caller)
        self._program(caller, program_id)
        data = load(CatalogueItemCreateSchema, data)
        item = {**data, "id": _new_id(caller), "school_id": caller["school_id"], "program_id": program_id,
                "sold": 0, "holds": [], "holding": 0, "returned": [], "created_at": _now()}
        self.store.items.insert(item)
        return dump(CatalogueItemSchema, self.store.items.get(item["id"]))

    @rpc
    def list_items(self, caller, program_id, query=None):
        query = load(PageQuerySchema, query)
        self._program(caller, program_id)
        found = self.store.items.find({"school_id": caller["school_id"], "program_id": program_id},
                                      sort=[("created_at", 1)], skip=query["offset"], limit=query["limit"] + 1)
        return page(dump(CatalogueItemSchema, found, many=True), query)

    def _item(self, caller, item_id):
        item = self.store.items.get(item_id, school_id=caller["school_id"])
        if item is None:
            raise NotFound(f"no catalogue item {item_id}")
        return item

    @rpc
    def redeem(self, caller, data):
        """Exchange credits for an item: a unit of stock is held (never below 0),
        the account is charged in one guarded write (never below the price, never
        past the per-student limit, never twice), then the unit is sold."""
        data = load(RedemptionCreateSchema, data)
        ensure_self(caller, data["student_id"])
        if not (is_staff(caller) or acting_student(caller)):
            raise Forbidden("a student (the LMS acting for them) or staff redeem")
        item = self._item(caller, data["item_id"])
        redemption_id = _new_id(caller)
        done = self.store.redemptions.get(redemption_id, school_id=caller["school_id"])
        if done is not None:
            return dump(RedemptionSchema, done)
        hold = exchange.hold_unit(self.store, item, redemption_id)
        made = exchange.record(redemption_id, item, data["student_id"], _now())
        event = self._event(caller, REDEMPTION_MADE, {
            "redemption_id": redemption_id, "program_id": item["program_id"], "item_id": item["id"],
            "item_name": item["name"], "student_id": data["student_id"], "price": item["price"]})
        exchange.charge(self.store, self._ledger(caller), item, made, hold, event, _person(caller))
        return dump(RedemptionSchema, self.store.redemptions.get(redemption_id))

    @rpc
    def get_redemption(self, caller, redemption_id):
        record = self.store.redemptions.get(redemption_id, school_id=caller["school_id"])
        if record is None or (acting_student(caller) is not None and record["student_id"] != acting_student(caller)):
            raise NotFound(f"no redemption {redemption_id}")
        return dump(RedemptionSchema, record)

    @rpc
    def cancel_redemption(self, caller, redemption_id, data):
        """Staff cancel: the refund entry and the unit back to stock, each once."""
        _staff_only(caller)
        data = load(RedemptionCancelSchema, data)
        record = self.store.redemptions.get(redemption_id, school_id=caller["school_id"])
        if record is None:
            raise NotFound(f"no redemption {redemption_id}")
        already = record["status"] == "cancelled"
        if not already:
            record = by_operation({**record, "status": "cancelled", "cancel_reason": data["reason"],
                                   "refund_entry_id": f"refund:{redemption_id}"}, caller)
            if not self.store.redemptions.replace(record, {"status": "made"}):
                raise Conflict("the redemption was cancelled meanwhile")
        item = self._item(caller, record["item_id"])
        cancelled = self._event(caller, REDEMPTION_CANCELLED, {
            "redemption_id": redemption_id, "program_id": record["program_id"], "item_id": item["id"],
            "item_name": item["name"], "student_id": record["student_id"], "price": record["price"],
            "reason": record["cancel_reason"]}, event_id=f"cancel{redemption_id}"[:64])

        self._ledger(caller).add(
            caller["school_id"], record["program_id"], record["student_id"], "refund", record["price"],
            f"redemption of {item['name']} cancelled: {record['cancel_reason']}", entry_id=record["refund_entry_id"],
            at=_now(), lifetime=False, caused_by=_person(caller), request_id=redemption_id,
            update=exchange.counted(item, -1),
            extra_events=lambda account, entries: [cancelled])
        self.store.restock(item["id"], redemption_id)
        if already and not repeated(record, caller):  # (a retry of this cancellation answers as the first)
            raise Conflict(f"redemption {redemption_id} was cancelled already")
        return dump(RedemptionSchema, record)

    @timer(interval=5, eager=True)
    def sweep(self):
        """Finish what a crash left half done: entries still on their account, and
        units held by redemptions that were never charged (or never sold)."""
        for account_id in self.store.accounts_with_pending_entries():
            self.store.flush(account_id)
        exchange.sweep_holds(self.store)

    # --- enterprise rewards ---------------------------------------------------------------

    @rpc
    def grant_enterprise_reward(self, caller, team_id, data):
        if caller["role"] != "partner":
            _staff_only(caller)
        data = load(EnterpriseRewardCreateSchema, data)
        team = self.store.get_team(caller["school_id"], team_id)
        program = team and self.store.get_program(caller["school_id"], team["program_id"])
        if team is None or program is None or (
                caller["role"] == "partner" and caller["partner_id"] not in program.get("partners", [])):
            raise NotFound(f"no team {team_id}")  # a partner sees only programmes it works with
        if not team["members"]:
            raise InvalidInput("the team has no members", {"team_id": ["no members"]})
        allocation = domain.split_largest_remainder(data["amount"], domain.reward_weights(team["members"], data))
        reward_id = _new_id(caller)
        record = {"id": reward_id, "school_id": caller["school_id"], "program_id": team["program_id"],
                  "team_id": team_id, "partner_id": caller.get("partner_id"), "amount": data["amount"],
                  "money": data.get("money"),
                  "currency": data.get("currency"), "split": data["split"], "innovation": data["innovation"],
                  "allocation": allocation, "created_at": _now()}
        event = self._event(caller, ENTERPRISE_REWARD_GRANTED, {
            "reward_id": reward_id, "program_id": team["program_id"], "team_id": team_id,
            "partner_id": record["partner_id"], "amount": data["amount"], "allocation": allocation,
            "innovation": data["innovation"]})
        if not self.store.rewards.insert(record, [event]):
            record = self.store.rewards.get(reward_id)  # a retry: finish what the first call began
        ledger = self._ledger(caller)
        for student, share in sorted(record["allocation"].items()):
            if share:
                ledger.add(caller["school_id"], record["program_id"], student, "enterprise_reward", share,
                           f"enterprise reward: {record['innovation']}", entry_id=f"enterprise:{reward_id}:{student}",
                           at=record["created_at"], caused_by=_person(caller), request_id=reward_id)
                self._check_badges(caller["school_id"], record["program_id"], student)
        return dump(EnterpriseRewardSchema, record)

    # --- leaderboards --------------------------------------------------------------------

    @rpc
    def set_leaderboard(self, caller, program_id, data):
        _staff_only(caller)
        self._program(caller, program_id)
        settings = load(LeaderboardSettingsSchema, data)
        self.store.set_leaderboard(program_id, settings)
        return dump(LeaderboardSettingsSchema, settings)

    @rpc
    def set_preference(self, caller, student_id, data):
        ensure_self(caller, student_id)
        data = load(LeaderboardPreferenceSchema, data)
        account = self.store.get_account(data["program_id"], student_id)
        if account is None or account["school_id"] != caller["school_id"]:
            raise NotFound(f"no student {student_id} in programme {data['program_id']}")
        self._ledger(caller).change(caller["school_id"], data["program_id"], student_id,
                                    lambda a: ([], {**a, "opt_out": data["opt_out"]}))
        return dump(LeaderboardPreferenceSchema, data)

    @rpc
    def leaderboard(self, caller, program_id, query=None):
        program = self._program(caller, program_id)
        query = load(LeaderboardQuerySchema, query)
        settings = program.get("leaderboard") or load(LeaderboardSettingsSchema, {})
        accounts = [a for a in self.store.program_accounts(
            program_id, fields=("student_id", "track", "team_id", "lifetime", "opt_out", "status"))
            if a.get("status") != "withdrawn"]
        viewer = acting_student(caller)
        mine = next((a for a in accounts if a["student_id"] == viewer), None)
        track = None
        if query["scope"] == "team":
            scores = domain.team_scores(accounts, settings["team_score"])
            viewer_name, hidden = (mine or {}).get("team_id"), ()
        else:
            if query["scope"] == "track":
                track = query.get("track") or (mine or {}).get("track")
                if not track:
                    raise InvalidInput("which track?", {"track": ["required"]})
                accounts = [a for a in accounts if a.get("track") == track]
            scores = [(a["student_id"], a["lifetime"]) for a in accounts]
            viewer_name, hidden = viewer, {a["student_id"] for a in accounts if a.get("opt_out")}
        rows = domain.leaderboard_rows(scores, settings["mode"], viewer=viewer_name, neighbours=settings["neighbours"],
                                       hidden=hidden, is_staff=is_staff(caller), limit=query["limit"])
        return dump(LeaderboardSchema, {"program_id": program_id, "scope": query["scope"], "track": track,
                                        "mode": settings["mode"], "rows": rows})

    # --- badges --------------------------------------------------------------------------

    @rpc
    def add_badge_class(self, caller, program_id, data):
        _staff_only(caller)
        self._program(caller, program_id)
        data = load(BadgeClassCreateSchema, data)
        badge = {**data, "id": f"{program_id}-{data['key']}", "school_id": caller["school_id"],
                 "program_id": program_id, "created_at": _now()}
        if not self.store.badge_classes.insert(badge):
            raise Conflict(f"the programme has a badge {data['key']} already")
        return dump(BadgeClassSchema, badge)

    @rpc
    def list_badge_classes(self, caller, program_id, query=None):
        query = load(PageQuerySchema, query)
        self._program(caller, program_id)
        found = self.store.badge_classes.find({"school_id": caller["school_id"], "program_id": program_id},
                                              sort=[("created_at", 1)])
        return page_of(dump(BadgeClassSchema, found, many=True), query)

    def _award_badge(self, badge, account, base=None):
        award = {"id": badges.assertion_id(badge["id"], account["student_id"]), "school_id": badge["school_id"],
                 "program_id": badge["program_id"], "badge_id": badge["id"], "badge_key": badge["key"],
                 "student_id": account["student_id"], "issued_at": _now(), "salt": secrets.token_hex(8)}
        url = badges.urls(base or badges.public_url(), award["school_id"], badge["id"], award["id"])["assertion"]
        event = make_event(BADGE_AWARDED, {
            "assertion_id": award["id"], "program_id": award["program_id"], "badge_id": badge["id"],
            "badge_key": badge["key"], "student_id": award["student_id"], "assertion_url": url},
            school_id=award["school_id"], actor="incentives:badges", event_id=award["id"])
        return award if self.store.badge_awards.insert(award, [event]) else None

    def _check_badges(self, school_id, program_id, student_id):
        classes = [b for b in self.store.badge_classes.find({"school_id": school_id, "program_id": program_id})
                   if b["condition"]["kind"] in BADGE_LIVE]
        if not classes:
            return
        account = self.store.get_account(program_id, student_id)
        program = self.store.get_program(school_id, program_id) or {}
        for badge in classes:
            if domain.earned(badge["condition"], account, program.get("sessions", [])):
                self._award_badge(badge, account)

    def _award_view(self, award, base):
        u = badges.urls(base, award["school_id"], award["badge_id"], award["id"])
        return {**award, "assertion_url": u["assertion"], "credential_url": u["credential"]}

    @rpc
    def evaluate_badges(self, caller, program_id, base_url=None):
        """Award every badge of the programme whose condition a student meets now
        (the end-of-programme ones, such as the top of a track, included)."""
        _staff_only(caller)
        program = self._program(caller, program_id)
        accounts = [a for a in self.store.program_accounts(program_id) if a.get("status") != "withdrawn"]
        by_track = {}
        for account in accounts:
            by_track.setdefault(account.get("track"), []).append(account)
        awarded = []
        for badge in self.store.badge_classes.find({"school_id": caller["school_id"], "program_id": program_id}):
            for account in accounts:
                if domain.earned(badge["condition"], account, program.get("sessions", []),
                                 by_track.get(account.get("track"))):
                    award = self._award_badge(badge, account, base_url)
                    if award:
                        awarded.append(self._award_view(award, base_url or badges.public_url()))
        return dump(BadgeAwardSchema, awarded, many=True)

    @rpc
    def student_badges(self, caller, student_id, base_url=None, query=None):
        query = load(PageQuerySchema, query)
        ensure_self(caller, student_id)
        if not self.store.student_accounts(caller["school_id"], student_id):
            raise NotFound(f"no student {student_id}")
        awards = self.store.badge_awards.find({"school_id": caller["school_id"], "student_id": student_id},
                                              sort=[("issued_at", 1)], skip=query["offset"],
                                              limit=query["limit"] + 1)
        return page(dump(BadgeAwardSchema, [self._award_view(a, base_url or badges.public_url()) for a in awards],
                         many=True), query)

    # --- public Open Badges documents (no caller: they are public by design) ---------------

    def _public_award(self, assertion_id):
        award = self.store.badge_awards.get(assertion_id)
        if award is None:
            raise NotFound(f"no assertion {assertion_id}")
        return award, self.store.badge_classes.get(award["badge_id"])

    @rpc
    def ob_issuer(self, school_id, base_url):
        return badges.issuer(base_url, school_id)

    @rpc
    def ob_badge_class(self, badge_id, base_url):
        badge = self.store.badge_classes.get(badge_id)
        if badge is None:
            raise NotFound(f"no badge {badge_id}")
        return badges.badge_class(base_url, badge)

    @rpc
    def ob_badge_image(self, badge_id):
        badge = self.store.badge_classes.get(badge_id)
        if badge is None:
            raise NotFound(f"no badge {badge_id}")
        return badges.image_svg(badge)

    @rpc
    def ob_assertion(self, assertion_id, base_url):
        award, _ = self._public_award(assertion_id)
        return badges.assertion(base_url, award)

    @rpc
    def ob_credential(self, assertion_id, base_url):
        award, badge = self._public_award(assertion_id)
        key = self.store.signing_key(award["school_id"], badges.new_key)
        return badges.sign_credential(badges.credential(base_url, award, badge), key, award["issued_at"])

    @rpc
    def ob_jwks(self, school_id):
        return badges.jwks(self.store.signing_key(school_id, badges.new_key))

